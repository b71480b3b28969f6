// What runs in any engine (the browser entry is this module alone); index.ts adds the parts that need Node.
export { rpcChain } from './chain.js'
export { mintTokens } from './sherd-token.js'
export {
  AnvilStartError,
  ContractsError,
  DeploymentFileError,
  DeploymentFileExistsError,
  FreePortError,
  InvalidOfferError,
  ProofEncodingError,
  TransactionFailedError
} from './errors.js'
export { waitForSuccess } from './market-client.js'
export type { ActionOptions, MarketClient } from './market-client.js'
export { encodeProof, proofLength, proveChallenges } from './audit-proof.js'
export type { ProvableTree } from './audit-proof.js'
export {
  proofSetMarketAbi,
  proofSetMarketBytecode,
  sherdTokenAbi,
  sherdTokenBytecode
} from './generated/contracts.js'
export {
  addProofSetStake,
  answerProofSetAudit,
  buildProofSetChunk,
  cancelProofSetOffer,
  claimProofSetDeals,
  commitProofSetSeed,
  declareProofSetLost,
  deployProofSetMarket,
  extendProofSetDeals,
  failProofSetAudit,
  getProofSetAudit,
  getProofSetAuditSeed,
  getProofSetChallenges,
  getProofSetDeal,
  getProofSetParams,
  getProofSetPeriod,
  getProofSetPeriodStatus,
  getProofSetProvider,
  getProofSetSeed,
  getProofSetSnapshotWeight,
  getProofSetSuperRoot,
  getProofSetWithdrawable,
  hashProofSetOffer,
  markProofSetMissed,
  openProofSetDeals,
  parseProofSetEvents,
  PROOF_SET_AUDIT_CHALLENGES,
  PROOF_SET_CHUNK,
  PROOF_SET_DEAL_STATES,
  PROOF_SET_DECLARED_SLASH_BPS,
  PROOF_SET_DEFAULT_MAX_TERM_PERIODS,
  PROOF_SET_DEFAULT_PARAMS,
  PROOF_SET_DEVNET_PARAMS,
  PROOF_SET_DOMAIN_NAME,
  PROOF_SET_DOMAIN_VERSION,
  PROOF_SET_FAULT_FLAG,
  PROOF_SET_K_MIN,
  PROOF_SET_LAMBDA,
  PROOF_SET_MIN_WEIGHT,
  PROOF_SET_OFFER_TYPES,
  PROOF_SET_PERIOD_STATUSES,
  PROOF_SET_TIB_LEAVES,
  proofSetChallengeCount,
  proofSetChallengeIndex,
  proofSetChunkCount,
  proofSetLeafCount,
  proofSetLeafOffset,
  proofSetOfferDomain,
  proofSetWeight,
  registerProofSetProvider,
  removeProofSetStake,
  requestProofSetAudit,
  setProofSetMaxTerm,
  signProofSetOffer,
  submitProofSetChunk,
  withdrawProofSet
} from './proof-set.js'
export type {
  BuildChunkParameters,
  ExtendProofSetDealsParameters,
  ProofSetDeal,
  ProofSetDealState,
  ProofSetDeployment,
  ProofSetMarketAbi,
  ProofSetOffer,
  ProofSetParams,
  ProofSetPeriod,
  ProofSetPeriodStatus,
  ProofSetProvider,
  ProofSetProverDeal,
  RegisterProofSetProviderParameters,
  ResolvedChallenge,
  SignedProofSetOffer
} from './proof-set.js'
export {
  decodeProofSetRevert,
  isProofSetRevert,
  listProofSetProviders,
  PROOF_SET_EVENT_PAGE_BLOCKS,
  proofSetRevertName,
  readProofSetEvents
} from './proof-set-events.js'
export type {
  ListProofSetProvidersParameters,
  ProofSetErrorName,
  ProofSetEventLog,
  ProofSetEventName,
  ProofSetRevert,
  ReadProofSetEventsParameters
} from './proof-set-events.js'
export { PeriodicTree } from './periodic-tree.js'
export { ProviderSuperTree, superDepth, superLeaf, SuperTreeSnapshot } from './super-tree.js'
export { formatTokenAmount, InvalidTokenAmountError, parseTokenAmount, readTokenInfo } from './token-amount.js'
export type { TokenInfo } from './token-amount.js'

export { rpcChain } from './chain.js'
export { startAnvil, resolveAnvilBinary, ANVIL_MNEMONIC } from './anvil.js'
export type { Anvil, StartAnvilOptions } from './anvil.js'
export { deploy, mintTokens } from './deploy.js'
export type { DeployParameters, Deployment } from './deploy.js'
export {
  AnvilStartError, ContractsError, DeploymentFileError, DeploymentFileExistsError, InvalidOfferError, ProofEncodingError,
  TransactionFailedError
} from './errors.js'
export { formatMarketDeployment, parseMarketDeployment, readMarketDeployment, writeMarketDeployment } from './deployment-file.js'
export type { MarketDeploymentRecord, WriteMarketDeploymentOptions } from './deployment-file.js'
export {
  activateDeal, addStake, cancelOffer, DEAL_STATES, endDeal, exitProvider, expireDeal, extendDeal, getActivationSeed,
  getChallengeSeed, getCurrentPeriod, getDeal, getMarketParams, getPeriodInfo, getPeriodStatus, getProvider, getToken,
  getWithdrawable, listProviders, markMissed, openDeal, parseMarketEvents, PERIOD_STATUSES, registerProvider,
  submitProofs, updateProvider, waitForSuccess, watchMarketEvents, withdraw
} from './market.js'
export type {
  ActionOptions, ActivateDealParameters, Deal, DealState, ExtendDealParameters, MarketAbi, MarketClient,
  MarketEventName, OpenDealParameters, PeriodInfo, PeriodStatus, ProofBatchItem, ProviderInfo,
  RegisterProviderParameters, SubmitProofsParameters, UpdateProviderParameters, WatchMarketEventsParameters
} from './market.js'
export {
  hashOffer, OFFER_DOMAIN_NAME, OFFER_DOMAIN_VERSION, OFFER_TYPES, offerDomain, randomOfferNonce, signOffer, verifyOffer
} from './offer.js'
export type { Offer, SignOfferParameters, VerifyOfferParameters } from './offer.js'
export {
  ACTIVATION_BLOCKS, CHALLENGE_COUNT, CHALLENGE_DELAY_BLOCKS, COLLATERAL_BPS, DEFAULT_MARKET_PARAMS,
  DEVNET_MARKET_PARAMS, MAX_MISSED_PERIODS, PERIOD_BLOCKS, REPORTER_BPS, SLASH_BPS
} from './params.js'
export type { MarketParams } from './params.js'
export { encodeProof, proofLength, proveChallenges } from './proof.js'
export type { ProvableTree } from './proof.js'
export {
  proofSetMarketAbi, proofSetMarketBytecode, sherdTokenAbi, sherdTokenBytecode, storageMarketAbi, storageMarketBytecode
} from './generated/contracts.js'
export {
  addProofSetStake, answerProofSetAudit, buildProofSetChunk, cancelProofSetOffer, claimProofSetDeals,
  commitProofSetSeed, declareProofSetLost, deployProofSetMarket, extendProofSetDeals, failProofSetAudit, getProofSetAudit,
  getProofSetAuditSeed, getProofSetChallenges, getProofSetDeal, getProofSetParams, getProofSetPeriod,
  getProofSetPeriodStatus, getProofSetProvider, getProofSetSeed, getProofSetSnapshotWeight, getProofSetWithdrawable,
  hashProofSetOffer, markProofSetMissed, openProofSetDeals, parseProofSetEvents, PROOF_SET_AUDIT_CHALLENGES,
  PROOF_SET_CHUNK, PROOF_SET_DEAL_STATES, PROOF_SET_DECLARED_SLASH_BPS, PROOF_SET_DEFAULT_MAX_TERM_PERIODS, PROOF_SET_DEFAULT_PARAMS,
  PROOF_SET_DEVNET_PARAMS, PROOF_SET_DOMAIN_NAME, PROOF_SET_DOMAIN_VERSION, PROOF_SET_FAULT_FLAG, PROOF_SET_K_MIN,
  PROOF_SET_LAMBDA, PROOF_SET_MIN_WEIGHT, PROOF_SET_OFFER_TYPES, PROOF_SET_PERIOD_STATUSES, PROOF_SET_TIB_LEAVES,
  proofSetChallengeCount, proofSetChallengeIndex, proofSetChunkCount, proofSetLeafCount, proofSetLeafOffset,
  proofSetOfferDomain, proofSetWeight, registerProofSetProvider, removeProofSetStake, requestProofSetAudit,
  setProofSetMaxTerm, signProofSetOffer, submitProofSetChunk, withdrawProofSet
} from './proof-set.js'
export type {
  BuildChunkParameters, ExtendProofSetDealsParameters, ProofSetDeal, ProofSetDealState, ProofSetDeployment, ProofSetMarketAbi, ProofSetOffer,
  ProofSetParams, ProofSetPeriod, ProofSetPeriodStatus, ProofSetProvider, ProofSetProverDeal,
  RegisterProofSetProviderParameters, ResolvedChallenge, SignedProofSetOffer
} from './proof-set.js'
export {
  decodeProofSetRevert, isProofSetRevert, listProofSetProviders, PROOF_SET_EVENT_PAGE_BLOCKS, proofSetRevertName,
  readProofSetEvents
} from './proof-set-events.js'
export type {
  ListProofSetProvidersParameters, ProofSetErrorName, ProofSetEventLog, ProofSetEventName, ProofSetRevert,
  ReadProofSetEventsParameters
} from './proof-set-events.js'
export { PeriodicTree } from './periodic-tree.js'
export { EQUAL_WEIGHT_DEALS, formatProofSetGasTable, measureProofSetGas, periodsPerMonth } from './proof-set-gas.js'
export type { MeasureProofSetGasOptions, ProofSetGasReport, ProofSetGasRow, ProofSetSetGas } from './proof-set-gas.js'
export { ACTIVATION_PERIOD, deriveActivationSeed, deriveChallengeSeed } from './seed.js'
export { formatGasTable, GAS_BATCH_SIZES, GAS_SHARD_BYTES, measureMarketGas } from './gas-report.js'
export type { GasReport, GasRow } from './gas-report.js'
export { formatTokenAmount, InvalidTokenAmountError, parseTokenAmount, readTokenInfo } from './token-amount.js'
export type { TokenInfo } from './token-amount.js'

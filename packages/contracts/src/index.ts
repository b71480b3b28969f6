export { rpcChain } from './chain.js'
export { startAnvil, resolveAnvilBinary, ANVIL_MNEMONIC } from './anvil.js'
export type { Anvil, StartAnvilOptions } from './anvil.js'
export { deploy, mintTokens } from './deploy.js'
export type { DeployParameters, Deployment } from './deploy.js'
export { AnvilStartError, ContractsError, InvalidOfferError, ProofEncodingError, TransactionFailedError } from './errors.js'
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
export { sherdTokenAbi, sherdTokenBytecode, storageMarketAbi, storageMarketBytecode } from './generated/contracts.js'
export { ACTIVATION_PERIOD, deriveActivationSeed, deriveChallengeSeed } from './seed.js'
export { formatGasTable, GAS_BATCH_SIZES, GAS_SHARD_BYTES, measureMarketGas } from './gas-report.js'
export type { GasReport, GasRow } from './gas-report.js'
export { formatTokenAmount, InvalidTokenAmountError, parseTokenAmount, readTokenInfo } from './token-amount.js'
export type { TokenInfo } from './token-amount.js'

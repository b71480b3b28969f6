/** Market parameters, fixed at deployment (`StorageMarket.Params`). */
export interface MarketParams {
  /** Blocks per proving period, 2..256. */
  periodBlocks: number
  /** Blocks from a period's first block to its challenge block, ≤ periodBlocks − 2. */
  challengeDelayBlocks: number
  /** Blocks after opening within which the provider must activate a deal, 1..256. */
  activationBlocks: number
  /** Leaves challenged per deal per period, 1..64. */
  challengeCount: number
  /** Missed periods after which a deal fails. */
  maxMissedPeriods: number
  /** Provider collateral per deal, basis points of the deal's escrow. */
  collateralBps: number
  /** Slash per missed period, basis points of the deal's collateral. */
  slashBps: number
  /** Share of a slash paid to whoever marked the period, basis points; the rest is burned. */
  reporterBps: number
}

/**
 * Longest period BLOCKHASH allows: the challenge block's hash must stay readable until the period closes, and a
 * long period means fewer proof transactions (~230k gas per deal per period at c = 10, 4 MiB shards).
 * 256 blocks ≈ 51 min at 12 s blocks: about 28 proofs per deal per day.
 */
export const PERIOD_BLOCKS = 256
/** The seed block is mined a few blocks into the period it seeds, never in the period before. */
export const CHALLENGE_DELAY_BLOCKS = 2
/** The most BLOCKHASH allows (the activation seed is the opening block's hash): ≈ 51 min at 12 s blocks. */
export const ACTIVATION_BLOCKS = 256
/** A provider that dropped 5 % of a shard fails a period with probability 1 − 0.95^10 ≈ 40 %. */
export const CHALLENGE_COUNT = 10
/** Three misses tolerate a provider's short outage but fail a dead one within ~3 periods. */
export const MAX_MISSED_PERIODS = 3
/** Collateral equal to the escrow: the provider risks as much as the client pays. */
export const COLLATERAL_BPS = 10_000
/** 10 % of the collateral per miss: at F = 3 a failed deal costs the provider 30 % of the deal's value. */
export const SLASH_BPS = 1_000
/** 20 % of a slash rewards the reporter (pays for its gas); 80 % is burned, so self-reporting still costs 80 %. */
export const REPORTER_BPS = 2_000

/** The defaults above, with their reasons in docs/contracts.md. */
export const DEFAULT_MARKET_PARAMS: Readonly<MarketParams> = Object.freeze({
  periodBlocks: PERIOD_BLOCKS,
  challengeDelayBlocks: CHALLENGE_DELAY_BLOCKS,
  activationBlocks: ACTIVATION_BLOCKS,
  challengeCount: CHALLENGE_COUNT,
  maxMissedPeriods: MAX_MISSED_PERIODS,
  collateralBps: COLLATERAL_BPS,
  slashBps: SLASH_BPS,
  reporterBps: REPORTER_BPS
})

/**
 * Parameters for a local devnet (anvil with 1 s blocks): 8-block periods so a test or demo sees proofs, misses and
 * failures within seconds; the rest as the defaults.
 */
export const DEVNET_MARKET_PARAMS: Readonly<MarketParams> = Object.freeze({
  ...DEFAULT_MARKET_PARAMS,
  periodBlocks: 8,
  challengeDelayBlocks: 1,
  activationBlocks: 32
})

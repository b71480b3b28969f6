import type { ShardCollectorInit } from './storage/shard-collector.js'
import type { MissReporterInit } from './chain/miss-reporter.js'
import type { OfferSigner } from './network/shard-service.js'
import type { ProofSetProverInit } from './prover/index.js'

/** What `createProviderNode` is given; `sherd-node start` builds it from config.json and its flags. */
export interface ProviderNodeConfig {
  /** Holds peer.key, evm.key, config.json and the store; create it with `initDataDir` or `sherd-node init`. */
  dataDir: string
  /** libp2p listen multiaddrs (default /ip4/127.0.0.1/tcp/0); `/ip4/…/tcp/…/ws` ones listen on WebSockets. */
  listen?: string[]
  /** Addresses announced (and printed in the ready line) instead of the listen addresses; empty: the listen addresses. */
  announce?: string[]
  /**
   * Peers to stay connected to (multiaddrs ending in /p2p/<peer id>), usually a few other providers: through them
   * the node joins the announcement mesh. Unreachable ones are retried in the background; start never waits.
   */
  bootstrap?: string[]
  httpHost?: string
  /** 0 picks a free port. */
  httpPort?: number
  capacityBytes?: number
  /** Token base units per MiB per proving period, decimal string. */
  pricePerMiB?: string
  announceIntervalMs?: number
  storeTimeoutMs?: number
  stopGraceMs?: number
  offerSigner?: OfferSigner
  /** Bytes of shards no deal claims that the node holds at most (default DEFAULT_UNCLAIMED_MAX_BYTES, capped at capacity). */
  unclaimedMaxBytes?: number
  /**
   * The ProofSetMarket. With `rpcUrl` and `contractAddress`, start() checks both, registers the provider (stake,
   * term limit, peer id), proves its deals and signs offers; without them the node stores and serves but cannot
   * sign offers.
   */
  chain?: {
    rpcUrl?: string
    contractAddress?: string
    /** Token base units, decimal string. */
    stake?: string
    /** The chain the deployment file names: connecting to another is refused. */
    expectedChainId?: number
    /** Longest term signed and registered (default DEFAULT_MAX_TERM_PERIODS). */
    maxTermPeriods?: number
    /** Offers stay valid this long (default OFFER_TTL_SECONDS). */
    offerTtlSeconds?: number
    /**
     * Register (and stake) again although this data dir's provider left the market with `exit` (its exited.json);
     * without it start refuses with ProviderExitedError.
     */
    registerAgain?: boolean
  }
  /** Export Node.js process metrics on /metrics (off in tests that run several nodes per process). */
  processMetrics?: boolean
  /** The proof-set prover's options (it runs whenever the node has a chain). */
  prover?: ProofSetProverInit
  /**
   * Watch other providers: mark their missed periods, fail their deals that missed too many, commit seeds nobody
   * committed and fail audits left unanswered (default on, as the devnet needs); `false` turns it off.
   */
  missReporter?: MissReporterInit | false
  /** Deleting shards no live deal needs (default on; docs/operations.md, "Reclaiming space"). */
  gc?: ShardCollectorInit
}

/** Providers in a devnet unless told otherwise: k + m = 4 + 2, the local network's default code. */
export const DEFAULT_PROVIDERS = 6
/** Seconds between blocks: with PROOF_SET_DEVNET_PARAMS' 8-block periods, a proving period lasts 8 s. */
export const DEFAULT_BLOCK_TIME_SECONDS = 1
/** SherdToken is a plain OpenZeppelin ERC-20: 18 decimals. */
export const TOKEN_DECIMALS = 18
export const TOKEN_UNIT = 10n ** BigInt(TOKEN_DECIMALS)
/** Minted to each provider and to the client: far more than any devnet run spends. */
export const DEFAULT_MINT = 1_000_000n * TOKEN_UNIT
/**
 * Stake each provider registers with. Collateral per deal equals its escrow (collateralBps = 100 %), so this covers
 * about 10,000 MiB·periods of deals at the devnet price.
 */
export const DEFAULT_STAKE = 10_000n * TOKEN_UNIT
/** Token base units per MiB per period: one token, so payments read as whole numbers in the demo. */
export const DEFAULT_PRICE_PER_MIB = TOKEN_UNIT
/** Space each provider offers: small enough for a laptop, large enough for the demo and the tests. */
export const DEFAULT_CAPACITY_BYTES = 1024 * 1024 * 1024
/** Providers announce this often: a client sees a restarted provider's fresh state within seconds, not 30 s. */
export const DEVNET_ANNOUNCE_INTERVAL_MS = 5_000
/**
 * A provider process starts (Node, libp2p, LevelDB, chain registration) in a few seconds on 2 busy cores, but all
 * but the first start at once: 29 of them (a 10 + 20 devnet) at a load average of 35–50 on 2 cores took over 60 s,
 * twice in a row (bench/src/rss-client.ts, 2026-12-02). The bound is for a provider that hangs, not a slow one.
 */
export const PROVIDER_START_TIMEOUT_MS = 240_000
/**
 * `sherd-node init` writes keys and a config file: well under a second, but it is a fresh Node process, and ten of
 * them start at once: at a load average of 40 on 2 cores they took over 30 s (the churn test's devnet, twice).
 */
export const PROVIDER_INIT_TIMEOUT_MS = 120_000
/** SIGTERM grace before SIGKILL: the node gives running transfers 5 s (STOP_GRACE_MS) before it closes LevelDB. */
export const PROVIDER_STOP_GRACE_MS = 10_000
/** How long the network may take to form (every provider registered and announced) once all processes are ready. */
export const NETWORK_READY_TIMEOUT_MS = 60_000
/** While waiting for the network to form, look again this often. */
export const READINESS_POLL_MS = 250
/** Lines of a provider's stderr kept in memory, to explain a crash. */
export const LOG_TAIL_LINES = 40
/** anvil's index of the deployer account (deploys, mints); the client is next, then the providers. */
export const DEPLOYER_ACCOUNT_INDEX = 0
export const CLIENT_ACCOUNT_INDEX = 1
export const FIRST_PROVIDER_ACCOUNT_INDEX = 2
/** The market's deployment file in the devnet's dir (`sherd --deployment`, `sherd-node --deployment`). */
export const DEPLOYMENT_FILE = 'deployment.json'
/** anvil's newest fork: EIP-7825's per-transaction gas cap and the EIP-7623 calldata floor apply, as on mainnet. */
export const DEVNET_HARDFORK = 'osaka'
/** Providers claim (and withdraw) every this many periods: often enough that the demo sees payments within its story. */
export const DEVNET_CLAIM_EVERY_PERIODS = 2

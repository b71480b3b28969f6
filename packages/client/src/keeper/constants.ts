/**
 * Once a minute: a ProofSetMarket period is 51 minutes and the liveness rule makes a silent provider suspect after
 * 30, so a minute adds little to detection, and a check (one stat: a few chain reads and a dial per provider) per
 * file per minute is light.
 */
export const DEFAULT_KEEPER_POLL_INTERVAL_MS = 60_000

/**
 * Market events are read about once a block (12 s on Ethereum): a fault triggers a check of its file within a block
 * or so, where the poll alone would take up to a minute, and the read is a handful of filtered log queries.
 */
export const DEFAULT_KEEPER_EVENT_INTERVAL_MS = 12_000

/** Below this the keeper would spend its time dialling; tests use short intervals, never shorter. */
export const MIN_KEEPER_POLL_INTERVAL_MS = 100

/** Extend two weeks ahead, as the durability simulation does (weekly sweep, 14-day lead on 90-day terms). */
export const DEFAULT_EXTEND_LEAD_MS = 14 * 24 * 3_600_000

/** Periods bought per extension: the client's default term. */
export const DEFAULT_EXTEND_PERIODS = 16

/** Where `sherd keeper` keeps its store without --dir: $XDG_DATA_HOME/sherd/keeper, else ~/.local/share/sherd/keeper. */
export const KEEPER_DIR_NAME = 'keeper'

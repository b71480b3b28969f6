/** Chunks are batched into one LevelDB write of this many bytes: large enough to amortise a batch, small enough to hold. */
export const WRITE_BATCH_BYTES = 1024 * 1024
/**
 * LevelDB memtable size. The 4 MiB default flushes and compacts every few chunks of a bulk write; 32 MiB holds a
 * typical shard (8 MiB at k = 4) several times over at the cost of that much memory per node.
 */
export const LEVEL_WRITE_BUFFER_BYTES = 32 * 1024 * 1024
/** A store stream must deliver its bytes within this long; a stalled client must not hold a reservation forever. */
export const STORE_TIMEOUT_MS = 10 * 60_000
/** Time a client has to send a request frame after opening a stream. */
export const REQUEST_TIMEOUT_MS = 30_000
/** Time given to running transfers to finish when the node stops, before they are aborted. */
export const STOP_GRACE_MS = 5_000
/** Announce this often: clients drop announcements older than a few intervals. */
export const ANNOUNCE_INTERVAL_MS = 30_000
/** Others' announcements are relayed to clients (ANNOUNCEMENTS_PROTOCOL) while younger than this: what clients count as fresh. */
export const RELAYED_ANNOUNCEMENT_MAX_AGE_MS = 90_000
/** Announcements kept for relaying: far more providers than a network has; each one costs a fresh libp2p identity to add. */
export const MAX_HEARD_ANNOUNCEMENTS = 1_024
/** An announcement stamped further ahead of our clock than this is not relayed. */
export const RELAY_CLOCK_SKEW_MS = 60_000
/** Concurrent inbound streams per protocol: libp2p's default of 32 is low for k + m parallel uploads from many clients. */
export const MAX_INBOUND_STREAMS = 256
/** Outbound streams per protocol (the node rarely dials; the test dialer and client share these settings). */
export const MAX_OUTBOUND_STREAMS = 256
/**
 * Largest yamux receive window per stream (yamux's own default, set explicitly because the read buffer below and the
 * bytes a paused reader can have in flight are bounded by it): 16 MiB keeps loopback and LAN transfers at full speed.
 */
export const YAMUX_MAX_STREAM_WINDOW_BYTES = 16 * 1024 * 1024
/**
 * The yamux read buffer must exceed its largest receive window (16 MiB), or a paused reader gets its stream reset;
 * libp2p 3's default of 4 MiB breaks bulk transfer (PLATFORM.md).
 */
export const MAX_READ_BUFFER_BYTES = 32 * 1024 * 1024
/** yamux drops a connection that opens more than 10 streams right after a dial; a client opens k + m at once. */
export const MAX_EARLY_STREAMS = 512
/** Fetch responses are written in pieces of this size so one read does not hold a whole shard in memory. */
export const FETCH_WRITE_BYTES = 1024 * 1024
/**
 * A shard range is read from LevelDB this many bytes at a time (one `getMany` of 16 chunks): one `get` per 64 KiB
 * chunk was one thread-pool round trip each, the provider's largest cost after noise while serving a get. It is
 * FETCH_WRITE_BYTES, which a fetch holds before sending anyway, so serving holds no more than before.
 */
export const READ_BATCH_BYTES = FETCH_WRITE_BYTES
/**
 * A WebSocket whose send buffer is over its limit (4 MiB) is polled this often for room; the transport's default of
 * 500 ms idles a bulk transfer for most of each poll on a fast link.
 */
export const WS_BUFFERED_POLL_MS = 10
/** Default HTTP port of the status API. */
export const DEFAULT_HTTP_PORT = 7070
/** Default libp2p listen address. */
export const DEFAULT_LISTEN = '/ip4/127.0.0.1/tcp/0'
/** Default capacity: 10 GiB. */
export const DEFAULT_CAPACITY_BYTES = 10 * 1024 * 1024 * 1024
/** First retry after a failed bootstrap dial: a bootstrap peer starting moments later is joined about a second later. */
export const BOOTSTRAP_RETRY_INITIAL_MS = 1_000
/** Backoff cap for bootstrap dials: a bootstrap peer that comes back is rejoined within about one announce interval. */
export const BOOTSTRAP_RETRY_MAX_MS = 30_000
/** One bootstrap dial gives up after this long (a TCP connect plus noise and yamux on a live peer takes far less). */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000
/**
 * Gossipsub peer scoring without the IP colocation penalty (P6). gossipsub keeps a disconnected peer's score record,
 * and its IP, for an hour (retainScore) whenever that score is not positive, which is always true of a peer that
 * only listens; so every short-lived client (each `sherd` command is a fresh peer id) counts against its IP for an
 * hour. Past 10 peers on one IP every peer there scores −5 × surplus²: at 14 it falls below the publish threshold
 * (−50: a provider publishes to no one, "no-peers"), at 15 below the graylist threshold (−80: its RPCs are ignored).
 * On a devnet all peers are 127.0.0.1, and on the internet every client behind one NAT shares an IP. Announcements are
 * authenticated by their signature and the on-chain registry, not by where they come from, so P6 defends nothing
 * here (docs/operations.md, "Discovery"). Clients set the same.
 */
export const GOSSIP_SCORE_PARAMS = { IPColocationFactorWeight: 0 }
/**
 * Bytes of shards no deal has claimed yet that a provider holds at most (capped at its capacity). A client uploads a
 * put's shards, then asks for offers and opens the deals minutes later; 1 GiB holds the shards of many puts at once
 * (128 shards of 8 MiB) while an uploader that never pays can fill no more than that until the collector deletes
 * its shards after their grace period.
 */
export const DEFAULT_UNCLAIMED_MAX_BYTES = 1024 * 1024 * 1024

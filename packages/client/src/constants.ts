/**
 * Deal term asked for by default: a short, cheap term suits the local network's 8-block periods; callers storing
 * for real pick their own (`periods`) and extend later.
 */
export const DEFAULT_DEAL_PERIODS = 16
/** Spare uploads raced against the slowest shard uploads of a segment (hedging); 0 turns hedging off. */
export const DEFAULT_EXTRA_UPLOADS = 2
/**
 * Extra parity shards a streaming put encodes per segment (put's `spareShards`, `sherd put --spare-shards`): the
 * first k + m uploads to finish are kept. 1 is the recommended setting: it covers the common tail (one slow or
 * failing provider per segment) for (k + m + 1)/(k + m) of the upload bytes (+17 % at 4 + 2); each further spare
 * costs as much again and only helps when two providers of one segment are slow at once. A streamed shard cannot
 * be re-sent (its bytes are gone once sent), so a spare is also what lets a segment survive a provider dropping
 * out mid-upload. The default is 0 for now: the manifest's m counts the spares, and audit, extend and repair read
 * a spare that was not kept as a shard that lost its deal (they report it and repair places it, one more deal
 * per segment). docs/data-path.md, "Long tails".
 */
export const DEFAULT_SPARE_SHARDS = 0
/** A tail upload is hedged once it has run this many times the segment's median finished upload. */
export const HEDGE_AFTER_MEDIAN_FACTOR = 1.5
/** How often the hedging check runs while a segment has uploads outstanding. */
export const HEDGE_CHECK_MS = 200
/** Segments uploading at once: the next one is encoded while the current one uploads (each holds one stripe). */
export const SEGMENTS_IN_FLIGHT = 2
/** Attempts at placing one shard (first choice plus retries on other providers) before the put fails. */
export const MAX_PLACEMENT_ATTEMPTS = 4
/** Pause before retrying a shard on the provider that just failed it (when no other provider is free). */
export const RETRY_BACKOFF_MS = 500
/** Copies of the sealed manifest stored: the file is unreadable without one, so keep several. */
export const DEFAULT_MANIFEST_REPLICAS = 3
/** Manifest fetch: providers asked at once. */
export const MANIFEST_FETCH_CONCURRENCY = 3
/** Dialling a provider: loopback and LAN answer within a second; a dead one should cost little. */
export const DIAL_TIMEOUT_MS = 5_000
/** Control requests (offer, manifest) must answer within this long. */
export const REQUEST_TIMEOUT_MS = 30_000
/** A shard transfer may take this long plus one second per MiB (a floor of 1 MiB/s) before it counts as failed. */
export const TRANSFER_BASE_TIMEOUT_MS = 15_000
export const TRANSFER_MS_PER_MIB = 1_000
/**
 * A get reads a shard's consecutive pieces of a segment over one fetch-shard request of up to this many bytes
 * (16 pieces at 4 + 2), instead of one request per piece: each request costs a stream (multistream-select, a
 * peer-store write, a fresh yamux window), which was about half of a get's CPU at one per 1 MiB piece.
 */
export const SHARD_SPAN_MAX_BYTES = 16 * 1024 * 1024
/**
 * What a get's k spans may have in flight together. A span's provider may send a whole yamux window
 * (MAX_STREAM_WINDOW_BYTES, 2 MiB) ahead of the reader, so k spans park up to k windows of wire buffers: a 256 MiB
 * get at 10 + 20 peaked at 273 MiB RSS with 16 MiB spans (ArrayBuffers at 133 MiB) against 216 MiB with this
 * budget (3-piece spans, ArrayBuffers at most 71-86 MiB). Where k windows exceed it, spans are cut to its k-th share,
 * so a span's whole length is what it can have in flight; 4 + 2 (4 windows) keeps 16 MiB spans.
 */
export const SPANS_IN_FLIGHT_MAX_BYTES = 12 * 1024 * 1024
/**
 * A span is not read further once this long has passed since it was asked for: the rest is asked anew. A provider
 * ends any fetch request after 30 s (@sherd/node's REQUEST_TIMEOUT_MS) and a span is paced by the reader (a slow
 * link, a consumer that stops for a while), so a piece begun on a span still has the 15 s a lone piece's request
 * was given (transferTimeoutMs of 1 MiB is 16 s).
 */
export const SHARD_SPAN_MAX_MS = 15_000
/** Announcements older than this are stale (providers announce every 30 s; three missed in a row). */
export const ANNOUNCEMENT_MAX_AGE_MS = 90_000
/**
 * Longest `start()` waits to be ready for a put, and a put or repair for enough providers. Readiness usually takes
 * one round trip (a bootstrap provider relays the announcements it has heard); this bounds a network that is short
 * of providers or still forming.
 */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 10_000
/** Chain polling (term starts, audits). Anvil answers fast; a public chain would want seconds. */
export const DEFAULT_POLLING_INTERVAL_MS = 250
/** Waiting for deals' terms to begin gives up after this long (wall clock; automine chains do not move blocks on their own). */
export const DEFAULT_ACTIVATION_TIMEOUT_MS = 10 * 60_000
/** Same yamux limits as the provider (PLATFORM.md): above the 16 MiB window, and more early streams than k + m. */
export const MAX_READ_BUFFER_BYTES = 32 * 1024 * 1024
/**
 * Receive window per stream. yamux grows it to 16 MiB by default, so each of the k shard fetches of a segment
 * could park 16 MiB in buffers while the client hashes another shard; 2 MiB keeps that to a few MiB per stream
 * and still fills a loopback or LAN link (window / RTT). It is also the initial window (YAMUX_INITIAL_STREAM_WINDOW_BYTES),
 * so a stream's window is 2 MiB from its first byte and never grows.
 */
export const MAX_STREAM_WINDOW_BYTES = 2 * 1024 * 1024
export const MAX_EARLY_STREAMS = 512
export const MAX_OUTBOUND_STREAMS = 256
/** Weight of a new latency sample in the moving average kept per provider. */
export const LATENCY_EWMA_WEIGHT = 0.3
/**
 * Gossipsub peer scoring without the IP colocation penalty, as the providers run it (@sherd/node's
 * GOSSIP_SCORE_PARAMS explains why): a client connected to more than 10 providers on one IP (a devnet) would
 * otherwise score them all below its gossip threshold and drop them from its mesh.
 */
export const GOSSIP_SCORE_PARAMS = { IPColocationFactorWeight: 0 }

/**
 * Default segment: large enough that per-segment costs (key derivation, a WebCrypto call, one erasure call per
 * stripe) vanish, small enough that encode and decode hold only a few (~100-200 MiB) at a time.
 */
export const DEFAULT_SEGMENT_SIZE_BYTES = 32 * 2 ** 20

/** Default code of the local network (DESIGN.md): any 2 of 6 providers may vanish. */
export const DEFAULT_DATA_SHARDS = 4
export const DEFAULT_PARITY_SHARDS = 2

/** HKDF `info` prefix of a segment key; the segment index follows as a uint64 big-endian. */
export const SEGMENT_KEY_INFO = 'sherd/v1/segment'

/**
 * Segments decodeFile fetches ahead by default: none, so a 4 GiB get stays under 512 MiB RSS at 4 + 2 and 32 MiB
 * segments (measured: ~360 MiB with 0, ~490 MiB with 1, as the look-ahead's fetch buffers pile up as garbage too).
 * A networked get that wants fetching to overlap decoding passes 1.
 */
export const DEFAULT_PREFETCH_SEGMENTS = 0

/**
 * The segment of a streamed put (encodeFileStream) and get (decodeRange): 1 GiB, the protocol's bound. At 4 + 2 a
 * shard is then 256 MiB, ProofSetMarket's minimum deal weight: a smaller shard is challenged as if it were 256 MiB,
 * so 64 MiB shards (256 MiB segments) cost their provider 4 × the proving gas per byte (494 M gas per TiB-month at
 * 256-block periods against 140 M, bench gas). A 1 GiB put opens 6 deals. Streaming memory does not grow with it
 * (docs/data-path.md, "Defaults for large segments").
 */
export const STREAMING_SEGMENT_SIZE_BYTES = 2 ** 30

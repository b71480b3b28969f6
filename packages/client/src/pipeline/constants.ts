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
 * The segment size proposed for once put and get stream (encodeFileStream, decodeRange): the smallest that keeps a
 * 1 GiB put at 4 + 2 to 24 deals (4 segments × 6 shards of 64 MiB). Streaming memory does not grow with it; it
 * is not the default yet because encodeFile and decodeFile hold whole shards (docs/data-path.md, "Defaults").
 */
export const STREAMING_SEGMENT_SIZE_BYTES = 256 * 2 ** 20

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

/** Segments decodeFile fetches ahead: one keeps the network busy while a segment is decoded and consumed. */
export const DEFAULT_PREFETCH_SEGMENTS = 1

/** The streaming builder was fed a different number of bytes than the length it was created for. */
export class ByteLengthMismatchError extends Error {
  override name = 'ByteLengthMismatchError'
  constructor(
    readonly expected: number,
    readonly received: number,
    more: boolean
  ) {
    super(
      more
        ? `received more than the ${expected} bytes announced; the shard is longer than its header says, reject it`
        : `received ${received} of ${expected} announced bytes; the shard is truncated, fetch it again`
    )
  }
}

/** The bytes given for a chunk do not hash to the chunk root stored for it (corrupt or wrong chunk on disk). */
export class ChunkMismatchError extends Error {
  override name = 'ChunkMismatchError'
  constructor(
    readonly chunkIndex: number,
    detail: string
  ) {
    super(`chunk ${chunkIndex} does not match the stored chunk tree: ${detail}; re-read the chunk or repair the shard`)
  }
}

/** Bytes handed to `decodeChunkTree` are not an encoded chunk tree (truncated, other version, or corrupt). */
export class ChunkTreeDecodeError extends Error {
  override name = 'ChunkTreeDecodeError'
  constructor(detail: string) {
    super(`cannot decode chunk tree: ${detail}; rebuild it from the shard bytes`)
  }
}

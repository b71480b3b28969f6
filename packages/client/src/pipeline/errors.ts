/**
 * Base of the errors the offline data path (encodeFile / decodeFile) throws. Conditions are told apart by
 * `.name`; each message says what went wrong and what to do.
 */
export class DataPathError extends Error {
  override name = 'DataPathError'
}

/** k and m outside 1 ≤ k, 0 ≤ m, k + m ≤ 256. */
export class InvalidCodeError extends DataPathError {
  override name = 'InvalidCodeError'
  constructor(
    readonly k: unknown,
    readonly m: unknown,
    problem: string
  ) {
    super(
      `invalid erasure code (k=${String(k)}, m=${String(m)}): ${problem}; pick 1 ≤ k, 0 ≤ m, k + m ≤ 256 (default 4 + 2)`
    )
  }
}

/** An option other than the code that encodeFile or decodeFile cannot accept (segment size, expected size, source). */
export class InvalidOptionError extends DataPathError {
  override name = 'InvalidOptionError'
}

/** The source ended before `expectedSize` bytes: the input was cut short (a truncated stream). */
export class TruncatedSourceError extends DataPathError {
  override name = 'TruncatedSourceError'
  constructor(
    readonly received: number,
    readonly expected: number
  ) {
    super(
      `the source ended after ${received} of the ${expected} bytes expected: the input stream was cut short; ` +
        'read the file again from its start'
    )
  }
}

/** The source went on past `expectedSize` bytes: the file changed while it was read, or the size given is wrong. */
export class SourceTooLongError extends DataPathError {
  override name = 'SourceTooLongError'
  constructor(readonly expected: number) {
    super(
      `the source holds more than the ${expected} bytes expected: the file grew while it was read or the size ` +
        'given is wrong; encode it again'
    )
  }
}

/** `encoding.manifest` read before every segment was consumed. */
export class EncodingNotFinishedError extends DataPathError {
  override name = 'EncodingNotFinishedError'
  constructor() {
    super('the manifest exists only once every segment has been consumed: iterate the encoding to its end first')
  }
}

/** Fewer than k shards of a segment were found and passed their commitment check. */
export class NotEnoughShardsError extends DataPathError {
  override name = 'NotEnoughShardsError'
  constructor(
    readonly segmentIndex: number,
    readonly needed: number,
    /** Shard indices the source did not supply. */
    readonly missing: readonly number[],
    /** Shard indices the source supplied but that failed their commitment (wrong length or Merkle root). */
    readonly bad: readonly number[]
  ) {
    super(
      `segment ${segmentIndex}: ${needed} good shards are needed but shards [${missing.join(', ')}] are missing and ` +
        `[${bad.join(', ')}] failed their commitment; the segment cannot be rebuilt from the providers asked, ` +
        'try others or repair the file'
    )
  }
}

/** A segment's AES-GCM tag did not verify after its shards all passed their commitments: the key is wrong. */
export class SegmentDecryptionError extends DataPathError {
  override name = 'SegmentDecryptionError'
  constructor(readonly segmentIndex: number) {
    super(
      `segment ${segmentIndex} does not decrypt (AES-GCM tag mismatch) although its shards match the manifest: ` +
        'the file key does not belong to this manifest; check the key after # in the sherd:// link'
    )
  }
}

/**
 * A sealed chunk's AES-GCM tag did not verify under its index and finality: its bytes were altered, it is out of
 * place (reordered or duplicated), the segment was cut short, or the key is wrong.
 */
export class ChunkAuthenticationError extends DataPathError {
  override name = 'ChunkAuthenticationError'
  constructor(
    readonly segmentIndex: number,
    readonly chunkIndex: number
  ) {
    super(
      `segment ${segmentIndex}, chunk ${chunkIndex}: the AES-GCM tag does not verify, so the chunk was altered, ` +
        'reordered, duplicated or cut short, or the key is wrong; fetch the bytes again from another provider, or ' +
        'check the key after # in the sherd:// link'
    )
  }
}

/** Sealed segment bytes whose length no segment (or not the expected one) seals to: they were cut or padded. */
export class SealedLengthError extends DataPathError {
  override name = 'SealedLengthError'
  constructor(
    readonly segmentIndex: number,
    readonly sealedLength: number,
    readonly expectedSize?: number
  ) {
    super(
      `segment ${segmentIndex}: ${sealedLength} sealed bytes ${
        expectedSize === undefined
          ? 'cannot be a sealed segment (the last chunk holds no plaintext)'
          : `do not seal a ${expectedSize}-byte segment`
      }; the bytes were truncated or extended, fetch them again`
    )
  }
}

/** A byte range outside the file or segment, or not an integer range. */
export class InvalidRangeError extends DataPathError {
  override name = 'InvalidRangeError'
  constructor(
    readonly offset: unknown,
    readonly length: unknown,
    readonly size: number
  ) {
    super(
      `range offset ${String(offset)}, length ${String(length)} is not inside the ${size} bytes there are: ` +
        'give integers with 0 ≤ offset and offset + length ≤ size'
    )
  }
}

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
  constructor (readonly k: unknown, readonly m: unknown, problem: string) {
    super(`invalid erasure code (k=${String(k)}, m=${String(m)}): ${problem}; pick 1 ≤ k, 0 ≤ m, k + m ≤ 256 (default 4 + 2)`)
  }
}

/** An option other than the code that encodeFile or decodeFile cannot accept (segment size, expected size, source). */
export class InvalidOptionError extends DataPathError {
  override name = 'InvalidOptionError'
}

/** The source ended before `expectedSize` bytes: the input was cut short (a truncated stream). */
export class TruncatedSourceError extends DataPathError {
  override name = 'TruncatedSourceError'
  constructor (readonly received: number, readonly expected: number) {
    super(`the source ended after ${received} of the ${expected} bytes expected: the input stream was cut short; ` +
      'read the file again from its start')
  }
}

/** The source went on past `expectedSize` bytes: the file changed while it was read, or the size given is wrong. */
export class SourceTooLongError extends DataPathError {
  override name = 'SourceTooLongError'
  constructor (readonly expected: number) {
    super(`the source holds more than the ${expected} bytes expected: the file grew while it was read or the size ` +
      'given is wrong; encode it again')
  }
}

/** `encoding.manifest` read before every segment was consumed. */
export class EncodingNotFinishedError extends DataPathError {
  override name = 'EncodingNotFinishedError'
  constructor () {
    super('the manifest exists only once every segment has been consumed: iterate the encoding to its end first')
  }
}

/** Fewer than k shards of a segment were found and passed their commitment check. */
export class NotEnoughShardsError extends DataPathError {
  override name = 'NotEnoughShardsError'
  constructor (
    readonly segmentIndex: number,
    readonly needed: number,
    /** Shard indices the source did not supply. */
    readonly missing: readonly number[],
    /** Shard indices the source supplied but that failed their commitment (wrong length or Merkle root). */
    readonly bad: readonly number[]
  ) {
    super(`segment ${segmentIndex}: ${needed} good shards are needed but shards [${missing.join(', ')}] are missing and ` +
      `[${bad.join(', ')}] failed their commitment; the segment cannot be rebuilt from the providers asked, ` +
      'try others or repair the file')
  }
}

/** A segment's AES-GCM tag did not verify after its shards all passed their commitments: the key is wrong. */
export class SegmentDecryptionError extends DataPathError {
  override name = 'SegmentDecryptionError'
  constructor (readonly segmentIndex: number) {
    super(`segment ${segmentIndex} does not decrypt (AES-GCM tag mismatch) although its shards match the manifest: ` +
      'the file key does not belong to this manifest; check the key after # in the sherd:// link')
  }
}

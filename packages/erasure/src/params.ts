import { ErasureParametersError, TooFewShardsError } from './errors.js'

/** Reed-Solomon over GF(2^8) allows at most 256 shards per stripe. */
export const MAX_TOTAL_SHARDS = 256

/** Checks (k, m) and the contiguous buffer; returns the size of one shard. */
export function checkStripe(shards: Uint8Array, k: number, m: number): number {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0 || k + m > MAX_TOTAL_SHARDS) {
    throw new ErasureParametersError(`invalid code (k=${k}, m=${m}): need 1 <= k, 0 <= m, k + m <= ${MAX_TOTAL_SHARDS}`)
  }
  if (!(shards instanceof Uint8Array)) throw new TypeError('shards must be a Uint8Array')
  const total = k + m
  if (shards.length % total !== 0) {
    throw new ErasureParametersError(`buffer of ${shards.length} bytes does not hold ${total} equal shards`)
  }
  return shards.length / total
}

/** Checks the presence flags and that at least k shards are present. */
export function checkPresent(present: readonly boolean[], k: number, m: number): number {
  if (present.length !== k + m) {
    throw new ErasureParametersError(`expected ${k + m} presence flags, got ${present.length}`)
  }
  const count = present.reduce((n, p) => n + (p ? 1 : 0), 0)
  if (count < k) throw new TooFewShardsError(count, k)
  return count
}

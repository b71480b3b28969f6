/**
 * A Reed-Solomon coder over one stripe laid out contiguously: k data shards then m parity shards,
 * all of the same size, in one Uint8Array (reed-solomon-erasure's layout).
 */
export interface ErasureCoder {
  /** Which implementation this is, for logs and benchmarks. */
  readonly name: string
  /** Fills the m parity shards in place from the k data shards. */
  encode(shards: Uint8Array, k: number, m: number): void
  /**
   * Rebuilds, in place, every shard whose flag in `present` is false (data and parity alike) from the
   * others. Throws TooFewShardsError when fewer than k are present.
   */
  reconstruct(shards: Uint8Array, k: number, m: number, present: readonly boolean[]): void
}

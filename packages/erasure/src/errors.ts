/** Thrown for erasure parameters or buffers the codec cannot accept; `.name` tells the condition apart. */
export class ErasureParametersError extends Error {
  override name = 'ErasureParametersError'
}

/** Thrown when fewer than k shards of a stripe are present, so nothing can be rebuilt. */
export class TooFewShardsError extends Error {
  override name = 'TooFewShardsError'
  constructor (readonly present: number, readonly needed: number) {
    super(`only ${present} shards are present and ${needed} are needed to reconstruct; fetch more shards`)
  }
}

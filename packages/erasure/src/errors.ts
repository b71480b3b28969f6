/** Thrown for erasure parameters or buffers the codec cannot accept; `.name` tells the condition apart. */
export class ErasureParametersError extends Error {
  override name = 'ErasureParametersError'
}

/** Thrown when fewer than k shards of a stripe are present, so nothing can be rebuilt. */
export class TooFewShardsError extends Error {
  override name = 'TooFewShardsError'
  constructor(
    readonly present: number,
    readonly needed: number
  ) {
    super(`only ${present} shards are present and ${needed} are needed to reconstruct; fetch more shards`)
  }
}

/**
 * Thrown when this JavaScript engine cannot run a kernel: the SIMD one (the library coder still works in Node), or
 * the library one in a browser build, where it is not bundled.
 */
export class KernelUnavailableError extends Error {
  override name = 'KernelUnavailableError'
  constructor(
    readonly feature: string,
    message?: string
  ) {
    super(
      message ?? `this engine does not support WebAssembly ${feature}; use createErasureCoder({ kernel: 'library' })`
    )
  }
}

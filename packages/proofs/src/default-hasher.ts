import type { TreeHasher } from './hasher.js'
import { kernelHasher } from './kernel.js'
import { referenceHasher } from './reference.js'

/**
 * The hasher behind the unsuffixed API (`merkleRoot`, `buildTree`, chunk trees): the WASM SIMD kernel, or the
 * TypeScript reference on an engine without WebAssembly SIMD (same results, ~20× slower).
 */
export function defaultHasher(): TreeHasher {
  return kernelHasher() ?? referenceHasher
}

/** Whether the unsuffixed API runs on the WASM kernel. */
export function usesKernel(): boolean {
  return kernelHasher() !== null
}

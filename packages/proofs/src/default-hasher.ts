import { loadHashLevel } from '#native'
import type { TreeHasher } from './hasher.js'
import { kernelHasher } from './kernel.js'
import { NativeHasher } from './native.js'
import { referenceHasher } from './reference.js'

let native: NativeHasher | null | undefined

/** The SHA-NI hasher where it was built and the CPU has SHA-NI (Node on x86-64), else null. */
export function nativeHasher(): NativeHasher | null {
  if (native === undefined) {
    const hashLevel = loadHashLevel()
    native = hashLevel === null ? null : new NativeHasher(hashLevel)
  }
  return native
}

/**
 * The hasher behind the unsuffixed API (`merkleRoot`, `buildTree`, chunk trees): native SHA-NI code where it is
 * available, else the WASM SIMD kernel, else the TypeScript reference on an engine without WebAssembly SIMD. All
 * three give the same results; the native one is ≈ 3.5× the kernel and the kernel ≈ 8× the reference.
 */
export function defaultHasher(): TreeHasher {
  return nativeHasher() ?? kernelHasher() ?? referenceHasher
}

/** Which hasher the unsuffixed API runs on. */
export function hasherName(): 'native-sha-ni' | 'wasm-simd' | 'reference' {
  return nativeHasher() !== null ? 'native-sha-ni' : kernelHasher() !== null ? 'wasm-simd' : 'reference'
}

/** Whether the unsuffixed API runs on compiled code (the native hasher or the WASM kernel), not the reference. */
export function usesKernel(): boolean {
  return hasherName() !== 'reference'
}

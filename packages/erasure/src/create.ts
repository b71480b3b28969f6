import type { ErasureCoder } from './coder.js'
import { ErasureParametersError } from './errors.js'
import { libraryCoder } from '#library'
import { simdCoder, simdSupported } from './simd.js'

/** 'simd': this package's WebAssembly SIMD kernel. 'library': reed-solomon-erasure.wasm. Both give identical bytes. */
export type ErasureKernel = 'simd' | 'library'

export interface CreateErasureCoderOptions {
  /** Which implementation; default 'simd' where the engine runs WebAssembly SIMD, else 'library'. */
  kernel?: ErasureKernel
}

/** A coder of the chosen kind; see ErasureKernel. */
export function createErasureCoder(options: CreateErasureCoderOptions = {}): ErasureCoder {
  const kernel = options.kernel ?? (simdSupported() ? 'simd' : 'library')
  if (kernel === 'simd') return simdCoder()
  if (kernel === 'library') return libraryCoder()
  throw new ErasureParametersError(`unknown erasure kernel ${String(kernel)}: use 'simd' or 'library'`)
}

let shared: ErasureCoder | undefined

/** The coder the data path uses: one shared instance of the fastest kernel this engine runs. */
export function defaultCoder(): ErasureCoder {
  shared ??= createErasureCoder()
  return shared
}

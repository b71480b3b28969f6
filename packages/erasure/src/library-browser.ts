import type { ErasureCoder } from './coder.js'
import { KernelUnavailableError } from './errors.js'

/**
 * What `#library` resolves to in a browser: `@subspace/reed-solomon-erasure.wasm` calls `require("fs")` when its
 * module is evaluated, so it cannot be bundled for a page. The SIMD kernel is the browser's only coder; an engine
 * without WebAssembly SIMD (every current browser has it) gets this error when it asks for the fallback.
 */
export function libraryCoder(): ErasureCoder {
  throw new KernelUnavailableError(
    'library',
    "the reed-solomon-erasure.wasm coder is not in the browser build (it needs Node's fs): " +
      "use createErasureCoder({ kernel: 'simd' }), which every engine with WebAssembly SIMD runs"
  )
}

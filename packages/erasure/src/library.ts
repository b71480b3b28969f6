import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import rse from '@subspace/reed-solomon-erasure.wasm'
import type { ErasureCoder } from './coder.js'
import { ErasureParametersError } from './errors.js'
import { checkPresent, checkStripe } from './params.js'

let compiled: WebAssembly.Module | undefined
let shared: rse.ReedSolomonErasure | undefined

function freshInstance(): rse.ReedSolomonErasure {
  if (compiled === undefined) {
    const require = createRequire(import.meta.url)
    const entry = require.resolve('@subspace/reed-solomon-erasure.wasm')
    compiled = new WebAssembly.Module(readFileSync(join(dirname(entry), 'reed_solomon_erasure_bg.wasm')))
  }
  // The wrapper's constructor is private in its typings but is how fromBytes builds it; this skips recompiling.
  const Wrapper = rse.ReedSolomonErasure as unknown as new (exports: WebAssembly.Exports) => rse.ReedSolomonErasure
  return new Wrapper(new WebAssembly.Instance(compiled).exports)
}

function library(): rse.ReedSolomonErasure {
  shared ??= freshInstance()
  return shared
}

function check(result: number, what: string): void {
  if (result !== rse.ReedSolomonErasure.RESULT_OK) {
    throw new ErasureParametersError(`reed-solomon-erasure ${what} failed with result code ${result}`)
  }
}

/** The reference coder: `@subspace/reed-solomon-erasure.wasm` (Rust's reed-solomon-erasure compiled to WASM). */
export function libraryCoder(): ErasureCoder {
  return {
    name: 'reed-solomon-erasure.wasm',
    encode(shards, k, m) {
      checkStripe(shards, k, m)
      if (m === 0 || shards.length === 0) return
      check(library().encode(shards, k, m), 'encode')
    },
    reconstruct(shards, k, m, present) {
      checkStripe(shards, k, m)
      const count = checkPresent(present, k, m)
      if (count === k + m || shards.length === 0) return
      // The library rebuilds data shards only; missing parity is then recomputed from the data.
      const dataMissing = present.slice(0, k).some((p) => !p)
      // reed-solomon-erasure.wasm 0.2.5 corrupts its allocator after a few reconstruct calls on one instance
      // (later calls fail with TOO_FEW_SHARDS_PRESENT), so each reconstruct runs on an instance of its own.
      if (dataMissing) check(freshInstance().reconstruct(shards, k, m, [...present]), 'reconstruct')
      if (present.slice(k).some((p) => !p)) check(library().encode(shards, k, m), 'encode')
    }
  }
}

import type { ErasureCoder } from './coder.js'
import { KernelUnavailableError } from './errors.js'
import { KERNEL_RELAXED_SIMD_WASM_BASE64, KERNEL_SIMD_WASM_BASE64 } from './generated/kernel-wasm.js'
import { codingMatrix, invert, multiply, selectRows, writeNibbleTables } from './gf.js'
import type { Matrix } from './gf.js'
import { checkPresent, checkStripe } from './params.js'

/**
 * Bytes of input and output chunks the kernel works on at once. The kernel re-reads every input chunk once
 * per group of four output rows, so inputs and outputs together should stay in the per-core L2 (1 MiB on
 * this EPYC); larger chunks also mean fewer copies and calls per stripe. Measured at 64 MiB, (10,20) and
 * (29,51): 512 KiB → 1464 / 626 MB/s, 1 MiB → 1560 / 652, 2 MiB → 1575 / 661, 4 MiB → 1547 / 658.
 */
const WORKING_SET_BYTES = 1024 * 1024
/** Decode plans kept per coder, one per (k, m, erasure pattern); the Rust crate keeps 254 decode matrices. */
const PLAN_CACHE_ENTRIES = 256
const WASM_PAGE_BYTES = 65536
/** The kernel's step: two 16-byte vectors per input per iteration, so each table load serves both. */
const VECTOR_BYTES = 32
/** Bytes of nibble tables per coefficient: 16 low-nibble products, 16 high-nibble products. */
const TABLE_BYTES = 32

interface KernelExports {
  memory: WebAssembly.Memory
  dot4: Kernel
  dot2: Kernel
  dot1: Kernel
}
type Kernel = (tables: number, inputs: number, k: number, stride: number, outputs: number, len: number) => void

/** Output rows computed in one kernel pass, with where their tables start in the plan's table bytes. */
interface Group {
  readonly rows: 4 | 2 | 1
  readonly first: number
  readonly tableOffset: number
}

/** Everything needed to compute some shards of a stripe from k others. */
interface Plan {
  readonly inputs: readonly number[]
  readonly outputs: readonly number[]
  readonly groups: readonly Group[]
  readonly tables: Uint8Array
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  // atob, not Buffer: this module is in the browser build.
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
}

let simdBytes: Uint8Array<ArrayBuffer> | undefined
let relaxedBytes: Uint8Array<ArrayBuffer> | undefined

/** Whether this engine runs WebAssembly SIMD, which the SIMD kernel needs. */
export function simdSupported(): boolean {
  simdBytes ??= decodeBase64(KERNEL_SIMD_WASM_BASE64)
  return WebAssembly.validate(simdBytes)
}

function instantiate(relaxed: boolean | undefined): { exports: KernelExports; relaxed: boolean } {
  simdBytes ??= decodeBase64(KERNEL_SIMD_WASM_BASE64)
  relaxedBytes ??= decodeBase64(KERNEL_RELAXED_SIMD_WASM_BASE64)
  const useRelaxed = relaxed ?? WebAssembly.validate(relaxedBytes)
  const bytes = useRelaxed ? relaxedBytes : simdBytes
  if (!WebAssembly.validate(bytes)) {
    throw new KernelUnavailableError(useRelaxed ? 'relaxed SIMD' : 'SIMD')
  }
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes))
  return { exports: instance.exports as unknown as KernelExports, relaxed: useRelaxed }
}

function buildPlan(rows: Matrix, inputs: readonly number[], outputs: readonly number[]): Plan {
  const k = rows.cols
  const groups: Group[] = []
  let first = 0
  let tableOffset = 0
  while (first < rows.rows) {
    const left = rows.rows - first
    const size = left >= 4 ? 4 : left >= 2 ? 2 : 1
    groups.push({ rows: size, first, tableOffset })
    first += size
    tableOffset += size * k * TABLE_BYTES
  }
  const tables = new Uint8Array(tableOffset)
  for (const group of groups) {
    let offset = group.tableOffset
    for (let j = 0; j < k; j++) {
      for (let r = 0; r < group.rows; r++) {
        writeNibbleTables(rows.data[(group.first + r) * k + j]!, tables, offset)
        offset += TABLE_BYTES
      }
    }
  }
  return { inputs, outputs, groups, tables }
}

export interface SimdCoderOptions {
  /**
   * Use the relaxed-SIMD build of the kernel (same bytes out, one instruction fewer per lookup on x86).
   * Default: when the engine supports it.
   */
  relaxed?: boolean
}

/**
 * The WebAssembly SIMD coder: same matrix and layout as reed-solomon-erasure, so its parity is byte-identical
 * and either implementation decodes the other's shards. Throws KernelUnavailableError where the engine has
 * no WebAssembly SIMD.
 */
export function simdCoder(options: SimdCoderOptions = {}): ErasureCoder {
  const kernel = instantiate(options.relaxed)
  const { memory, dot4, dot2, dot1 } = kernel.exports
  const passes = { 4: dot4, 2: dot2, 1: dot1 }
  let heap = new Uint8Array(memory.buffer)
  const coding = new Map<string, Matrix>()
  const plans = new Map<string, Plan>()
  // The plan whose tables sit at the start of WASM memory, so back-to-back stripes skip the copy.
  let loaded: Plan | undefined

  function codingFor(k: number, m: number): Matrix {
    const key = `${k},${m}`
    let found = coding.get(key)
    if (found === undefined) {
      found = codingMatrix(k, m)
      coding.set(key, found)
    }
    return found
  }

  function remember(key: string, plan: Plan): Plan {
    if (plans.size >= PLAN_CACHE_ENTRIES) plans.delete(plans.keys().next().value!)
    plans.set(key, plan)
    return plan
  }

  function encodePlan(k: number, m: number): Plan {
    const key = `${k},${m},encode`
    const cached = plans.get(key)
    if (cached !== undefined) return cached
    const inputs = Array.from({ length: k }, (_, i) => i)
    const outputs = Array.from({ length: m }, (_, i) => k + i)
    return remember(key, buildPlan(selectRows(codingFor(k, m), outputs), inputs, outputs))
  }

  function decodePlan(k: number, m: number, present: readonly boolean[]): Plan {
    const key = `${k},${m},${present.map((p) => (p ? '1' : '0')).join('')}`
    const cached = plans.get(key)
    if (cached !== undefined) {
      // Refresh its place so the cache evicts the least recently used pattern.
      plans.delete(key)
      plans.set(key, cached)
      return cached
    }
    const matrix = codingFor(k, m)
    // The first k present shards, as the crate picks them: every present data shard is among them, so a
    // rebuilt parity shard equals one encoded from the (partly rebuilt) data, as the crate computes it.
    const inputs: number[] = []
    const outputs: number[] = []
    present.forEach((p, i) => {
      if (!p) outputs.push(i)
      else if (inputs.length < k) inputs.push(i)
    })
    const decode = invert(selectRows(matrix, inputs))
    // Row i of the coding matrix times the decode matrix rebuilds shard i from the inputs, data or parity.
    return remember(key, buildPlan(multiply(selectRows(matrix, outputs), decode), inputs, outputs))
  }

  function ensureMemory(bytes: number): void {
    if (memory.buffer.byteLength < bytes) {
      memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / WASM_PAGE_BYTES))
      heap = new Uint8Array(memory.buffer)
    }
  }

  function run(plan: Plan, shards: Uint8Array, k: number, shardBytes: number): void {
    const { inputs, outputs, groups, tables } = plan
    const buffers = k + outputs.length
    const rounded = Math.ceil(shardBytes / VECTOR_BYTES) * VECTOR_BYTES
    // At most 256 buffers, so a chunk is never under 4 KiB.
    const fit = Math.floor(WORKING_SET_BYTES / buffers / VECTOR_BYTES) * VECTOR_BYTES
    const chunk = Math.min(rounded, fit)
    const base = Math.ceil(tables.length / VECTOR_BYTES) * VECTOR_BYTES
    ensureMemory(base + buffers * chunk)
    if (loaded !== plan) {
      heap.set(tables, 0)
      loaded = plan
    }
    const outputBase = base + k * chunk
    for (let offset = 0; offset < shardBytes; offset += chunk) {
      const len = Math.min(chunk, shardBytes - offset)
      for (let j = 0; j < k; j++) {
        const start = inputs[j]! * shardBytes + offset
        heap.set(shards.subarray(start, start + len), base + j * chunk)
      }
      // Bytes past len in a short last chunk are stale; their products land past len in the outputs and stay there.
      const vectors = Math.ceil(len / VECTOR_BYTES) * VECTOR_BYTES
      for (const group of groups) {
        passes[group.rows](group.tableOffset, base, k, chunk, outputBase + group.first * chunk, vectors)
      }
      for (let r = 0; r < outputs.length; r++) {
        const from = outputBase + r * chunk
        shards.set(heap.subarray(from, from + len), outputs[r]! * shardBytes + offset)
      }
    }
  }

  return {
    name: kernel.relaxed ? 'sherd-simd (relaxed)' : 'sherd-simd',
    encode(shards, k, m) {
      const shardBytes = checkStripe(shards, k, m)
      if (m === 0 || shardBytes === 0) return
      run(encodePlan(k, m), shards, k, shardBytes)
    },
    reconstruct(shards, k, m, present) {
      const shardBytes = checkStripe(shards, k, m)
      const count = checkPresent(present, k, m)
      if (count === k + m || shardBytes === 0) return
      run(decodePlan(k, m, present), shards, k, shardBytes)
    }
  }
}

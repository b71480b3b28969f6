import { HASH_SIZE, LEAF_SIZE } from './constants.js'
import { KERNEL_WASM_BASE64 } from './generated/kernel-wasm.js'
import type { TreeHasher } from './hasher.js'
import { leafCountOf } from './params.js'

interface KernelExports {
  memory: WebAssembly.Memory
  init: () => void
  heapBase: () => number
  hashLevel: (src: number, dst: number, n: number, prefix: number) => void
  reduce: (buf: number, n: number, levels: number, base: number) => void
  subtreeRoots: (data: number, leafCount: number, depth: number, out: number, scratch: number) => void
  levels: (data: number, leafCount: number, depth: number, out: number) => void
  upperLevels: (out: number, n: number, depth: number, base: number) => void
}

/** Subtrees of 1024 leaves (64 KiB of data, 32 KiB of leaf hashes) are hashed whole, so they stay in cache. */
const INNER_DEPTH = 10
/** Data copied into WASM memory per kernel call: bounds the kernel's memory; 256 KiB to 16 MiB measure the same. */
const SLICE_BYTES = 1024 * 1024
const PAGE_BYTES = 65536
/** Room before a buffer: the kernel's first load of a message starts one byte early. */
const GUARD_BYTES = 64

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to
}

/**
 * The WebAssembly SIMD kernel behind the default API. One instance per process; its memory grows to the
 * largest tree built (the data plus all levels for `buildTree`, at most a 1 MiB slice for roots) and stays.
 */
export class KernelHasher implements TreeHasher {
  readonly #k: KernelExports
  readonly #base: number

  constructor(bytes: Uint8Array<ArrayBuffer>) {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes))
    this.#k = instance.exports as unknown as KernelExports
    this.#k.init()
    this.#base = roundUp(this.#k.heapBase() + GUARD_BYTES, 64)
  }

  /** Makes [base, base + bytes) addressable and returns a view of memory (views die when memory grows). */
  #reserve(bytes: number): Uint8Array {
    const memory = this.#k.memory
    const needed = this.#base + bytes
    if (needed > 2 ** 32)
      throw new RangeError(
        `the WASM kernel needs ${needed} bytes of memory, over its 4 GiB limit; use chunk trees for shards this large`
      )
    const have = memory.buffer.byteLength
    if (needed > have) memory.grow(Math.ceil((needed - have) / PAGE_BYTES))
    return new Uint8Array(memory.buffer)
  }

  /** Copies data into memory at `at`, zero-padded to whole leaves; returns the leaf count. */
  #load(memory: Uint8Array, at: number, data: Uint8Array): number {
    const leafCount = leafCountOf(data.length)
    memory.set(data, at)
    memory.fill(0, at + data.length, at + leafCount * LEAF_SIZE)
    return leafCount
  }

  /**
   * SHA-256 of each 65-byte message in `messages` (n · 65 bytes) → n · 32 bytes. The raw primitive under the
   * trees, exposed so tests can check the kernel's SHA-256 itself against other implementations.
   */
  hash65(messages: Uint8Array): Uint8Array {
    const n = messages.length / 65
    if (!Number.isInteger(n))
      throw new RangeError(`messages must be a whole number of 65-byte messages, got ${messages.length} bytes`)
    const out = new Uint8Array(n * HASH_SIZE)
    for (let i = 0; i < n; i++) {
      // The kernel takes the first byte as the prefix argument and the other 64 from memory.
      const memory = this.#reserve(64 + 2 * HASH_SIZE)
      memory.set(messages.subarray(i * 65 + 1, i * 65 + 65), this.#base)
      this.#k.hashLevel(this.#base, this.#base + 64, 1, messages[i * 65]!)
      out.set(new Uint8Array(this.#k.memory.buffer, this.#base + 64, HASH_SIZE), i * HASH_SIZE)
    }
    return out
  }

  levels(data: Uint8Array, width: number): Uint8Array {
    const depth = Math.log2(width)
    const dataBytes = roundUp(leafCountOf(data.length) * LEAF_SIZE, 64)
    const outBytes = (2 * width - 1) * HASH_SIZE
    const memory = this.#reserve(dataBytes + outBytes)
    const leafCount = this.#load(memory, this.#base, data)
    const out = this.#base + dataBytes
    this.#k.levels(this.#base, leafCount, depth, out)
    return new Uint8Array(this.#k.memory.buffer, out, outBytes).slice()
  }

  upperLevels(nodes: Uint8Array, width: number, baseLevel: number): Uint8Array {
    const outBytes = (2 * width - 1) * HASH_SIZE
    const memory = this.#reserve(outBytes)
    memory.set(nodes, this.#base)
    this.#k.upperLevels(this.#base, nodes.length / HASH_SIZE, Math.log2(width), baseLevel)
    return new Uint8Array(this.#k.memory.buffer, this.#base, outBytes).slice()
  }

  subtreeRoots(data: Uint8Array, subtreeWidth: number): Uint8Array {
    const depth = Math.log2(subtreeWidth)
    const leafCount = leafCountOf(data.length)
    const count = Math.ceil(leafCount / subtreeWidth)
    const out = new Uint8Array(count * HASH_SIZE)
    const subtreeBytes = subtreeWidth * LEAF_SIZE
    if (depth <= INNER_DEPTH) {
      // Many subtrees per call, a slice at a time.
      const perSlice = Math.max(1, Math.floor(SLICE_BYTES / subtreeBytes))
      const sliceBytes = perSlice * subtreeBytes
      for (let first = 0; first < count; first += perSlice) {
        const slice = data.subarray(first * subtreeBytes, Math.min((first + perSlice) * subtreeBytes, data.length))
        const rootsAt = this.#base + sliceBytes
        const scratch = rootsAt + perSlice * HASH_SIZE
        const memory = this.#reserve(sliceBytes + perSlice * HASH_SIZE + (subtreeWidth + 1) * HASH_SIZE)
        const n = this.#load(memory, this.#base, slice)
        this.#k.subtreeRoots(this.#base, n, depth, rootsAt, scratch)
        const done = Math.ceil(n / subtreeWidth)
        out.set(new Uint8Array(this.#k.memory.buffer, rootsAt, done * HASH_SIZE), first * HASH_SIZE)
      }
      return out
    }
    // Big subtrees: roots of their 1024-leaf pieces, then reduce those in memory.
    for (let c = 0; c < count; c++) {
      const inner = this.subtreeRoots(
        data.subarray(c * subtreeBytes, Math.min((c + 1) * subtreeBytes, data.length)),
        2 ** INNER_DEPTH
      )
      const n = inner.length / HASH_SIZE
      const memory = this.#reserve((n + 1) * HASH_SIZE)
      memory.set(inner, this.#base)
      this.#k.reduce(this.#base, n, depth - INNER_DEPTH, INNER_DEPTH)
      out.set(new Uint8Array(this.#k.memory.buffer, this.#base, HASH_SIZE), c * HASH_SIZE)
    }
    return out
  }
}

let kernel: KernelHasher | null | undefined

/** The WASM kernel, or null where the engine lacks WebAssembly SIMD. */
export function kernelHasher(): KernelHasher | null {
  if (kernel === undefined) {
    const bytes = Uint8Array.from(atob(KERNEL_WASM_BASE64), (c) => c.charCodeAt(0))
    kernel = WebAssembly.validate(bytes) ? new KernelHasher(bytes) : null
  }
  return kernel
}

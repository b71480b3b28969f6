import { DEFAULT_CHUNK_SIZE, HASH_SIZE, LEAF_SIZE } from './constants.js'
import { ByteLengthMismatchError, ChunkMismatchError, ChunkTreeDecodeError } from './errors.js'
import { defaultHasher } from './default-hasher.js'
import type { TreeHasher } from './hasher.js'
import { checkBytes, checkIndex, depthOf, leafCountOf, levelOffset } from './params.js'
import type { MerkleProof } from './tree.js'

/**
 * What a provider keeps of a shard's tree: the nodes from the chunk roots up (32 bytes per chunk). A proof for
 * any leaf needs those nodes plus one re-read chunk, and is identical to the proof from the whole tree.
 */
export interface ChunkTree {
  readonly root: Uint8Array
  readonly depth: number
  readonly leafCount: number
  readonly byteLength: number
  /** Bytes per chunk (a power of two, ≥ 64); the last chunk may be shorter. */
  readonly chunkSize: number
  readonly chunkCount: number
  /** The chunk that holds leaf `leafIndex` and its byte range in the shard, to re-read from disk. */
  chunkRange: (leafIndex: number) => { chunkIndex: number; start: number; end: number }
  /** The proof for `leafIndex` from the bytes of its chunk; throws `ChunkMismatchError` if they are not that chunk. */
  proveFromChunk: (leafIndex: number, chunkBytes: Uint8Array) => MerkleProof
}

/** Largest accepted chunk: a re-read for one proof stays a small read. */
const MAX_CHUNK_SIZE = 2 ** 30

function checkChunkSize(chunkSize: number): void {
  if (
    !Number.isSafeInteger(chunkSize) ||
    chunkSize < LEAF_SIZE ||
    chunkSize > MAX_CHUNK_SIZE ||
    (chunkSize & (chunkSize - 1)) !== 0
  ) {
    throw new RangeError(`chunkSize must be a power of two in [${LEAF_SIZE}, ${MAX_CHUNK_SIZE}], got ${chunkSize}`)
  }
}

/** Shape of a chunk tree, all derived from (byteLength, chunkSize). */
interface Shape {
  byteLength: number
  chunkSize: number
  leafCount: number
  depth: number
  /** Leaves per chunk subtree: chunkSize / 64, or the whole (smaller) tree. */
  subtreeWidth: number
  /** Height of a chunk subtree. */
  subtreeDepth: number
  chunkCount: number
}

function shapeOf(byteLength: number, chunkSize: number): Shape {
  checkChunkSize(chunkSize)
  const leafCount = leafCountOf(byteLength)
  const depth = depthOf(leafCount)
  const subtreeDepth = Math.min(Math.log2(chunkSize / LEAF_SIZE), depth)
  const subtreeWidth = 2 ** subtreeDepth
  return {
    byteLength,
    chunkSize,
    leafCount,
    depth,
    subtreeWidth,
    subtreeDepth,
    chunkCount: Math.ceil(leafCount / subtreeWidth)
  }
}

class StoredChunkTree implements ChunkTree {
  readonly root: Uint8Array
  readonly depth: number
  readonly leafCount: number
  readonly byteLength: number
  readonly chunkSize: number
  readonly chunkCount: number
  readonly #shape: Shape
  readonly #hasher: TreeHasher
  /** Level-major nodes from the chunk roots (padded with zero-subtree roots) to the root. */
  readonly #upper: Uint8Array
  readonly #upperWidth: number

  constructor(shape: Shape, chunkRoots: Uint8Array, hasher: TreeHasher) {
    this.#shape = shape
    this.#hasher = hasher
    this.depth = shape.depth
    this.leafCount = shape.leafCount
    this.byteLength = shape.byteLength
    this.chunkSize = shape.chunkSize
    this.chunkCount = shape.chunkCount
    this.#upperWidth = 2 ** (shape.depth - shape.subtreeDepth)
    const upper = hasher.upperLevels(chunkRoots, this.#upperWidth, shape.subtreeDepth)
    this.#upper = upper
    this.root = upper.slice(upper.length - HASH_SIZE)
  }

  /** The stored chunk roots, in order (what `encodeChunkTree` writes). */
  chunkRoots(): Uint8Array {
    return this.#upper.subarray(0, this.chunkCount * HASH_SIZE)
  }

  chunkRange(leafIndex: number): { chunkIndex: number; start: number; end: number } {
    checkIndex(leafIndex, this.leafCount, 'leaf index')
    const chunkIndex = Math.floor(leafIndex / this.#shape.subtreeWidth)
    const start = chunkIndex * this.chunkSize
    return { chunkIndex, start, end: Math.min(start + this.chunkSize, this.byteLength) }
  }

  proveFromChunk(leafIndex: number, chunkBytes: Uint8Array): MerkleProof {
    const { chunkIndex, start, end } = this.chunkRange(leafIndex)
    checkBytes(chunkBytes, 'chunkBytes')
    if (chunkBytes.length !== end - start) {
      throw new ChunkMismatchError(
        chunkIndex,
        `expected ${end - start} bytes (range ${start}..${end}), got ${chunkBytes.length}`
      )
    }
    const { subtreeWidth, subtreeDepth } = this.#shape
    const nodes = this.#hasher.levels(chunkBytes, subtreeWidth)
    const stored = this.#upper.subarray(chunkIndex * HASH_SIZE, (chunkIndex + 1) * HASH_SIZE)
    const computed = nodes.subarray(nodes.length - HASH_SIZE)
    for (let i = 0; i < HASH_SIZE; i++) {
      if (stored[i] !== computed[i])
        throw new ChunkMismatchError(chunkIndex, 'its bytes hash to a different chunk root')
    }
    const local = leafIndex - chunkIndex * subtreeWidth
    const leaf = new Uint8Array(LEAF_SIZE)
    leaf.set(chunkBytes.subarray(local * LEAF_SIZE, Math.min((local + 1) * LEAF_SIZE, chunkBytes.length)))
    const path: Uint8Array[] = []
    for (let level = 0; level < subtreeDepth; level++) {
      const at = levelOffset(subtreeWidth, level) + (Math.floor(local / 2 ** level) ^ 1) * HASH_SIZE
      path.push(nodes.slice(at, at + HASH_SIZE))
    }
    for (let level = 0; level < this.depth - subtreeDepth; level++) {
      const at = levelOffset(this.#upperWidth, level) + (Math.floor(chunkIndex / 2 ** level) ^ 1) * HASH_SIZE
      path.push(this.#upper.slice(at, at + HASH_SIZE))
    }
    return { index: leafIndex, leaf, path }
  }
}

export function buildChunkTreeWith(hasher: TreeHasher, data: Uint8Array, chunkSize = DEFAULT_CHUNK_SIZE): ChunkTree {
  checkBytes(data, 'data')
  const shape = shapeOf(data.length, chunkSize)
  return new StoredChunkTree(shape, hasher.subtreeRoots(data, shape.subtreeWidth), hasher)
}

/**
 * Builds a chunk tree from a shard that arrives in pieces of any size, holding at most one chunk of it.
 * The node checks `finish().root` against the client's commitment before it acknowledges the shard.
 */
export class ChunkTreeBuilder {
  readonly #shape: Shape
  readonly #hasher: TreeHasher
  readonly #roots: Uint8Array
  /** Bytes of the current chunk not yet hashed. */
  readonly #pending: Uint8Array
  #pendingLength = 0
  #chunksDone = 0
  #received = 0
  #finished = false

  constructor(byteLength: number, chunkSize = DEFAULT_CHUNK_SIZE, hasher?: TreeHasher) {
    this.#shape = shapeOf(byteLength, chunkSize)
    this.#hasher = hasher ?? defaultHasher()
    this.#roots = new Uint8Array(this.#shape.chunkCount * HASH_SIZE)
    this.#pending = new Uint8Array(Math.min(chunkSize, this.#shape.subtreeWidth * LEAF_SIZE))
  }

  /** Bytes fed so far. */
  get received(): number {
    return this.#received
  }

  /** Feeds the next piece of the shard. Throws `ByteLengthMismatchError` as soon as it would exceed byteLength. */
  update(bytes: Uint8Array): void {
    checkBytes(bytes, 'bytes')
    if (this.#finished) throw new Error('ChunkTreeBuilder.update called after finish()')
    if (this.#received + bytes.length > this.#shape.byteLength) {
      this.#received += bytes.length
      throw new ByteLengthMismatchError(this.#shape.byteLength, this.#received, true)
    }
    this.#received += bytes.length
    const chunkBytes = this.#pending.length
    let offset = 0
    if (this.#pendingLength > 0) {
      const take = Math.min(chunkBytes - this.#pendingLength, bytes.length)
      this.#pending.set(bytes.subarray(0, take), this.#pendingLength)
      this.#pendingLength += take
      offset = take
      if (this.#pendingLength === chunkBytes) {
        this.#absorb(this.#pending)
        this.#pendingLength = 0
      }
    }
    // Whole chunks straight from the caller's buffer, many per hasher call.
    const whole = Math.floor((bytes.length - offset) / chunkBytes)
    if (whole > 0) {
      this.#absorb(bytes.subarray(offset, offset + whole * chunkBytes))
      offset += whole * chunkBytes
    }
    if (offset < bytes.length) {
      this.#pending.set(bytes.subarray(offset), 0)
      this.#pendingLength = bytes.length - offset
    }
  }

  /** The chunk tree; throws `ByteLengthMismatchError` unless exactly byteLength bytes were fed. */
  finish(): ChunkTree {
    if (this.#received !== this.#shape.byteLength) {
      throw new ByteLengthMismatchError(this.#shape.byteLength, this.#received, this.#received > this.#shape.byteLength)
    }
    if (this.#finished) throw new Error('ChunkTreeBuilder.finish called twice')
    this.#finished = true
    if (this.#chunksDone < this.#shape.chunkCount) this.#absorb(this.#pending.subarray(0, this.#pendingLength))
    return new StoredChunkTree(this.#shape, this.#roots, this.#hasher)
  }

  #absorb(bytes: Uint8Array): void {
    const roots = this.#hasher.subtreeRoots(bytes, this.#shape.subtreeWidth)
    this.#roots.set(roots, this.#chunksDone * HASH_SIZE)
    this.#chunksDone += roots.length / HASH_SIZE
  }
}

/** Encoding version 1: version ‖ byteLength (u64 BE) ‖ chunkSize (u32 BE) ‖ root ‖ chunk roots. */
const ENCODING_VERSION = 1
const HEADER_SIZE = 1 + 8 + 4 + HASH_SIZE

/** Compact bytes for storage (LevelDB): a 45-byte header plus 32 bytes per chunk. */
export function encodeChunkTree(tree: ChunkTree): Uint8Array {
  if (!(tree instanceof StoredChunkTree)) throw new TypeError('encodeChunkTree takes a tree built by this package')
  const roots = tree.chunkRoots()
  const out = new Uint8Array(HEADER_SIZE + roots.length)
  const view = new DataView(out.buffer)
  out[0] = ENCODING_VERSION
  view.setBigUint64(1, BigInt(tree.byteLength))
  view.setUint32(9, tree.chunkSize)
  out.set(tree.root, 13)
  out.set(roots, HEADER_SIZE)
  return out
}

export function decodeChunkTreeWith(hasher: TreeHasher, bytes: Uint8Array): ChunkTree {
  checkBytes(bytes, 'bytes')
  if (bytes.length < HEADER_SIZE)
    throw new ChunkTreeDecodeError(`${bytes.length} bytes is shorter than the ${HEADER_SIZE}-byte header`)
  if (bytes[0] !== ENCODING_VERSION) throw new ChunkTreeDecodeError(`unknown encoding version ${bytes[0]}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const byteLength = view.getBigUint64(1)
  if (byteLength > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ChunkTreeDecodeError(`byte length ${byteLength} is too large`)
  let shape: Shape
  try {
    shape = shapeOf(Number(byteLength), view.getUint32(9))
  } catch (err) {
    throw new ChunkTreeDecodeError((err as Error).message)
  }
  const expected = HEADER_SIZE + shape.chunkCount * HASH_SIZE
  if (bytes.length !== expected)
    throw new ChunkTreeDecodeError(`expected ${expected} bytes for ${shape.chunkCount} chunks, got ${bytes.length}`)
  const tree = new StoredChunkTree(shape, bytes.slice(HEADER_SIZE), hasher)
  const root = bytes.subarray(13, HEADER_SIZE)
  for (let i = 0; i < HASH_SIZE; i++) {
    if (tree.root[i] !== root[i])
      throw new ChunkTreeDecodeError('the chunk roots do not hash to the stored root (corrupt record)')
  }
  return tree
}

import { randomBytes } from 'node:crypto'
import { Level } from 'level'
import * as dagCbor from '@ipld/dag-cbor'
import { logger } from '@libp2p/logger'
import { ChunkTreeBuilder, DEFAULT_CHUNK_SIZE, decodeChunkTree, encodeChunkTree } from '@sherd/proofs'
import type { ChunkTree } from '@sherd/proofs'
import { CommitmentMismatchError } from '@sherd/protocol'
import type { Startable } from '@libp2p/interface'
import { LEVEL_WRITE_BUFFER_BYTES, WRITE_BATCH_BYTES } from '../constants.js'
import {
  AlreadyStoredError, CapacityExceededError, DataDirLockedError, DiskFullError, NodeStoppingError, NotFoundError,
  RangeNotSatisfiableError, ShardBusyError
} from '../errors.js'

/*
 * Key layout (utf8 keys, byte values), one LevelDB under <dataDir>/store:
 *   s!w!<root>            pending marker: a write of this shard has begun and not committed
 *   s!c!<root>!<index>    shard bytes, one key per 64 KiB chunk (index: 8 hex digits, so keys sort by index)
 *   s!m!<root>            metadata (dag-cbor): byte length, stored time, encoded chunk tree
 *   s!t!<root>            claimed time (dag-cbor ms): when a client was last told this shard is already here, or
 *                         was last given an offer on it
 *   f!<cid>               a manifest's bytes (one put: atomic by itself)
 *
 * Crash safety: a shard is visible only through its `s!m!` key, written in ONE atomic, fsynced batch that also
 * deletes the pending marker, after every chunk has been written and the root checked. The marker is written
 * before the first chunk; LevelDB replays its log in order, so after any crash every surviving chunk without
 * metadata has a surviving marker, and start-up deletes those chunks and markers. A synced write also makes all
 * earlier (unsynced) writes durable, so committed metadata never points at missing chunks.
 * Chunks are written in place rather than under a temporary prefix and renamed, because LevelDB has no rename:
 * moving a shard would rewrite all its bytes inside the commit batch. An upload that names no root (the client
 * streams it and learns the root with the last byte, as the provider does) is written under a write id instead,
 * with its pending marker under that id, and the commit batch writes `s!m!<root>` with `chunks: <id>`: the same
 * one atomic step, so a reader never sees a partial shard, and an interrupted one is cleared like any other.
 *
 * Deletion (`deleteShard`) is the reverse: one synced batch removes the metadata and writes the pending marker, then
 * the chunks are cleared; a crash in between leaves a marker without metadata, which start-up clears like an
 * unfinished write. Readers hold a lease on the root for the whole read: a shard with a reader is not deleted
 * (`ShardBusyError`), and a shard being deleted has no new readers. Without the lease a reader could see the chunk
 * keys cleared mid-read, or, worse, refilled by a new upload of the same root that has not been verified yet.
 */

const log = logger('sherd:node:store')

export interface ShardStoreInit {
  /** Directory of the LevelDB (created if missing). */
  path: string
  /** Bytes this node may hold: shards plus manifests. */
  capacityBytes: number
  /** Chunk size of the stored trees (and of the chunk keys). */
  chunkSize?: number
}

export interface ShardInfo {
  root: Uint8Array
  byteLength: number
  chunkSize: number
  /** When the shard was committed (ms since the epoch); 0 if the record does not say (treat as unknown, not old). */
  storedAtMs: number
}

export interface BeginShardOptions {
  /** The declared root, checked at commit; without it the root is whatever the bytes hash to (a streaming client's upload). */
  root?: Uint8Array
  byteLength: number
}

export function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

const metaKey = (root: string): string => `s!m!${root}`
const markerKey = (root: string): string => `s!w!${root}`
const chunkKey = (root: string, index: number): string => `s!c!${root}!${index.toString(16).padStart(8, '0')}`
const chunkRange = (root: string): { gte: string, lt: string } => ({ gte: `s!c!${root}!`, lt: `s!c!${root}!~` })
const claimKey = (root: string): string => `s!t!${root}`
const manifestKey = (cid: string): string => `f!${cid}`

interface StoredMeta {
  byteLength: number
  /**
   * Where the chunks are (`s!c!<chunks>!…`) when not under the root: an upload without a declared root is written
   * under a write id (`u` + random hex, never a root) and committed by pointing its metadata there, as LevelDB
   * has no rename and moving the chunks would rewrite the shard inside the commit batch.
   */
  chunks?: string
  chunkSize: number
  /** Every record written so far has it; one without reads as 0, "unknown" (see `ShardInfo.storedAtMs`). */
  storedAtMs?: number
  tree: Uint8Array
}

/** Turns LevelDB I/O failures into errors that say what to do. */
function translate (err: unknown): Error {
  const e = err as Error & { code?: string, cause?: Error & { code?: string } }
  const text = `${e.message} ${e.cause?.message ?? ''}`
  if (/No space left|ENOSPC/i.test(text)) return new DiskFullError(`the disk holding the data dir is full (${e.message}); free space or lower --capacity`)
  return e
}

/**
 * The provider's shard and manifest store: LevelDB, exact space accounting, crash-safe writes, chunk re-reads for
 * the prover (`getTree`, `readChunk`).
 */
export class ShardStore implements Startable {
  readonly capacityBytes: number
  readonly chunkSize: number
  private readonly path: string
  private db: Level<string, Uint8Array> | undefined
  private committedBytes = 0
  private reservedBytes = 0
  private shardCount = 0
  private manifestCount = 0
  private readonly writing = new Map<string, ShardWriter>()
  /** Readers (range fetches, chunk reads) per root: a shard with one is not deleted. */
  private readonly readers = new Map<string, number>()
  /** Deletions running, by root: no new reader or writer starts on the root until it settles. */
  private readonly deleting = new Map<string, Promise<void>>()
  /** Roots being committed by uploads that declared none (see `committedOrBusy`). */
  private readonly committing = new Set<string>()
  /** Last AlreadyStored answer per root (ms), mirrored from `s!t!` keys; writes in flight by root. */
  private readonly claims = new Map<string, number>()
  private readonly claimWrites = new Map<string, Promise<void>>()
  private stopping = false

  constructor (init: ShardStoreInit) {
    this.path = init.path
    this.capacityBytes = init.capacityBytes
    this.chunkSize = init.chunkSize ?? DEFAULT_CHUNK_SIZE
  }

  async start (): Promise<void> {
    const db = new Level<string, Uint8Array>(this.path, { keyEncoding: 'utf8', valueEncoding: 'view', writeBufferSize: LEVEL_WRITE_BUFFER_BYTES })
    try {
      await db.open()
    } catch (err) {
      const e = err as Error & { code?: string, cause?: { code?: string } }
      if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
        throw new DataDirLockedError(`the store at ${this.path} is locked by another process: stop the other sherd-node using this data dir, or pick another --data-dir`)
      }
      throw translate(err)
    }
    this.db = db
    this.stopping = false
    await this.collectGarbage()
    await this.recount()
    log('opened %s: %d shards, %d manifests, %d of %d bytes used', this.path, this.shardCount, this.manifestCount, this.committedBytes, this.capacityBytes)
  }

  /** Aborts writes still running, then closes LevelDB. Callers stop accepting streams first. */
  async stop (): Promise<void> {
    this.stopping = true
    await Promise.allSettled([...this.writing.values()].map(async (w) => { await w.abort() }))
    await this.db?.close()
    this.db = undefined
  }

  private get level (): Level<string, Uint8Array> {
    if (this.db === undefined || this.stopping) throw new NodeStoppingError('the store is closed: the node is stopping')
    return this.db
  }

  /** Deletes the chunks of every write that did not commit (crash or kill during a store). */
  private async collectGarbage (): Promise<void> {
    const db = this.level
    const pending: string[] = []
    for await (const key of db.keys({ gte: 's!w!', lt: 's!w!~' })) pending.push(key.slice(4))
    for (const root of pending) {
      if (await db.get(metaKey(root)) !== undefined) {
        await db.del(markerKey(root))
        continue
      }
      await db.clear(chunkRange(root))
      await db.del(markerKey(root), { sync: true })
      log('removed incomplete write of shard %s', root)
    }
  }

  private async recount (): Promise<void> {
    let bytes = 0; let shards = 0; let manifests = 0
    this.claims.clear()
    for await (const [key, value] of this.level.iterator({ gte: 's!t!', lt: 's!t!~' })) this.claims.set(key.slice(4), dagCbor.decode(value) as number)
    for await (const value of this.level.values({ gte: 's!m!', lt: 's!m!~' })) {
      bytes += (dagCbor.decode(value) as StoredMeta).byteLength
      shards++
    }
    for await (const value of this.level.values({ gte: 'f!', lt: 'f!~' })) {
      bytes += value.byteLength
      manifests++
    }
    this.committedBytes = bytes
    this.shardCount = shards
    this.manifestCount = manifests
  }

  get usedBytes (): number { return this.committedBytes }
  get pendingBytes (): number { return this.reservedBytes }
  get freeBytes (): number { return Math.max(0, this.capacityBytes - this.committedBytes - this.reservedBytes) }
  get shards (): number { return this.shardCount }
  get manifests (): number { return this.manifestCount }

  /** Reserves space or throws `CapacityExceededError`; the returned function releases it (idempotent). */
  reserve (bytes: number): () => void {
    if (bytes > this.freeBytes) {
      throw new CapacityExceededError(`storing ${bytes} bytes would exceed this node's capacity (${this.freeBytes} of ${this.capacityBytes} bytes free); try another provider`)
    }
    this.reservedBytes += bytes
    let released = false
    return () => {
      if (released) return
      released = true
      this.reservedBytes -= bytes
    }
  }

  /**
   * Starts a verified shard write: reserves space, refuses a root already stored or being stored, writes the
   * pending marker. Feed bytes with `write`, then `commit` (checks the root) or `abort`.
   */
  async beginShard (options: BeginShardOptions, init: { signal?: AbortSignal } = {}): Promise<ShardWriter> {
    init.signal?.throwIfAborted()
    const root = options.root === undefined ? `u${randomBytes(16).toString('hex')}` : hex(options.root)
    for (; options.root !== undefined;) {
      const deletion = this.deleting.get(root)
      if (deletion !== undefined) {
        // A deletion of this root is running: once it is done, this is a fresh upload.
        await deletion
        continue
      }
      if (this.writing.has(root)) throw new AlreadyStoredError(`shard ${root} is being stored right now`)
      const stored = await this.level.get(metaKey(root)) !== undefined
      if (this.deleting.has(root)) continue
      if (stored) {
        // The client counts this as stored and opens its deal later: the collector keeps the shard a grace period.
        this.claim(root)
        throw new AlreadyStoredError(`shard ${root} is already stored here`)
      }
      if (this.writing.has(root)) throw new AlreadyStoredError(`shard ${root} is being stored right now`)
      break
    }
    const release = this.reserve(options.byteLength)
    const writer = new ShardWriter(this, this.level, root, options, this.chunkSize, release)
    this.writing.set(root, writer)
    try {
      await this.level.put(markerKey(root), dagCbor.encode({ byteLength: options.byteLength }))
    } catch (err) {
      this.writing.delete(root)
      release()
      throw translate(err)
    }
    return writer
  }

  /**
   * @internal called by ShardWriter before committing an upload that declared no root: the existing shard's info
   * if this root is committed (claimed, as an AlreadyStored answer would), 'busy' if it is being written under
   * its declared root, committed by another such upload right now, or deleted; else a lock on the root for the
   * commit (the returned function releases it).
   */
  async committedOrBusy (rootHex: string): Promise<ShardInfo | 'busy' | (() => void)> {
    if (this.writing.has(rootHex) || this.committing.has(rootHex) || this.deleting.has(rootHex)) return 'busy'
    const value = await this.level.get(metaKey(rootHex))
    if (this.writing.has(rootHex) || this.committing.has(rootHex) || this.deleting.has(rootHex)) return 'busy'
    if (value !== undefined) {
      this.claim(rootHex)
      return infoOf(Uint8Array.from(Buffer.from(rootHex, 'hex')), dagCbor.decode(value) as StoredMeta)
    }
    // Taken in the same tick as the check, so two uploads of the same bytes cannot both commit.
    this.committing.add(rootHex)
    return () => { this.committing.delete(rootHex) }
  }

  /** @internal called by ShardWriter */
  finished (root: string, committedBytes: number): void {
    this.writing.delete(root)
    if (committedBytes > 0) {
      this.committedBytes += committedBytes
      this.shardCount++
    }
  }

  private claim (root: string): void {
    const now = Date.now()
    this.claims.set(root, now)
    const previous = this.claimWrites.get(root) ?? Promise.resolve()
    const write = previous
      .then(async () => { await this.level.put(claimKey(root), dagCbor.encode(now)) })
      .catch((err) => { log.error('could not record the claim of shard %s: %e', root, err) })
      .finally(() => { if (this.claimWrites.get(root) === write) this.claimWrites.delete(root) })
    this.claimWrites.set(root, write)
  }

  /**
   * Records that a client was just given an offer on this shard: like an `AlreadyStoredError` answer, it keeps the
   * shard from the collector for a grace period, so the deal can still be opened while the offer lives.
   */
  noteOffered (root: Uint8Array): void {
    this.claim(hex(root))
  }

  /** When a client was last told this shard is already here (an upload refused as `AlreadyStoredError`) or given an offer on it, if ever. */
  claimedAtMs (root: Uint8Array): number | undefined {
    return this.claims.get(hex(root))
  }

  /** Takes a read lease on a root; the returned function releases it (once). */
  private lease (root: string): () => void {
    if (this.deleting.has(root)) throw new NotFoundError(`shard ${root} is being deleted from this provider`)
    this.readers.set(root, (this.readers.get(root) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.readers.get(root) ?? 1) - 1
      if (n === 0) this.readers.delete(root)
      else this.readers.set(root, n)
    }
  }

  /** Readers currently holding a lease on this root. */
  readersOf (root: Uint8Array): number {
    return this.readers.get(hex(root)) ?? 0
  }

  private async meta (root: Uint8Array): Promise<StoredMeta> {
    const value = await this.level.get(metaKey(hex(root)))
    if (value === undefined) throw new NotFoundError(`no shard with root ${hex(root)} is stored here`)
    return dagCbor.decode(value) as StoredMeta
  }

  async has (root: Uint8Array): Promise<boolean> {
    return await this.level.get(metaKey(hex(root))) !== undefined
  }

  async getInfo (root: Uint8Array): Promise<ShardInfo> {
    const m = await this.meta(root)
    return infoOf(root, m)
  }

  /** The root of every committed shard (keys only: no metadata is read). */
  async * listRoots (): AsyncGenerator<Uint8Array> {
    for await (const key of this.level.keys({ gte: 's!m!', lt: 's!m!~' })) yield Uint8Array.from(Buffer.from(key.slice(4), 'hex'))
  }

  /** Every committed shard. */
  async * listShards (): AsyncGenerator<ShardInfo> {
    for await (const [key, value] of this.level.iterator({ gte: 's!m!', lt: 's!m!~' })) {
      yield infoOf(Uint8Array.from(Buffer.from(key.slice(4), 'hex')), dagCbor.decode(value) as StoredMeta)
    }
  }

  /** The shard's chunk tree (nodes above the chunks), for proofs. */
  async getTree (root: Uint8Array): Promise<ChunkTree> {
    return decodeChunkTree((await this.meta(root)).tree)
  }

  /** The bytes of one chunk (`tree.chunkRange(leaf).chunkIndex`), for `tree.proveFromChunk`. */
  async readChunk (root: Uint8Array, chunkIndex: number): Promise<Uint8Array> {
    const release = this.lease(hex(root))
    try {
      const m = await this.meta(root)
      const count = Math.ceil(m.byteLength / m.chunkSize)
      if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= count) {
        throw new RangeNotSatisfiableError(`chunk ${chunkIndex} is outside the shard's ${count} chunks`)
      }
      const value = await this.level.get(chunkKey(m.chunks ?? hex(root), chunkIndex))
      if (value === undefined) throw new NotFoundError(`chunk ${chunkIndex} of shard ${hex(root)} is missing: the store is corrupt`)
      return value
    } finally {
      release()
    }
  }

  /**
   * Yields `length` bytes from `offset`, chunk by chunk. The shard cannot be deleted from the first `next()` until the
   * generator finishes or is returned: a caller that stops early must call `return()` (for-await does).
   */
  async * readRange (root: Uint8Array, offset: number, length: number): AsyncGenerator<Uint8Array> {
    const rootHex = hex(root)
    const release = this.lease(rootHex)
    try {
      const m = await this.meta(root)
      if (offset < 0 || length < 0 || offset + length > m.byteLength) {
        throw new RangeNotSatisfiableError(`bytes ${offset}..${offset + length} are outside the shard's ${m.byteLength} bytes`)
      }
      let position = offset
      const end = offset + length
      while (position < end) {
        const index = Math.floor(position / m.chunkSize)
        const chunk = await this.level.get(chunkKey(m.chunks ?? rootHex, index))
        if (chunk === undefined) throw new NotFoundError(`chunk ${index} of shard ${rootHex} is missing: the store is corrupt`)
        const start = position - index * m.chunkSize
        const stop = Math.min(chunk.byteLength, end - index * m.chunkSize)
        yield chunk.subarray(start, stop)
        position += stop - start
      }
    } finally {
      release()
    }
  }

  /**
   * Removes a shard and returns the bytes freed (now free capacity). Throws `ShardBusyError` while a reader holds the
   * root, it is being written, or another deletion of it runs (try again later), `NotFoundError` if it is not stored.
   * The checks and the mark that stops new readers happen before the first await, so a caller that decided to delete
   * in the same tick (after its last await) decides on what is still true.
   */
  async deleteShard (root: Uint8Array): Promise<number> {
    const rootHex = hex(root)
    const db = this.level
    const readers = this.readers.get(rootHex) ?? 0
    if (readers > 0) throw new ShardBusyError(`shard ${rootHex} is being read by ${readers} reader(s); try again when they finish`)
    if (this.writing.has(rootHex) || this.deleting.has(rootHex)) throw new ShardBusyError(`shard ${rootHex} is being written or deleted right now; try again later`)
    let settle = (): void => {}
    this.deleting.set(rootHex, new Promise<void>((resolve) => { settle = resolve }))
    try {
      await this.claimWrites.get(rootHex)
      const value = await db.get(metaKey(rootHex))
      if (value === undefined) throw new NotFoundError(`no shard with root ${rootHex} is stored here`)
      const m = dagCbor.decode(value) as StoredMeta
      try {
        await db.batch([
          { type: 'del', key: metaKey(rootHex) },
          { type: 'del', key: claimKey(rootHex) },
          { type: 'put', key: markerKey(m.chunks ?? rootHex), value: dagCbor.encode({ byteLength: m.byteLength }) }
        ], { sync: true })
      } catch (err) {
        throw translate(err)
      }
      this.committedBytes -= m.byteLength
      this.shardCount--
      this.claims.delete(rootHex)
      try {
        await db.clear(chunkRange(m.chunks ?? rootHex))
        await db.del(markerKey(m.chunks ?? rootHex))
      } catch (err) {
        // The marker stays: the next start clears the chunks.
        log.error('could not clear the chunks of deleted shard %s: %e', rootHex, err)
      }
      log('deleted shard %s (%d bytes)', rootHex, m.byteLength)
      return m.byteLength
    } finally {
      this.deleting.delete(rootHex)
      settle()
    }
  }

  /** Stores verified manifest bytes under their CID string; space is reserved and accounted like shards. */
  async putManifest (cid: string, bytes: Uint8Array): Promise<boolean> {
    const key = manifestKey(cid)
    if (await this.level.get(key) !== undefined) return false
    const release = this.reserve(bytes.byteLength)
    try {
      await this.level.put(key, bytes, { sync: true })
      this.committedBytes += bytes.byteLength
      this.manifestCount++
      return true
    } catch (err) {
      throw translate(err)
    } finally {
      release()
    }
  }

  async getManifest (cid: string): Promise<Uint8Array> {
    const value = await this.level.get(manifestKey(cid))
    if (value === undefined) throw new NotFoundError(`no manifest ${cid} is stored here`)
    return value
  }

  /**
   * A JSON sublevel of this LevelDB for another component's records (the prover's deal ledger), so they share
   * the data dir's lock and durability. Its keys (`!<name>!…`) sort apart from the store's. Valid until `stop()`.
   */
  sublevel<V> (name: string) {
    return this.level.sublevel<string, V>(name, { keyEncoding: 'utf8', valueEncoding: 'json' })
  }
}

function infoOf (root: Uint8Array, m: StoredMeta): ShardInfo {
  return { root, byteLength: m.byteLength, chunkSize: m.chunkSize, storedAtMs: m.storedAtMs ?? 0 }
}

/** One shard being written: bytes are hashed as they arrive and land in chunk keys; `commit` makes them visible. */
export class ShardWriter {
  private readonly builder: ChunkTreeBuilder
  private readonly chunk: Uint8Array
  private chunkFill = 0
  private chunkIndex = 0
  private batch: Array<{ type: 'put', key: string, value: Uint8Array }> = []
  private batchBytes = 0
  private done = false
  private flushing: Promise<void> = Promise.resolve()

  constructor (
    private readonly store: ShardStore,
    private readonly db: Level<string, Uint8Array>,
    private readonly root: string,
    private readonly options: BeginShardOptions,
    private readonly chunkSize: number,
    private readonly release: () => void
  ) {
    this.builder = new ChunkTreeBuilder(options.byteLength, chunkSize)
    this.chunk = new Uint8Array(Math.min(chunkSize, options.byteLength))
  }

  get received (): number { return this.builder.received }

  /** Hashes and stores the next bytes. Throws (`ByteLengthMismatchError`) past the declared length. */
  async write (bytes: Uint8Array): Promise<void> {
    if (this.done) throw new NodeStoppingError('the write was aborted')
    this.builder.update(bytes)
    let offset = 0
    while (offset < bytes.byteLength) {
      const take = Math.min(this.chunk.byteLength - this.chunkFill, bytes.byteLength - offset)
      this.chunk.set(bytes.subarray(offset, offset + take), this.chunkFill)
      this.chunkFill += take
      offset += take
      if (this.chunkFill === this.chunk.byteLength) this.cutChunk()
    }
    if (this.batchBytes >= WRITE_BATCH_BYTES) await this.flush()
  }

  private cutChunk (): void {
    const value = this.chunk.slice(0, this.chunkFill)
    this.batch.push({ type: 'put', key: chunkKey(this.root, this.chunkIndex++), value })
    this.batchBytes += value.byteLength
    this.chunkFill = 0
  }

  private async flush (): Promise<void> {
    const ops = this.batch
    this.batch = []
    this.batchBytes = 0
    if (ops.length === 0) return
    // Chained so an abort (node stopping) cannot clear the chunks while a batch is still landing after it.
    const landed = this.flushing.then(async () => {
      if (this.done) throw new NodeStoppingError('the write was aborted')
      await this.db.batch(ops)
    })
    this.flushing = landed.catch(() => {})
    try {
      await landed
    } catch (err) {
      throw translate(err)
    }
  }

  /**
   * Checks the bytes against the declared root and commits the shard atomically. On mismatch
   * (`CommitmentMismatchError`) or any failure, nothing is kept and the reservation is released.
   */
  async commit (): Promise<ShardInfo> {
    try {
      const tree = this.builder.finish()
      const declared = this.options.root !== undefined
      const rootHex = hex(tree.root)
      if (declared && rootHex !== this.root) {
        throw new CommitmentMismatchError(`the bytes hash to root ${rootHex}, not the declared ${this.root}; nothing was stored`)
      }
      let unlock = (): void => {}
      if (!declared) {
        const existing = await this.store.committedOrBusy(rootHex)
        if (typeof existing === 'function') {
          unlock = existing
        } else {
          // The same bytes are here already (or arriving under their declared root): keep one copy, answer for it.
          await this.abort()
          if (existing === 'busy') throw new AlreadyStoredError(`shard ${rootHex} is being stored right now`)
          return existing
        }
      }
      const meta: StoredMeta = {
        byteLength: this.options.byteLength, chunkSize: this.chunkSize, storedAtMs: Date.now(), tree: encodeChunkTree(tree),
        ...(declared ? {} : { chunks: this.root })
      }
      try {
        if (this.chunkFill > 0) this.cutChunk()
        await this.flush()
        await this.db.batch([
          { type: 'put', key: metaKey(rootHex), value: dagCbor.encode(meta) },
          { type: 'del', key: markerKey(this.root) }
        ], { sync: true })
      } catch (err) {
        throw translate(err)
      } finally {
        unlock()
      }
      this.done = true
      this.release()
      this.store.finished(this.root, this.options.byteLength)
      log('stored shard %s (%d bytes)', rootHex, this.options.byteLength)
      return infoOf(Uint8Array.from(tree.root), meta)
    } catch (err) {
      await this.abort()
      throw err
    }
  }

  /** Deletes whatever was written and releases the reservation. Safe to call twice. */
  async abort (): Promise<void> {
    if (this.done) return
    this.done = true
    this.batch = []
    await this.flushing
    try {
      await this.db.clear(chunkRange(this.root))
      await this.db.del(markerKey(this.root))
    } catch (err) {
      // The marker stays if this fails: the next start removes the chunks.
      log.error('could not clean up aborted write of %s: %e', this.root, err)
    } finally {
      this.release()
      this.store.finished(this.root, 0)
    }
  }
}

import { randomBytes } from 'node:crypto'
import { Level } from 'level'
import { logger } from '@libp2p/logger'
import { DEFAULT_CHUNK_SIZE, decodeChunkTree } from '@sherd/proofs'
import type { ChunkTree } from '@sherd/proofs'
import type { Startable } from '@libp2p/interface'
import { LEVEL_WRITE_BUFFER_BYTES, READ_BATCH_BYTES } from '../constants.js'
import {
  AlreadyStoredError,
  DataDirLockedError,
  NodeStoppingError,
  NotFoundError,
  RangeNotSatisfiableError,
  ShardBusyError
} from '../errors.js'
import {
  chunkKey,
  chunkRange,
  claimKey,
  decodeMeta,
  encodeMarker,
  hex,
  manifestKey,
  manifestRange,
  markerKey,
  markerRange,
  metaKey,
  metaRange,
  rootBytes,
  rootOfKey
} from './keys.js'
import type { StoredMeta } from './keys.js'
import { storeIoError } from './level-errors.js'
import { SpaceReservations } from './reservations.js'
import { ClaimTimes } from './claims.js'
import { ReadLeases } from './read-leases.js'
import { infoOf, ShardWriter } from './shard-writer.js'
import type { BeginShardOptions, ShardInfo } from './shard-writer.js'

export { ShardWriter, hex }
export type { BeginShardOptions, ShardInfo }

/*
 * Longer than most files here on purpose: the write, read and delete paths of ShardStore share the locks (writing,
 * committing, deleting, read leases) that keep them safe against each other, and the rules below are about all of
 * them at once. Key layout: ./keys.ts; a write in progress: ./shard-writer.ts; space: ./reservations.ts.
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

/**
 * The provider's shard and manifest store: LevelDB, exact space accounting, crash-safe writes, chunk re-reads for
 * the prover (`getTree`, `readChunk`).
 */
export class ShardStore implements Startable {
  readonly capacityBytes: number
  readonly chunkSize: number
  private readonly path: string
  private db: Level<string, Uint8Array> | undefined
  private readonly space: SpaceReservations
  private shardCount = 0
  private manifestCount = 0
  private readonly writing = new Map<string, ShardWriter>()
  /** Readers (range fetches, chunk reads) per root: a shard with one is not deleted. */
  private readonly leases = new ReadLeases((root) => this.deleting.has(root))
  /** Deletions running, by root: no new reader or writer starts on the root until it settles. */
  private readonly deleting = new Map<string, Promise<void>>()
  /** Roots being committed by uploads that declared none (see `committedOrBusy`). */
  private readonly committing = new Set<string>()
  /** Last AlreadyStored answer or offer per root (ms). */
  private readonly claims = new ClaimTimes(() => this.level)
  private stopping = false

  constructor(init: ShardStoreInit) {
    this.path = init.path
    this.capacityBytes = init.capacityBytes
    this.space = new SpaceReservations(init.capacityBytes)
    this.chunkSize = init.chunkSize ?? DEFAULT_CHUNK_SIZE
  }

  async start(): Promise<void> {
    const db = new Level<string, Uint8Array>(this.path, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      writeBufferSize: LEVEL_WRITE_BUFFER_BYTES
    })
    try {
      await db.open()
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } }
      if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
        throw new DataDirLockedError(
          `the store at ${this.path} is locked by another process: stop the other sherd-node using this data dir, or pick another --data-dir`,
          { cause: err }
        )
      }
      throw storeIoError(err)
    }
    this.db = db
    this.stopping = false
    await this.collectGarbage()
    await this.recount()
    log(
      'opened %s: %d shards, %d manifests, %d of %d bytes used',
      this.path,
      this.shardCount,
      this.manifestCount,
      this.usedBytes,
      this.capacityBytes
    )
  }

  /** Aborts writes still running, then closes LevelDB. Callers stop accepting streams first. */
  async stop(): Promise<void> {
    this.stopping = true
    await Promise.allSettled(
      [...this.writing.values()].map(async (w) => {
        await w.abort()
      })
    )
    await this.db?.close()
    this.db = undefined
  }

  private get level(): Level<string, Uint8Array> {
    if (this.db === undefined || this.stopping) throw new NodeStoppingError('the store is closed: the node is stopping')
    return this.db
  }

  /** Deletes the chunks of every write that did not commit (crash or kill during a store). */
  private async collectGarbage(): Promise<void> {
    const db = this.level
    const pending: string[] = []
    for await (const key of db.keys(markerRange())) pending.push(rootOfKey(key))
    for (const root of pending) {
      if ((await db.get(metaKey(root))) !== undefined) {
        await db.del(markerKey(root))
        continue
      }
      await db.clear(chunkRange(root))
      await db.del(markerKey(root), { sync: true })
      log('removed incomplete write of shard %s', root)
    }
  }

  private async recount(): Promise<void> {
    let bytes = 0
    let shards = 0
    let manifests = 0
    await this.claims.load()
    for await (const value of this.level.values(metaRange())) {
      bytes += decodeMeta(value).byteLength
      shards++
    }
    for await (const value of this.level.values(manifestRange())) {
      bytes += value.byteLength
      manifests++
    }
    this.space.reset(bytes)
    this.shardCount = shards
    this.manifestCount = manifests
  }

  get usedBytes(): number {
    return this.space.committedBytes
  }
  get pendingBytes(): number {
    return this.space.reservedBytes
  }
  get freeBytes(): number {
    return this.space.freeBytes
  }
  get shards(): number {
    return this.shardCount
  }
  get manifests(): number {
    return this.manifestCount
  }

  /** Reserves space or throws `CapacityExceededError`; the returned function releases it (idempotent). */
  reserve(bytes: number): () => void {
    return this.space.reserve(bytes)
  }

  /**
   * Starts a verified shard write: reserves space, refuses a root already stored or being stored, writes the
   * pending marker. Feed bytes with `write`, then `commit` (checks the root) or `abort`.
   */
  async beginShard(options: BeginShardOptions, init: { signal?: AbortSignal } = {}): Promise<ShardWriter> {
    init.signal?.throwIfAborted()
    const root = options.root === undefined ? `u${randomBytes(16).toString('hex')}` : hex(options.root)
    for (; options.root !== undefined; ) {
      const deletion = this.deleting.get(root)
      if (deletion !== undefined) {
        // A deletion of this root is running: once it is done, this is a fresh upload.
        await deletion
        continue
      }
      if (this.writing.has(root)) throw new AlreadyStoredError(`shard ${root} is being stored right now`)
      const stored = (await this.level.get(metaKey(root))) !== undefined
      if (this.deleting.has(root)) continue
      if (stored) {
        // The client counts this as stored and opens its deal later: the collector keeps the shard a grace period.
        this.claims.claim(root)
        throw new AlreadyStoredError(`shard ${root} is already stored here`)
      }
      if (this.writing.has(root)) throw new AlreadyStoredError(`shard ${root} is being stored right now`)
      break
    }
    const release = this.reserve(options.byteLength)
    const writer = new ShardWriter(this, this.level, root, options, this.chunkSize, release)
    this.writing.set(root, writer)
    try {
      await this.level.put(markerKey(root), encodeMarker(options.byteLength))
    } catch (err) {
      this.writing.delete(root)
      release()
      throw storeIoError(err)
    }
    return writer
  }

  /**
   * @internal called by ShardWriter before committing an upload that declared no root: the existing shard's info
   * if this root is committed (claimed, as an AlreadyStored answer would), 'busy' if it is being written under
   * its declared root, committed by another such upload right now, or deleted; else a lock on the root for the
   * commit (the returned function releases it).
   */
  async committedOrBusy(rootHex: string): Promise<ShardInfo | 'busy' | (() => void)> {
    if (this.writing.has(rootHex) || this.committing.has(rootHex) || this.deleting.has(rootHex)) return 'busy'
    const value = await this.level.get(metaKey(rootHex))
    if (this.writing.has(rootHex) || this.committing.has(rootHex) || this.deleting.has(rootHex)) return 'busy'
    if (value !== undefined) {
      this.claims.claim(rootHex)
      return infoOf(rootBytes(rootHex), decodeMeta(value))
    }
    // Taken in the same tick as the check, so two uploads of the same bytes cannot both commit.
    this.committing.add(rootHex)
    return () => {
      this.committing.delete(rootHex)
    }
  }

  /** @internal called by ShardWriter */
  finished(root: string, committedBytes: number): void {
    this.writing.delete(root)
    if (committedBytes > 0) {
      this.space.add(committedBytes)
      this.shardCount++
    }
  }

  /**
   * Records that a client was just given an offer on this shard: like an `AlreadyStoredError` answer, it keeps the
   * shard from the collector for a grace period, so the deal can still be opened while the offer lives.
   */
  noteOffered(root: Uint8Array): void {
    this.claims.claim(hex(root))
  }

  /** When a client was last told this shard is already here (an upload refused as `AlreadyStoredError`) or given an offer on it, if ever. */
  claimedAtMs(root: Uint8Array): number | undefined {
    return this.claims.get(hex(root))
  }

  /** Readers currently holding a lease on this root. */
  readersOf(root: Uint8Array): number {
    return this.leases.count(hex(root))
  }

  private async meta(root: Uint8Array): Promise<StoredMeta> {
    const value = await this.level.get(metaKey(hex(root)))
    if (value === undefined) throw new NotFoundError(`no shard with root ${hex(root)} is stored here`)
    return decodeMeta(value)
  }

  async has(root: Uint8Array): Promise<boolean> {
    return (await this.level.get(metaKey(hex(root)))) !== undefined
  }

  async getInfo(root: Uint8Array): Promise<ShardInfo> {
    const m = await this.meta(root)
    return infoOf(root, m)
  }

  /** The root of every committed shard (keys only: no metadata is read). */
  async *listRoots(): AsyncGenerator<Uint8Array> {
    for await (const key of this.level.keys(metaRange())) yield rootBytes(rootOfKey(key))
  }

  /** Every committed shard. */
  async *listShards(): AsyncGenerator<ShardInfo> {
    for await (const [key, value] of this.level.iterator(metaRange())) {
      yield infoOf(rootBytes(rootOfKey(key)), decodeMeta(value))
    }
  }

  /** The shard's chunk tree (nodes above the chunks), for proofs. */
  async getTree(root: Uint8Array): Promise<ChunkTree> {
    return decodeChunkTree((await this.meta(root)).tree)
  }

  /** The bytes of one chunk (`tree.chunkRange(leaf).chunkIndex`), for `tree.proveFromChunk`. */
  async readChunk(root: Uint8Array, chunkIndex: number): Promise<Uint8Array> {
    const release = this.leases.take(hex(root))
    try {
      const m = await this.meta(root)
      const count = Math.ceil(m.byteLength / m.chunkSize)
      if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= count) {
        throw new RangeNotSatisfiableError(`chunk ${chunkIndex} is outside the shard's ${count} chunks`)
      }
      const value = await this.level.get(chunkKey(m.chunks ?? hex(root), chunkIndex))
      if (value === undefined)
        throw new NotFoundError(`chunk ${chunkIndex} of shard ${hex(root)} is missing: the store is corrupt`)
      return value
    } finally {
      release()
    }
  }

  /**
   * Yields `length` bytes from `offset`, chunk by chunk, read READ_BATCH_BYTES at a time. The shard cannot be deleted from the first `next()` until the
   * generator finishes or is returned: a caller that stops early must call `return()` (for-await does).
   */
  async *readRange(root: Uint8Array, offset: number, length: number): AsyncGenerator<Uint8Array> {
    const rootHex = hex(root)
    const release = this.leases.take(rootHex)
    try {
      const m = await this.meta(root)
      if (offset < 0 || length < 0 || offset + length > m.byteLength) {
        throw new RangeNotSatisfiableError(
          `bytes ${offset}..${offset + length} are outside the shard's ${m.byteLength} bytes`
        )
      }
      let position = offset
      const end = offset + length
      const batchChunks = Math.max(1, Math.floor(READ_BATCH_BYTES / m.chunkSize))
      while (position < end) {
        const first = Math.floor(position / m.chunkSize)
        const count = Math.min(batchChunks, Math.ceil(end / m.chunkSize) - first)
        const keys = Array.from({ length: count }, (_, i) => chunkKey(m.chunks ?? rootHex, first + i))
        const chunks = await this.level.getMany(keys)
        for (let i = 0; i < count; i++) {
          const index = first + i
          const chunk = chunks[i]
          if (chunk === undefined)
            throw new NotFoundError(`chunk ${index} of shard ${rootHex} is missing: the store is corrupt`)
          // A short chunk would shift every later offset (and a negative start reads from a chunk's end): refuse it.
          const expected = Math.min(m.chunkSize, m.byteLength - index * m.chunkSize)
          if (chunk.byteLength !== expected)
            throw new NotFoundError(
              `chunk ${index} of shard ${rootHex} is ${chunk.byteLength} bytes, not ${expected}: the store is corrupt`
            )
          const start = position - index * m.chunkSize
          const stop = Math.min(chunk.byteLength, end - index * m.chunkSize)
          yield chunk.subarray(start, stop)
          position += stop - start
        }
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
  async deleteShard(root: Uint8Array): Promise<number> {
    const rootHex = hex(root)
    const db = this.level
    const readers = this.leases.count(rootHex)
    if (readers > 0)
      throw new ShardBusyError(`shard ${rootHex} is being read by ${readers} reader(s); try again when they finish`)
    if (this.writing.has(rootHex) || this.deleting.has(rootHex))
      throw new ShardBusyError(`shard ${rootHex} is being written or deleted right now; try again later`)
    let settle = (): void => {}
    this.deleting.set(
      rootHex,
      new Promise<void>((resolve) => {
        settle = resolve
      })
    )
    try {
      await this.claims.settled(rootHex)
      const value = await db.get(metaKey(rootHex))
      if (value === undefined) throw new NotFoundError(`no shard with root ${rootHex} is stored here`)
      const m = decodeMeta(value)
      try {
        await db.batch(
          [
            { type: 'del', key: metaKey(rootHex) },
            { type: 'del', key: claimKey(rootHex) },
            { type: 'put', key: markerKey(m.chunks ?? rootHex), value: encodeMarker(m.byteLength) }
          ],
          { sync: true }
        )
      } catch (err) {
        throw storeIoError(err)
      }
      this.space.add(-m.byteLength)
      this.shardCount--
      this.claims.forget(rootHex)
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
  async putManifest(cid: string, bytes: Uint8Array): Promise<boolean> {
    const key = manifestKey(cid)
    if ((await this.level.get(key)) !== undefined) return false
    const release = this.reserve(bytes.byteLength)
    try {
      await this.level.put(key, bytes, { sync: true })
      this.space.add(bytes.byteLength)
      this.manifestCount++
      return true
    } catch (err) {
      throw storeIoError(err)
    } finally {
      release()
    }
  }

  async getManifest(cid: string): Promise<Uint8Array> {
    const value = await this.level.get(manifestKey(cid))
    if (value === undefined) throw new NotFoundError(`no manifest ${cid} is stored here`)
    return value
  }

  /**
   * A JSON sublevel of this LevelDB for another component's records (the prover's deal ledger), so they share
   * the data dir's lock and durability. Its keys (`!<name>!…`) sort apart from the store's. Valid until `stop()`.
   */
  sublevel<V>(name: string) {
    return this.level.sublevel<string, V>(name, { keyEncoding: 'utf8', valueEncoding: 'json' })
  }
}

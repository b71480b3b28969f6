import type { Level } from 'level'
import { logger } from '@libp2p/logger'
import { ChunkTreeBuilder, encodeChunkTree } from '@sherd/proofs'
import { CommitmentMismatchError } from '@sherd/protocol'
import { WRITE_BATCH_BYTES } from '../constants.js'
import { AlreadyStoredError, NodeStoppingError } from '../errors.js'
import { chunkKey, chunkRange, encodeMeta, hex, markerKey, metaKey } from './keys.js'
import type { StoredMeta } from './keys.js'
import { storeIoError } from './level-errors.js'

const log = logger('sherd:node:store')

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

export function infoOf(root: Uint8Array, m: StoredMeta): ShardInfo {
  return { root, byteLength: m.byteLength, chunkSize: m.chunkSize, storedAtMs: m.storedAtMs ?? 0 }
}

/** What a writer needs of its store: the commit lock for undeclared roots and the end-of-write bookkeeping. */
export interface ShardWriterOwner {
  committedOrBusy: (rootHex: string) => Promise<ShardInfo | 'busy' | (() => void)>
  finished: (root: string, committedBytes: number) => void
}

/** One shard being written: bytes are hashed as they arrive and land in chunk keys; `commit` makes them visible. */
export class ShardWriter {
  private readonly builder: ChunkTreeBuilder
  private readonly chunk: Uint8Array
  private chunkFill = 0
  private chunkIndex = 0
  private batch: Array<{ type: 'put'; key: string; value: Uint8Array }> = []
  private batchBytes = 0
  private done = false
  private flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly store: ShardWriterOwner,
    private readonly db: Level<string, Uint8Array>,
    private readonly root: string,
    private readonly options: BeginShardOptions,
    private readonly chunkSize: number,
    private readonly release: () => void
  ) {
    this.builder = new ChunkTreeBuilder(options.byteLength, chunkSize)
    this.chunk = new Uint8Array(Math.min(chunkSize, options.byteLength))
  }

  get received(): number {
    return this.builder.received
  }

  /** Hashes and stores the next bytes. Throws (`ByteLengthMismatchError`) past the declared length. */
  async write(bytes: Uint8Array): Promise<void> {
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

  private cutChunk(): void {
    const value = this.chunk.slice(0, this.chunkFill)
    this.batch.push({ type: 'put', key: chunkKey(this.root, this.chunkIndex++), value })
    this.batchBytes += value.byteLength
    this.chunkFill = 0
  }

  private async flush(): Promise<void> {
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
      throw storeIoError(err)
    }
  }

  /**
   * Checks the bytes against the declared root and commits the shard atomically. On mismatch
   * (`CommitmentMismatchError`) or any failure, nothing is kept and the reservation is released.
   */
  async commit(): Promise<ShardInfo> {
    try {
      const tree = this.builder.finish()
      const declared = this.options.root !== undefined
      const rootHex = hex(tree.root)
      if (declared && rootHex !== this.root) {
        throw new CommitmentMismatchError(
          `the bytes hash to root ${rootHex}, not the declared ${this.root}; nothing was stored`
        )
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
        byteLength: this.options.byteLength,
        chunkSize: this.chunkSize,
        storedAtMs: Date.now(),
        tree: encodeChunkTree(tree),
        ...(declared ? {} : { chunks: this.root })
      }
      try {
        if (this.chunkFill > 0) this.cutChunk()
        await this.flush()
        await this.db.batch(
          [
            { type: 'put', key: metaKey(rootHex), value: encodeMeta(meta) },
            { type: 'del', key: markerKey(this.root) }
          ],
          { sync: true }
        )
      } catch (err) {
        throw storeIoError(err)
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
  async abort(): Promise<void> {
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

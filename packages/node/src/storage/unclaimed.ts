import { UnclaimedBytesExceededError } from '../errors.js'
import type { ShardStore } from './store.js'
import { hex } from './store.js'

export interface UnclaimedShardsComponents {
  /** Whether a deal of this provider names the root (hex, no 0x): its bytes are paid for, not unclaimed. */
  isClaimed: (rootHex: string) => boolean
}

export interface UnclaimedShardsInit {
  maxBytes: number
}

/**
 * The bytes of stored (and being stored) shards that no deal claims yet, bounded by `maxBytes`: an upload that would
 * go over is refused before any byte is sent, so uploads nobody pays for cannot fill the disk. Shards leave the count
 * when a deal on their root appears in the ledger (`isClaimed`) or when they are deleted (`forget`).
 */
export class UnclaimedShards {
  readonly maxBytes: number
  private readonly bytesByRoot = new Map<string, number>()

  constructor(
    private readonly components: UnclaimedShardsComponents,
    init: UnclaimedShardsInit
  ) {
    this.maxBytes = init.maxBytes
  }

  /** Counts the stored shards no deal claims (at start, once the ledger is loaded). */
  async load(store: Pick<ShardStore, 'listShards'>): Promise<void> {
    this.bytesByRoot.clear()
    for await (const info of store.listShards()) {
      const rootHex = hex(info.root)
      if (!this.components.isClaimed(rootHex)) this.bytesByRoot.set(rootHex, info.byteLength)
    }
  }

  /** Unclaimed bytes now (shards a deal claimed since are dropped from the count first). */
  get bytes(): number {
    let total = 0
    for (const [rootHex, bytes] of this.bytesByRoot) {
      if (this.components.isClaimed(rootHex)) this.bytesByRoot.delete(rootHex)
      else total += bytes
    }
    return total
  }

  get shards(): number {
    void this.bytes
    return this.bytesByRoot.size
  }

  /**
   * Counts an upload of `byteLength` bytes under `root` before it starts, or throws UnclaimedBytesExceededError. The
   * returned function takes it back (the upload failed and kept nothing).
   */
  reserve(root: Uint8Array, byteLength: number): () => void {
    const rootHex = hex(root)
    if (this.components.isClaimed(rootHex)) return () => {}
    const used = this.bytes
    if (used + byteLength > this.maxBytes) {
      throw new UnclaimedBytesExceededError(
        `this provider already holds ${used} bytes of shards no deal has claimed (its limit is ${this.maxBytes}); ` +
          'open deals for the shards already uploaded (ask for their offers), wait for unclaimed ones to expire, or try another provider'
      )
    }
    this.bytesByRoot.set(rootHex, byteLength)
    let released = false
    return () => {
      if (released) return
      released = true
      this.bytesByRoot.delete(rootHex)
    }
  }

  /** The shard was deleted. */
  forget(root: Uint8Array): void {
    this.bytesByRoot.delete(hex(root))
  }
}

import type { Level } from 'level'
import { logger } from '@libp2p/logger'
import { claimKey, claimRange, decodeClaim, encodeClaim, rootOfKey } from './keys.js'

const log = logger('sherd:node:store')

/**
 * When each shard was last claimed (a client told it is already here, or given an offer on it), in memory and in
 * `s!t!` keys: the collector keeps a claimed shard for a grace period, across restarts. Writes run in the
 * background, one chain per root, so a claim never delays the answer it is part of.
 */
export class ClaimTimes {
  private readonly times = new Map<string, number>()
  private readonly writes = new Map<string, Promise<void>>()

  constructor(private readonly level: () => Level<string, Uint8Array>) {}

  async load(): Promise<void> {
    this.times.clear()
    for await (const [key, value] of this.level().iterator(claimRange()))
      this.times.set(rootOfKey(key), decodeClaim(value))
  }

  claim(root: string): void {
    const now = Date.now()
    this.times.set(root, now)
    const previous = this.writes.get(root) ?? Promise.resolve()
    const write = previous
      .then(async () => {
        await this.level().put(claimKey(root), encodeClaim(now))
      })
      .catch((err) => {
        log.error('could not record the claim of shard %s: %e', root, err)
      })
      .finally(() => {
        if (this.writes.get(root) === write) this.writes.delete(root)
      })
    this.writes.set(root, write)
  }

  get(root: string): number | undefined {
    return this.times.get(root)
  }

  /** Waits for this root's claim writes to land (a deletion must not be followed by a late claim key). */
  async settled(root: string): Promise<void> {
    await this.writes.get(root)
  }

  /** The root was deleted (its key went in the deletion's batch). */
  forget(root: string): void {
    this.times.delete(root)
  }
}

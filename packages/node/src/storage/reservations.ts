import { CapacityExceededError } from '../errors.js'

/**
 * The store's space accounting: bytes committed (shards and manifests on disk) and bytes reserved by writes still
 * running, against one capacity. A write reserves its declared length before its first byte lands, so two
 * uploads can never together pass the capacity.
 */
export class SpaceReservations {
  private committed = 0
  private reserved = 0

  constructor(readonly capacityBytes: number) {}

  get committedBytes(): number {
    return this.committed
  }
  get reservedBytes(): number {
    return this.reserved
  }
  get freeBytes(): number {
    return Math.max(0, this.capacityBytes - this.committed - this.reserved)
  }

  /** Reserves space or throws `CapacityExceededError`; the returned function releases it (idempotent). */
  reserve(bytes: number): () => void {
    if (bytes > this.freeBytes) {
      throw new CapacityExceededError(
        `storing ${bytes} bytes would exceed this node's capacity (${this.freeBytes} of ${this.capacityBytes} bytes free); try another provider`
      )
    }
    this.reserved += bytes
    let released = false
    return () => {
      if (released) return
      released = true
      this.reserved -= bytes
    }
  }

  /** Counts bytes now on disk (a commit) or, negative, no longer there (a deletion). */
  add(bytes: number): void {
    this.committed += bytes
  }

  /** Sets the committed count from a scan of the store at start. */
  reset(committedBytes: number): void {
    this.committed = committedBytes
  }
}

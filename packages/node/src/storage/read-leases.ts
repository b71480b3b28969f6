import { NotFoundError } from '../errors.js'

/**
 * Readers per root. A shard with a reader is not deleted, and a root being deleted (`isDeleting`) gets no new
 * reader: without the lease a reader could see the chunk keys cleared mid-read, or refilled by a new upload of the
 * same root that has not been verified yet.
 */
export class ReadLeases {
  private readonly readers = new Map<string, number>()

  constructor(private readonly isDeleting: (root: string) => boolean) {}

  /** Takes a read lease on a root; the returned function releases it (once). */
  take(root: string): () => void {
    if (this.isDeleting(root)) throw new NotFoundError(`shard ${root} is being deleted from this provider`)
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

  count(root: string): number {
    return this.readers.get(root) ?? 0
  }
}

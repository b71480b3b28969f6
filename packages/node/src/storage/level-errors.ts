import { DiskFullError } from '../errors.js'

/** Turns LevelDB I/O failures into errors that say what to do; the LevelDB error stays as the cause. */
export function storeIoError(err: unknown): Error {
  const e = err as Error & { code?: string; cause?: Error & { code?: string } }
  const text = `${e.message} ${e.cause?.message ?? ''}`
  if (/No space left|ENOSPC/i.test(text))
    return new DiskFullError(`the disk holding the data dir is full (${e.message}); free space or lower --capacity`, {
      cause: err
    })
  return e
}

import { randomBytes } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { access, link, lstat, open, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ClientError } from './errors.js'

/** The output file exists and replacing it was not asked for (`--force`). Nothing was written. */
export class OutputExistsError extends ClientError {
  override name = 'OutputExistsError'
}

/** The output path cannot become a file: a directory, a missing or read-only parent directory. */
export class OutputPathError extends ClientError {
  override name = 'OutputPathError'
}

/** The download ended with fewer or more bytes than the manifest promised; the temporary file was removed. */
export class OutputIncompleteError extends ClientError {
  override name = 'OutputIncompleteError'
}

/** A checked place to write a download to. */
export interface OutputTarget {
  /** As the user wrote it (for messages). */
  readonly given: string
  readonly path: string
  readonly dir: string
  /** Mode of the file it replaces (kept on replace), if there is one. */
  readonly replacesMode?: number
}

// Filesystems without hard links (FAT, some network mounts) answer link() with these: fall back to rename.
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'])

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/**
 * Checks an output path before anything is fetched, so a refusal costs no network: an existing file is refused
 * unless `force`, and the directory must exist and be writable.
 */
export async function checkOutput(given: string, force: boolean): Promise<OutputTarget> {
  const path = resolve(given)
  const dir = dirname(path)
  const existing = await lstat(path).catch((err: unknown) => {
    if (code(err) === 'ENOENT') return undefined
    throw err
  })
  if (existing?.isDirectory() === true)
    throw new OutputPathError(`${given} is a directory: give a file name, e.g. -o ${join(given, 'file')}`)
  if (existing !== undefined && !force) {
    throw new OutputExistsError(
      `${given} exists and was left as it is: pass --force to replace it (the old file stays until the new one is complete and verified), or choose another -o`
    )
  }
  const parent = await stat(dir).catch(() => undefined)
  if (parent?.isDirectory() !== true)
    throw new OutputPathError(`the directory ${dirname(given)} does not exist: create it first`)
  try {
    await access(dir, fsConstants.W_OK)
  } catch {
    throw new OutputPathError(`cannot create files in ${dirname(given)} (permission denied): choose another -o`)
  }
  return { given, path, dir, ...(existing?.isFile() === true ? { replacesMode: existing.mode & 0o7777 } : {}) }
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename itself durable. Some platforms cannot open a directory for fsync; the data is synced already.
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {}
}

/**
 * Writes a file so that no failure destroys data: bytes go to a temporary file in the target's directory, which is
 * synced and renamed over the target only after `produce` has finished (for `get`: after the last segment was
 * verified and decrypted) and the byte count matches `expectedBytes()`. Without `force` the target is created
 * with link() so a file that appeared meanwhile is not replaced either. On any error, or an abort, the temporary
 * file is removed and the target is untouched. Returns the bytes written.
 */
export async function writeFileAtomically(
  target: OutputTarget,
  force: boolean,
  produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
  expectedBytes?: () => number | undefined
): Promise<number> {
  const temp = join(target.dir, `.${basename(target.path)}.sherd-${randomBytes(6).toString('hex')}.part`)
  const handle = await open(temp, 'wx', target.replacesMode ?? 0o666)
  let handleOpen = true
  let written = 0
  try {
    await produce(async (chunk) => {
      for (let offset = 0; offset < chunk.byteLength; ) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset)
        offset += bytesWritten
      }
      written += chunk.byteLength
    })
    const expected = expectedBytes?.()
    if (expected !== undefined && expected !== written) {
      throw new OutputIncompleteError(
        `the download gave ${written} bytes but the file has ${expected}; ${target.given} was not touched: run the command again`
      )
    }
    await handle.sync()
    await handle.close()
    handleOpen = false
    await place(temp, target, force)
    await syncDirectory(target.dir)
    return written
  } catch (err) {
    if (handleOpen) await handle.close().catch(() => {})
    await unlink(temp).catch(() => {})
    throw err
  }
}

async function place(temp: string, target: OutputTarget, force: boolean): Promise<void> {
  const appeared = (): OutputExistsError =>
    new OutputExistsError(
      `${target.given} appeared while the file was downloading and was left as it is: pass --force to replace it, or choose another -o`
    )
  if (force) {
    await rename(temp, target.path)
    return
  }
  try {
    await link(temp, target.path)
  } catch (err) {
    if (code(err) === 'EEXIST') throw appeared()
    if (!NO_HARD_LINKS.has(code(err) ?? '')) throw err
    if (
      await lstat(target.path).then(
        () => true,
        () => false
      )
    )
      throw appeared()
    await rename(temp, target.path)
    return
  }
  await unlink(temp)
}

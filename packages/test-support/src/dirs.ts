import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A new empty directory under the system temp dir; its name starts with `prefix` so a leftover says whose it is. */
export async function tempDir(prefix = 'sherd-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

/** Removes `dir` and everything in it; a dir already gone is not an error (teardown runs after failed setups too). */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

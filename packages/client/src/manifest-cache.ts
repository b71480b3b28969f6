import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Sealed manifests kept on this machine, by manifest CID. A copy is what providers hold (encrypted under the file
 * key, which the cache never sees), and every read is checked against its CID like a provider's answer, so a
 * damaged or planted entry is ignored, never trusted.
 */
export interface ManifestCache {
  read: (cid: string) => Promise<Uint8Array | undefined>
  write: (cid: string, sealed: Uint8Array) => Promise<void>
}

// CIDs are base32 lower-case: anything else is not a name this cache wrote, and must not become a path.
const CID_NAME = /^[a-z2-7]{8,200}$/

/** A cache of one file per manifest in `dir` (created on first write; writes are atomic, errors never fail a caller). */
export function directoryManifestCache (dir: string): ManifestCache {
  return {
    async read (cid) {
      if (!CID_NAME.test(cid)) return undefined
      try {
        return new Uint8Array(await readFile(join(dir, cid)))
      } catch {
        return undefined
      }
    },
    async write (cid, sealed) {
      if (!CID_NAME.test(cid)) return
      const temp = join(dir, `.${cid}.${randomBytes(4).toString('hex')}.part`)
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 })
        const handle = await open(temp, 'wx', 0o600)
        try { await handle.writeFile(sealed) } finally { await handle.close() }
        await rename(temp, join(dir, cid))
      } catch {
        // A cache that cannot be written costs a provider round trip next time, nothing more.
        await unlink(temp).catch(() => {})
      }
    }
  }
}

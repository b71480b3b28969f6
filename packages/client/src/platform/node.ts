import { randomBytes } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { tcp } from '@libp2p/tcp'
import type { NoiseInit } from '@chainsafe/libp2p-noise'
import { nodeNoiseCrypto } from '@sherd/protocol/noise-node'
import type { MerkleHasher } from '../pipeline/hashing.js'
import { inlineHasher } from '../pipeline/hashing.js'
import type { SegmentCipher } from '../pipeline/chunk-cipher.js'
import { nodeSegmentCipher } from '../pipeline/chunk-cipher-node.js'
import type { HostTransports, PlatformFiles } from './types.js'

// `#platform` in Node (package.json "imports"); browser.ts is the page's. Same exports, checked in check.ts.

export const PLATFORM_NAME = 'node'

/** TCP: what providers listen on first. */
export function hostTransports(): HostTransports {
  return { transports: [tcp()] }
}

/** noise with its ChaCha20-Poly1305 key imported once per session, not once per frame (docs/protocol.md, "Transport"). */
export function noiseInit(): NoiseInit {
  return { crypto: nodeNoiseCrypto }
}

/**
 * On a machine with more than one core, a pool of one thread per core (at most 4), else inline. One per core, not
 * one fewer: the main thread is busy only ~35 % of an encode (measured event-loop utilisation), so on 2 cores two
 * hashing threads finish first; each costs ~17 MiB of RSS. Its idle threads do not keep a process alive.
 */
/**
 * One thread per core besides the calling one (at most 3): the calling thread seals, erasure-codes and drives the
 * network, so a thread for every core over-subscribes them, and each thread costs ~17 MiB of RSS plus its queue
 * (docs/data-path.md, "Hashing threads": on 2 cores one thread put at ~50 MiB less peak RSS than two).
 */
export async function platformHasher(): Promise<MerkleHasher> {
  const { availableParallelism } = await import('node:os')
  const cores = availableParallelism()
  if (cores < 2) return inlineHasher()
  const { workerHasher } = await import('../pipeline/hash-pool-node.js')
  return workerHasher({ threads: Math.min(cores - 1, 3) })
}

/** `node:crypto`: ~1.6× less CPU per decoded byte than WebCrypto in Node (docs/data-path.md). */
export async function platformSegmentCipher(keyBytes: Uint8Array): Promise<SegmentCipher> {
  return nodeSegmentCipher(keyBytes)
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex')
}

/**
 * Where the `sherd` CLI keeps its journal when nothing else is configured: the XDG data directory, because the
 * entries are the user's data (keys to their files and a record of what they paid), not configuration or cache.
 */
export function defaultJournalDir(env: NodeJS.ProcessEnv = process.env): string {
  const data =
    env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share')
  return join(data, 'sherd', 'files')
}

/** Writes `text` to `path` so that a crash leaves the old file or the new one, never a torn one; mode 0600. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = join(path, '..')
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  // The rename is durable only once the directory itself is on disk.
  const dirHandle = await open(dir, fsConstants.O_RDONLY)
  try {
    await dirHandle.sync()
  } finally {
    await dirHandle.close()
  }
}

export const files: PlatformFiles = {
  describe: (path) => path,
  join: (dir, name) => join(dir, name),
  dirname: (path) => dirname(path),
  mkdir: async (dir) => {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  },
  readText: async (path) => await readFile(path, 'utf8'),
  list: async (dir) => await readdir(dir),
  writeAtomic: writeFileAtomic
}

/**
 * Replaces `path` by rename without fsync: for the score file, which is a hint (losing its last update costs
 * nothing a user paid for).
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, text)
  await rename(tmp, path)
}

// CIDs are base32 lower-case: anything else is not a name this cache wrote, and must not become a path.
const CID_NAME = /^[a-z2-7]{8,200}$/

/** A cache of one file per manifest in `dir` (created on first write; writes are atomic, errors never fail a caller). */
export function directoryManifestCache(dir: string): {
  read: (cid: string) => Promise<Uint8Array | undefined>
  write: (cid: string, sealed: Uint8Array) => Promise<void>
} {
  return {
    async read(cid) {
      if (!CID_NAME.test(cid)) return undefined
      try {
        return new Uint8Array(await readFile(join(dir, cid)))
      } catch {
        return undefined
      }
    },
    async write(cid, sealed) {
      if (!CID_NAME.test(cid)) return
      const temp = join(dir, `.${cid}.${randomBytes(4).toString('hex')}.part`)
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 })
        const handle = await open(temp, 'wx', 0o600)
        try {
          await handle.writeFile(sealed)
        } finally {
          await handle.close()
        }
        await rename(temp, join(dir, cid))
      } catch {
        // A cache that cannot be written costs a provider round trip next time, nothing more.
        await unlink(temp).catch(() => {})
      }
    }
  }
}

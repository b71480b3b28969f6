import { webSockets } from '@libp2p/websockets'
import type { NoiseInit } from '@chainsafe/libp2p-noise'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MerkleHasher } from '../pipeline/hashing.js'
import { inlineHasher } from '../pipeline/hashing.js'
import { webWorkerHasher } from '../pipeline/hash-pool-browser.js'
import type { SegmentCipher } from '../pipeline/chunk-cipher.js'
import { webSegmentCipher } from '../pipeline/chunk-cipher.js'
import type { HostTransports, PlatformFiles } from './types.js'

// `#platform` under the "browser" condition (package.json "imports"): no Node built-ins, nothing polyfilled.

export const PLATFORM_NAME = 'browser'

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

/** A page served from this machine (a developer's, a test's): it may dial providers on loopback and plain ws://. */
function pageIsLocal(): boolean {
  return typeof location !== 'undefined' && LOOPBACK_HOSTS.has(location.hostname)
}

/**
 * WebSockets, the one transport a page has to a provider. libp2p's browser default gater refuses private and
 * loopback addresses and plain `ws://`; a page on loopback is a developer's or a test's and its providers are
 * local too, so there it dials anything. A page served from anywhere else keeps the default: `wss://` providers
 * on public addresses only (an https page could not open `ws://` anyway).
 */
export function hostTransports(): HostTransports {
  const local = pageIsLocal()
  return {
    transports: [webSockets()],
    ...(local ? { connectionGater: { denyDialMultiaddr: (_addr: Multiaddr) => false } } : {})
  }
}

/** noise's own crypto: the browser build of noise is pure JS, and node:crypto is not there to import. */
export function noiseInit(): NoiseInit {
  return {}
}

/**
 * A pool of Web Workers (the Node pool's queue bound and messages, hash-pool.ts): one per core besides the page's
 * own thread, at most 3, and one even on a single core, because a worker keeps the page responsive while a put
 * hashes (in Node one core means inline). Where there is no `Worker`, or workers will not start (a page's
 * Content-Security-Policy without `blob:` workers), hashing runs inline on the page's thread with the same kernels.
 */
export async function platformHasher(): Promise<MerkleHasher> {
  const cores = typeof navigator === 'undefined' ? 1 : (navigator.hardwareConcurrency ?? 1)
  try {
    return await webWorkerHasher({ threads: Math.max(1, Math.min(cores - 1, 3)) })
  } catch (err) {
    // No Worker at all (a service worker, an engine without them) is the expected inline case: nothing to report.
    if (typeof Worker !== 'undefined')
      console.warn(`@sherd/client hashes on the page's thread: ${(err as Error).message}`)
    return inlineHasher()
  }
}

/** WebCrypto AES-GCM, the only AES a page has without a JavaScript implementation. */
export async function platformSegmentCipher(keyBytes: Uint8Array): Promise<SegmentCipher> {
  return await webSegmentCipher(keyBytes)
}

export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('')
}

/** The journal's key prefix in `localStorage` when none is configured. */
export function defaultJournalDir(): string {
  return 'sherd/files'
}

function storage(): Storage {
  if (typeof localStorage === 'undefined') {
    throw new Error(
      'this engine has no localStorage (a Worker?): leave journalDir and scoreFile unset to keep them in memory'
    )
  }
  return localStorage
}

/** One `setItem` is all or nothing, so every write here is atomic; `localStorage` has no directories to make. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  storage().setItem(path, text)
}

export const files: PlatformFiles = {
  describe: (path) => `localStorage:${path}`,
  join: (dir, name) => `${dir.replace(/\/+$/, '')}/${name}`,
  dirname: (path) => path.slice(0, Math.max(path.lastIndexOf('/'), 0)),
  mkdir: async () => {},
  readText: async (path) => {
    const text = storage().getItem(path)
    if (text === null) throw new Error(`no ${path} in localStorage`)
    return text
  },
  list: async (dir) => {
    const prefix = `${dir.replace(/\/+$/, '')}/`
    const store = storage()
    const names: string[] = []
    for (let i = 0; i < store.length; i++) {
      const key = store.key(i)
      if (key?.startsWith(prefix) === true && !key.slice(prefix.length).includes('/'))
        names.push(key.slice(prefix.length))
    }
    return names
  },
  writeAtomic: writeFileAtomic
}

export async function replaceFile(path: string, text: string): Promise<void> {
  storage().setItem(path, text)
}

const CID_NAME = /^[a-z2-7]{8,200}$/

/** Sealed manifests in `localStorage` under `dir/<cid>` (base64); a full store only costs a provider round trip. */
export function directoryManifestCache(dir: string): {
  read: (cid: string) => Promise<Uint8Array | undefined>
  write: (cid: string, sealed: Uint8Array) => Promise<void>
} {
  return {
    async read(cid) {
      if (!CID_NAME.test(cid)) return undefined
      const text = typeof localStorage === 'undefined' ? null : localStorage.getItem(files.join(dir, cid))
      return text === null ? undefined : Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
    },
    async write(cid, sealed) {
      if (!CID_NAME.test(cid) || typeof localStorage === 'undefined') return
      let binary = ''
      for (let i = 0; i < sealed.length; i += 0x8000) binary += String.fromCharCode(...sealed.subarray(i, i + 0x8000))
      try {
        localStorage.setItem(files.join(dir, cid), btoa(binary))
      } catch {}
    }
  }
}

// What the example page offers scripts (`window.sherdPage`): test/browser.test.ts and the browser bench drive the
// page's own client through it. Shared by the page (page/app.ts) and the Node side: types, and the byte pattern
// both sides hash to compare roots.

/**
 * `size` bytes of a xorshift32 stream seeded with `seed`, built byte by byte (no endianness): the page and Node
 * make the same bytes without sending them over CDP.
 */
export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 255
  }
  return out
}

/** Hex Merkle roots of `patternBytes(size, size)`, computed in the page three ways. */
export interface PageHashCheck {
  size: number
  /** `inlineHasher().root`: on the page's thread. */
  inline: string
  /** `defaultHasher().root`: the SDK's default hasher (Web Workers when they start). */
  pool: string
  /** The default hasher's `builder()`, fed 400,000-byte pieces. */
  builder: string
}

export interface PagePutResult {
  link: string
  bytes: number
  sha256: string
  ms: number
}
export interface PageGetResult {
  bytes: number
  /** Hex SHA-256 of what was read, hashed in the page as it arrived (absent with `hash: false`). */
  sha256?: string
  ms: number
  /** Some segment was decoded with a parity shard (index ≥ k). */
  parityUsed: boolean
  shardFailures: number
}

export interface SherdPageApi {
  /** Starts the page's client (chain check, dial the providers' /ws addresses, wait for their announcements). */
  ready: () => Promise<void>
  /** Puts `size` random bytes made in the page (crypto.getRandomValues); returns their SHA-256 and the link. */
  putRandom: (size: number, options?: { segmentSize?: number }) => Promise<PagePutResult>
  /** Reads a link through `getStream` (a ReadableStream), hashing as it goes unless `hash: false`. */
  getHash: (link: string, options?: { hash?: boolean; pauseAfterFirstChunk?: boolean }) => Promise<PageGetResult>
  /** 'paused' while a get with `pauseAfterFirstChunk` waits for `resume()`. */
  getState: () => 'idle' | 'running' | 'paused'
  resume: () => void
  /**
   * Stage speeds in this page, MB/s (10^6): `encode` is the offline pipeline (AES-GCM, erasure coding, Merkle
   * hashing) on `size` bytes; `chacha` is ChaCha20-Poly1305 in JavaScript on 64 KiB frames, what noise encrypts
   * every transport byte with in a page.
   */
  stages: (size: number) => Promise<{ encodeMBps: number; chachaMBps: number }>
  /** Hashes `patternBytes(size, size)` for each size inline and with the SDK's default hasher (test/browser.test.ts). */
  hashCheck: (sizes: number[]) => Promise<{ threads: number; results: PageHashCheck[] }>
}

declare global {
  interface Window {
    sherdPage: SherdPageApi
  }
}

// The example page: put a picked file and get its sherd:// link; open a link, download it with progress and check
// it. The same client is driven by test/browser.test.ts and the browser bench through `window.sherdPage`.
import { sha256 } from '@noble/hashes/sha2.js'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { createClient, defaultHasher, encodeFile, inlineHasher } from '@sherd/client'
import type { GetProgressEvent, PutProgressEvent, PutSource, SherdClient } from '@sherd/client'
import { patternBytes } from '../src/page-api.js'
import type { PageGetResult, PageHashCheck, PagePutResult, SherdPageApi } from '../src/page-api.js'

/** What the server hands the page (GET config.json): the devnet's chain, market, a funded account and providers' /ws addresses. */
export interface PageConfig {
  rpcUrl: string
  contract: string
  /** The page's own funded account (not the Node client's: two payers on one key would race for nonces). */
  account: string
  bootstrap: string[]
  k: number
  m: number
  periods: number
}

const MIB = 2 ** 20
/** crypto.getRandomValues fills at most 64 KiB per call. */
const RANDOM_CHUNK = 65_536

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  for (let at = 0; at < size; at += RANDOM_CHUNK)
    crypto.getRandomValues(bytes.subarray(at, Math.min(at + RANDOM_CHUNK, size)))
  return bytes
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)))
}

const config = (await (await fetch('./config.json')).json()) as PageConfig
let started: Promise<SherdClient> | undefined

/** The page's client, started once (chain check, dial the providers' WebSocket addresses, wait for announcements). */
async function client(): Promise<SherdClient> {
  started ??= (async () => {
    const c = createClient({
      rpcUrl: config.rpcUrl,
      contract: config.contract,
      account: config.account,
      bootstrap: config.bootstrap,
      k: config.k,
      m: config.m,
      periods: config.periods,
      // The journal is kept across reloads (localStorage): an interrupted put can be resumed from this page.
      journalDir: 'sherd/example-web/files'
    })
    await c.start()
    return c
  })()
  return await started
}

async function putSource(
  source: PutSource,
  onProgress?: (e: PutProgressEvent) => void
): Promise<{ link: string; ms: number }> {
  const c = await client()
  const t0 = performance.now()
  const { link } = await c.put(source, onProgress === undefined ? {} : { onProgress })
  return { link, ms: performance.now() - t0 }
}

/** Puts `size` random bytes made here; returns their SHA-256 so a reader elsewhere can compare without the bytes. */
async function putRandom(size: number, options: { segmentSize?: number } = {}): Promise<PagePutResult> {
  const bytes = randomBytes(size)
  const digest = await sha256Hex(bytes)
  const c = await client()
  const t0 = performance.now()
  const { link } = await c.put(bytes, options.segmentSize === undefined ? {} : { segmentSize: options.segmentSize })
  return { link, bytes: size, sha256: digest, ms: performance.now() - t0 }
}

let paused: { resume: () => void } | undefined
/** 'paused' while a get with `pauseAfterFirstChunk` waits for `resume()`; the test kills a provider meanwhile. */
let getState: 'idle' | 'running' | 'paused' = 'idle'

/** Reads a link through the ReadableStream API and hashes it as it arrives (no copy of the file is kept). */
async function getHash(
  link: string,
  options: { hash?: boolean; pauseAfterFirstChunk?: boolean; onProgress?: (e: GetProgressEvent) => void } = {}
): Promise<PageGetResult> {
  const c = await client()
  const hasher = options.hash === false ? undefined : sha256.create()
  let parityUsed = false
  let shardFailures = 0
  const t0 = performance.now()
  const stream = c.getStream(link, {
    onProgress: (e) => {
      if (e.type === 'get:segment' && e.shardsUsed.some((i) => i >= config.k)) parityUsed = true
      if (e.type === 'get:shard-failed') shardFailures++
      options.onProgress?.(e)
    }
  })
  const reader = stream.getReader()
  let bytes = 0
  let first = true
  getState = 'running'
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      hasher?.update(value)
      bytes += value.length
      if (first && options.pauseAfterFirstChunk === true) {
        getState = 'paused'
        await new Promise<void>((resolve) => {
          paused = { resume: resolve }
        })
        getState = 'running'
      }
      first = false
    }
  } finally {
    getState = 'idle'
    reader.releaseLock()
  }
  return {
    bytes,
    ms: performance.now() - t0,
    parityUsed,
    shardFailures,
    ...(hasher === undefined ? {} : { sha256: hex(hasher.digest()) })
  }
}

async function stages(size: number): Promise<{ encodeMBps: number; chachaMBps: number }> {
  const bytes = randomBytes(size)
  let t0 = performance.now()
  const encoding = encodeFile(
    (async function* () {
      yield bytes
    })(),
    { k: config.k, m: config.m }
  )
  for await (const segment of encoding) void segment
  const encodeMBps = size / 1e6 / ((performance.now() - t0) / 1000)
  const frame = 65_536
  const key = randomBytes(32)
  const nonce = new Uint8Array(12)
  t0 = performance.now()
  // One cipher per frame with a counter nonce, as noise does (a noble cipher refuses to encrypt twice).
  for (let at = 0, n = 0; at + frame <= size; at += frame, n++) {
    new DataView(nonce.buffer).setUint32(4, n, true)
    chacha20poly1305(key, nonce).encrypt(bytes.subarray(at, at + frame))
  }
  const chachaMBps = size / 1e6 / ((performance.now() - t0) / 1000)
  return { encodeMBps, chachaMBps }
}

/** Roots of the same bytes on the page's thread and with the SDK's default hasher, which puts use. */
async function hashCheck(sizes: number[]): Promise<{ threads: number; results: PageHashCheck[] }> {
  const pool = await defaultHasher()
  const inline = inlineHasher()
  const results: PageHashCheck[] = []
  for (const size of sizes) {
    const bytes = patternBytes(size, size)
    const builder = pool.builder()
    for (let at = 0; at < size; at += 400_000) await builder.append(bytes.subarray(at, at + 400_000))
    results.push({
      size,
      inline: hex(await inline.root(bytes)),
      pool: hex(await pool.root(bytes)),
      builder: hex(await builder.finish())
    })
  }
  return { threads: pool.threads, results }
}

/** What tests and the bench call (page.evaluate); the UI below uses the same functions. */
const api: SherdPageApi = {
  ready: async () => {
    await client()
  },
  putRandom,
  getHash,
  getState: () => getState,
  resume: () => {
    paused?.resume()
    paused = undefined
  },
  stages,
  hashCheck
}
window.sherdPage = api

// The UI.
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const status = (id: string, text: string): void => {
  $(id).textContent = text
}
const bar = (id: string, done: number, total: number): void => {
  const progress = $<HTMLProgressElement>(id)
  progress.max = total
  progress.value = Math.min(done, total)
}

let pickedDigest: string | undefined

$<HTMLButtonElement>('put').addEventListener('click', () => {
  const file = $<HTMLInputElement>('file').files?.[0]
  if (file === undefined) {
    status('put-status', 'pick a file first')
    return
  }
  void (async () => {
    $<HTMLButtonElement>('put').disabled = true
    try {
      status('put-status', 'connecting to providers…')
      await client()
      // Shard bytes to upload: the file expanded by (k + m) / k.
      const total = Math.ceil((file.size * (config.k + config.m)) / config.k)
      status('put-status', `uploading ${(file.size / MIB).toFixed(1)} MiB…`)
      const { link, ms } = await putSource(file, (e) => {
        if (e.type === 'put:shard-stored') bar('put-progress', e.storedBytes, total)
        if (e.type === 'put:batch-sent') status('put-status', 'opening deals on chain…')
        if (e.type === 'put:manifest-stored') status('put-status', 'storing the manifest…')
      })
      bar('put-progress', total, total)
      pickedDigest = await sha256Hex(new Uint8Array(await file.arrayBuffer()))
      $<HTMLInputElement>('link-out').value = link
      $<HTMLInputElement>('link-in').value = link
      status(
        'put-status',
        `stored ${file.name} (${(file.size / MIB).toFixed(1)} MiB) in ${(ms / 1000).toFixed(1)} s, sha256 ${pickedDigest.slice(0, 16)}…`
      )
    } catch (err) {
      status('put-status', `put failed: ${(err as Error).message}`)
    } finally {
      $<HTMLButtonElement>('put').disabled = false
    }
  })()
})

$<HTMLButtonElement>('get').addEventListener('click', () => {
  const link = $<HTMLInputElement>('link-in').value.trim()
  if (!link.startsWith('sherd://')) {
    status('get-status', 'paste a sherd:// link')
    return
  }
  void (async () => {
    $<HTMLButtonElement>('get').disabled = true
    try {
      status('get-status', 'connecting to providers…')
      const c = await client()
      const chunks: Uint8Array[] = []
      const hasher = sha256.create()
      const t0 = performance.now()
      const reader = c
        .getStream(link, {
          onProgress: (e) => {
            if (e.type === 'get:progress') bar('get-progress', e.decodedBytes, e.totalBytes)
            if (e.type === 'get:manifest') status('get-status', `downloading ${(e.fileSize / MIB).toFixed(1)} MiB…`)
          }
        })
        .getReader()
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        chunks.push(value)
        hasher.update(value)
      }
      const digest = hex(hasher.digest())
      const blob = new Blob(chunks as Uint8Array<ArrayBuffer>[])
      const anchor = $<HTMLAnchorElement>('download')
      anchor.href = URL.createObjectURL(blob)
      anchor.hidden = false
      // Every shard was checked against its root and every chunk's AEAD tag on the way; the hash is for the eye.
      const match =
        pickedDigest === undefined
          ? ''
          : digest === pickedDigest
            ? ', identical to the file put here'
            : ', DIFFERENT from the file put here'
      status(
        'get-status',
        `verified ${(blob.size / MIB).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s, sha256 ${digest.slice(0, 16)}…${match}`
      )
    } catch (err) {
      status('get-status', `get failed: ${(err as Error).message}`)
    } finally {
      $<HTMLButtonElement>('get').disabled = false
    }
  })()
})

document.body.dataset.ready = 'true'

// The SDK in a real browser: the example page (examples/web, bundled by esbuild with the "browser" conditions)
// served on 127.0.0.1, driven by playwright-core in Debian's Chromium, against a devnet whose providers listen on
// WebSockets. Files are made and hashed inside the page; only hashes and links cross CDP.
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { merkleRoot } from '@sherd/proofs'
import { bundleSdk, patternBytes, servePage } from '@sherd/example-web'
import type { ServedPage } from '@sherd/example-web'
import { randomBytes, readAll, sha256, shardsOf, startNetwork } from './helpers.js'
import type { Network } from './helpers.js'

const CHROMIUM = process.env.SHERD_CHROMIUM ?? '/usr/bin/chromium'
const MIB = 2 ** 20
const K = 2
const M = 1
/** Generous: Chromium, four providers and anvil share two loaded cores, and noise runs in JavaScript in the page. */
const BIG_TIMEOUT_MS = 600_000

/**
 * Runs before the page's scripts: the page's real `Worker`, counting the workers made, the bytes posted to them
 * for hashing and the roots they answer, so a test can tell hashing ran on a worker and not on the page's thread.
 */
const COUNT_WORKERS = `
  const Native = window.Worker
  const stats = { workers: 0, bytesPosted: 0, roots: 0 }
  window.sherdWorkerStats = stats
  window.Worker = class extends Native {
    constructor(url, options) {
      super(url, options)
      stats.workers++
      this.addEventListener('message', (event) => {
        if (event.data !== null && typeof event.data === 'object' && event.data.root !== undefined) stats.roots++
      })
    }
    postMessage(message, transfer) {
      if (message !== null && typeof message === 'object' && message.bytes instanceof Uint8Array) stats.bytesPosted += message.bytes.length
      return super.postMessage(message, transfer)
    }
  }
`
interface WorkerStats {
  workers: number
  bytesPosted: number
  roots: number
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: the browser test drives a real browser. Install it with ` +
        '`apt-get update && apt-get install -y chromium` (Debian; .ci/run does this), or point SHERD_CHROMIUM at a Chromium binary'
    )
  }
}

describe('the browser build of the SDK', () => {
  it('bundles for a browser without Node built-ins, TCP or the erasure library fallback', async () => {
    const sdk = await bundleSdk()
    expect(sdk.inputs.some((f) => f.includes('packages/client/dist/platform/browser.js'))).toBe(true)
    expect(sdk.inputs.some((f) => f.includes('packages/erasure/dist/library-browser.js'))).toBe(true)
    // The hashing workers' script travels inlined in the SDK (a Blob URL at run time): no second file to serve.
    expect(sdk.inputs.some((f) => f.includes('packages/client/dist/pipeline/hash-pool-browser.js'))).toBe(true)
    expect(sdk.inputs.some((f) => f.includes('packages/client/dist/generated/hash-worker-source.js'))).toBe(true)
    const nodeOnly = sdk.inputs.filter((f) =>
      /^node:|@libp2p\/tcp|reed-solomon-erasure|platform\/node\.js|hash-pool-node|chunk-cipher-node|keeper\/|\/library\.js$|anvil\.js|ports\.js/.test(
        f
      )
    )
    expect(nodeOnly).toEqual([])
    expect(sdk.gzipBytes).toBeLessThan(sdk.bytes)
  })
})

describe('the SDK in Chromium', () => {
  let net: Network | undefined
  let served: ServedPage | undefined
  let browser: Browser | undefined
  let page: Page
  const pageErrors: string[] = []
  let pagePolicy: string | undefined

  beforeAll(async () => {
    requireChromium()
    // k + m + 1 providers: one can be killed and a put still finds k + m.
    net = await startNetwork({ providers: K + M + 1, client: { k: K, m: M } })
    served = await servePage(net.devnet, { k: K, m: M, periods: 64 })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    page = await browser.newPage()
    page.on('pageerror', (err) => {
      pageErrors.push(err.message)
    })
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text())
    })
    await page.addInitScript({ content: COUNT_WORKERS })
    const response = await page.goto(served.url)
    pagePolicy = response?.headers()['content-security-policy']
    await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: 60_000 })
    await page.evaluate(async () => {
      await window.sherdPage.ready()
    })
  }, BIG_TIMEOUT_MS)

  const workerStats = async (): Promise<WorkerStats> =>
    await page.evaluate(() => (window as unknown as { sherdWorkerStats: WorkerStats }).sherdWorkerStats)

  it(
    'hashes on Web Workers, with the roots of the inline hasher and of Node, and a put hashes there too',
    async () => {
      // The page runs under the policy docs/browser.md asks for: workers from blob: and nothing else.
      expect(pagePolicy).toContain('worker-src blob:')
      const sizes = [1, 64, 65_535, 65_536, 65_537, 3 * MIB + 1, 8 * MIB]
      const before = await workerStats()
      const check = await page.evaluate(async (s) => await window.sherdPage.hashCheck(s), sizes)
      const after = await workerStats()
      expect(check.threads).toBeGreaterThanOrEqual(1)
      expect(after.workers).toBe(check.threads)
      for (const result of check.results) {
        const expected = hex(merkleRoot(patternBytes(result.size, result.size)))
        expect(result.inline, `size ${result.size}`).toBe(expected)
        expect(result.pool, `size ${result.size}`).toBe(expected)
        expect(result.builder, `size ${result.size}`).toBe(expected)
      }
      // Every byte went to a worker twice (root and builder), and the workers answered every root.
      const total = sizes.reduce((a, b) => a + b, 0)
      expect(after.bytesPosted - before.bytesPosted).toBe(2 * total)
      expect(after.roots - before.roots).toBe(2 * sizes.length)

      // A put from the page hashes its k + m shards on the workers: at least the file × (k + m) / k.
      const size = 2 * MIB
      const put = await page.evaluate(async (n) => await window.sherdPage.putRandom(n), size)
      expect(put.link).toMatch(/^sherd:\/\//)
      const afterPut = await workerStats()
      expect(afterPut.bytesPosted - after.bytesPosted).toBeGreaterThanOrEqual((size * (K + M)) / K)
      expect(afterPut.workers).toBe(check.threads)
      expect(pageErrors).toEqual([])
    },
    BIG_TIMEOUT_MS
  )

  afterAll(async () => {
    await browser?.close()
    await served?.close()
    await net?.stop()
  })

  it(
    'puts a 64 MiB file made in the page and reads it back byte-identical in the page',
    async () => {
      const put = await page.evaluate(async (size) => await window.sherdPage.putRandom(size), 64 * MIB)
      expect(put.link).toMatch(/^sherd:\/\//)
      const got = await page.evaluate(async (link) => await window.sherdPage.getHash(link), put.link)
      expect(got.bytes).toBe(64 * MIB)
      expect(got.sha256).toBe(put.sha256)
      // The page's put journal is localStorage (the browser #platform): the entry was recorded and is stored.
      const journal = await page.evaluate(() =>
        Object.keys(localStorage)
          .filter((k) => k.startsWith('sherd/example-web/files/'))
          .map((k) => JSON.parse(localStorage.getItem(k)!) as { state: string; link?: string })
      )
      expect(journal.filter((e) => e.link === put.link).map((e) => e.state)).toEqual(['stored'])
      expect(pageErrors).toEqual([])
    },
    BIG_TIMEOUT_MS
  )

  it(
    'a file put in the page is read by the Node client, and one put by the Node client is read in the page',
    async () => {
      const fromPage = await page.evaluate(async (size) => await window.sherdPage.putRandom(size), 3 * MIB + 12_345)
      const read = await readAll(net!.client, fromPage.link)
      expect(read.length).toBe(3 * MIB + 12_345)
      expect(sha256(read)).toBe(fromPage.sha256)

      const bytes = randomBytes(5 * MIB + 777)
      const fromNode = await net!.client.put(bytes)
      const inPage = await page.evaluate(async (link) => await window.sherdPage.getHash(link), fromNode.link)
      expect(inPage.bytes).toBe(bytes.length)
      expect(inPage.sha256).toBe(sha256(bytes))
      expect(pageErrors).toEqual([])
    },
    BIG_TIMEOUT_MS
  )

  it(
    "stores a picked file and reads its link back through the page's form",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sherd-browser-'))
      try {
        const file = join(dir, 'picked.bin')
        const bytes = randomBytes(MIB + 4_321)
        await writeFile(file, bytes)
        await page.setInputFiles('#file', file)
        await page.click('#put')
        await page.waitForFunction(
          () => (document.getElementById('link-out') as HTMLInputElement).value.startsWith('sherd://'),
          undefined,
          { timeout: 300_000 }
        )
        const link = await page.inputValue('#link-out')
        expect(sha256(await readAll(net!.client, link))).toBe(sha256(bytes))
        await page.click('#get')
        await page.waitForFunction(
          () => document.getElementById('get-status')?.textContent?.startsWith('verified') === true,
          undefined,
          { timeout: 300_000 }
        )
        expect(await page.textContent('#get-status')).toContain('identical to the file put here')
        expect(await page.$eval('#get-progress', (el) => (el as HTMLProgressElement).value)).toBe(bytes.length)
        expect(pageErrors).toEqual([])
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    },
    BIG_TIMEOUT_MS
  )

  it(
    'reads a file from parity when a provider is killed mid-get',
    async () => {
      const devnet = net!.devnet
      // Many small segments: the get is paused after its first chunk, before most segments are fetched.
      const bytes = randomBytes(12 * MIB)
      const put = await net!.client.put(bytes, { segmentSize: MIB })
      const shards = shardsOf(devnet, put)
      const last = put.manifest.segments.length - 1
      // A provider holding a data shard of the last segment: without it that segment needs its parity shard.
      const victim = shards.find((s) => s.segmentIndex === last && s.shardIndex < K)!.provider

      const reading = page.evaluate(
        async (link) => await window.sherdPage.getHash(link, { pauseAfterFirstChunk: true }),
        put.link
      )
      await page.waitForFunction(() => window.sherdPage.getState() === 'paused', undefined, { timeout: 120_000 })
      await victim.kill()
      expect(victim.state).toBe('killed')
      await page.evaluate(() => {
        window.sherdPage.resume()
      })
      const got = await reading
      expect(got.bytes).toBe(bytes.length)
      expect(got.sha256).toBe(sha256(bytes))
      expect(got.parityUsed).toBe(true)
    },
    BIG_TIMEOUT_MS
  )
})

/**
 * The SDK in a web page against the SDK in Node, on one devnet in one run: the example page (examples/web, bundled
 * by esbuild for the browser) in Debian's Chromium, driven over the DevTools pipe (page-driver.ts), puts and gets
 * the same sizes as a Node client in this process, run by run alternately, so `browser put ÷ node put` and
 * `browser get ÷ node get` are ratios of adjacent runs. Also: the gzipped size of the SDK bundled for a browser,
 * the page's stage speeds (the offline pipeline, and ChaCha20-Poly1305 in JavaScript, which noise encrypts every
 * transport byte with in a page), and a CPU profile of one more page get by stage (page-profile.ts).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createClient } from '@sherd/client'
import type { SherdClient } from '@sherd/client'
import { startDevnet } from '@sherd/devnet'
import type { Devnet } from '@sherd/devnet'
import { bundleSdk, servePage } from '@sherd/example-web'
import type { ServedPage } from '@sherd/example-web'
import { MIB, pairedRatio, summarize } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'
import { openPage } from '../page-driver.js'
import type { DrivenPage } from '../page-driver.js'
import { inlineSourceMap, stageShares } from '../page-profile.js'
import type { PageGetResult, PagePutResult } from '@sherd/example-web'

const CHROMIUM = process.env.SHERD_CHROMIUM ?? '/usr/bin/chromium'
/** The system suite's network: one shard per provider. */
const PROVIDERS = 6
const K = 4
const M = 2
const DEAL_PERIODS = 2
const PROVIDER_CAPACITY_BYTES = 8 * 1024 * MIB

interface Run {
  wallMs: number
  cpuMs: number
}

/** Wall time of a Node call and this process's CPU time during it. */
async function timedNode(fn: () => Promise<unknown>): Promise<Run> {
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  await fn()
  const used = process.cpuUsage(cpu)
  return { wallMs: performance.now() - t0, cpuMs: (used.user + used.system) / 1000 }
}

async function drain(client: SherdClient, link: string): Promise<number> {
  let bytes = 0
  for await (const chunk of client.get(link)) bytes += chunk.length
  return bytes
}

export const browserSuite: Suite = {
  name: 'browser',
  description:
    'SDK in Chromium vs Node on one devnet (put/get MB/s, ratios), gzipped browser bundle, page stage speeds',
  async run(ctx): Promise<SuiteResult> {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set SHERD_CHROMIUM`)
    }
    const sizeMib = ctx.sizeMib ?? (ctx.full ? 256 : 64)
    const size = sizeMib * MIB
    const runs = ctx.full ? 5 : 3
    const measurements: Measurement[] = []

    ctx.log('bundling the SDK for a browser (esbuild, minified)')
    const sdk = await bundleSdk()

    let devnet: Devnet | undefined
    let served: ServedPage | undefined
    let page: DrivenPage | undefined
    let client: SherdClient | undefined
    try {
      ctx.log(`starting a devnet of ${PROVIDERS} providers (k=${K}, m=${M}) with WebSocket listeners`)
      devnet = await startDevnet({ providers: PROVIDERS, capacityBytes: PROVIDER_CAPACITY_BYTES, handleSignals: false })
      client = createClient({
        rpcUrl: devnet.rpcUrl,
        contract: devnet.market,
        account: devnet.client.privateKey,
        bootstrap: devnet.bootstrap,
        k: K,
        m: M,
        periods: DEAL_PERIODS
      })
      await client.start()
      served = await servePage(devnet, { k: K, m: M, periods: DEAL_PERIODS, minify: true })
      // Driven without playwright-core, whose Network instrumentation relays every WebSocket frame (page-driver.ts).
      const tab = await openPage(CHROMIUM, served.url)
      page = tab
      const startBy = Date.now() + 60_000
      while (!(await tab.evaluate<boolean>("document.body?.dataset.ready === 'true'"))) {
        if (Date.now() > startBy) throw new Error('the example page did not get ready within 60 s')
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      await tab.evaluate('window.sherdPage.ready()')
      const pagePut = (n: number): string => `window.sherdPage.putRandom(${n})`
      const pageGet = (link: string): string => `window.sherdPage.getHash(${JSON.stringify(link)}, { hash: false })`

      // First: it is quick, and a failure here should not cost the transfer runs.
      ctx.log('page stage speeds')
      const stages = await tab.evaluate<{ encodeMBps: number; chachaMBps: number }>(
        `window.sherdPage.stages(${Math.min(size, 64 * MIB)})`
      )

      const nodeBytes = new Uint8Array(randomBytes(size))
      const runPut = async (): Promise<{ node: Run; page: Run; nodeLink: string; pageLink: string }> => {
        let nodeLink = ''
        const node = await timedNode(async () => {
          nodeLink = (await client!.put(nodeBytes)).link
        })
        // The page times its own put (its random source is made before the clock starts).
        const cpu = process.cpuUsage()
        const put = await tab.evaluate<PagePutResult>(pagePut(size))
        const used = process.cpuUsage(cpu)
        return { node, page: { wallMs: put.ms, cpuMs: (used.user + used.system) / 1000 }, nodeLink, pageLink: put.link }
      }
      const runGet = async (nodeLink: string, pageLink: string): Promise<{ node: Run; page: Run }> => {
        const node = await timedNode(async () => {
          if ((await drain(client!, nodeLink)) !== size) throw new Error('the Node get read a wrong length')
        })
        const cpu = process.cpuUsage()
        const got = await tab.evaluate<PageGetResult>(pageGet(pageLink))
        const used = process.cpuUsage(cpu)
        if (got.bytes !== size) throw new Error(`the page read ${got.bytes} bytes of ${size}`)
        return { node, page: { wallMs: got.ms, cpuMs: (used.user + used.system) / 1000 } }
      }

      ctx.log(`warm-up: one ${sizeMib} MiB put and get each way`)
      const warm = await runPut()
      await runGet(warm.nodeLink, warm.pageLink)
      let lastPageLink = warm.pageLink
      const puts = { node: [] as Run[], page: [] as Run[] }
      const gets = { node: [] as Run[], page: [] as Run[] }
      for (let i = 0; i < runs; i++) {
        ctx.log(`run ${i + 1}/${runs}: ${sizeMib} MiB put and get, Node then page`)
        const put = await runPut()
        lastPageLink = put.pageLink
        puts.node.push(put.node)
        puts.page.push(put.page)
        const get = await runGet(put.nodeLink, put.pageLink)
        gets.node.push(get.node)
        gets.page.push(get.page)
      }
      // One more page get, untimed, with the page's CPU profiler on: where the page's thread spends the get.
      ctx.log(`profiling one more ${sizeMib} MiB page get`)
      const map = inlineSourceMap(await (await fetch(new URL('app.js', served.url))).text())
      const profiled = await tab.profile<PageGetResult>(pageGet(lastPageLink))
      const shares = stageShares(profiled.profile, map)
      const busy = shares.filter((x) => !x.stage.startsWith('idle'))
      const idle = shares.find((x) => x.stage.startsWith('idle'))?.share ?? 0
      const row = (name: string, r: Run[]): Measurement =>
        summarize(
          name,
          r.map((x) => x.wallMs),
          r.map((x) => x.cpuMs),
          size
        )
      measurements.push(
        row(`node put ${sizeMib} MiB`, puts.node),
        row(`browser put ${sizeMib} MiB`, puts.page),
        row(`node get ${sizeMib} MiB`, gets.node),
        row(`browser get ${sizeMib} MiB`, gets.page)
      )
      // Time ratios node ÷ browser are speed ratios browser ÷ node.
      const putRatio = pairedRatio(
        puts.node.map((r) => r.wallMs),
        puts.page.map((r) => r.wallMs)
      )
      const getRatio = pairedRatio(
        gets.node.map((r) => r.wallMs),
        gets.page.map((r) => r.wallMs)
      )

      return {
        measurements,
        summary: {
          'browser put ÷ node put': +putRatio.toFixed(2),
          'browser get ÷ node get': +getRatio.toFixed(2),
          'SDK bundle (minified)': `${(sdk.bytes / 1024).toFixed(0)} KiB`,
          'SDK bundle (gzipped)': `${(sdk.gzipBytes / 1024).toFixed(0)} KiB`,
          'page encode (AES-GCM + erasure + Merkle), MB/s': +stages.encodeMBps.toFixed(0),
          'page ChaCha20-Poly1305 (noise, JavaScript), MB/s': +stages.chachaMBps.toFixed(0),
          'profiled page get, MB/s': +(size / 1e6 / (profiled.value.ms / 1000)).toFixed(1),
          'page get: thread idle': `${(idle * 100).toFixed(0)} %`,
          'page get: busiest stage': `${busy[0]?.stage ?? 'none'} (${((busy[0]?.share ?? 0) * 100).toFixed(0)} %)`,
          ...Object.fromEntries(
            shares.slice(0, 8).map((x) => [`page get stage: ${x.stage}`, `${(x.share * 100).toFixed(1)} %`])
          )
        },
        notes: [
          `${PROVIDERS} providers, k=${K}, m=${M}, ${sizeMib} MiB files; each run puts and gets with the Node client, then with the page`,
          'the page times its own put and get (performance.now around client.put / the getStream read loop); its random source is made before the clock starts and the get is not hashed',
          "cpuMedianMs of the browser rows is this Node process only (the page runs in Chromium); Chromium's own CPU is not counted",
          `every transport byte is sealed by noise with ChaCha20-Poly1305: ${stages.chachaMBps.toFixed(0)} MB/s in the page (JavaScript, @noble/ciphers) against node:crypto in Node; ` +
            `a put moves (k+m)/k = ${((K + M) / K).toFixed(2)}× the file through it, a get 1×`,
          "the page is driven over the DevTools pipe with Runtime only (page-driver.ts): playwright-core's Network domain would relay every WebSocket frame to the driver and slow the page's get by ~40 %",
          `page get stages: self time of one more (untimed) get under Chromium's sampling profiler, as shares of its wall time, by module (page-profile.ts): ${shares
            .map((x) => `${x.stage} ${(x.share * 100).toFixed(1)} %`)
            .join('; ')}`
        ]
      }
    } finally {
      await page?.close()
      await served?.close()
      await client?.stop()
      await devnet?.stop()
    }
  }
}

/**
 * Peak memory of the networked client on a large file. Runs `sherd-devnet` as a child process (anvil + N
 * `sherd-node` processes: none of the network's memory is counted here) and reads its devnet.json, then in this
 * process, which holds nothing but the client: put of a generated file (pseudo-random, streamed),
 * then get with the output's SHA-256 checked against the input's. Each phase reports its peak RSS, sampled every
 * 20 ms (and getrusage's lifetime maximum).
 *
 *   npx tsc -b bench && npx node bench/dist/rss-client.js [--size-mib 1024] [--providers 6] [--segment-mib 256] [--skip-get]
 *
 * Without --segment-mib the client's default applies (a put of known size streams 256 MiB segments). The figures go
 * to bench/results/rss-client.json (keys `put peak RSS MiB`, `get peak RSS MiB`).
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Hex } from 'viem'
import { createClient } from '@sherd/client'
import { incompressibleBytes } from './incompressible.js'

const MiB = 2 ** 20
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    providers: { type: 'string', default: '6' },
    'segment-mib': { type: 'string' },
    'skip-get': { type: 'boolean', default: false }
  }
})
const sizeBytes = Number(values['size-mib']) * MiB
const segmentSize = values['segment-mib'] === undefined ? undefined : Number(values['segment-mib']) * MiB
const results: Record<string, number | string> = { 'file MiB': Number(values['size-mib']), providers: Number(values.providers) }


let peakRss = 0
let atPeak: NodeJS.MemoryUsage | undefined
const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss()
  if (rss > peakRss) { peakRss = rss; if (process.env.RSS_DETAIL === '1') atPeak = process.memoryUsage() }
}, 20)
const mib = (bytes: number): string => (bytes / MiB).toFixed(0)
function phaseEnd (name: string, started: number): void {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
  results[`${name} peak RSS MiB`] = Math.round(peakRss / MiB)
  results[`${name} MB/s`] = Number((sizeBytes / 1e6 / ((performance.now() - started) / 1000)).toFixed(1))
  const seconds = (performance.now() - started) / 1000
  console.log(`${name}: ${mib(sizeBytes)} MiB in ${seconds.toFixed(1)} s = ${(sizeBytes / 1e6 / seconds).toFixed(1)} MB/s, ` +
    `peak client RSS ${mib(peakRss)} MiB (getrusage lifetime max ${mib(process.resourceUsage().maxRSS * 1024)} MiB)`)
  if (atPeak !== undefined) console.log(`  at peak: heap ${mib(atPeak.heapUsed)}/${mib(atPeak.heapTotal)} MiB, external ${mib(atPeak.external)} MiB, arrayBuffers ${mib(atPeak.arrayBuffers)} MiB`)
  peakRss = 0
  atPeak = undefined
}

class SkipGet extends Error {}

/** The devnet starts N processes on 2 shared cores: allow it a few minutes. */
const DEVNET_START_TIMEOUT_MS = 300_000
const dir = await mkdtemp(join(tmpdir(), 'sherd-rss-client-'))
const devnetBin = fileURLToPath(new URL('../../packages/devnet/bin/sherd-devnet.js', import.meta.url))
const devnet = spawn(process.execPath, [devnetBin, '--providers', String(values.providers), '--dir', dir], { stdio: ['ignore', 'ignore', 'inherit'] })
const devnetExited = new Promise<void>((resolve) => devnet.once('exit', () => { resolve() }))
let info: { rpcUrl: string, market: string, client: { privateKey: Hex }, bootstrap: string[] } | undefined
for (const started = Date.now(); info === undefined; await new Promise((resolve) => setTimeout(resolve, 500))) {
  if (devnet.exitCode !== null) throw new Error('sherd-devnet exited before it was ready (is the repository built? npm run build)')
  if (Date.now() - started > DEVNET_START_TIMEOUT_MS) throw new Error('sherd-devnet did not write devnet.json in time')
  info = await readFile(join(dir, 'devnet.json'), 'utf8').then((t) => JSON.parse(t) as typeof info, () => undefined)
}
const client = createClient({
  rpcUrl: info.rpcUrl, contract: info.market, account: info.client.privateKey, bootstrap: info.bootstrap,
  ...(segmentSize === undefined ? {} : { segmentSize }), periods: 4, waitForActivation: false
})
try {
  await client.start()
  results['RSS at start MiB'] = Math.round(process.memoryUsage.rss() / MiB)
  console.log(`file ${mib(sizeBytes)} MiB, segment ${segmentSize === undefined ? 'default' : `${mib(segmentSize)} MiB`}, ${values.providers} provider processes, RSS at start ${mib(process.memoryUsage.rss())} MiB`)
  const inputHash = createHash('sha256')
  peakRss = 0
  let started = performance.now()
  const put = await client.put(incompressibleBytes(sizeBytes, inputHash), { expectedSize: sizeBytes })
  phaseEnd('put', started)
  console.log(`  ${put.deals.length} deals, ${put.manifest.segments.length} segments of ${mib(put.manifest.segmentSize)} MiB, escrow ${put.escrow}, link ${put.link}`)
  results.deals = put.deals.length
  results['segment MiB'] = put.manifest.segmentSize / MiB
  if (values['skip-get'] === true) throw new SkipGet()

  const outputHash = createHash('sha256')
  started = performance.now()
  const gc = (globalThis as { gc?: () => void }).gc
  for await (const part of client.get(put.link)) { outputHash.update(part); if (process.env.RSS_GC === '1') gc?.() }
  phaseEnd('get', started)
  const same = inputHash.digest('hex') === outputHash.digest('hex')
  console.log(same ? 'output SHA-256 matches input' : 'OUTPUT DIFFERS FROM INPUT')
  if (!same) process.exitCode = 1
} catch (err) {
  if (!(err instanceof SkipGet)) throw err
} finally {
  results.date = new Date().toISOString()
  await mkdir(new URL('../results/', import.meta.url), { recursive: true })
  await writeFile(new URL('../results/rss-client.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`)
  clearInterval(sampler)
  await client.stop()
  devnet.kill('SIGTERM')
  await devnetExited
  await rm(dir, { recursive: true, force: true })
}

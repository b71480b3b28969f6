/**
 * Peak memory of the networked client on a large file. Runs `sherd-devnet` as a child process (anvil + N
 * `sherd-node` processes: none of the network's memory is counted here) and reads its devnet.json, then in this
 * process, which holds nothing but the client: put of a generated file (pseudo-random, streamed), sampled every
 * 20 ms (and getrusage's lifetime maximum). Then the get runs as a person runs it: `sherd get <link>` (the CLI's
 * bin, in a process of its own, so nothing the put left behind counts), its stdout hashed here and checked against
 * the input's SHA-256; its peak is the kernel's high-water mark (VmHWM in /proc/<pid>/status), read until it exits.
 *
 *   npx tsc -b bench && npx node bench/dist/rss-client.js [--size-mib 1024] [--providers 6] [--segment-mib N] [--k 4 --m 2]
 *
 * Without --segment-mib the client's default applies (a put of known size streams segments of that size).
 *
 * Writes bench/results/rss-client.json: { "put peak RSS MiB", "get peak RSS MiB", sizeMiB, k, m, ... }.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
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
    k: { type: 'string' },
    m: { type: 'string' }
  }
})
const sizeBytes = Number(values['size-mib']) * MiB
const segmentSize = values['segment-mib'] === undefined ? undefined : Number(values['segment-mib']) * MiB


let peakRss = 0
let atPeak: NodeJS.MemoryUsage | undefined
const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss()
  if (rss > peakRss) { peakRss = rss; if (process.env.RSS_DETAIL === '1') atPeak = process.memoryUsage() }
}, 20)
const mib = (bytes: number): string => (bytes / MiB).toFixed(0)
function phaseEnd (name: string, started: number): void {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
  report[`${name} peak RSS MiB`] = Math.round(peakRss / MiB)
  const seconds = (performance.now() - started) / 1000
  console.log(`${name}: ${mib(sizeBytes)} MiB in ${seconds.toFixed(1)} s = ${(sizeBytes / 1e6 / seconds).toFixed(1)} MB/s, ` +
    `peak client RSS ${mib(peakRss)} MiB (getrusage lifetime max ${mib(process.resourceUsage().maxRSS * 1024)} MiB)`)
  if (atPeak !== undefined) console.log(`  at peak: heap ${mib(atPeak.heapUsed)}/${mib(atPeak.heapTotal)} MiB, external ${mib(atPeak.external)} MiB, arrayBuffers ${mib(atPeak.arrayBuffers)} MiB`)
  peakRss = 0
  atPeak = undefined
}

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
  ...(segmentSize === undefined ? {} : { segmentSize }), periods: 4, waitForActivation: false,
  ...(values.k === undefined ? {} : { k: Number(values.k) }), ...(values.m === undefined ? {} : { m: Number(values.m) })
})
const report: Record<string, number | string> = { sizeMiB: Number(values['size-mib']), segmentMiB: values['segment-mib'] === undefined ? 'default' : Number(values['segment-mib']), providers: Number(values.providers) }
try {
  await client.start()
  console.log(`file ${mib(sizeBytes)} MiB, segment ${segmentSize === undefined ? 'default' : `${mib(segmentSize)} MiB`}, ${values.providers} provider processes, RSS at start ${mib(process.memoryUsage.rss())} MiB`)
  const inputHash = createHash('sha256')
  peakRss = 0
  let started = performance.now()
  const put = await client.put(incompressibleBytes(sizeBytes, inputHash), { expectedSize: sizeBytes })
  phaseEnd('put', started)
  console.log(`  ${put.deals.length} deals, escrow ${put.escrow}, link ${put.link}`)

  const outputHash = createHash('sha256')
  started = performance.now()
  const sherdBin = fileURLToPath(new URL('../../packages/client/bin/sherd.js', import.meta.url))
  const env = {
    PATH: process.env.PATH ?? '', XDG_CONFIG_HOME: dir, XDG_CACHE_HOME: dir, XDG_DATA_HOME: dir,
    SHERD_RPC_URL: info.rpcUrl, SHERD_CONTRACT: info.market, SHERD_BOOTSTRAP: info.bootstrap.join(',')
  }
  // The bin itself, not `node <bin>`: its shebang's V8 flags (the young generation's cap) are part of what a person runs.
  const getter = spawn(sherdBin, ['get', put.link], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let getterPeakKiB = 0
  const readHwm = async (): Promise<void> => {
    const status = await readFile(`/proc/${getter.pid}/status`, 'utf8').catch(() => '')
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
    if (kib > getterPeakKiB) getterPeakKiB = kib
  }
  const hwmSampler = setInterval(() => { void readHwm() }, 20)
  let gotBytes = 0
  getter.stdout.on('data', (chunk: Buffer) => { outputHash.update(chunk); gotBytes += chunk.byteLength })
  const [code] = await once(getter, 'exit') as [number | null]
  clearInterval(hwmSampler)
  const seconds = (performance.now() - started) / 1000
  console.log(`get (sherd get, own process): ${mib(gotBytes)} MiB in ${seconds.toFixed(1)} s = ${(gotBytes / 1e6 / seconds).toFixed(1)} MB/s, ` +
    `peak RSS ${mib(getterPeakKiB * 1024)} MiB (VmHWM, sampled every 20 ms until exit), exit code ${code}`)
  if (code !== 0) process.exitCode = 1
  report['get peak RSS MiB'] = Math.round(getterPeakKiB / 1024)
  report['get MB/s'] = +(gotBytes / 1e6 / seconds).toFixed(1)
  const same = inputHash.digest('hex') === outputHash.digest('hex')
  console.log(same ? 'output SHA-256 matches input' : 'OUTPUT DIFFERS FROM INPUT')
  if (!same) process.exitCode = 1
  report.k = put.manifest.k
  report.m = put.manifest.m
  report.outputMatches = same ? 'yes' : 'no'
  const results = fileURLToPath(new URL('../results/', import.meta.url))
  await mkdir(results, { recursive: true })
  await writeFile(join(results, 'rss-client.json'), JSON.stringify(report, null, 2) + '\n')
} finally {
  clearInterval(sampler)
  await client.stop()
  devnet.kill('SIGTERM')
  await devnetExited
  await rm(dir, { recursive: true, force: true })
}

/**
 * The whole system on a devnet (@sherd/devnet: anvil, the contracts, N sherd-node processes on 127.0.0.1) driven by
 * the SDK (@sherd/client) in this process: put and get throughput at 6 providers (4 + 2) and 12 (8 + 4), each
 * paired run by run with the raw throughput of one libp2p stream (raw-stream.ts: a client-configured host here, a
 * provider-configured host in a child process), put/get latency of 1 MiB, put throughput against file size, and the
 * client's peak RSS in a process of its own against its idle RSS.
 */
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createClient } from '@sherd/client'
import type { SherdClient } from '@sherd/client'
import { startDevnet } from '@sherd/devnet'
import type { Devnet } from '@sherd/devnet'
import { chartRow, measure, measurePaired, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'
import type { Chart } from '../plot.js'
import { startRawStreamPair } from '../system/raw-stream.js'
import type { RawStreamPair } from '../system/raw-stream.js'

/** Provider counts and the code each uses: k + m = the provider count, so every shard has its own provider. */
const NETWORKS: ReadonlyArray<{ providers: number, k: number, m: number }> = [
  { providers: 6, k: 4, m: 2 },
  { providers: 12, k: 8, m: 4 }
]
/** The issue's sizes: 64 MiB always, 1 GiB with --full; 16 MiB gives the size curve a middle point. */
const QUICK_SIZES_MIB = [64]
const FULL_SIZES_MIB = [16, 64, 1024]
const LATENCY_MIB = 1
/**
 * Deal length in periods: short, since throughput does not depend on it and every period of every deal binds the
 * providers' stake (DEFAULT_STAKE covers ~10,000 MiB·periods each); 1 GiB puts at 16 periods would exhaust it.
 */
const DEAL_PERIODS = 2
/** Room for every put of a --full run (1 GiB × (k+m)/k per put, several puts) on each provider. */
const PROVIDER_CAPACITY_BYTES = 16 * 1024 * MIB
/** Bytes of random data cycled to make large sources without holding them (encryption makes each put unique). */
const SOURCE_BLOCK_BYTES = 64 * MIB

const execFileAsync = promisify(execFile)

function source (block: Uint8Array, total: number): Uint8Array | AsyncIterable<Uint8Array> {
  if (total <= block.length) return block.subarray(0, total)
  return (async function * () {
    for (let at = 0; at < total; at += MIB) {
      const offset = at % block.length
      yield block.subarray(offset, offset + Math.min(MIB, total - at))
    }
  })()
}

async function drain (client: SherdClient, link: string, expected: Uint8Array | undefined, bytes: number): Promise<void> {
  let n = 0
  for await (const chunk of client.get(link)) {
    if (expected !== undefined && Buffer.compare(chunk, expected.subarray(n, n + chunk.length)) !== 0) {
      throw new Error(`get returned different bytes at offset ${n}`)
    }
    n += chunk.length
  }
  if (n !== bytes) throw new Error(`get returned ${n} of ${bytes} bytes`)
}

/** Where one put's time went, from its progress events: shards placed, deals on chain, manifest stored. */
interface PutPhases { placeMs: number, chainMs: number, totalMs: number }

/** Puts with phase timing; `phases` gets one entry per call (warm-up calls included, the caller takes the last runs). */
async function timedPut (client: SherdClient, data: Uint8Array | AsyncIterable<Uint8Array>, bytes: number, phases: PutPhases[]): Promise<string> {
  const start = performance.now()
  let placed = start
  let chain = start
  const { link } = await client.put(data, {
    expectedSize: bytes,
    onProgress: (e) => {
      if (e.type === 'put:shard-stored') placed = performance.now()
      else if (e.type === 'put:approved' || e.type === 'put:deal-opened' || e.type === 'put:deal-failed') chain = performance.now()
    }
  })
  const end = performance.now()
  phases.push({ placeMs: placed - start, chainMs: Math.max(0, chain - placed), totalMs: end - start })
  return link
}

/** Median share of each put phase over the last `runs` calls, as measurement extras. */
function phaseShares (phases: PutPhases[], runs: number): Record<string, string> {
  const last = phases.slice(-runs)
  const median = (xs: number[]): number => { const v = [...xs].sort((a, b) => a - b); const h = v.length >> 1; return v.length % 2 === 1 ? v[h]! : (v[h - 1]! + v[h]!) / 2 }
  const share = (pick: (p: PutPhases) => number): string => `${(100 * median(last.map((p) => pick(p) / p.totalMs))).toFixed(0)} %`
  return {
    'encode+upload': share((p) => p.placeMs),
    'deals on chain': share((p) => p.chainMs),
    'manifest+other': share((p) => p.totalMs - p.placeMs - p.chainMs)
  }
}

interface RssReport { idleMiB: number, putPeakMiB: number, getPeakMiB: number, maxRssMiB: number, putMs: number, getMs: number }

async function clientRss (devnet: Devnet, sizeBytes: number, k: number, m: number): Promise<RssReport> {
  const script = fileURLToPath(new URL('../system/client-rss.js', import.meta.url))
  const args = {
    rpcUrl: devnet.rpcUrl, contract: devnet.market, account: devnet.client.privateKey, bootstrap: devnet.bootstrap,
    sizeBytes, k, m, periods: DEAL_PERIODS
  }
  const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', script, JSON.stringify(args)], { maxBuffer: MIB, timeout: 30 * 60_000 })
  return JSON.parse(stdout.trim().split('\n').pop()!) as RssReport
}

export const systemSuite: Suite = {
  name: 'system',
  description: 'devnet put/get throughput (6 and 12 providers) vs one raw libp2p stream, 1 MiB latency, client peak RSS',
  async run ({ full, log, signal }): Promise<SuiteResult> {
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const throughputRows: Array<Record<string, number | string>> = []
    const scalingRows: Array<Record<string, number | string>> = []
    const sizes = full ? FULL_SIZES_MIB : QUICK_SIZES_MIB
    const block = new Uint8Array(randomBytes(SOURCE_BLOCK_BYTES))
    let raw: RawStreamPair | undefined
    let devnet: Devnet | undefined
    let client: SherdClient | undefined
    const failures: string[] = []
    try {
      log('raw libp2p stream peer')
      raw = await startRawStreamPair()
      const r = raw
      for (const { providers, k, m } of NETWORKS) {
        const net = `${providers} providers (${k},${m})`
        try {
          log(`devnet with ${providers} providers`)
          const started = performance.now()
          // Ctrl-C stops the providers and anvil (the devnet's own signal handling) instead of leaving them running.
          devnet = await startDevnet({ providers, capacityBytes: PROVIDER_CAPACITY_BYTES, ...(signal === undefined ? {} : { signal }) })
          summary[`devnet start, ${providers} providers (s)`] = +((performance.now() - started) / 1000).toFixed(1)
          client = createClient({
            rpcUrl: devnet.rpcUrl, contract: devnet.market, account: devnet.client.privateKey, bootstrap: devnet.bootstrap,
            k, m, periods: DEAL_PERIODS, waitForActivation: false
          })
          await client.start()
          const c = client

          // Latency of a small file: dominated by round trips and by waiting for the deal transactions' blocks.
          log(`put/get ${LATENCY_MIB} MiB, ${net}`)
          const small = block.subarray(0, LATENCY_MIB * MIB)
          let smallLink = ''
          const smallPhases: PutPhases[] = []
          const smallRuns = full ? 7 : 5
          const putSmall = await measurePaired(
            { name: `raw stream upload ${LATENCY_MIB} MiB`, fn: () => r.upload(small.length) },
            { name: `put ${LATENCY_MIB} MiB, ${net}`, fn: async () => { smallLink = await timedPut(c, small, small.length, smallPhases) } },
            { bytes: small.length, runs: smallRuns, warmup: 1 })
          putSmall.b.extra = phaseShares(smallPhases, smallRuns)
          const getSmall = await measurePaired(
            { name: `raw stream download ${LATENCY_MIB} MiB`, fn: () => r.download(small.length) },
            { name: `get ${LATENCY_MIB} MiB, ${net}`, fn: () => drain(c, smallLink, small, small.length) },
            { bytes: small.length, runs: full ? 7 : 5, warmup: 1 })
          measurements.push(putSmall.b, getSmall.b)
          if (providers === NETWORKS[0]!.providers) measurements.push(putSmall.a, getSmall.a)
          summary[`put ${LATENCY_MIB} MiB latency, ${net} (ms)`] = Math.round(putSmall.b.medianMs)
          summary[`get ${LATENCY_MIB} MiB latency, ${net} (ms)`] = Math.round(getSmall.b.medianMs)
          scalingRows.push(chartRow(putSmall.b, { size: LATENCY_MIB, series: `put, ${net}` }), chartRow(getSmall.b, { size: LATENCY_MIB, series: `get, ${net}` }))
          if (providers === NETWORKS[0]!.providers) {
            scalingRows.push(chartRow(putSmall.a, { size: LATENCY_MIB, series: 'raw stream upload' }), chartRow(getSmall.a, { size: LATENCY_MIB, series: 'raw stream download' }))
          }

          for (const mib of sizes) {
            const bytes = mib * MIB
            const runs = mib >= 1024 ? 2 : full ? 5 : 3
            const warmup = mib >= 1024 ? 0 : 1
            let link = ''
            const phases: PutPhases[] = []
            log(`put ${mib} MiB, ${net}`)
            const put = await measurePaired(
              { name: `raw stream upload ${mib} MiB`, fn: () => r.upload(bytes) },
              { name: `put ${mib} MiB, ${net}`, fn: async () => { link = await timedPut(c, source(block, bytes), bytes, phases) } },
              { bytes, runs, warmup })
            put.b.extra = { 'put÷raw stream': put.ratio, ...phaseShares(phases, runs) }
            log(`get ${mib} MiB, ${net}`)
            const get = await measurePaired(
              { name: `raw stream download ${mib} MiB`, fn: () => r.download(bytes) },
              { name: `get ${mib} MiB, ${net}`, fn: () => drain(c, link, bytes <= block.length ? block : undefined, bytes) },
              { bytes, runs, warmup })
            get.b.extra = { 'get÷raw stream': get.ratio }
            measurements.push(put.b, put.a, get.b, get.a)
            summary[`put ${mib} MiB, ${net}: MB/s`] = +put.b.mbPerSec!.toFixed(1)
            summary[`put ${mib} MiB, ${net} ÷ raw stream`] = +put.ratio.toFixed(3)
            summary[`get ${mib} MiB, ${net}: MB/s`] = +get.b.mbPerSec!.toFixed(1)
            summary[`get ${mib} MiB, ${net} ÷ raw stream`] = +get.ratio.toFixed(3)
            if (mib === 64 || mib === 1024) {
              throughputRows.push(
                chartRow(put.b, { config: `put ${mib} MiB, ${providers} prov.`, what: 'sherd (client → providers)' }),
                chartRow(put.a, { config: `put ${mib} MiB, ${providers} prov.`, what: 'one raw libp2p stream' }),
                chartRow(get.b, { config: `get ${mib} MiB, ${providers} prov.`, what: 'sherd (client → providers)' }),
                chartRow(get.a, { config: `get ${mib} MiB, ${providers} prov.`, what: 'one raw libp2p stream' }))
            }
            scalingRows.push(chartRow(put.b, { size: mib, series: `put, ${net}` }), chartRow(get.b, { size: mib, series: `get, ${net}` }))
            if (providers === NETWORKS[0]!.providers) {
              scalingRows.push(chartRow(put.a, { size: mib, series: 'raw stream upload' }), chartRow(get.a, { size: mib, series: 'raw stream download' }))
            }
          }
          await client.stop()
          client = undefined

          if (providers === NETWORKS[0]!.providers) {
            const rssMib = full ? 1024 : 64
            log(`client peak RSS, put + get of ${rssMib} MiB in a child process`)
            const rss = await clientRss(devnet, rssMib * MIB, k, m)
            summary[`client RSS idle (started, connected) MiB`] = Math.round(rss.idleMiB)
            summary[`client peak RSS during put ${rssMib} MiB, ${net} MiB`] = Math.round(rss.putPeakMiB)
            summary[`client peak RSS during get ${rssMib} MiB, ${net} MiB`] = Math.round(rss.getPeakMiB)
            summary['client peak RSS ÷ idle RSS'] = +(Math.max(rss.putPeakMiB, rss.getPeakMiB) / rss.idleMiB).toFixed(2)
          }
          await devnet.stop()
          devnet = undefined
        } catch (err) {
          // One network failing must not hide the other's figures: record it and go on.
          failures.push(`${net}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
          log(`failed: ${failures[failures.length - 1]!}`)
          await client?.stop().catch(() => {})
          client = undefined
          await devnet?.stop().catch(() => {})
          devnet = undefined
        }
      }
    } finally {
      await client?.stop().catch(() => {})
      await devnet?.stop().catch(() => {})
      await raw?.stop().catch(() => {})
    }

    const charts: Chart[] = [
      {
        id: 'throughput',
        title: 'Put and get on a devnet vs one raw libp2p stream, same run (MB/s; whiskers: slowest and fastest run)',
        mark: 'bar',
        x: { field: 'config', title: 'operation, file size, providers' },
        y: { field: 'value', title: 'MB/s of file data' },
        color: { field: 'what', title: '' },
        range: { min: 'min', max: 'max' },
        rows: throughputRows
      },
      {
        id: 'scaling',
        title: 'Throughput against file size, with one raw libp2p stream for reference (MB/s of file data, log scales)',
        mark: 'line',
        x: { field: 'size', title: 'file size (MiB)', log: true },
        y: { field: 'value', title: 'MB/s', log: true },
        color: { field: 'series', title: '' },
        rows: scalingRows
      }
    ]
    if (failures.length === NETWORKS.length) throw new Error(`every network failed: ${failures.join('; ')}`)
    for (const f of failures) summary[`FAILED ${f.slice(0, f.indexOf(':'))}`] = f.slice(f.indexOf(':') + 2)
    return {
      measurements,
      summary,
      charts,
      notes: [
        'MB/s are of file (plaintext) bytes; a put moves (k+m)/k times as many over the network and providers hash and store them.',
        'put = encode + upload every shard (+ spare hedged uploads) + open one deal per shard (mined at 1 s blocks) + store the manifest; it does not wait for activation. The phase columns split its median time: until the last shard was stored, then until the last deal was opened, then the rest.',
        'X÷raw stream is the median over runs of time(raw stream, same bytes) ÷ time(X), each pair run back to back: the share of one stream\'s speed the system reaches.',
        'the raw stream: one libp2p stream (TCP + noise + yamux, the hosts\' own configuration) between this process and a child process, 1 MiB writes, no framing or work.',
        'the providers (and their provers and announcers) run as separate processes on the same 2 shared cores as the client.'
      ]
    }
  }
}

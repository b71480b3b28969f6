/**
 * The whole system on a devnet (@sherd/devnet: anvil, the contracts, N sherd-node processes on 127.0.0.1) driven by
 * the SDK (@sherd/client) in this process: put and get throughput at 6 providers (4 + 2) and 12 (8 + 4), each
 * paired run by run with the raw throughput of one libp2p stream (raw-stream.ts: a client-configured host here, a
 * provider-configured host in a child process), put/get latency of 1 MiB, put throughput against file size, and the
 * client's peak RSS in a process of its own against its idle RSS. At 6 providers each run also moves the same bytes
 * with a peer system, Helia (IPFS: unixfs over bitswap, ../system/helia.ts): one node adds the file, one other
 * fetches it (against get) and three others fetch it at once (add + 3-peer fetch, against put).
 */
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createClient } from '@sherd/client'
import type { SherdClient } from '@sherd/client'
import { DEFAULT_BLOCK_TIME_SECONDS, startDevnet } from '@sherd/devnet'
import type { Devnet } from '@sherd/devnet'
import { chartRow, measureInterleaved, measurePaired, MIB, pairedRatio, summarize } from '../harness.js'
import type { InterleavedEntry, Measurement, Suite, SuiteResult } from '../harness.js'
import type { Chart } from '../plot.js'
import { startHeliaSwarm } from '../system/helia.js'
import type { HeliaCost, HeliaSwarm } from '../system/helia.js'
import { startRawStreamPair } from '../system/raw-stream.js'
import type { RawStreamPair } from '../system/raw-stream.js'

/** Provider counts and the code each uses: k + m = the provider count, so every shard has its own provider. */
const NETWORKS: ReadonlyArray<{ providers: number; k: number; m: number }> = [
  { providers: 6, k: 4, m: 2 },
  { providers: 12, k: 8, m: 4 }
]
/**
 * The network at which what is measured once goes: the raw stream's rows, the byte-range get, the client's peak
 * RSS and the Helia comparison. Running without it (`--providers 12`) skips them.
 */
const FIRST_NETWORK = NETWORKS[0]!.providers

/**
 * `--providers 6` or `--providers 6,12`: the provider counts of the networks to run, so a before/after comparison
 * of one network takes half the time. Throws a RangeError naming the known counts for anything else.
 */
export function parseProviders(text: string): number[] {
  const known = NETWORKS.map((n) => n.providers)
  const counts = text.split(',').map((part) => part.trim())
  const bad = counts.filter((c) => !known.some((n) => String(n) === c))
  if (bad.length > 0)
    throw new RangeError(`--providers takes provider counts among ${known.join(', ')}, comma-separated (got "${text}")`)
  return known.filter((n) => counts.includes(String(n)))
}
/** The issue's sizes: 64 MiB always, 1 GiB with --full; 16 MiB gives the size curve a middle point. */
const QUICK_SIZES_MIB = [64]
const FULL_SIZES_MIB = [16, 64, 1024]
const LATENCY_MIB = 1
/** The file a 1 MiB byte-range get reads from (the issue's figure); --size-mib replaces it, for a quick check. */
const RANGE_FILE_MIB = 1024
/**
 * Deal length in periods: short, since throughput does not depend on it and every period of every deal binds the
 * providers' stake (DEFAULT_STAKE covers ~10,000 MiB·periods each); 1 GiB puts at 16 periods would exhaust it.
 */
const DEAL_PERIODS = 2
/** Room for every put of a --full run (1 GiB × (k+m)/k per put, several puts) on each provider. */
const PROVIDER_CAPACITY_BYTES = 16 * 1024 * MIB
/** Bytes of random data cycled to make large sources without holding them (encryption makes each put unique). */
const SOURCE_BLOCK_BYTES = 64 * MIB

/**
 * Largest file Helia moves beside Sherd. A run with Helia is longer, and the file the gets read must stay stored
 * through it (see keepReadable): at 1 GiB that would bind more of each provider's stake than DEFAULT_STAKE holds.
 */
const HELIA_MAX_MIB = 256
/** Helia readers that fetch at once for the put comparison: three copies on other nodes, as a put leaves k + m shards. */
const HELIA_FETCH_READERS = [1, 2, 3] as const
/** The reader of the get comparison (not one of the three, so its fetch is the only one). */
const HELIA_GET_READER = 0

const execFileAsync = promisify(execFile)

const seconds = (ms: number): number => +(ms / 1000).toFixed(3)

/** The Helia steps of one run, as interleaved entries; each records the CPU time its processes spent. */
function heliaEntries(
  helia: HeliaSwarm,
  bytes: number,
  mib: number
): {
  add: InterleavedEntry
  fetch: InterleavedEntry
  get: InterleavedEntry
  serving: { fetch: number[]; get: number[] }
} {
  const serving = { fetch: [] as number[], get: [] as number[] }
  let add: HeliaCost | undefined
  let fetch: HeliaCost | undefined
  let get: HeliaCost | undefined
  return {
    serving,
    // New content every run (prepare, untimed): blocks of an earlier run would let bitswap skip the transfer.
    add: {
      name: `Helia add ${mib} MiB`,
      setup: () => helia.prepare(bytes),
      fn: async () => {
        add = await helia.add()
      },
      cpuMs: () => add!.cpuMs
    },
    fetch: {
      name: `Helia 3-peer fetch ${mib} MiB (3 readers at once)`,
      fn: async () => {
        fetch = await helia.fetch(HELIA_FETCH_READERS)
        serving.fetch.push(fetch.servingCpuMs)
      },
      cpuMs: () => fetch!.cpuMs
    },
    get: {
      name: `Helia get ${mib} MiB (1 reader)`,
      setup: async () => {
        await helia.prepare(bytes)
        await helia.add()
      },
      fn: async () => {
        get = await helia.fetch([HELIA_GET_READER])
        serving.get.push(get.servingCpuMs)
      },
      cpuMs: () => get!.cpuMs
    }
  }
}

/**
 * Before each get run (untimed): extends the deals of the file the gets read by twice the last run's length.
 * Deals last DEAL_PERIODS (16 s on the devnet) and a provider deletes a shard as soon as its deal is over, so
 * without this a get phase longer than that (Helia's rounds make it so) would find the file gone.
 */
function keepReadable(
  c: SherdClient,
  link: () => string,
  periodMs: number,
  firstRunMs: number,
  log: (line: string) => void
): () => Promise<void> {
  let runMs = firstRunMs
  let last: number | undefined
  return async () => {
    const now = performance.now()
    if (last !== undefined) runMs = now - last
    last = now
    const periods = Math.ceil((2 * runMs) / periodMs) + 1
    const { extended, skipped } = await c.extend(link(), periods)
    if (extended.length === 0)
      throw new Error(`could not keep the file of the get runs stored: ${skipped.map((x) => x.reason).join('; ')}`)
    if (skipped.length > 0)
      log(`extended ${extended.length} deals by ${periods} periods, skipped ${skipped.length}: ${skipped[0]!.reason}`)
  }
}

function medianOf(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b)
  const h = v.length >> 1
  return v.length % 2 === 1 ? v[h]! : (v[h - 1]! + v[h]!) / 2
}

function source(block: Uint8Array, total: number): Uint8Array | AsyncIterable<Uint8Array> {
  if (total <= block.length) return block.subarray(0, total)
  return (async function* () {
    for (let at = 0; at < total; at += MIB) {
      const offset = at % block.length
      yield block.subarray(offset, offset + Math.min(MIB, total - at))
    }
  })()
}

async function drain(
  client: SherdClient,
  link: string,
  expected: Uint8Array | undefined,
  bytes: number
): Promise<void> {
  let n = 0
  for await (const chunk of client.get(link)) {
    if (expected !== undefined && Buffer.compare(chunk, expected.subarray(n, n + chunk.length)) !== 0) {
      throw new Error(`get returned different bytes at offset ${n}`)
    }
    n += chunk.length
  }
  if (n !== bytes) throw new Error(`get returned ${n} of ${bytes} bytes`)
}

/** Reads bytes [offset, offset + length) of `link` and checks them against the source the file was put from. */
async function drainRange(
  client: SherdClient,
  link: string,
  block: Uint8Array,
  offset: number,
  length: number
): Promise<void> {
  let n = 0
  for await (const chunk of client.get(link, { offset, length })) {
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== block[(offset + n + i) % block.length])
        throw new Error(`range get returned a different byte at file offset ${offset + n + i}`)
    }
    n += chunk.length
  }
  if (n !== length) throw new Error(`range get returned ${n} of ${length} bytes`)
}

/** Where one put's time went, from its progress events: shards placed, deals on chain, manifest stored. */
interface PutPhases {
  placeMs: number
  chainMs: number
  totalMs: number
}

/** Puts with phase timing; `phases` gets one entry per call (warm-up calls included, the caller takes the last runs). */
async function timedPut(
  client: SherdClient,
  data: Uint8Array | AsyncIterable<Uint8Array>,
  bytes: number,
  phases: PutPhases[]
): Promise<string> {
  const start = performance.now()
  let placed = start
  let chain = start
  const { link } = await client.put(data, {
    expectedSize: bytes,
    onProgress: (e) => {
      if (e.type === 'put:shard-stored') placed = performance.now()
      else if (e.type === 'put:approved' || e.type === 'put:deal-opened' || e.type === 'put:deal-failed')
        chain = performance.now()
    }
  })
  const end = performance.now()
  phases.push({ placeMs: placed - start, chainMs: Math.max(0, chain - placed), totalMs: end - start })
  return link
}

/** Median share of each put phase over the last `runs` calls, as measurement extras. */
function phaseShares(phases: PutPhases[], runs: number): Record<string, string> {
  const last = phases.slice(-runs)
  const median = (xs: number[]): number => {
    const v = [...xs].sort((a, b) => a - b)
    const h = v.length >> 1
    return v.length % 2 === 1 ? v[h]! : (v[h - 1]! + v[h]!) / 2
  }
  const share = (pick: (p: PutPhases) => number): string =>
    `${(100 * median(last.map((p) => pick(p) / p.totalMs))).toFixed(0)} %`
  return {
    'encode+upload': share((p) => p.placeMs),
    'deals on chain': share((p) => p.chainMs),
    'manifest+other': share((p) => p.totalMs - p.placeMs - p.chainMs)
  }
}

interface RssReport {
  idleMiB: number
  putPeakMiB: number
  getPeakMiB: number
  maxRssMiB: number
  putMs: number
  getMs: number
}

async function clientRss(devnet: Devnet, sizeBytes: number, k: number, m: number): Promise<RssReport> {
  const script = fileURLToPath(new URL('../system/client-rss.js', import.meta.url))
  const args = {
    rpcUrl: devnet.rpcUrl,
    contract: devnet.market,
    account: devnet.client.privateKey,
    bootstrap: devnet.bootstrap,
    sizeBytes,
    k,
    m,
    periods: DEAL_PERIODS
  }
  const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', script, JSON.stringify(args)], {
    maxBuffer: MIB,
    timeout: 30 * 60_000
  })
  return JSON.parse(stdout.trim().split('\n').pop()!) as RssReport
}

export const systemSuite: Suite = {
  name: 'system',
  description:
    'devnet put/get throughput (6 and 12 providers) vs one raw libp2p stream and vs Helia (IPFS), 1 MiB latency, client peak RSS',
  async run({ full, log, signal, sizeMib, providers: only }): Promise<SuiteResult> {
    const networks = only === undefined ? NETWORKS : NETWORKS.filter((n) => only.includes(n.providers))
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const throughputRows: Array<Record<string, number | string>> = []
    const scalingRows: Array<Record<string, number | string>> = []
    const sizes = sizeMib !== undefined ? [sizeMib] : full ? FULL_SIZES_MIB : QUICK_SIZES_MIB
    const block = new Uint8Array(randomBytes(SOURCE_BLOCK_BYTES))
    let raw: RawStreamPair | undefined
    let helia: HeliaSwarm | undefined
    let devnet: Devnet | undefined
    let client: SherdClient | undefined
    const failures: string[] = []
    try {
      log('raw libp2p stream peer')
      raw = await startRawStreamPair()
      const r = raw
      if (networks.some((n) => n.providers === FIRST_NETWORK)) {
        log('Helia peers: one adder, four readers')
        helia = await startHeliaSwarm()
      }
      const h = helia
      for (const { providers, k, m } of networks) {
        const net = `${providers} providers (${k},${m})`
        try {
          log(`devnet with ${providers} providers`)
          const started = performance.now()
          // Ctrl-C stops the providers and anvil (the devnet's own signal handling) instead of leaving them running.
          devnet = await startDevnet({
            providers,
            capacityBytes: PROVIDER_CAPACITY_BYTES,
            ...(signal === undefined ? {} : { signal })
          })
          summary[`devnet start, ${providers} providers (s)`] = +((performance.now() - started) / 1000).toFixed(1)
          client = createClient({
            rpcUrl: devnet.rpcUrl,
            contract: devnet.market,
            account: devnet.client.privateKey,
            bootstrap: devnet.bootstrap,
            k,
            m,
            periods: DEAL_PERIODS,
            waitForActivation: false
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
            {
              name: `put ${LATENCY_MIB} MiB, ${net}`,
              fn: async () => {
                smallLink = await timedPut(c, small, small.length, smallPhases)
              }
            },
            { bytes: small.length, runs: smallRuns, warmup: 1 }
          )
          putSmall.b.extra = phaseShares(smallPhases, smallRuns)
          const getSmall = await measurePaired(
            { name: `raw stream download ${LATENCY_MIB} MiB`, fn: () => r.download(small.length) },
            { name: `get ${LATENCY_MIB} MiB, ${net}`, fn: () => drain(c, smallLink, small, small.length) },
            { bytes: small.length, runs: full ? 7 : 5, warmup: 1 }
          )
          measurements.push(putSmall.b, getSmall.b)
          if (providers === FIRST_NETWORK) measurements.push(putSmall.a, getSmall.a)
          summary[`put ${LATENCY_MIB} MiB latency, ${net} (ms)`] = Math.round(putSmall.b.medianMs)
          summary[`get ${LATENCY_MIB} MiB latency, ${net} (ms)`] = Math.round(getSmall.b.medianMs)
          scalingRows.push(
            chartRow(putSmall.b, { size: LATENCY_MIB, series: `put, ${net}` }),
            chartRow(getSmall.b, { size: LATENCY_MIB, series: `get, ${net}` })
          )
          if (providers === FIRST_NETWORK) {
            scalingRows.push(
              chartRow(putSmall.a, { size: LATENCY_MIB, series: 'raw stream upload' }),
              chartRow(getSmall.a, { size: LATENCY_MIB, series: 'raw stream download' })
            )
          }

          for (const mib of sizes) {
            const bytes = mib * MIB
            const runs = mib >= 1024 ? 2 : full ? 5 : 3
            const warmup = mib >= 1024 ? 0 : 1
            let link = ''
            const phases: PutPhases[] = []
            // Helia runs beside the first network only: its figures do not depend on the provider count.
            const peer =
              h !== undefined && providers === FIRST_NETWORK && mib <= HELIA_MAX_MIB
                ? heliaEntries(h, bytes, mib)
                : undefined
            log(`put ${mib} MiB, ${net}${peer === undefined ? '' : ', Helia add + 3-peer fetch'}`)
            // The put comes last in each run, so the file the gets read was stored just before they start.
            const put = await measureInterleaved(
              [
                { name: `raw stream upload ${mib} MiB`, fn: () => r.upload(bytes) },
                ...(peer === undefined ? [] : [peer.add, peer.fetch]),
                {
                  name: `put ${mib} MiB, ${net}`,
                  fn: async () => {
                    link = await timedPut(c, source(block, bytes), bytes, phases)
                  }
                }
              ],
              { bytes, runs, warmup }
            )
            const PUT = put.measurements.length - 1
            const putRaw = put.measurements[0]!
            const putSherd = put.measurements[PUT]!
            const putRatio = pairedRatio(put.wallMs[0]!, put.wallMs[PUT]!)
            putSherd.extra = { 'put÷raw stream': putRatio, ...phaseShares(phases, runs) }
            log(`get ${mib} MiB, ${net}${peer === undefined ? '' : ', Helia get'}`)
            const lastPutRunMs = put.wallMs.reduce((sum, times) => sum + times[times.length - 1]!, 0)
            const periodMs = devnet.params.periodBlocks * DEFAULT_BLOCK_TIME_SECONDS * 1000
            const get = await measureInterleaved(
              [
                {
                  name: `get ${mib} MiB, ${net}`,
                  setup: keepReadable(c, () => link, periodMs, lastPutRunMs, log),
                  fn: () => drain(c, link, bytes <= block.length ? block : undefined, bytes)
                },
                { name: `raw stream download ${mib} MiB`, fn: () => r.download(bytes) },
                ...(peer === undefined ? [] : [peer.get])
              ],
              { bytes, runs, warmup }
            )
            const [getSherd, getRaw] = get.measurements as [Measurement, Measurement]
            const getRatio = pairedRatio(get.wallMs[1]!, get.wallMs[0]!)
            getSherd.extra = { 'get÷raw stream': getRatio }
            measurements.push(putSherd, putRaw, getSherd, getRaw)
            summary[`put ${mib} MiB, ${net}: MB/s`] = +putSherd.mbPerSec!.toFixed(1)
            summary[`put ${mib} MiB, ${net} ÷ raw stream`] = +putRatio.toFixed(3)
            summary[`get ${mib} MiB, ${net}: MB/s`] = +getSherd.mbPerSec!.toFixed(1)
            summary[`get ${mib} MiB, ${net} ÷ raw stream`] = +getRatio.toFixed(3)
            // The client's own CPU time (this process); the providers' is not counted.
            summary[`client put CPU s, ${mib} MiB, ${net}`] = seconds(putSherd.cpuMedianMs)
            summary[`client get CPU s, ${mib} MiB, ${net}`] = seconds(getSherd.cpuMedianMs)
            summary[`client put MB per CPU-second, ${mib} MiB, ${net}`] = +(
              bytes /
              1e6 /
              (putSherd.cpuMedianMs / 1000)
            ).toFixed(1)
            summary[`client get MB per CPU-second, ${mib} MiB, ${net}`] = +(
              bytes /
              1e6 /
              (getSherd.cpuMedianMs / 1000)
            ).toFixed(1)
            let heliaPut: Measurement | undefined
            let heliaGet: Measurement | undefined
            if (peer !== undefined) {
              const [heliaAdd, heliaFetch] = put.measurements.slice(1, 3) as [Measurement, Measurement]
              heliaGet = get.measurements[2]!
              // Placing the file on three other nodes is the add and the fetch that follows it, run by run.
              const placeMs = put.wallMs[1]!.map((t, i) => t + put.wallMs[2]![i]!)
              heliaPut = summarize(
                `Helia add + 3-peer fetch ${mib} MiB`,
                placeMs,
                put.cpuMs[1]!.map((t, i) => t + put.cpuMs[2]![i]!),
                bytes
              )
              const putVsHelia = pairedRatio(placeMs, put.wallMs[PUT]!)
              const getVsHelia = pairedRatio(get.wallMs[2]!, get.wallMs[0]!)
              putSherd.extra['put÷Helia add+3-peer fetch'] = putVsHelia
              getSherd.extra['get÷Helia get'] = getVsHelia
              heliaFetch.extra = { 'adder serving cpu ms': Math.round(medianOf(peer.serving.fetch)) }
              heliaGet.extra = { 'adder serving cpu ms': Math.round(medianOf(peer.serving.get)) }
              measurements.push(heliaAdd, heliaFetch, heliaPut, heliaGet)
              summary[`Helia add s, ${mib} MiB`] = seconds(heliaAdd.medianMs)
              summary[`Helia get s, ${mib} MiB`] = seconds(heliaGet.medianMs)
              summary[`Helia 3-peer fetch s, ${mib} MiB`] = seconds(heliaFetch.medianMs)
              summary[`Helia add CPU s, ${mib} MiB (adder)`] = seconds(heliaAdd.cpuMedianMs)
              summary[`Helia get CPU s, ${mib} MiB (reader)`] = seconds(heliaGet.cpuMedianMs)
              summary[`Helia 3-peer fetch CPU s, ${mib} MiB (3 readers)`] = seconds(heliaFetch.cpuMedianMs)
              summary[`put ${mib} MiB, ${net} ÷ Helia add + 3-peer fetch`] = +putVsHelia.toFixed(3)
              summary[`get ${mib} MiB, ${net} ÷ Helia get`] = +getVsHelia.toFixed(3)
            }
            if (mib === 64 || mib === 1024 || sizeMib !== undefined) {
              throughputRows.push(
                chartRow(putSherd, {
                  config: `put ${mib} MiB, ${providers} prov.`,
                  what: 'sherd (client → providers)'
                }),
                chartRow(putRaw, { config: `put ${mib} MiB, ${providers} prov.`, what: 'one raw libp2p stream' }),
                ...(heliaPut === undefined
                  ? []
                  : [
                      chartRow(heliaPut, {
                        config: `put ${mib} MiB, ${providers} prov.`,
                        what: 'Helia (add, then 3 peers fetch)'
                      })
                    ]),
                chartRow(getSherd, {
                  config: `get ${mib} MiB, ${providers} prov.`,
                  what: 'sherd (client → providers)'
                }),
                chartRow(getRaw, { config: `get ${mib} MiB, ${providers} prov.`, what: 'one raw libp2p stream' }),
                ...(heliaGet === undefined
                  ? []
                  : [
                      chartRow(heliaGet, {
                        config: `get ${mib} MiB, ${providers} prov.`,
                        what: 'Helia (1 peer fetches)'
                      })
                    ])
              )
            }
            scalingRows.push(
              chartRow(putSherd, { size: mib, series: `put, ${net}` }),
              chartRow(getSherd, { size: mib, series: `get, ${net}` })
            )
            if (providers === FIRST_NETWORK) {
              scalingRows.push(
                chartRow(putRaw, { size: mib, series: 'raw stream upload' }),
                chartRow(getRaw, { size: mib, series: 'raw stream download' })
              )
            }
          }
          if (providers === FIRST_NETWORK) {
            // A byte range costs the stripes that hold it, not the file: 1 MiB out of a big file against a 1 MiB file.
            const rangeMib = sizeMib ?? RANGE_FILE_MIB
            const fileLabel = rangeMib === 1024 ? '1 GiB' : `${rangeMib} MiB`
            log(`get ${LATENCY_MIB} MiB range of a ${fileLabel} file against a ${LATENCY_MIB} MiB get, ${net}`)
            const rangeBytes = rangeMib * MIB
            const bigLink = await timedPut(c, source(block, rangeBytes), rangeBytes, [])
            const wholeLink = await timedPut(c, small, small.length, [])
            const periodMs = devnet.params.periodBlocks * DEFAULT_BLOCK_TIME_SECONDS * 1000
            // Deals last DEAL_PERIODS: both files must outlive the runs below (a few seconds each).
            for (const l of [bigLink, wholeLink]) await keepReadable(c, () => l, periodMs, 30_000, log)()
            const length = Math.min(LATENCY_MIB * MIB, rangeBytes)
            // Unaligned, in the middle: the range starts inside a chunk and may cross a stripe.
            const offset = Math.max(0, Math.min(rangeBytes - length, Math.floor(rangeBytes / 2) + 12_345))
            const range = await measurePaired(
              {
                name: `get ${LATENCY_MIB} MiB (whole file), ${net}`,
                fn: () => drain(c, wholeLink, small, small.length)
              },
              {
                name: `get ${LATENCY_MIB} MiB range of a ${fileLabel} file, ${net}`,
                fn: () => drainRange(c, bigLink, block, offset, length)
              },
              { bytes: length, runs: full ? 7 : 5, warmup: 1 }
            )
            measurements.push(range.a, range.b)
            summary[`get ${LATENCY_MIB} MiB range of a ${fileLabel} file, ms`] = Math.round(range.b.medianMs)
            summary[`get ${LATENCY_MIB} MiB whole-file get (same runs), ms`] = Math.round(range.a.medianMs)
            summary[`get ${LATENCY_MIB} MiB range ÷ ${LATENCY_MIB} MiB whole-file get, time (median of paired runs)`] =
              +(1 / range.ratio).toFixed(3)
          }

          await client.stop()
          client = undefined

          if (providers === FIRST_NETWORK) {
            const rssMib = sizeMib ?? (full ? 1024 : 64)
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
      await helia?.stop().catch(() => {})
    }

    const charts: Chart[] = [
      {
        id: 'throughput',
        title:
          'Put and get on a devnet vs one raw libp2p stream and Helia, same run (MB/s; whiskers: slowest and fastest run)',
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
    if (failures.length === networks.length) throw new Error(`every network failed: ${failures.join('; ')}`)
    for (const f of failures) summary[`FAILED ${f.slice(0, f.indexOf(':'))}`] = f.slice(f.indexOf(':') + 2)
    return {
      measurements,
      summary,
      charts,
      notes: [
        'MB/s are of file (plaintext) bytes; a put moves (k+m)/k times as many over the network and providers hash and store them.',
        'put = encode + upload every shard (+ spare hedged uploads) + open one deal per shard (mined at 1 s blocks) + store the manifest; it does not wait for activation. The phase columns split its median time: until the last shard was stored, then until the last deal was opened, then the rest.',
        "each run calls raw stream, (Helia,) Sherd in turn for put and Sherd, raw stream, (Helia) for get; before each get run the file's deals are extended (untimed) so that providers still hold every shard (a devnet deal lasts 2 periods of 8 s).",
        "X÷raw stream is the median over runs of time(raw stream, same bytes) ÷ time(X), each pair run back to back: the share of one stream's speed the system reaches.",
        "the raw stream: one libp2p stream (TCP + noise + yamux, the hosts' own configuration) between this process and a child process, 1 MiB writes, no framing or work.",
        'the providers (and their provers and announcers) run as separate processes on the same 2 shared cores as the client.',
        "Helia (helia + @helia/unixfs, bitswap only, no routers or gateways, disk blockstore, the hosts' TCP + noise + yamux): one adder and four readers, each a process, every reader connected to the adder only; each run adds new pseudo-random bytes to emptied blockstores (untimed), and every read is checked against them (length and SHA-256).",
        "get÷Helia get = time(Helia get) ÷ time(get); put÷Helia add + 3-peer fetch = time(add, then three readers fetching at once) ÷ time(put), run by run at 6 providers. Helia CPU s are the CPU time of the Helia process(es) doing the step (adder for add, reader(s) for fetch); client CPU s are this process's."
      ]
    }
  }
}

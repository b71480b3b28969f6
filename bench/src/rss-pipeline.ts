/**
 * Peak memory of the data path on a large file. Encode: streams a generated file through encodeFile and writes
 * every shard to a temp directory. Decode: decodeFile reads the shards back from disk with one data shard of every
 * segment withheld (so each segment is rebuilt by Reed-Solomon) and the output's SHA-256 is checked against the
 * input's. Each phase reports its peak RSS, sampled every 20 ms and from getrusage. Baseline: RSS once the
 * modules are loaded.
 *
 *   npx tsc -b bench && npx node bench/dist/rss-pipeline.js [--size-mib 4096] [--k 4] [--m 2] [--segment-mib 32] [--prefetch 0]
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { decodeFile, encodeFile } from '@sherd/client'
import { incompressibleBytes } from './incompressible.js'

const MiB = 2 ** 20

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '4096' },
    k: { type: 'string', default: '4' },
    m: { type: 'string', default: '2' },
    'segment-mib': { type: 'string', default: '32' },
    'withhold-shard': { type: 'string', default: '0' },
    prefetch: { type: 'string', default: '0' }
  }
})
const sizeBytes = Number(values['size-mib']) * MiB
const k = Number(values.k)
const m = Number(values.m)
const segmentSize = Number(values['segment-mib']) * MiB
const withheld = Number(values['withhold-shard'])
const prefetchSegments = Number(values.prefetch)

let peakRss = 0
console.log(`baseline RSS ${(process.memoryUsage.rss() / MiB).toFixed(0)} MiB`)
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
}, 20)
const mib = (bytes: number): string => (bytes / MiB).toFixed(0)
function phaseEnd(name: string, started: number): void {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
  const seconds = (performance.now() - started) / 1000
  console.log(
    `${name}: ${mib(sizeBytes)} MiB in ${seconds.toFixed(1)} s = ${(sizeBytes / 1e6 / seconds).toFixed(1)} MB/s, ` +
      `peak RSS ${mib(peakRss)} MiB (getrusage max ${mib(process.resourceUsage().maxRSS * 1024)} MiB)`
  )
  peakRss = 0
}

const dir = await mkdtemp(join(tmpdir(), 'sherd-rss-'))
try {
  console.log(`file ${mib(sizeBytes)} MiB, k=${k} m=${m}, segment ${mib(segmentSize)} MiB, shards in ${dir}`)
  const inputHash = createHash('sha256')
  let started = performance.now()
  const encoding = encodeFile(incompressibleBytes(sizeBytes, inputHash), { k, m, segmentSize, expectedSize: sizeBytes })
  for await (const segment of encoding) {
    for (const shard of segment.shards)
      await writeFile(join(dir, `${segment.segmentIndex}-${shard.index}`), shard.bytes)
  }
  phaseEnd('encode', started)

  const outputHash = createHash('sha256')
  started = performance.now()
  const source = async ({
    segmentIndex,
    shardIndex
  }: {
    segmentIndex: number
    shardIndex: number
  }): Promise<Uint8Array | undefined> =>
    shardIndex === withheld ? undefined : await readFile(join(dir, `${segmentIndex}-${shardIndex}`))
  for await (const part of decodeFile(encoding.manifest, encoding.key, source, { prefetchSegments }))
    outputHash.update(part)
  phaseEnd('decode', started)

  const same = inputHash.digest('hex') === outputHash.digest('hex')
  console.log(same ? 'output SHA-256 matches input' : 'OUTPUT DIFFERS FROM INPUT')
  if (!same) process.exitCode = 1
} finally {
  clearInterval(sampler)
  await rm(dir, { recursive: true, force: true })
}

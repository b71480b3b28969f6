/**
 * Throughput, CPU and peak memory of the streaming data path. Encode: a generated file goes through
 * encodeFileStream; each stripe's pieces are appended to one file per shard (or dropped with --discard). Decode:
 * decodeRange reads the whole file back by stripe pieces from those files, with one data shard withheld so every
 * stripe is rebuilt from parity, and checks the output's SHA-256. Peak RSS is sampled every 20 ms per phase.
 *
 *   npx tsc -b bench && npx node bench/dist/rss-stream.js [--size-mib 256] [--k 4] [--m 2] [--segment-mib 256]
 *     [--hasher workers|inline] [--discard]
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { decodeRange, defaultHasher, encodeFileStream, inlineHasher } from '@sherd/client'
import type { EncodedStripe, ShardRangeRequest } from '@sherd/client'
import { incompressibleBytes } from './incompressible.js'

const MiB = 2 ** 20
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '256' },
    k: { type: 'string', default: '4' },
    m: { type: 'string', default: '2' },
    'segment-mib': { type: 'string', default: '256' },
    hasher: { type: 'string', default: 'workers' },
    discard: { type: 'boolean', default: false }
  }
})
const sizeBytes = Number(values['size-mib']) * MiB
const k = Number(values.k)
const m = Number(values.m)
const segmentSize = Math.min(2 ** 30, Number(values['segment-mib']) * MiB)
const hasher = values.hasher === 'inline' ? inlineHasher() : await defaultHasher()

const mib = (bytes: number): string => (bytes / MiB).toFixed(0)
let peakRss = 0
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
}, 20)
console.log(
  `baseline RSS ${mib(process.memoryUsage.rss())} MiB; ${mib(sizeBytes)} MiB, k=${k} m=${m}, segment ${mib(segmentSize)} MiB, ` +
    `hasher ${values.hasher} (${hasher.threads} thread${hasher.threads === 1 ? '' : 's'})`
)

function phase<T>(name: string, run: () => Promise<T>): Promise<T> {
  peakRss = process.memoryUsage.rss()
  const cpu = process.cpuUsage()
  const started = performance.now()
  return run().then((result) => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss())
    const seconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const cpuSeconds = (used.user + used.system) / 1e6
    console.log(
      `${name}: ${(sizeBytes / 1e6 / seconds).toFixed(1)} MB/s (${seconds.toFixed(1)} s), ` +
        `${(sizeBytes / 1e6 / cpuSeconds).toFixed(1)} MB per CPU-second, peak RSS ${mib(peakRss)} MiB`
    )
    return result
  })
}

const dir = await mkdtemp(join(tmpdir(), 'sherd-stream-'))
const fds = new Map<string, number>()
const fdOf = (segment: number, shard: number, flags: string): number => {
  const id = `${segment}-${shard}-${flags}`
  let fd = fds.get(id)
  if (fd === undefined) {
    fd = openSync(join(dir, `${segment}-${shard}`), flags)
    fds.set(id, fd)
  }
  return fd
}
try {
  const inputHash = createHash('sha256')
  const onStripe = (stripe: EncodedStripe): void => {
    if (values.discard) return
    stripe.pieces.forEach((piece, i) => {
      writeSync(fdOf(stripe.segmentIndex, i, 'a'), piece)
    })
  }
  const encoding = encodeFileStream(incompressibleBytes(sizeBytes, inputHash), {
    k,
    m,
    segmentSize,
    expectedSize: sizeBytes,
    onStripe,
    hasher
  })
  await phase('encode', async () => {
    for await (const _ of encoding) {
      /* commitments are in the manifest */
    }
  })
  for (const fd of fds.values()) closeSync(fd)
  fds.clear()
  if (!values.discard) {
    const outputHash = createHash('sha256')
    const source = async ({
      segmentIndex,
      shardIndex,
      start,
      end
    }: ShardRangeRequest): Promise<Uint8Array | undefined> => {
      if (shardIndex === 0) return undefined
      const bytes = new Uint8Array(end - start)
      readSync(fdOf(segmentIndex, shardIndex, 'r'), bytes, 0, bytes.length, start)
      return bytes
    }
    await phase('decode (range decoder, shard 0 withheld)', async () => {
      for await (const part of decodeRange(encoding.manifest, encoding.key, source)) outputHash.update(part)
    })
    const same = inputHash.digest('hex') === outputHash.digest('hex')
    console.log(same ? 'output SHA-256 matches input' : 'OUTPUT DIFFERS FROM INPUT')
    if (!same) process.exitCode = 1
  }
  console.log(`getrusage max RSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB`)
} finally {
  clearInterval(sampler)
  for (const fd of fds.values()) closeSync(fd)
  await rm(dir, { recursive: true, force: true })
  await hasher.close()
}

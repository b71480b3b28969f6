/**
 * Throughput of the offline data path (@sherd/client encodeFile / decodeFile) in MB/s of plaintext, 64 MiB in
 * memory at the default 32 MiB segments, with each phase's time split between encryption, erasure coding and
 * commitments (taken from the pipeline's own `timings` progress fields; "other" is copying and scheduling).
 * Decode runs twice: every data shard good (no Reed-Solomon work), and the first min(k, m) data shards withheld
 * (every segment rebuilt).
 */
import { createCipheriv } from 'node:crypto'
import { decodeFile, encodeFile } from '@sherd/client'
import type { StageTimings } from '@sherd/client'
import type { Manifest } from '@sherd/protocol'
import { chartRow, measure, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'

/** Plaintext per run: the 64 MiB, two default segments. */
const FILE_BYTES = 64 * MIB
/** (k, m): the local default, two common wide codes and a durable-storage wide code (as the erasure suite). */
const CODES: ReadonlyArray<readonly [number, number]> = [
  [4, 2],
  [10, 4],
  [10, 20],
  [29, 51]
]
/** The source hands the file over in 1 MiB chunks, as a file stream would. */
const CHUNK_BYTES = MIB

async function* chunks(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += CHUNK_BYTES) yield data.subarray(i, i + CHUNK_BYTES)
}

interface Encoded {
  manifest: Manifest
  key: Uint8Array
  shards: Map<string, Uint8Array>
}

/** Adds each stage's share of wall time to a measurement; `calls` holds one list of segment timings per call. */
function withSplit(m: Measurement, calls: StageTimings[][], runs: number): Measurement {
  // The first calls were the warm-up; only the timed ones count.
  const timings = calls.slice(-runs).flat()
  const total = m.medianMs * runs
  const share = (pick: (t: StageTimings) => number): string =>
    `${((100 * timings.reduce((s, t) => s + pick(t), 0)) / total).toFixed(0)} %`
  m.extra = {
    cipher: share((t) => t.cipherMs),
    erasure: share((t) => t.erasureMs),
    commitments: share((t) => t.commitmentMs)
  }
  return m
}

export const pipelineSuite: Suite = {
  name: 'pipeline',
  description: 'encodeFile/decodeFile, 64 MiB: MB/s of plaintext and time split (cipher, erasure, commitments)',
  async run({ full, log }): Promise<SuiteResult> {
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const rows: Array<Record<string, number | string>> = []
    const runs = full ? 5 : 2
    // Incompressible bytes, fast to make.
    const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16)).update(Buffer.alloc(FILE_BYTES))

    for (const [k, m] of CODES) {
      const code = `(${k},${m})`
      let encoded: Encoded | undefined
      let calls: StageTimings[][] = []
      log(`encode ${code}`)
      const encode = await measure(
        `encode ${code}`,
        async () => {
          const timings: StageTimings[] = []
          calls.push(timings)
          const shards = new Map<string, Uint8Array>()
          const encoding = encodeFile(chunks(data), { k, m, onProgress: (e) => timings.push(e.timings) })
          for await (const segment of encoding) {
            for (const shard of segment.shards) shards.set(`${segment.segmentIndex}:${shard.index}`, shard.bytes)
          }
          encoded = { manifest: encoding.manifest, key: encoding.key, shards }
        },
        { bytes: FILE_BYTES, runs, warmup: 1 }
      )
      measurements.push(withSplit(encode, calls, runs))
      summary[`encode ${code} MB/s`] = +encode.mbPerSec!.toFixed(1)
      rows.push(chartRow(encode, { code, phase: 'encode' }))
      const { manifest, key, shards } = encoded!

      for (const [label, withheld] of [
        ['decode', 0],
        ['decode rebuild', Math.min(k, m)]
      ] as const) {
        if (label === 'decode rebuild' && withheld === 0) continue
        log(`${label} ${code}`)
        calls = []
        const decode = await measure(
          `${label} ${code}`,
          async () => {
            const timings: StageTimings[] = []
            calls.push(timings)
            let out = 0
            const source = async ({
              segmentIndex,
              shardIndex
            }: {
              segmentIndex: number
              shardIndex: number
            }): Promise<Uint8Array | undefined> =>
              shardIndex < withheld ? undefined : shards.get(`${segmentIndex}:${shardIndex}`)
            for await (const part of decodeFile(manifest, key, source, {
              onProgress: (e) => {
                if (e.type === 'decode:segment') timings.push(e.timings)
              }
            }))
              out += part.length
            if (out !== FILE_BYTES) throw new Error(`decoded ${out} of ${FILE_BYTES} bytes at ${code}`)
          },
          { bytes: FILE_BYTES, runs, warmup: 1 }
        )
        measurements.push(withSplit(decode, calls, runs))
        summary[`${label} ${code} MB/s`] = +decode.mbPerSec!.toFixed(1)
        rows.push(chartRow(decode, { code, phase: label }))
      }
    }
    return {
      measurements,
      summary,
      charts: [
        {
          id: 'throughput',
          title: 'encodeFile / decodeFile, 64 MiB in memory (MB/s of plaintext; whiskers: slowest and fastest run)',
          mark: 'bar',
          x: { field: 'code', title: '(k, m)' },
          y: { field: 'value', title: 'MB/s' },
          color: { field: 'phase', title: '' },
          range: { min: 'min', max: 'max' },
          rows
        }
      ],
      notes: [
        'cipher/erasure/commitments: shares of wall time over the timed runs; the rest is copying, the source and scheduling'
      ]
    }
  }
}

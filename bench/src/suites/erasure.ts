/**
 * Reed-Solomon throughput: this repo's WebAssembly SIMD kernel against reed-solomon-erasure.wasm (the library
 * the design names), encode and reconstruct, on 64 MiB of data per stripe, paired run by run.
 */
import { randomBytes } from 'node:crypto'
import { libraryCoder, simdCoder } from '@sherd/erasure'
import { chartRow, measure, measurePaired, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'
import type { Chart } from '../plot.js'

/** Data bytes per stripe: a 64 MiB input, as PLATFORM.md's library and ISA-L figures. */
const DATA_BYTES = 64 * MIB
/** (k, m) pairs: the local default, two common wide codes and a durable-storage wide code. */
const CODES: ReadonlyArray<readonly [number, number]> = [
  [4, 2],
  [10, 4],
  [10, 20],
  [29, 51]
]
/** Shards missing in the reconstruct runs (fewer when m is smaller). */
const MISSING = 10
/** The requirements at (10,20): SIMD ÷ library, encode and reconstruct; and the encode goal in MB/s. */
const REQUIRED_ENCODE_RATIO = 10
const REQUIRED_RECONSTRUCT_RATIO = 5
const GOAL_ENCODE_MB_PER_SEC = 750

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

export const erasureSuite: Suite = {
  name: 'erasure',
  description: 'Reed-Solomon encode/reconstruct, 64 MiB: WASM SIMD kernel vs reed-solomon-erasure.wasm',
  async run({ full, log }): Promise<SuiteResult> {
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const rows: Array<Record<string, number | string>> = []
    const library = libraryCoder()
    const simd = simdCoder()
    const strict = simdCoder({ relaxed: false })
    summary.kernel = simd.name
    const runs = full ? 7 : 3
    const data = randomBytes(DATA_BYTES)

    for (const [k, m] of CODES) {
      const code = `(${k},${m})`
      const shardBytes = Math.ceil(DATA_BYTES / k)
      const stripe = new Uint8Array((k + m) * shardBytes)
      stripe.set(data)
      const reference = stripe.slice()
      library.encode(reference, k, m)
      simd.encode(stripe, k, m)
      if (!same(stripe, reference)) throw new Error(`SIMD parity differs from the library's at ${code}`)

      log(`encode ${code}`)
      const encode = await measurePaired(
        { name: `encode/library ${code}`, fn: () => library.encode(stripe, k, m) },
        { name: `encode/simd ${code}`, fn: () => simd.encode(stripe, k, m) },
        { bytes: DATA_BYTES, runs, warmup: 1 }
      )
      encode.b.extra = { 'simd÷library': encode.ratio, 'cpu simd÷library': encode.cpuRatio }
      measurements.push(encode.a, encode.b)
      rows.push(
        chartRow(encode.a, { op: 'encode', code, impl: 'reed-solomon-erasure.wasm' }),
        chartRow(encode.b, { op: 'encode', code, impl: 'simd kernel' })
      )
      measurements.push(
        await measure(`encode/simd strict ${code}`, () => strict.encode(stripe, k, m), {
          bytes: DATA_BYTES,
          runs,
          warmup: 1
        })
      )
      summary[`encode ${code} simd÷library (wall, cpu)`] = `${encode.ratio.toFixed(2)}, ${encode.cpuRatio.toFixed(2)}`

      // Missing data shards: the library then rebuilds data only (missing parity would add a full re-encode).
      const missing = Math.min(MISSING, m)
      const present = Array.from({ length: k + m }, (_, i) => i >= missing)
      const damaged = reference.slice()
      damaged.fill(0, 0, missing * shardBytes)
      const byLibrary = damaged.slice()
      library.reconstruct(byLibrary, k, m, present)
      simd.reconstruct(damaged, k, m, present)
      if (!same(damaged, reference) || !same(byLibrary, reference)) throw new Error(`reconstruct is wrong at ${code}`)
      log(`reconstruct ${code}, ${missing} missing`)
      const rebuild = await measurePaired(
        {
          name: `reconstruct/library ${code} ${missing} missing`,
          fn: () => library.reconstruct(damaged, k, m, present)
        },
        { name: `reconstruct/simd ${code} ${missing} missing`, fn: () => simd.reconstruct(damaged, k, m, present) },
        { bytes: DATA_BYTES, runs, warmup: 1 }
      )
      rebuild.b.extra = { 'simd÷library': rebuild.ratio, 'cpu simd÷library': rebuild.cpuRatio }
      measurements.push(rebuild.a, rebuild.b)
      rows.push(
        chartRow(rebuild.a, { op: 'reconstruct', code, impl: 'reed-solomon-erasure.wasm' }),
        chartRow(rebuild.b, { op: 'reconstruct', code, impl: 'simd kernel' })
      )
      summary[`reconstruct ${code} ${missing} missing simd÷library (wall, cpu)`] =
        `${rebuild.ratio.toFixed(2)}, ${rebuild.cpuRatio.toFixed(2)}`
      if (k === 10 && m === 20) {
        summary[`encode (10,20) ≥ ${REQUIRED_ENCODE_RATIO}× library`] =
          encode.ratio >= REQUIRED_ENCODE_RATIO ? 'yes' : 'NO'
        summary[`reconstruct (10,20) ≥ ${REQUIRED_RECONSTRUCT_RATIO}× library`] =
          rebuild.ratio >= REQUIRED_RECONSTRUCT_RATIO ? 'yes' : 'NO'
        // CPU time, not wall time: on a shared machine the wall clock mostly measures the other processes.
        const cpuMbPerSec = DATA_BYTES / 1e6 / (encode.b.cpuMedianMs / 1000)
        summary['encode (10,20) simd MB/s of CPU time'] = Math.round(cpuMbPerSec)
        summary[`encode (10,20) ≥ ${GOAL_ENCODE_MB_PER_SEC} MB/s of CPU time (goal: ¼ of ISA-L)`] =
          cpuMbPerSec >= GOAL_ENCODE_MB_PER_SEC ? 'yes' : 'no'
      }
    }
    const chart = (op: string): Chart => ({
      id: op,
      title: `Reed-Solomon ${op}, 64 MiB of data (MB/s; whiskers: slowest and fastest run)`,
      mark: 'bar',
      x: { field: 'code', title: '(k, m)' },
      y: { field: 'value', title: 'MB/s' },
      color: { field: 'impl', title: 'implementation' },
      range: { min: 'min', max: 'max' },
      rows: rows.filter((r) => r.op === op)
    })
    return {
      measurements,
      summary,
      charts: [chart('encode'), chart('reconstruct')],
      notes: [
        'MB/s are decimal (10^6 bytes/s) of the 64 MiB of data per stripe, for encode and reconstruct alike.',
        'simd÷library is the median over runs of time(library) ÷ time(simd), each pair run back to back; cpu: the same with process CPU time.',
        "'simd strict' is the build without relaxed SIMD, used on engines that lack it.",
        'the library reconstructs on a fresh WASM instance per call (its allocator breaks after a few calls).',
        'Intel ISA-L in C on this CPU (PLATFORM.md): 24 GB/s (4,2), 3.0 GB/s (10,20), 1.1 GB/s (29,51).'
      ]
    }
  }
}

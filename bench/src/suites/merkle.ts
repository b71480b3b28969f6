/**
 * Merkle commitment throughput: the WASM kernel against the TypeScript reference, two per-message SHA-256
 * libraries and node:crypto hashing the same bytes once (the speed reference of DESIGN.md); the native SHA-NI
 * hasher (the default where it is built) against the kernel; then the provider's cost of answering a challenge
 * (c = 10 proofs from a cached chunk tree, chunks re-read from disk), on the default hasher.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256 } from '@noble/hashes/sha2.js'
import { createSHA256 } from 'hash-wasm'
import {
  buildChunkTree,
  buildTree,
  challengeIndices,
  decodeChunkTree,
  encodeChunkTree,
  hasherName,
  merkleRoot,
  merkleRootReference,
  merkleRootWasm,
  verifyProof
} from '@sherd/proofs'
import { chartRow, measure, measurePaired, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'
import type { Chart } from '../plot.js'

/** The DESIGN.md requirement and goal for kernel ÷ node:crypto on 64 MiB. */
const REQUIRED_RATIO = 0.08
const GOAL_RATIO = 0.12
/** Challenges per proof set: the protocol default c. */
const CHALLENGES = 10

/** A tree root built one SHA-256 call per 65-byte message: how a tree is built without a kernel. */
function rootPerMessage(data: Uint8Array, hash: (message: Uint8Array) => Uint8Array): Uint8Array {
  const leafCount = Math.max(1, Math.ceil(data.length / 64))
  let width = 1
  while (width < leafCount) width *= 2
  let level: Uint8Array[] = []
  const message = new Uint8Array(65)
  for (let i = 0; i < width; i++) {
    if (i >= leafCount) {
      level.push(new Uint8Array(32))
      continue
    }
    message.fill(0)
    message.set(data.subarray(i * 64, Math.min(i * 64 + 64, data.length)), 1)
    level.push(hash(message))
  }
  message[0] = 1
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      message.set(level[i]!, 1)
      message.set(level[i + 1]!, 33)
      next.push(hash(message))
    }
    level = next
  }
  return level[0]!
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

export const merkleSuite: Suite = {
  name: 'merkle',
  description:
    'Merkle root throughput (WASM kernel vs TS, @noble/hashes, hash-wasm, node:crypto; native SHA-NI vs kernel) and proof extraction',
  async run({ full, log }): Promise<SuiteResult> {
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {
      'default hasher': hasherName()
    }
    const native = hasherName() === 'native-sha-ni'
    const notes: string[] = []
    const wasmHasher = await createSHA256()
    const hashWasm = (m: Uint8Array): Uint8Array => {
      wasmHasher.init()
      wasmHasher.update(m)
      return wasmHasher.digest('binary')
    }
    const nodePerMessage = (m: Uint8Array): Uint8Array => createHash('sha256').update(m).digest()

    const sizes = [1, 16, 64]
    const data = randomBytes(64 * MIB)
    for (const mib of sizes) {
      const input = data.subarray(0, mib * MIB)
      const bytes = input.length
      log(`root of ${mib} MiB`)
      const runs = mib >= 64 ? (full ? 9 : 5) : full ? 9 : 7
      const expected = merkleRootWasm(input)
      const paired = await measurePaired(
        { name: `hash once/node:crypto ${mib} MiB`, fn: () => createHash('sha256').update(input).digest() },
        { name: `root/kernel ${mib} MiB`, fn: () => merkleRootWasm(input) },
        { bytes, runs, warmup: 1 }
      )
      paired.b.extra = { 'kernel÷node': paired.ratio, 'kernel÷node cpu': paired.cpuRatio }
      measurements.push(paired.a, paired.b)
      summary[`ratio kernel÷node:crypto ${mib} MiB, wall`] = +paired.ratio.toFixed(4)
      summary[`ratio kernel÷node:crypto ${mib} MiB, cpu`] = +paired.cpuRatio.toFixed(4)
      if (native) {
        if (!same(merkleRoot(input), expected))
          throw new Error(`the native hasher disagrees with the kernel on ${mib} MiB`)
        const vsKernel = await measurePaired(
          { name: `root/kernel (paired with native) ${mib} MiB`, fn: () => merkleRootWasm(input) },
          { name: `root/native sha-ni ${mib} MiB`, fn: () => merkleRoot(input) },
          { bytes, runs, warmup: 1 }
        )
        vsKernel.b.extra = { 'native÷kernel': vsKernel.ratio, 'native÷kernel cpu': vsKernel.cpuRatio }
        measurements.push(vsKernel.b)
        summary[`ratio native÷kernel ${mib} MiB, cpu`] = +vsKernel.cpuRatio.toFixed(3)
      }

      // Baselines at 10–20 MB/s: 1 MiB in the quick run, every size with --full.
      if (mib === 1 || full) {
        const slowRuns = mib === 1 ? 3 : 1
        const slowWarmup = mib === 1 ? 1 : 0
        const check = (name: string, root: Uint8Array): void => {
          if (!same(root, expected)) throw new Error(`${name} disagrees with the kernel on ${mib} MiB`)
        }
        measurements.push(
          await measure(`root/ts reference ${mib} MiB`, () => check('reference', merkleRootReference(input)), {
            bytes,
            runs: slowRuns,
            warmup: slowWarmup
          })
        )
        measurements.push(
          await measure(
            `root/@noble/hashes per message ${mib} MiB`,
            () => check('noble', rootPerMessage(input, sha256)),
            { bytes, runs: slowRuns, warmup: slowWarmup }
          )
        )
        measurements.push(
          await measure(
            `root/hash-wasm per message ${mib} MiB`,
            () => check('hash-wasm', rootPerMessage(input, hashWasm)),
            { bytes, runs: slowRuns, warmup: slowWarmup }
          )
        )
        measurements.push(
          await measure(
            `root/node:crypto per message ${mib} MiB`,
            () => check('node:crypto', rootPerMessage(input, nodePerMessage)),
            { bytes, runs: slowRuns, warmup: slowWarmup }
          )
        )
      }
    }
    const treeMib = full ? 64 : 16
    log(`full tree (all levels) of ${treeMib} MiB`)
    const on = native ? 'native' : 'kernel'
    measurements.push(
      await measure(`tree/${on} all levels ${treeMib} MiB`, () => buildTree(data.subarray(0, treeMib * MIB)), {
        bytes: treeMib * MIB,
        runs: 3
      })
    )
    log('chunk tree of 64 MiB')
    measurements.push(
      await measure(`chunk tree/${on} 64 MiB`, () => buildChunkTree(data), { bytes: data.length, runs: full ? 5 : 3 })
    )

    // Proof extraction, as a provider does it: decoded chunk tree from storage, 10 chunks re-read from a file.
    log(`proof sets (c = ${CHALLENGES}) on a 64 MiB shard`)
    const dir = await mkdtemp(join(tmpdir(), 'sherd-bench-merkle-'))
    try {
      const path = join(dir, 'shard')
      await writeFile(path, data)
      const record = encodeChunkTree(buildChunkTree(data))
      measurements.push(
        await measure('chunk tree/decode 64 MiB record', () => decodeChunkTree(record), {
          runs: 20,
          extra: { 'record bytes': record.length }
        })
      )
      const tree = decodeChunkTree(record)
      const file = await open(path, 'r')
      try {
        const chunk = Buffer.alloc(tree.chunkSize)
        let set = 0
        const proveSet = async (fromFile: boolean): Promise<void> => {
          const seed = createHash('sha256').update(`seed ${set++}`).digest()
          for (const index of challengeIndices(seed, CHALLENGES, tree.leafCount)) {
            const { start, end } = tree.chunkRange(index)
            let bytes: Uint8Array
            if (fromFile) {
              await file.read(chunk, 0, end - start, start)
              bytes = chunk.subarray(0, end - start)
            } else {
              bytes = data.subarray(start, end)
            }
            const proof = tree.proveFromChunk(index, bytes)
            if (set === 1 && !verifyProof(tree.root, tree.depth, proof))
              throw new Error('bench produced an invalid proof')
          }
        }
        const sets = full ? 200 : 30
        measurements.push(
          await measure(`proof set/c=${CHALLENGES}, chunks from file (page cache)`, () => proveSet(true), {
            runs: sets,
            warmup: 3,
            extra: { proofs: CHALLENGES }
          })
        )
        measurements.push(
          await measure(`proof set/c=${CHALLENGES}, chunks in memory`, () => proveSet(false), {
            runs: sets,
            warmup: 3,
            extra: { proofs: CHALLENGES }
          })
        )
      } finally {
        await file.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }

    // CPU time: both sides are single-threaded and synchronous, and CPU time leaves out waiting for a core.
    const ratio = summary['ratio kernel÷node:crypto 64 MiB, cpu'] as number
    summary['requirement (cpu ratio ≥ 0.08) met'] = ratio >= REQUIRED_RATIO ? 'yes' : 'NO'
    summary['goal (cpu ratio ≥ 0.12) met'] = ratio >= GOAL_RATIO ? 'yes' : 'no'
    notes.push(
      'MB/s are decimal (10^6 bytes/s) of shard data; the kernel hashes 4 SHA-256 blocks per 64 bytes, node:crypto 1.'
    )
    notes.push(
      'a ratio is the median over runs of time(node:crypto) ÷ time(kernel), or time(kernel) ÷ time(native), each pair run back to back; "cpu" uses process CPU time, steadier when other processes compete for the cores.'
    )
    notes.push(
      'the full tree, chunk tree and proof rows run on the default hasher (native SHA-NI where built, else the kernel); SHERD_HASHER=wasm runs them on the kernel.'
    )
    const rootRows = measurements.flatMap((m) => {
      const match = /^(?:root|hash once)\/(.*) (\d+) MiB$/.exec(m.name)
      return match === null ? [] : [chartRow(m, { size: `${match[2]} MiB`, impl: match[1]! })]
    })
    const charts: Chart[] = [
      {
        id: 'root',
        title: 'Merkle root of shard data vs one-call SHA-256 (MB/s, log scale; whiskers: slowest and fastest run)',
        mark: 'bar',
        x: { field: 'size', title: 'data size' },
        y: { field: 'value', title: 'MB/s', log: true },
        color: { field: 'impl', title: 'implementation' },
        range: { min: 'min', max: 'max' },
        rows: rootRows
      }
    ]
    return { measurements, summary, notes, charts }
  }
}

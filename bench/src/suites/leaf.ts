/**
 * Leaf size study (docs/proofs.md, "Leaf size: measured trade-off"): tree-building throughput per CPU-second of
 * the current 64-byte leaf with the project's WASM SIMD kernel (the baseline), against 256 B, 1 KiB and 4 KiB
 * leaves whose leaf hashes go to node:crypto (SHA-NI through OpenSSL), which the kernel cannot reach, or to a
 * portable WASM SHA-256 (hash-wasm, what a page without native hashing would use). The kernel itself hashes only
 * 65-byte messages (two 64-byte blocks, the second from a table), so it cannot hash a longer leaf.
 * The alternatives are the prototype of bench/src/leaf-tree.ts; proving gas per leaf size is measured on anvil by
 * packages/contracts/test/leaf-size-gas.test.ts.
 */
import { createHash, hash, randomBytes } from 'node:crypto'
import { createSHA256 } from 'hash-wasm'
import { hasherName, merkleRoot, merkleRootWasm } from '@sherd/proofs'
import { leafHashLevel, leafTreeRoot } from '../leaf-tree.js'
import type { Sha256 } from '../leaf-tree.js'
import { MIB, measureInterleaved, pairedRatio, summarize } from '../harness.js'
import type { InterleavedEntry, Measurement, Suite, SuiteResult } from '../harness.js'
import type { Chart } from '../plot.js'

const LEAF_SIZES = [256, 1024, 4096] as const
/** A 64 MiB put at 4 + 2 hashes 1.5× its bytes in shards (the client's share of a put's CPU, issue 14). */
const PUT_SHARD_MIB = 96

const oneShot: Sha256 = (m) => hash('sha256', m, 'buffer')
const streaming: Sha256 = (m) => createHash('sha256').update(m).digest()

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

export const leafSuite: Suite = {
  name: 'leaf',
  description:
    'Merkle leaf size: tree MB per CPU-second of 64 B leaves (WASM kernel) vs 256 B, 1 KiB, 4 KiB leaves (node:crypto, hash-wasm)',
  async run({ full, log }): Promise<SuiteResult> {
    const wasm = await createSHA256()
    const portable: Sha256 = (m) => {
      wasm.init()
      wasm.update(m)
      return wasm.digest('binary')
    }
    // 8 MiB is a shard of the client's 32 MiB segments at 4 + 2.
    const mib = full ? 64 : 8
    const data = new Uint8Array(randomBytes(mib * MIB))
    const bytes = data.length

    // The prototype must be the project's format at 64 B, and its hashers must agree with each other at every size.
    const probe = data.subarray(0, MIB + 100)
    if (!sameBytes(leafTreeRoot(probe, 64, oneShot), merkleRoot(probe)))
      throw new Error('the 64-byte prototype tree disagrees with merkleRoot')
    for (const size of LEAF_SIZES) {
      const expected = leafTreeRoot(probe, size, oneShot)
      if (
        !sameBytes(leafTreeRoot(probe, size, streaming, oneShot), expected) ||
        !sameBytes(leafTreeRoot(probe, size, portable), expected)
      )
        throw new Error(`leaf hashers disagree at ${size} B`)
    }

    const slice = data.subarray(0, MIB)
    const baselineName = '64 B, WASM kernel (merkleRootWasm)'
    const entries: Array<InterleavedEntry & { bytes: number }> = [
      { name: baselineName, bytes, fn: () => merkleRootWasm(data) }
    ]
    // Today's format on the native SHA-NI hasher (the default where it is built): the row the longer leaves race.
    if (hasherName() === 'native-sha-ni')
      entries.push({ name: '64 B, native SHA-NI (merkleRoot)', bytes, fn: () => merkleRoot(data) })
    for (const size of LEAF_SIZES) {
      entries.push(
        { name: `${size} B, node:crypto hash() one-shot`, bytes, fn: () => leafTreeRoot(data, size, oneShot) },
        { name: `${size} B, node:crypto createHash`, bytes, fn: () => leafTreeRoot(data, size, streaming, oneShot) },
        { name: `${size} B, hash-wasm (portable WASM)`, bytes, fn: () => leafTreeRoot(data, size, portable) },
        // The leaf level alone: what the node levels cost is the difference from the one-shot row.
        { name: `${size} B, leaf hashes only, hash() one-shot`, bytes, fn: () => leafHashLevel(data, size, oneShot) }
      )
    }
    // Why 64 B needs a kernel: one native call per 65-byte message is per-call overhead, not hashing. On 1 MiB: it is slow.
    entries.push({
      name: '64 B, node:crypto hash() one-shot',
      bytes: slice.length,
      fn: () => leafTreeRoot(slice, 64, oneShot)
    })

    const runs = full ? 15 : 11
    log(`${entries.length} trees (${mib} MiB each, the last 1 MiB), ${runs} interleaved runs`)
    const { wallMs, cpuMs } = await measureInterleaved(entries, { runs, warmup: 1 })
    // Per-run ratios compare time per byte, since the last entry hashes fewer bytes.
    const perByte = (times: number[], n: number): number[] => times.map((t) => t / n)
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const rows: Array<Record<string, number | string>> = []
    const rate = new Map<string, number>()
    for (const [j, e] of entries.entries()) {
      const m = summarize(e.name, wallMs[j]!, cpuMs[j]!, e.bytes)
      const mbPerCpuS = e.bytes / 1e6 / (m.cpuMedianMs / 1000)
      rate.set(e.name, mbPerCpuS)
      m.extra = {
        'MB/CPU-s': +mbPerCpuS.toFixed(1),
        'put hashing CPU-s (96 MiB)': +((PUT_SHARD_MIB * MIB) / 1e6 / mbPerCpuS).toFixed(3)
      }
      summary[`MB per CPU-second, ${e.name}`] = +mbPerCpuS.toFixed(1)
      if (j > 0) {
        const cpuRatio = pairedRatio(perByte(cpuMs[0]!, bytes), perByte(cpuMs[j]!, e.bytes))
        const wallRatio = pairedRatio(perByte(wallMs[0]!, bytes), perByte(wallMs[j]!, e.bytes))
        m.extra['÷ kernel 64 B, cpu'] = +cpuRatio.toFixed(3)
        m.extra['÷ kernel 64 B, wall'] = +wallRatio.toFixed(3)
        summary[`${e.name} ÷ 64 B kernel, cpu`] = +cpuRatio.toFixed(3)
      }
      measurements.push(m)
      if (!e.name.includes('leaf hashes only')) {
        const [leaf, impl] = e.name.split(', ')
        rows.push({ leaf: leaf!, impl: impl!, value: mbPerCpuS })
      }
    }
    const kernelRate = rate.get(baselineName)!
    summary['hashing CPU-s of a 64 MiB 4 + 2 put (96 MiB of shards), 64 B kernel'] = +(
      (PUT_SHARD_MIB * MIB) /
      1e6 /
      kernelRate
    ).toFixed(3)
    // Derived, not measured as one tree: native leaf hashes plus node levels at the kernel's measured cost per
    // 65-byte message (its 64 B tree hashes 2 per leaf), i.e. what a kernel entry point for node levels would give.
    const kernelSecondsPerMessage = 64 / (kernelRate * 1e6) / 2
    for (const size of LEAF_SIZES) {
      const leafOnly = rate.get(`${size} B, leaf hashes only, hash() one-shot`)!
      const perByteSeconds = 1 / (leafOnly * 1e6) + kernelSecondsPerMessage / size
      summary[`derived: MB per CPU-second, ${size} B, hash() leaves + kernel-speed nodes`] = +(
        1 /
        perByteSeconds /
        1e6
      ).toFixed(1)
    }

    const charts: Chart[] = [
      {
        id: 'throughput',
        title: 'Merkle tree of shard data by leaf size (MB per CPU-second, log scale)',
        mark: 'bar',
        x: { field: 'leaf', title: 'leaf size' },
        y: { field: 'value', title: 'MB per CPU-second', log: true },
        color: { field: 'impl', title: 'leaf hashes by' },
        rows
      }
    ]
    return {
      measurements,
      summary,
      notes: [
        'MB/CPU-s: 10^6 bytes of shard data per CPU-second of this process at the median (user + system); every tree is the same bytes, hashed once per run, entries interleaved run by run.',
        '÷ kernel 64 B: median over runs of time(64 B kernel) ÷ time(row), CPU and wall; above 1, the row is faster than today.',
        'nodes are SHA-256(0x01 ‖ left ‖ right) as today, one node:crypto hash() call each (hash-wasm rows: one hash-wasm call each); the kernel hashes only 65-byte messages, so it can build neither the longer leaves nor, through @sherd/proofs, these node levels.',
        'put hashing CPU-s: 96 MiB (a 64 MiB file at 4 + 2) at the row’s MB/CPU-s, the hashing part of a put only.',
        '"leaf hashes only" rows hash the leaf level and stop; "derived" figures add node levels at the kernel’s measured CPU per 65-byte message (no such kernel entry point exists in @sherd/proofs).'
      ],
      charts
    }
  }
}

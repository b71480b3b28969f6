import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { hasherName, merkleRoot, merkleRootWasm } from '@sherd/proofs'
import { nativeHasher } from '../src/default-hasher.js'
import { kernelHasher } from '../src/kernel.js'
import { loadHashLevel } from '../src/native-node.js'
import { bytesOf, EDGE_SIZES, hex, oracleRoot } from './oracle.js'

/** Where the CPU has SHA-NI the native hasher must be built and used: a failed build is a failure here, not a skip. */
const cpuHasShaNi =
  process.arch === 'x64' && process.platform === 'linux' && /\bsha_ni\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))
const native = nativeHasher()
const kernel = kernelHasher()!
const nodeSha = (m: Uint8Array): string => createHash('sha256').update(m).digest('hex')

describe.runIf(cpuHasShaNi)('native SHA-NI hasher', () => {
  it('is built and is the default where the CPU has SHA-NI', () => {
    expect(native).not.toBeNull()
    expect(hasherName()).toBe('native-sha-ni')
  })

  it('hashes prefix ‖ 64 bytes like node:crypto for every count (pairs and an odd one) and prefix, in place too', () => {
    const hashLevel = loadHashLevel()!
    for (const n of [0, 1, 2, 3, 4, 5, 17]) {
      for (const prefix of [0, 1, 0xff]) {
        const src = randomBytes(n * 64)
        const dst = new Uint8Array(n * 32)
        hashLevel(src, dst, n, prefix)
        const inPlace = Uint8Array.from(src)
        hashLevel(inPlace, inPlace, n, prefix)
        for (let i = 0; i < n; i++) {
          const expected = nodeSha(Buffer.concat([Uint8Array.of(prefix), src.subarray(i * 64, i * 64 + 64)]))
          expect(hex(dst.subarray(i * 32, i * 32 + 32)), `n ${n} prefix ${prefix} message ${i}`).toBe(expected)
          expect(hex(inPlace.subarray(i * 32, i * 32 + 32))).toBe(expected)
        }
      }
    }
  })

  it('refuses counts its buffers cannot hold, and a prefix that is not a byte, with a RangeError', () => {
    const hashLevel = loadHashLevel()!
    expect(() => hashLevel(new Uint8Array(127), new Uint8Array(64), 2, 0)).toThrow(RangeError)
    expect(() => hashLevel(new Uint8Array(128), new Uint8Array(63), 2, 0)).toThrow(RangeError)
    expect(() => hashLevel(new Uint8Array(64), new Uint8Array(32), -1, 0)).toThrow(RangeError)
    expect(() => hashLevel(new Uint8Array(64), new Uint8Array(32), 1, 256)).toThrow(RangeError)
    // n · 64 wraps a 64-bit product: the check must not.
    expect(() => hashLevel(new Uint8Array(64), new Uint8Array(32), 2 ** 59 + 1, 0)).toThrow(RangeError)
    expect(() => hashLevel(new Uint16Array(32) as unknown as Uint8Array, new Uint8Array(32), 1, 0)).toThrow(RangeError)
  })

  it('gives the WASM kernel’s levels, subtree roots of every width and upper levels', () => {
    for (const size of [0, 1, 63, 64, 65, 64 * 5 + 1, 64 * 100 + 9, 64 * 2048 + 64, 64 * 16_384, 64 * 16_385 + 3]) {
      const data = bytesOf(size, size + 11)
      const leaves = Math.max(1, Math.ceil(size / 64))
      let width = 1
      while (width < leaves) width *= 2
      if (width <= 4096)
        expect(hex(native!.levels(data, width)), `levels of ${size}`).toBe(hex(kernel.levels(data, width)))
      for (let sub = 1; sub <= 2 * width; sub *= 2) {
        expect(hex(native!.subtreeRoots(data, sub)), `size ${size} subtree ${sub}`).toBe(
          hex(kernel.subtreeRoots(data, sub))
        )
      }
    }
    for (const width of [1, 2, 8, 64]) {
      for (const n of new Set([1, 3, width - 1, width].filter((x) => x >= 1 && x <= width))) {
        for (const base of [0, 1, 10, 20]) {
          const nodes = randomBytes(n * 32)
          expect(hex(native!.upperLevels(nodes, width, base)), `width ${width} n ${n} base ${base}`).toBe(
            hex(kernel.upperLevels(nodes, width, base))
          )
        }
      }
    }
  })

  it('agrees with the node:crypto oracle and the WASM kernel on edge sizes and on shards past the 1 MiB slices', () => {
    for (const size of EDGE_SIZES) {
      const data = bytesOf(size, size + 29)
      expect(hex(merkleRoot(data)), `size ${size}`).toBe(hex(oracleRoot(data)))
    }
    for (const size of [2 * 1024 * 1024, 3 * 1024 * 1024 + 100, 5 * 1024 * 1024 + 64 * 7]) {
      const data = randomBytes(size)
      expect(hex(merkleRoot(data)), `size ${size}`).toBe(hex(merkleRootWasm(data)))
    }
  })
})

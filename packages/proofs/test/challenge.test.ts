import { describe, expect, it } from 'vitest'
import { challengeIndices, MAX_CHALLENGES } from '@sherd/proofs'

// keccak256(abi.encode(bytes32(0), uint256(0))) = keccak256 of 64 zero bytes, a widely published constant.
const KECCAK_64_ZEROS = 0xad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5n

describe('challengeIndices', () => {
  it('derives index j as keccak256(seed ‖ uint256 j) mod leafCount', () => {
    const seed = new Uint8Array(32)
    for (const leafCount of [1, 2, 3, 1000, 2 ** 20, 2 ** 40 + 3]) {
      expect(challengeIndices(seed, 1, leafCount)).toEqual([Number(KECCAK_64_ZEROS % BigInt(leafCount))])
    }
  })

  it('is deterministic, in range, and differs per j and per seed', () => {
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i)
    const a = challengeIndices(seed, 50, 1_000_003)
    expect(challengeIndices(seed, 50, 1_000_003)).toEqual(a)
    expect(new Set(a).size).toBeGreaterThan(45)
    for (const i of a) expect(i >= 0 && i < 1_000_003).toBe(true)
    expect(challengeIndices(seed, 10, 1_000_003)).toEqual(a.slice(0, 10))
    const other = seed.slice()
    other[31] = 0
    expect(challengeIndices(other, 10, 1_000_003)).not.toEqual(a.slice(0, 10))
    expect(challengeIndices(seed, 0, 5)).toEqual([])
  })

  it('checks its inputs', () => {
    expect(() => challengeIndices(new Uint8Array(31), 1, 10)).toThrow(TypeError)
    expect(() => challengeIndices(new Uint8Array(32), -1, 10)).toThrow(RangeError)
    expect(() => challengeIndices(new Uint8Array(32), MAX_CHALLENGES + 1, 10)).toThrow(RangeError)
    expect(() => challengeIndices(new Uint8Array(32), 1, 0)).toThrow(RangeError)
  })
})

import { createCipheriv, randomBytes } from 'node:crypto'
import type { CipherGCMTypes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AES_256_GCM, CHACHA20_POLY1305, nativeAead } from '@sherd/proofs/aead-node'
import type { AeadAlgorithm } from '@sherd/proofs/aead-node'

/** Where the build has a compiler and Node's headers (Linux here), the AEAD must be built and used, not skipped. */
const mustBuild = process.platform === 'linux' && process.env.SHERD_NATIVE !== '0' && process.env.SHERD_AEAD !== 'node'
const ALGORITHMS: Array<[string, AeadAlgorithm, string]> = [
  ['ChaCha20-Poly1305', CHACHA20_POLY1305, 'chacha20-poly1305'],
  ['AES-256-GCM', AES_256_GCM, 'aes-256-gcm']
]
// Empty, one byte, around a noise frame's largest (65535 − 16) and a sealed chunk's (65536 − 16), and a 1 MiB run.
const SIZES = [0, 1, 15, 16, 17, 1000, 65519, 65520, 65521, 1 << 20]

function nodeSeal(name: string, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, message: Uint8Array): Buffer {
  const cipher = createCipheriv(name as CipherGCMTypes, key, nonce, { authTagLength: 16 })
  if (aad.length > 0) cipher.setAAD(aad, { plaintextLength: message.length })
  return Buffer.concat([cipher.update(message), cipher.final(), cipher.getAuthTag()])
}

describe('nativeAead', () => {
  it.runIf(mustBuild)('is built and loaded here', () => {
    expect(nativeAead).not.toBeNull()
  })
})

describe.runIf(nativeAead !== null).each(ALGORITHMS)('native %s', (_, algorithm, nodeName) => {
  const aead = nativeAead!

  it('seals byte for byte as node:crypto does, from one array or in parts, and opens back, in place too', () => {
    for (const size of SIZES) {
      const key = randomBytes(32)
      const nonce = randomBytes(12)
      const aad = randomBytes(size % 2 === 0 ? 0 : 32)
      const message = randomBytes(size)
      const expected = nodeSeal(nodeName, key, nonce, aad, message)
      const whole = new Uint8Array(size + 16)
      aead.seal(algorithm, key, nonce, aad, message, whole)
      expect(Buffer.from(whole).equals(expected), `size ${size}`).toBe(true)
      const third = Math.floor(size / 3)
      const parts = [message.subarray(0, third), new Uint8Array(0), message.subarray(third)]
      const pieced = new Uint8Array(size + 16)
      aead.seal(algorithm, key, nonce, aad, parts, pieced)
      expect(Buffer.from(pieced).equals(expected), `size ${size} in parts`).toBe(true)
      // In place: the frame's plaintext where its ciphertext goes.
      const frame = new Uint8Array(size + 16)
      frame.set(message)
      aead.seal(algorithm, key, nonce, aad, frame.subarray(0, size), frame)
      expect(Buffer.from(frame).equals(expected), `size ${size} in place`).toBe(true)

      const opened = new Uint8Array(size)
      expect(aead.open(algorithm, key, nonce, aad, expected.subarray(0, size), expected.subarray(size), opened)).toBe(
        true
      )
      expect(Buffer.from(opened).equals(message)).toBe(true)
      expect(
        aead.open(algorithm, key, nonce, aad, frame.subarray(0, size), frame.subarray(size), frame.subarray(0, size))
      ).toBe(true)
      expect(Buffer.from(frame.subarray(0, size)).equals(message), `size ${size} opened in place`).toBe(true)
    }
  })

  it('refuses a flipped byte, tag, key, nonce or aad, and zeroes what it wrote', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(12)
    const aad = randomBytes(8)
    const message = randomBytes(4096)
    const sealed = nodeSeal(nodeName, key, nonce, aad, message)
    const cases: Array<[string, Uint8Array, Uint8Array, Uint8Array, Uint8Array]> = []
    for (const at of [0, 2048, 4095, 4096, 4111]) {
      const bad = Buffer.from(sealed)
      bad[at]! ^= 1
      cases.push([`byte ${at}`, key, nonce, aad, bad])
    }
    cases.push(['key', randomBytes(32), nonce, aad, sealed], ['nonce', key, randomBytes(12), aad, sealed])
    cases.push(['aad', key, nonce, randomBytes(8), sealed], ['no aad', key, nonce, new Uint8Array(0), sealed])
    for (const [what, k, n, a, s] of cases) {
      const out = new Uint8Array(4096).fill(0xaa)
      expect(aead.open(algorithm, k, n, a, s.subarray(0, 4096), s.subarray(4096), out), what).toBe(false)
      expect(
        out.every((b) => b === 0),
        `${what}: zeroed`
      ).toBe(true)
    }
  })

  it('throws a TypeError for a wrong key, nonce, tag or output length, or buffers that overlap other than in place', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(12)
    const none = new Uint8Array(0)
    const buffer = new Uint8Array(200)
    expect(() =>
      aead.seal(algorithm, key.subarray(1), nonce, none, buffer.subarray(0, 10), new Uint8Array(26))
    ).toThrow(TypeError)
    expect(() =>
      aead.seal(algorithm, key, nonce.subarray(1), none, buffer.subarray(0, 10), new Uint8Array(26))
    ).toThrow(TypeError)
    expect(() => aead.seal(algorithm, key, nonce, none, buffer.subarray(0, 10), new Uint8Array(25))).toThrow(TypeError)
    expect(() => aead.seal(algorithm, key, nonce, none, buffer.subarray(1, 11), buffer.subarray(0, 26))).toThrow(
      TypeError
    )
    expect(() =>
      aead.open(algorithm, key, nonce, none, buffer.subarray(0, 10), buffer.subarray(10, 25), new Uint8Array(10))
    ).toThrow(TypeError)
    expect(() =>
      aead.open(algorithm, key, nonce, none, buffer.subarray(0, 10), buffer.subarray(10, 26), new Uint8Array(9))
    ).toThrow(TypeError)
    expect(() =>
      aead.open(algorithm, key, nonce, none, buffer.subarray(0, 10), buffer.subarray(10, 26), buffer.subarray(1, 11))
    ).toThrow(TypeError)
    expect(() =>
      aead.open(
        2 as AeadAlgorithm,
        key,
        nonce,
        none,
        buffer.subarray(0, 10),
        buffer.subarray(10, 26),
        new Uint8Array(10)
      )
    ).toThrow(TypeError)
    expect(() => aead.seal(algorithm, key, nonce, none, Array(65).fill(none), new Uint8Array(16))).toThrow(TypeError)
    // 64 parts is the most: sealed as one message.
    const message = randomBytes(64 * 7)
    const parts = Array.from({ length: 64 }, (_, i) => message.subarray(i * 7, (i + 1) * 7))
    const whole = new Uint8Array(message.length + 16)
    const inParts = new Uint8Array(message.length + 16)
    aead.seal(algorithm, key, nonce, none, message, whole)
    aead.seal(algorithm, key, nonce, none, parts, inParts)
    expect(inParts).toEqual(whole)
  })
})

import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { asCrypto, defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { nativeAead } from '@sherd/proofs/aead-node'
import { nodeNoiseCrypto, nodeSealsChaCha20Poly1305, noiseCryptoFor } from '@sherd/protocol/noise-node'

// Sizes around noise's 1200-byte switch to node:crypto, empty, and its largest frame (65535 - 16-byte tag).
const SIZES = [0, 1, 1199, 1200, 1201, 4096, 65519]

/** What noise hands its crypto: a plain array or a list of its own Uint8ArrayList 2.x (typed as noise types it). */
type Input = Parameters<typeof defaultCrypto.chaCha20Poly1305Encrypt>[0]
type List = Exclude<Input, Uint8Array>
type ListClass = new (...bufs: Uint8Array[]) => List

/** noise's own Uint8ArrayList class (its 2.x), taken from a list noise itself returned. */
const NoiseList = (
  defaultCrypto.chaCha20Poly1305Encrypt(
    new Uint8ArrayList(new Uint8Array(1200)) as unknown as List,
    new Uint8Array(12),
    new Uint8Array(0),
    new Uint8Array(32)
  ) as object
).constructor as ListClass

const bytes = (x: Input): Uint8Array => Uint8Array.from(x instanceof Uint8Array ? x : x.subarray())

/** The same bytes as a plain array, as noise's list split in uneven pieces, and as the workspace's list. */
function shapes(data: Uint8Array): Array<[string, () => Input]> {
  const cut = (List: ListClass) => () =>
    new List(data.slice(0, Math.floor(data.length / 3)), data.slice(Math.floor(data.length / 3)))
  return [
    ['Uint8Array', () => data.slice()],
    ["noise's Uint8ArrayList", cut(NoiseList)],
    ['Uint8ArrayList 3', cut(Uint8ArrayList as unknown as ListClass)]
  ]
}

// Both paths where this machine has the native AEAD (the default there), node:crypto's alone where it does not.
const variants: Array<[string, ReturnType<typeof noiseCryptoFor>]> = [
  ['node:crypto', noiseCryptoFor(true, null)],
  ...(nativeAead === null
    ? []
    : [['native AEAD', noiseCryptoFor(true, nativeAead)] as [string, typeof nodeNoiseCrypto]])
]

describe.each(variants)('nodeNoiseCrypto on %s', (variant, crypto) => {
  it('seals and opens byte for byte as noise default crypto does, for every size and input shape', () => {
    for (const size of SIZES) {
      const k = randomBytes(32)
      const nonce = randomBytes(12)
      const ad = randomBytes(size % 3 === 0 ? 0 : 32)
      const plaintext = randomBytes(size)
      const expected = bytes(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
      for (const [shape, input] of shapes(plaintext)) {
        const sealed = crypto.chaCha20Poly1305Encrypt(input(), nonce, ad, k)
        expect(bytes(sealed), `${size} ${shape}`).toEqual(expected)
        // The native seal makes one buffer of the frame whatever the input's shape (one allocation per frame).
        if (variant === 'node:crypto') {
          expect(sealed instanceof Uint8Array, `${size} ${shape}`).toBe(
            defaultCrypto.chaCha20Poly1305Encrypt(input(), nonce, ad, k) instanceof Uint8Array
          )
        }
      }
      for (const [shape, input] of shapes(expected)) {
        const opened = crypto.chaCha20Poly1305Decrypt(input(), nonce, ad, k)
        expect(bytes(opened), `${size} ${shape}`).toEqual(Uint8Array.from(plaintext))
        expect(bytes(opened)).toEqual(bytes(defaultCrypto.chaCha20Poly1305Decrypt(input(), nonce, ad, k)))
      }
    }
  })

  it('keeps one key for a session of many frames, and a key array rewritten in place is not served stale', () => {
    const k = randomBytes(32)
    const ad = new Uint8Array(0)
    for (let n = 0; n < 8; n++) {
      const nonce = new Uint8Array(12)
      new DataView(nonce.buffer).setUint32(4, n, true)
      const frame = randomBytes(65519)
      const sealed = crypto.chaCha20Poly1305Encrypt(frame, nonce, ad, k)
      expect(bytes(sealed)).toEqual(bytes(defaultCrypto.chaCha20Poly1305Encrypt(frame, nonce, ad, k)))
      expect(bytes(crypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, k))).toEqual(Uint8Array.from(frame))
    }
    const nonce = randomBytes(12)
    const frame = randomBytes(2000)
    randomBytes(32).copy(k)
    expect(bytes(crypto.chaCha20Poly1305Encrypt(frame, nonce, ad, k))).toEqual(
      bytes(defaultCrypto.chaCha20Poly1305Encrypt(frame, nonce, ad, k))
    )
  })

  it('refuses a flipped ciphertext byte, a flipped tag, a wrong key, nonce or associated data', () => {
    for (const size of [0, 1199, 1200, 65519]) {
      const k = randomBytes(32)
      const nonce = randomBytes(12)
      const ad = randomBytes(16)
      const sealed = bytes(crypto.chaCha20Poly1305Encrypt(randomBytes(size), nonce, ad, k))
      const flips = size === 0 ? [sealed.length - 1] : [0, Math.floor(size / 2), size - 1, size, sealed.length - 1]
      for (const at of flips) {
        for (const [shape, input] of shapes(sealed)) {
          const bad = input()
          const copy = bytes(bad)
          copy[at] = (copy[at] ?? 0) ^ 0x01
          const tampered = bad instanceof Uint8Array ? copy : new NoiseList(copy)
          expect(() => crypto.chaCha20Poly1305Decrypt(tampered, nonce, ad, k), `${size} ${shape} @${at}`).toThrow()
        }
      }
      expect(() => crypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, randomBytes(32))).toThrow()
      expect(() => crypto.chaCha20Poly1305Decrypt(sealed, randomBytes(12), ad, k)).toThrow()
      expect(() => crypto.chaCha20Poly1305Decrypt(sealed, nonce, randomBytes(16), k)).toThrow()
    }
  })

  /** One full noise frame's worth (65519 bytes of payload, the 16-byte tag after), sealed by noise's own crypto. */
  function fullFrame() {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const ad = new Uint8Array(0)
    const plaintext = randomBytes(65519)
    return { k, nonce, ad, plaintext, sealed: bytes(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)) }
  }

  it("opens where noise asks: in the frame's own bytes, or in its copy of a frame that came in pieces", () => {
    const { k, nonce, ad, plaintext, sealed } = fullFrame()
    // As noise's EncryptedMessageStream calls it: dst is the ciphertext's own bytes (a view, for one array) ...
    const frame = sealed.slice()
    const inPlace = frame.subarray(0, plaintext.length)
    const opened = crypto.chaCha20Poly1305Decrypt(frame, nonce, ad, k, inPlace)
    expect(bytes(opened)).toEqual(Uint8Array.from(plaintext))
    if (variant === 'native AEAD') expect(opened).toBe(inPlace)
    // ... or noise's contiguous copy of them (for a list).
    const list = new NoiseList(sealed.slice(0, 1000), sealed.slice(1000))
    const copy = list.subarray(0, plaintext.length)
    expect(bytes(crypto.chaCha20Poly1305Decrypt(list, nonce, ad, k, copy))).toEqual(Uint8Array.from(plaintext))
  })

  it('refuses a tampered frame where noise opens it (in place, or in its copy of the pieces) and leaves no plaintext there', () => {
    const { k, nonce, ad, plaintext, sealed } = fullFrame()
    for (const at of [0, 30_000, plaintext.length - 1, plaintext.length, sealed.length - 1]) {
      const frame = sealed.slice()
      frame[at]! ^= 0x01
      const inPlace = frame.subarray(0, plaintext.length)
      expect(() => crypto.chaCha20Poly1305Decrypt(frame, nonce, ad, k, inPlace), `in place @${at}`).toThrow()
      const pieces = new NoiseList(frame.slice(0, 1000), frame.slice(1000))
      const copy = new Uint8Array(plaintext.length)
      expect(() => crypto.chaCha20Poly1305Decrypt(pieces, nonce, ad, k, copy), `pieces @${at}`).toThrow()
      if (variant === 'native AEAD') {
        // Opened in place, the frame's bytes were overwritten before the tag failed: zeroed, never plaintext.
        expect(inPlace.every((b) => b === 0)).toBe(true)
        expect(copy.every((b) => b === 0)).toBe(true)
      }
    }
  })

  it('refuses a frame shorter than its tag', () => {
    expect(() =>
      crypto.chaCha20Poly1305Decrypt(new Uint8Array(15), randomBytes(12), new Uint8Array(0), randomBytes(32))
    ).toThrow()
  })
})

describe('noiseCryptoFor', () => {
  it("uses noise's AssemblyScript cipher for every frame where node:crypto cannot seal ChaCha20-Poly1305 (Electron's BoringSSL)", () => {
    // Node's OpenSSL can, so this runtime gets the KeyObject path. A runtime whose trial seal fails must not reach
    // node:crypto at all, which noise's defaultCrypto still does for frames of 1200 bytes and more outside
    // Electron's main process.
    expect(nodeSealsChaCha20Poly1305()).toBe(true)
    expect(nodeNoiseCrypto).not.toBe(defaultCrypto)
    const fallback = noiseCryptoFor(false, null)
    expect(fallback.chaCha20Poly1305Encrypt).toBe(asCrypto.chaCha20Poly1305Encrypt)
    expect(fallback.chaCha20Poly1305Decrypt).toBe(asCrypto.chaCha20Poly1305Decrypt)
    expect(fallback.hashSHA256).toBe(defaultCrypto.hashSHA256)
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const sealed = bytes(
      noiseCryptoFor(false, null).chaCha20Poly1305Encrypt(randomBytes(4096), nonce, new Uint8Array(0), k)
    )
    expect(bytes(nodeNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), k)).length).toBe(4096)
  })
})

import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { asCrypto, defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { CHACHA20_POLY1305 as NATIVE_CHACHA20_POLY1305, nativeAead } from '@sherd/proofs/aead-node'
import type { NativeAead } from '@sherd/proofs/aead-node'

// Node only (`@sherd/protocol/noise-node`): imports node:crypto, so nothing a browser bundle reaches may import it.

const CHACHA20_POLY1305 = 'chacha20-poly1305'
const TAG_BYTES = 16
/** noise's own switch-over: below it its AssemblyScript ChaCha20-Poly1305 beats a node:crypto cipher's setup. */
const NODE_CIPHER_MIN_BYTES = 1200

/** noise's own Uint8ArrayList (its 2.x, not the 3.x the workspace resolves), as its frames arrive. */
type NoiseList = Exclude<Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0], Uint8Array>

/** An empty list of the input's own class, so what noise appends it to is the class it made itself. */
function emptyLike(list: NoiseList): NoiseList {
  return new (list.constructor as new () => NoiseList)()
}

interface CachedKey {
  /** A copy of the bytes the KeyObject was made from, so a key array rewritten in place is never served stale. */
  readonly bytes: Buffer
  readonly key: KeyObject
}

/**
 * Keyed by the key array itself: noise's CipherState keeps one `k` array for its whole life and hands that same
 * object to every encrypt/decrypt, so one entry per session direction, dropped with the session (a WeakMap holds
 * no key alive).
 */
const keys = new WeakMap<Uint8Array, CachedKey>()

function secretKey(k: Uint8Array): KeyObject {
  const cached = keys.get(k)
  if (cached?.bytes.equals(k) === true) return cached.key
  const bytes = Buffer.from(k)
  const key = createSecretKey(bytes)
  keys.set(k, { bytes, key })
  return key
}

function encrypt(plaintext: Uint8Array | NoiseList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array) {
  const cipher = createCipheriv(CHACHA20_POLY1305, secretKey(k), nonce, { authTagLength: TAG_BYTES })
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
  if (plaintext instanceof Uint8Array) {
    const updated = cipher.update(plaintext)
    const final = cipher.final()
    const tag = cipher.getAuthTag()
    return Buffer.concat([updated, final, tag], updated.byteLength + final.byteLength + tag.byteLength)
  }
  const output = emptyLike(plaintext)
  for (const buf of plaintext) output.append(cipher.update(buf))
  const final = cipher.final()
  if (final.byteLength > 0) output.append(final)
  output.append(cipher.getAuthTag())
  return output
}

function decrypt(ciphertext: Uint8Array | NoiseList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array) {
  const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES)
  const decipher = createDecipheriv(CHACHA20_POLY1305, secretKey(k), nonce, { authTagLength: TAG_BYTES })
  const text =
    ciphertext instanceof Uint8Array
      ? ciphertext.subarray(0, ciphertext.length - TAG_BYTES)
      : ciphertext.sublist(0, ciphertext.length - TAG_BYTES)
  decipher.setAAD(ad, { plaintextLength: text.byteLength })
  decipher.setAuthTag(tag)
  if (text instanceof Uint8Array) {
    const output = decipher.update(text)
    const final = decipher.final()
    return final.byteLength > 0 ? Buffer.concat([output, final], output.byteLength + final.byteLength) : output
  }
  const output = emptyLike(ciphertext as NoiseList)
  for (const buf of text) output.append(decipher.update(buf))
  const final = decipher.final()
  if (final.byteLength > 0) output.append(final)
  return output
}

/** Most parts a frame may come in for the native seal (native/aead.c); a longer list takes the node:crypto path. */
const MAX_NATIVE_PARTS = 64

/**
 * noise's crypto on the native AEAD (@sherd/proofs/aead-node): a sealed frame is one allocation (the frame itself),
 * and an opened frame none, as it is opened where noise asks (`dst`, which noise points at the frame's own bytes, or
 * at its copy of a frame that came in pieces). node:crypto made two to four 64 KiB buffers per frame.
 */
function nativeNoiseCrypto(aead: NativeAead, fallback: ICryptoInterface): ICryptoInterface {
  return {
    ...fallback,
    chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
      const parts = plaintext instanceof Uint8Array ? plaintext : [...plaintext]
      if (Array.isArray(parts) && parts.length > MAX_NATIVE_PARTS) {
        return fallback.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
      }
      const sealed = Buffer.allocUnsafe(plaintext.byteLength + TAG_BYTES)
      aead.seal(NATIVE_CHACHA20_POLY1305, k, nonce, ad, parts, sealed)
      return sealed
    },
    chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
      const length = ciphertext.byteLength - TAG_BYTES
      if (length < 0) throw new Error('Invalid chacha20poly1305 decryption: shorter than its tag')
      const out = dst?.byteLength === length ? dst : Buffer.allocUnsafe(length)
      let sealed: Uint8Array
      if (ciphertext instanceof Uint8Array) {
        sealed = ciphertext.subarray(0, length)
      } else {
        // A frame in pieces: gathered into `out` and opened there.
        let at = 0
        for (const piece of ciphertext) {
          if (at === length) break
          const take = Math.min(piece.byteLength, length - at)
          out.set(take === piece.byteLength ? piece : piece.subarray(0, take), at)
          at += take
        }
        sealed = out
      }
      if (!aead.open(NATIVE_CHACHA20_POLY1305, k, nonce, ad, sealed, ciphertext.subarray(length), out)) {
        throw new Error('Invalid chacha20poly1305 decryption')
      }
      return out
    }
  }
}

/**
 * Whether this runtime's node:crypto seals ChaCha20-Poly1305: Node's OpenSSL does, Electron's BoringSSL does not
 * (electron/electron#24024), and noise's own guard covers only Electron's main process, not a renderer with Node
 * integration. One trial seal at load tells, whatever the runtime calls itself.
 */
export function nodeSealsChaCha20Poly1305(): boolean {
  try {
    const cipher = createCipheriv(CHACHA20_POLY1305, createSecretKey(Buffer.alloc(32)), Buffer.alloc(12), {
      authTagLength: TAG_BYTES
    })
    cipher.setAAD(Buffer.alloc(0), { plaintextLength: 1 })
    cipher.update(Buffer.alloc(1))
    cipher.final()
    return cipher.getAuthTag().byteLength === TAG_BYTES
  } catch {
    return false
  }
}

/**
 * The crypto for noise: on the native AEAD where it loaded (`aead`, by default @sherd/proofs' own; see
 * nativeNoiseCrypto), with the path below for what it cannot take. Without it: where node:crypto seals
 * ChaCha20-Poly1305, noise's own Node crypto (`defaultCrypto`) with one change: frames of 1200 bytes and more are sealed and opened with a KeyObject imported once per session key.
 * noise passes the raw 32-byte key to `createCipheriv` for every frame (≤ 64 KiB), and OpenSSL's key import was
 * about a third of its ChaCha20-Poly1305 time (docs/protocol.md, "Transport"). Same algorithm, same bytes on the
 * wire; smaller frames keep noise's path. Where it cannot (Electron's BoringSSL), noise's AssemblyScript cipher for
 * every frame: noise's `defaultCrypto` still sends large frames to node:crypto outside Electron's main process.
 */
export function noiseCryptoFor(sealsChaCha20Poly1305: boolean, aead: NativeAead | null = nativeAead): ICryptoInterface {
  const node = nodeCipherCrypto(sealsChaCha20Poly1305)
  return aead === null ? node : nativeNoiseCrypto(aead, node)
}

function nodeCipherCrypto(sealsChaCha20Poly1305: boolean): ICryptoInterface {
  if (!sealsChaCha20Poly1305) {
    return {
      ...defaultCrypto,
      chaCha20Poly1305Encrypt: asCrypto.chaCha20Poly1305Encrypt,
      chaCha20Poly1305Decrypt: asCrypto.chaCha20Poly1305Decrypt
    }
  }
  return {
    ...defaultCrypto,
    chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
      if (plaintext.byteLength < NODE_CIPHER_MIN_BYTES)
        return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
      return encrypt(plaintext, nonce, ad, k)
    },
    chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
      if (ciphertext.byteLength < NODE_CIPHER_MIN_BYTES) {
        return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
      }
      return decrypt(ciphertext, nonce, ad, k)
    }
  }
}

/** `noiseCryptoFor` this runtime. */
export const nodeNoiseCrypto: ICryptoInterface = noiseCryptoFor(nodeSealsChaCha20Poly1305())

import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { asCrypto, defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

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
 * The crypto for noise: where node:crypto seals ChaCha20-Poly1305, noise's own Node crypto (`defaultCrypto`) with
 * one change: frames of 1200 bytes and more are sealed and opened with a KeyObject imported once per session key.
 * noise passes the raw 32-byte key to `createCipheriv` for every frame (≤ 64 KiB), and OpenSSL's key import was
 * about a third of its ChaCha20-Poly1305 time (docs/protocol.md, "Transport"). Same algorithm, same bytes on the
 * wire; smaller frames keep noise's path. Where it cannot (Electron's BoringSSL), noise's AssemblyScript cipher for
 * every frame: noise's `defaultCrypto` still sends large frames to node:crypto outside Electron's main process.
 */
export function noiseCryptoFor(sealsChaCha20Poly1305: boolean): ICryptoInterface {
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

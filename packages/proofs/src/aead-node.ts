// Node only (`@sherd/proofs/aead-node`): loads a native addon and checks it against node:crypto.
import { createCipheriv, randomBytes } from 'node:crypto'
import type { CipherGCMTypes } from 'node:crypto'
import { createRequire } from 'node:module'

/** Built by scripts/build-native.mjs; absent where it could not be (no compiler, no Node or OpenSSL headers). */
const ADDON = '../native/build/aead.node'

export const AEAD_KEY_BYTES = 32
export const AEAD_NONCE_BYTES = 12
export const AEAD_TAG_BYTES = 16

/** The two AEADs the addon seals with: noise's transport cipher and the sealed chunks' cipher (the addon's numbers). */
export const CHACHA20_POLY1305 = 0
export const AES_256_GCM = 1
export type AeadAlgorithm = typeof CHACHA20_POLY1305 | typeof AES_256_GCM

/**
 * ChaCha20-Poly1305 and AES-256-GCM through the OpenSSL that Node links (native/aead.c), writing into buffers the
 * caller owns: node:crypto allocates a fresh output for every call, and on the data path those dead 64 KiB buffers
 * were a large part of what V8 collects. Same bytes as node:crypto (checked at load).
 */
export interface NativeAead {
  /**
   * Seals `src` (one array, or parts sealed as one message) into `dst`: ciphertext, then the 16-byte tag, so
   * `dst.length` must be the source's length + 16. A part may be where its own ciphertext goes (in place), never
   * elsewhere inside `dst`.
   */
  seal(
    algorithm: AeadAlgorithm,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    src: Uint8Array | readonly Uint8Array[],
    dst: Uint8Array
  ): void
  /**
   * Opens `src` with `tag` into `dst` (same length; `dst` may be `src` itself). False when the tag does not verify,
   * and then `dst` is zeroed: the plaintext is written before the check, and nobody may see it.
   */
  open(
    algorithm: AeadAlgorithm,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    src: Uint8Array,
    tag: Uint8Array,
    dst: Uint8Array
  ): boolean
}

interface Addon extends NativeAead {
  readonly available: boolean
}

const NODE_NAMES = { [CHACHA20_POLY1305]: 'chacha20-poly1305', [AES_256_GCM]: 'aes-256-gcm' } as const

/** Whether `addon` seals and opens as node:crypto does, for both algorithms, with and without additional data. */
function agreesWithNodeCrypto(addon: NativeAead): boolean {
  for (const algorithm of [CHACHA20_POLY1305, AES_256_GCM] as const) {
    const key = randomBytes(AEAD_KEY_BYTES)
    const nonce = randomBytes(AEAD_NONCE_BYTES)
    const aad = randomBytes(algorithm === CHACHA20_POLY1305 ? 32 : 0)
    const message = randomBytes(1000)
    const cipher = createCipheriv(NODE_NAMES[algorithm] as CipherGCMTypes, key, nonce, {
      authTagLength: AEAD_TAG_BYTES
    })
    if (aad.length > 0) cipher.setAAD(aad, { plaintextLength: message.length })
    const expected = Buffer.concat([cipher.update(message), cipher.final(), cipher.getAuthTag()])
    const sealed = new Uint8Array(message.length + AEAD_TAG_BYTES)
    addon.seal(algorithm, key, nonce, aad, [message.subarray(0, 300), message.subarray(300)], sealed)
    if (!expected.equals(sealed)) return false
    const opened = new Uint8Array(message.length)
    const tag = sealed.subarray(message.length)
    if (!addon.open(algorithm, key, nonce, aad, sealed.subarray(0, message.length), tag, opened)) return false
    if (!message.equals(opened)) return false
    sealed[0]! ^= 1
    if (addon.open(algorithm, key, nonce, aad, sealed.subarray(0, message.length), tag, opened)) return false
  }
  return true
}

function load(): NativeAead | null {
  if (process.env.SHERD_AEAD === 'node') return null
  let addon: Addon
  try {
    addon = createRequire(import.meta.url)(ADDON) as Addon
  } catch {
    return null
  }
  if (!addon.available) return null
  try {
    if (!agreesWithNodeCrypto(addon)) return null
  } catch {
    // An addon that throws on a well-formed call (OpenSSL refusing) is as unusable as one that disagrees.
    return null
  }
  return { seal: addon.seal, open: addon.open }
}

/**
 * The native AEAD, or null: not built, an OpenSSL without one of the ciphers, `SHERD_AEAD=node` (to compare, or to
 * rule it out), or an addon that disagrees with node:crypto (a bad build is never used).
 */
export const nativeAead: NativeAead | null = load()

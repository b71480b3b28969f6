import { deriveAesKey, GCM_NONCE_BYTES } from '@sherd/protocol'
import { SEGMENT_KEY_INFO } from './constants.js'

const infoPrefix = new TextEncoder().encode(SEGMENT_KEY_INFO)

/** Each segment key encrypts one segment only, so a fixed all-zero nonce never repeats under a key. */
const ZERO_NONCE = new Uint8Array(GCM_NONCE_BYTES)

/** HKDF `info` of segment `index`: "sherd/v1/segment" ‖ uint64 big-endian index. */
export function segmentKeyInfo (index: number): Uint8Array {
  const info = new Uint8Array(infoPrefix.length + 8)
  info.set(infoPrefix)
  new DataView(info.buffer).setBigUint64(infoPrefix.length, BigInt(index))
  return info
}

/** AES-256-GCM key of one segment: HKDF-SHA256(ikm = file key, salt = manifest keySalt, info = segmentKeyInfo(index)). */
export async function segmentKey (fileKey: Uint8Array, keySalt: Uint8Array, index: number): Promise<CryptoKey> {
  return await deriveAesKey(fileKey, keySalt, segmentKeyInfo(index))
}

/** Ciphertext ‖ 16-byte tag. */
export async function encryptSegment (key: CryptoKey, plaintext: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: ZERO_NONCE }, key, plaintext as Uint8Array<ArrayBuffer>))
}

/** Plaintext, or undefined when the tag does not verify. */
export async function decryptSegment (key: CryptoKey, sealed: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: ZERO_NONCE }, key, sealed as Uint8Array<ArrayBuffer>))
  } catch (err) {
    if ((err as Error).name === 'OperationError') return undefined
    throw err
  }
}

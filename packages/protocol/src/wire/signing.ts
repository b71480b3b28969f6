import * as dagCbor from '@ipld/dag-cbor'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { SIGNATURE_BYTES } from './constants.js'
import { InvalidSignatureError } from './errors.js'

const encoder = new TextEncoder()

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function fromHex(hex: string): Uint8Array {
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError('not a hex string')
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16))
}

/**
 * The 32-byte digest a wire signature covers: keccak256(domain tag ‖ dag-cbor(payload)). dag-cbor is canonical
 * (sorted map keys, minimal integers), so signer and verifier hash the same bytes; the tag keeps a receipt from
 * passing for an announcement.
 */
export function wireDigest(domain: string, payload: unknown): Uint8Array {
  return keccak_256(concat(encoder.encode(domain), dagCbor.encode(payload)))
}

/** EIP-191 personal-message hash of a 32-byte digest, as viem's `signMessage({ message: { raw } })` signs it. */
export function personalMessageHash(digest: Uint8Array): Uint8Array {
  return keccak_256(concat(encoder.encode(`\x19Ethereum Signed Message:\n${digest.byteLength}`), digest))
}

/** Signs a digest with an EVM private key (EIP-191); the result is r ‖ s ‖ v (v = 27 or 28), as viem produces. */
export function signDigest(privateKey: Uint8Array | `0x${string}`, digest: Uint8Array): Uint8Array {
  const key = typeof privateKey === 'string' ? fromHex(privateKey) : privateKey
  const recovered = secp256k1.sign(personalMessageHash(digest), key, { prehash: false, format: 'recovered' })
  // noble's 'recovered' format is recovery ‖ r ‖ s; Ethereum's is r ‖ s ‖ (27 + recovery).
  return concat(recovered.subarray(1, 65), Uint8Array.of(27 + (recovered[0] as number)))
}

/** The EVM address (lower-case, 0x-prefixed) that produced `signature` over `digest`. */
export function recoverSigner(digest: Uint8Array, signature: Uint8Array): `0x${string}` {
  if (signature.byteLength !== SIGNATURE_BYTES)
    throw new InvalidSignatureError(`signature must be ${SIGNATURE_BYTES} bytes, got ${signature.byteLength}`)
  const v = signature[64] as number
  const recovery = v >= 27 ? v - 27 : v
  if (recovery !== 0 && recovery !== 1) throw new InvalidSignatureError(`signature recovery byte ${v} is not 27 or 28`)
  try {
    const sig = secp256k1.Signature.fromBytes(signature.subarray(0, 64), 'compact').addRecoveryBit(recovery)
    const point = sig.recoverPublicKey(personalMessageHash(digest))
    const publicKey = point.toBytes(false)
    return `0x${toHex(keccak_256(publicKey.subarray(1)).subarray(12))}`
  } catch (err) {
    throw new InvalidSignatureError(`signature does not recover to a public key: ${(err as Error).message}`)
  }
}

/** The EVM address of a private key (lower-case, 0x-prefixed). */
export function addressOf(privateKey: Uint8Array | `0x${string}`): `0x${string}` {
  const key = typeof privateKey === 'string' ? fromHex(privateKey) : privateKey
  const publicKey = secp256k1.getPublicKey(key, false)
  return `0x${toHex(keccak_256(publicKey.subarray(1)).subarray(12))}`
}

import { InvalidKeyError } from './errors.js'
import { checkFileKey } from './manifest.js'

/** A repair key is as long as a file key: an HMAC-SHA256 output (HKDF-Expand of one block). */
export const REPAIR_KEY_BYTES = 32

/**
 * HKDF `info` of the repair branch. The file key has two branches: this one (manifest access) and the segment keys
 * ("sherd/v1/segment" ‖ index, salted by the manifest's keySalt). HKDF is one-way, so a repair key says nothing about
 * the file key or the segment keys.
 */
export const REPAIR_KEY_INFO = 'sherd/v2/repair'

const utf8 = new TextEncoder()

/**
 * The repair capability of one file: opens and re-seals its manifest (layout, commitments, providers, deals), so its
 * holder can fetch and verify shards, rebuild ciphertext shards and open replacement deals, but it cannot decrypt a
 * segment. A class with a private field, not a Uint8Array: no function that takes a file key (every function that
 * decrypts segments) type-checks with one, and `checkFileKey` refuses it at run time.
 */
export class RepairKey {
  readonly #bytes: Uint8Array

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  /** Wraps the bytes of a repair key (as carried by a `sherd://<cid>#r=<key>` link). */
  static fromBytes(bytes: Uint8Array): RepairKey {
    if (!(bytes instanceof Uint8Array) || bytes.length !== REPAIR_KEY_BYTES) {
      throw new InvalidKeyError(
        `a repair key is ${REPAIR_KEY_BYTES} bytes; got ${bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes}`
      )
    }
    return new RepairKey(bytes.slice())
  }

  /** A copy of the key's bytes (to format a link or store it). */
  bytes(): Uint8Array {
    return this.#bytes.slice()
  }

  equals(other: RepairKey): boolean {
    const a = this.#bytes
    const b = other.#bytes
    return a.length === b.length && a.every((x, i) => x === b[i])
  }

  /** Never print the key by accident (logs, JSON of an object holding one). */
  toJSON(): string {
    return 'RepairKey(…)'
  }
  toString(): string {
    return 'RepairKey(…)'
  }
}

/** True for a RepairKey instance (the class is nominal: a look-alike object is not one). */
export function isRepairKey(value: unknown): value is RepairKey {
  return value instanceof RepairKey
}

/** The repair key of a file: HKDF-SHA256(ikm = file key, salt = none, info = REPAIR_KEY_INFO), 32 bytes. */
export async function deriveRepairKey(fileKey: Uint8Array): Promise<RepairKey> {
  checkFileKey(fileKey)
  const ikm = await crypto.subtle.importKey('raw', fileKey as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveBits'])
  // The file key is 256 uniformly random bits, so HKDF-Extract needs no salt; a fixed derivation lets the holder
  // of a full link compute the same repair key the keeper was given.
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8.encode(REPAIR_KEY_INFO) },
    ikm,
    REPAIR_KEY_BYTES * 8
  )
  return RepairKey.fromBytes(new Uint8Array(bits))
}

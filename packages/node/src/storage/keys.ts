import * as dagCbor from '@ipld/dag-cbor'

/*
 * Key layout (utf8 keys, byte values), one LevelDB under <dataDir>/store. Every key the store reads or writes is
 * made here; nothing else in storage/ spells a prefix.
 *   s!w!<root>            pending marker: a write of this shard has begun and not committed
 *   s!c!<root>!<index>    shard bytes, one key per 64 KiB chunk (index: 8 hex digits, so keys sort by index)
 *   s!m!<root>            metadata (dag-cbor): byte length, stored time, encoded chunk tree
 *   s!t!<root>            claimed time (dag-cbor ms): when a client was last told this shard is already here, or
 *                         was last given an offer on it
 *   f!<cid>               a manifest's bytes (one put: atomic by itself)
 *   !<name>!…             sublevels of other components (the prover's ledger, offer nonces, latest records)
 */

export interface KeyRange {
  gte: string
  lt: string
}

/** `~` sorts after every hex digit and `!`, so `<prefix>~` bounds a prefix scan. */
const rangeOf = (prefix: string): KeyRange => ({ gte: prefix, lt: `${prefix}~` })

const MARKER = 's!w!'
const META = 's!m!'
const CLAIM = 's!t!'
const MANIFEST = 'f!'

export const markerKey = (root: string): string => `${MARKER}${root}`
export const metaKey = (root: string): string => `${META}${root}`
export const claimKey = (root: string): string => `${CLAIM}${root}`
export const manifestKey = (cid: string): string => `${MANIFEST}${cid}`
export const chunkKey = (root: string, index: number): string => `s!c!${root}!${index.toString(16).padStart(8, '0')}`

export const markerRange = (): KeyRange => rangeOf(MARKER)
export const metaRange = (): KeyRange => rangeOf(META)
export const claimRange = (): KeyRange => rangeOf(CLAIM)
export const manifestRange = (): KeyRange => rangeOf(MANIFEST)
export const chunkRange = (root: string): KeyRange => rangeOf(`s!c!${root}!`)

/** The root (or write id) a marker, metadata or claim key is about. */
export const rootOfKey = (key: string): string => key.slice(MARKER.length)

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function rootBytes(rootHex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(rootHex, 'hex'))
}

/** The value under `s!m!<root>`. */
export interface StoredMeta {
  byteLength: number
  /**
   * Where the chunks are (`s!c!<chunks>!…`) when not under the root: an upload without a declared root is written
   * under a write id (`u` + random hex, never a root) and committed by pointing its metadata there, as LevelDB
   * has no rename and moving the chunks would rewrite the shard inside the commit batch.
   */
  chunks?: string
  chunkSize: number
  /** Every record written so far has it; one without reads as 0, "unknown" (see `ShardInfo.storedAtMs`). */
  storedAtMs?: number
  tree: Uint8Array
}

export const encodeMeta = (meta: StoredMeta): Uint8Array => dagCbor.encode(meta)
export const decodeMeta = (value: Uint8Array): StoredMeta => dagCbor.decode(value)

/** The value under `s!w!<root>`: enough to account for the write if it is cleared. */
export const encodeMarker = (byteLength: number): Uint8Array => dagCbor.encode({ byteLength })

/** The value under `s!t!<root>`: ms since the epoch. */
export const encodeClaim = (atMs: number): Uint8Array => dagCbor.encode(atMs)
export const decodeClaim = (value: Uint8Array): number => dagCbor.decode(value)

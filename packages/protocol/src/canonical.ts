import * as dagCbor from '@ipld/dag-cbor'

/**
 * Strict DAG-CBOR: what this protocol accepts for every wire frame, announcement, manifest and manifest envelope.
 *
 * `@ipld/dag-cbor` decodes strictly in most ways (shortest integer and length encodings, no indefinite lengths, no
 * duplicate keys, nothing after the object), but it accepts floats (1.0 and −0.0 read as the integers 1 and 0),
 * map keys in any order, `undefined` (read as null) and invalid UTF-8 (read with U+FFFD). Each of those gives a
 * value that re-encodes to other bytes, so two readers could disagree on what was signed or hashed. The walk below
 * names the field of the first float, stray simple value or out-of-order key; the final re-encoding comparison
 * catches anything else that is not the one canonical encoding.
 */

/** Receives the path of the offending field ('' for the top level) and what is wrong; throws the caller's error. */
export type CanonicalProblem = (field: string, problem: string) => never

const utf8 = new TextDecoder('utf-8', { fatal: true })

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  return path === '' ? key : `${path}.${key}`
}

/** Encoded DAG-CBOR map keys sort by length first, then bytewise (RFC 7049 canonical order). */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return a.byteLength - b.byteLength
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  }
  return 0
}

/**
 * Walks one data item of already well-formed CBOR (dag-cbor decoded it) and returns the offset after it. Only the
 * conditions dag-cbor lets through are looked for here.
 */
function walk(bytes: Uint8Array, offset: number, path: string, problem: CanonicalProblem): number {
  const initial = bytes[offset] as number
  const major = initial >> 5
  const info = initial & 0x1f
  let argument = info
  let next = offset + 1
  if (info >= 24 && info <= 27) {
    const size = 2 ** (info - 24)
    argument = 0
    for (let i = 0; i < size; i++) argument = argument * 256 + (bytes[next + i] as number)
    next += size
  }
  switch (major) {
    case 0:
    case 1:
      return next
    case 2:
      return next + argument
    case 3:
      try {
        utf8.decode(bytes.subarray(next, next + argument))
      } catch {
        problem(path, 'is a string that is not valid UTF-8')
      }
      return next + argument
    case 4:
      for (let i = 0; i < argument; i++) next = walk(bytes, next, join(path, i), problem)
      return next
    case 5: {
      let previous: Uint8Array | undefined
      for (let i = 0; i < argument; i++) {
        const keyStart = next
        next = walk(bytes, next, path, problem)
        const key = bytes.subarray(keyStart, next)
        const name = (key[0] as number) >> 5 === 3 ? dagCbor.decode<string>(key) : `#${i}`
        if (previous !== undefined && compareKeys(previous, key) > 0) {
          problem(
            join(path, name),
            'is out of canonical key order (DAG-CBOR sorts keys by encoded length, then bytewise)'
          )
        }
        previous = key
        next = walk(bytes, next, join(path, name), problem)
      }
      return next
    }
    case 6:
      return walk(bytes, next, path, problem)
    default:
      // Major type 7: false, true and null are the only simple values DAG-CBOR keeps; the wire has no floats.
      if (info === 20 || info === 21 || info === 22) return next
      if (info >= 25 && info <= 27) problem(path, 'is a float; this protocol carries integers only (write 1, not 1.0)')
      problem(path, `is the CBOR simple value ${info}, which DAG-CBOR does not allow`)
  }
}

/**
 * Decodes bytes that must be exactly one canonical DAG-CBOR object: anything else calls `problem`, which throws
 * the caller's typed error (a wire frame gives `MalformedMessageError`, a manifest `InvalidManifestError`).
 */
export function decodeCanonical(bytes: Uint8Array, problem: CanonicalProblem): unknown {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    problem('', `is not valid DAG-CBOR (${(err as Error).message.replace(/^CBOR decode error: /, '')})`)
  }
  walk(bytes, 0, '', problem)
  const again = dagCbor.encode(value)
  if (compareKeys(again, bytes) !== 0) problem('', 'is not in canonical DAG-CBOR encoding')
  return value
}

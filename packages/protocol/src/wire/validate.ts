import { MalformedMessageError } from './errors.js'

export type WireMap = Record<string, unknown>

/** A `MalformedMessageError` for `what.key`, with the field's path kept on the error. */
export function malformed(what: string, key: string, problem: string): MalformedMessageError {
  return new MalformedMessageError(`${what}.${key} ${problem}`, { field: key })
}

export function asMap(value: unknown, what: string): WireMap {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new MalformedMessageError(`${what} must be a map`)
  }
  return value as WireMap
}

/**
 * Refuses a map with a field outside `required` and `optional`, or without one of `required`: a reader that
 * ignored unknown fields would let a sender believe it had said something the reader never acted on.
 */
export function exactFields(
  map: WireMap,
  what: string,
  required: readonly string[],
  optional: readonly string[] = []
): WireMap {
  for (const key of Object.keys(map)) {
    if (!required.includes(key) && !optional.includes(key)) {
      const known = [...required, ...optional].join(', ')
      throw malformed(what, key, `is not a field of ${what} (its fields are ${known})`)
    }
  }
  for (const key of required) {
    if (map[key] === undefined) throw malformed(what, key, 'is missing')
  }
  return map
}

export function bytesField(
  map: WireMap,
  key: string,
  what: string,
  length: { exact?: number; max?: number }
): Uint8Array {
  const v = map[key]
  if (!(v instanceof Uint8Array)) throw malformed(what, key, 'must be bytes')
  if (length.exact !== undefined && v.byteLength !== length.exact)
    throw malformed(what, key, `must be ${length.exact} bytes, got ${v.byteLength}`)
  if (length.max !== undefined && v.byteLength > length.max)
    throw malformed(what, key, `is longer than ${length.max} bytes`)
  if (v.byteLength === 0) throw malformed(what, key, 'must not be empty')
  return v
}

export function optionalBytesField(
  map: WireMap,
  key: string,
  what: string,
  length: { exact?: number; max?: number }
): Uint8Array | undefined {
  return map[key] === undefined ? undefined : bytesField(map, key, what, length)
}

/**
 * An integer from `min` to `max`. Decoded frames cannot hold floats (canonical DAG-CBOR), but values built in
 * memory can: −0 and 1.5 are refused here too.
 */
export function uintField(map: WireMap, key: string, what: string, max: number, min = 0): number {
  const v = map[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || Object.is(v, -0) || v < 0) {
    throw malformed(what, key, `must be a non-negative integer, got ${describe(v)}`)
  }
  if (v < min) throw malformed(what, key, `must be at least ${min}, got ${v}`)
  if (v > max) throw malformed(what, key, `= ${v} exceeds the limit ${max}`)
  return v
}

export function optionalUintField(map: WireMap, key: string, what: string, max: number, min = 0): number | undefined {
  return map[key] === undefined ? undefined : uintField(map, key, what, max, min)
}

export function stringField(map: WireMap, key: string, what: string, maxChars: number, minChars = 1): string {
  const v = map[key]
  if (typeof v !== 'string') throw malformed(what, key, `must be a string, got ${describe(v)}`)
  if (v.length > maxChars) throw malformed(what, key, `is longer than ${maxChars} characters`)
  if (v.length < minChars) throw malformed(what, key, 'must not be empty')
  return v
}

export function optionalStringField(map: WireMap, key: string, what: string, maxChars: number): string | undefined {
  return map[key] === undefined ? undefined : stringField(map, key, what, maxChars)
}

/** Digits of the largest uint256, 2^256 − 1. */
export const MAX_UINT256_DIGITS = 78

/** A uint256 as a decimal string (token amounts, deal ids): dag-cbor integers stop at 64 bits. */
export function decimalField(map: WireMap, key: string, what: string): string {
  const v = stringField(map, key, what, MAX_UINT256_DIGITS)
  if (!/^(0|[1-9][0-9]*)$/.test(v) || BigInt(v) >= 2n ** 256n) {
    throw malformed(what, key, `must be a decimal uint256 without leading zeros, got ${JSON.stringify(v)}`)
  }
  return v
}

export function optionalDecimalField(map: WireMap, key: string, what: string): string | undefined {
  return map[key] === undefined ? undefined : decimalField(map, key, what)
}

export function addressField(map: WireMap, key: string, what: string): `0x${string}` {
  const v = stringField(map, key, what, 42)
  if (!/^0x[0-9a-fA-F]{40}$/.test(v)) throw malformed(what, key, 'must be a 0x-prefixed 20-byte hex address')
  return v.toLowerCase() as `0x${string}`
}

function describe(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v)
  if (typeof v === 'bigint') return `${v} (beyond 2^53)`
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`
  return v === null ? 'null' : typeof v
}

/** Drops undefined members: dag-cbor refuses `undefined`. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

import { MalformedMessageError } from './errors.js'

export type WireMap = Record<string, unknown>

export function asMap (value: unknown, what: string): WireMap {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new MalformedMessageError(`${what} must be a map`)
  }
  return value as WireMap
}

export function bytesField (map: WireMap, key: string, what: string, length: { exact?: number, max?: number }): Uint8Array {
  const v = map[key]
  if (!(v instanceof Uint8Array)) throw new MalformedMessageError(`${what}.${key} must be bytes`)
  if (length.exact !== undefined && v.byteLength !== length.exact) throw new MalformedMessageError(`${what}.${key} must be ${length.exact} bytes, got ${v.byteLength}`)
  if (length.max !== undefined && v.byteLength > length.max) throw new MalformedMessageError(`${what}.${key} is longer than ${length.max} bytes`)
  return v
}

export function optionalBytesField (map: WireMap, key: string, what: string, length: { exact?: number, max?: number }): Uint8Array | undefined {
  return map[key] === undefined ? undefined : bytesField(map, key, what, length)
}

export function uintField (map: WireMap, key: string, what: string, max: number): number {
  const v = map[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new MalformedMessageError(`${what}.${key} must be a non-negative integer`)
  if (v > max) throw new MalformedMessageError(`${what}.${key} = ${v} exceeds the limit ${max}`)
  return v
}

export function optionalUintField (map: WireMap, key: string, what: string, max: number): number | undefined {
  return map[key] === undefined ? undefined : uintField(map, key, what, max)
}

export function stringField (map: WireMap, key: string, what: string, maxChars: number): string {
  const v = map[key]
  if (typeof v !== 'string') throw new MalformedMessageError(`${what}.${key} must be a string`)
  if (v.length > maxChars) throw new MalformedMessageError(`${what}.${key} is longer than ${maxChars} characters`)
  return v
}

export function optionalStringField (map: WireMap, key: string, what: string, maxChars: number): string | undefined {
  return map[key] === undefined ? undefined : stringField(map, key, what, maxChars)
}

/** A uint256 as a decimal string (token amounts, deal ids): dag-cbor integers stop at 64 bits. */
export function decimalField (map: WireMap, key: string, what: string): string {
  const v = stringField(map, key, what, 78)
  if (!/^(0|[1-9][0-9]*)$/.test(v)) throw new MalformedMessageError(`${what}.${key} must be a decimal integer string`)
  return v
}

export function optionalDecimalField (map: WireMap, key: string, what: string): string | undefined {
  return map[key] === undefined ? undefined : decimalField(map, key, what)
}

export function addressField (map: WireMap, key: string, what: string): `0x${string}` {
  const v = stringField(map, key, what, 42)
  if (!/^0x[0-9a-fA-F]{40}$/.test(v)) throw new MalformedMessageError(`${what}.${key} must be a 0x-prefixed 20-byte hex address`)
  return v.toLowerCase() as `0x${string}`
}

/** Drops undefined members: dag-cbor refuses `undefined`. */
export function compact<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { base64Of, bytesEqual, bytesOfBase64, bytesOfHex, hexOf } from '../src/bytes.js'

// The journal's hex keys and base64 manifests were written with Buffer before the browser build: entries written
// then must read back the same now, and entries written now must read in an older client.
describe('hex and base64 without Buffer', () => {
  it('give what Buffer gives, both ways, for sizes around the 32 KiB chunking of base64Of', () => {
    for (const size of [0, 1, 2, 3, 31, 32, 32_767, 32_768, 32_769, 100_001]) {
      const bytes = new Uint8Array(randomBytes(size))
      expect(hexOf(bytes)).toBe(Buffer.from(bytes).toString('hex'))
      expect(base64Of(bytes)).toBe(Buffer.from(bytes).toString('base64'))
      expect(bytesOfHex(Buffer.from(bytes).toString('hex'))).toEqual(bytes)
      expect(bytesOfBase64(Buffer.from(bytes).toString('base64'))).toEqual(bytes)
      expect(bytesEqual(bytes, new Uint8Array(bytes))).toBe(true)
    }
  })

  it('compares by content and length', () => {
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false)
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false)
  })

  it('stops at the first pair that is not hex, as Buffer does', () => {
    for (const text of ['0aff zz11', '0a1z', 'ABcd', '0a0'])
      expect(bytesOfHex(text)).toEqual(new Uint8Array(Buffer.from(text, 'hex')))
  })
})

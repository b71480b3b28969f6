// Hex and base64 without Buffer, which a browser does not have (the journal keeps keys as hex, manifests as base64).

export function hexOf(bytes: Uint8Array): string {
  let hex = ''
  for (const b of bytes) hex += b.toString(16).padStart(2, '0')
  return hex
}

const HEX_PAIR = /^[0-9a-fA-F]{2}$/

/** Bytes of a hex string (no 0x), as the journal wrote them; stops at the first pair that is not hex, as Buffer did. */
export function bytesOfHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1)
  for (let i = 0; i < out.length; i++) {
    const pair = hex.slice(2 * i, 2 * i + 2)
    if (!HEX_PAIR.test(pair)) return out.slice(0, i)
    out[i] = Number.parseInt(pair, 16)
  }
  return out
}

export function base64Of(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

export function bytesOfBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

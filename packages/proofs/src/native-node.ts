// `#native` in Node (package.json "imports"); native-browser.ts is the page's. Same export.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type { HashLevel } from './native.js'

/** Built by scripts/build-native.mjs; absent where it could not be (no compiler, not x86-64). */
const ADDON = '../native/build/sha256-level.node'

/**
 * The native level hasher, or null: not built, a CPU without SHA-NI, `SHERD_HASHER=wasm` (to compare, or to rule it
 * out), or an addon whose SHA-256 of one message disagrees with node:crypto's (a bad build is never used).
 */
export function loadHashLevel(): HashLevel | null {
  if (process.env.SHERD_HASHER === 'wasm') return null
  let addon: { supported: boolean; hashLevel: HashLevel }
  try {
    addon = createRequire(import.meta.url)(ADDON) as typeof addon
  } catch {
    return null
  }
  if (!addon.supported) return null
  const messages = new Uint8Array(3 * 64).map((_, i) => (i * 7 + 3) & 0xff)
  const digests = new Uint8Array(3 * 32)
  addon.hashLevel(messages, digests, 3, 1)
  for (let i = 0; i < 3; i++) {
    const expected = createHash('sha256')
      .update(Uint8Array.of(1))
      .update(messages.subarray(64 * i, 64 * i + 64))
      .digest()
    if (!expected.equals(digests.subarray(32 * i, 32 * i + 32))) return null
  }
  return addon.hashLevel
}

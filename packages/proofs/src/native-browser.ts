// `#native` in a browser (package.json "imports"): no native code; the trees run on the WASM kernel.
import type { HashLevel } from './native.js'

export function loadHashLevel(): HashLevel | null {
  return null
}

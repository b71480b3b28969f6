import type { TreeHasher } from './hasher.js'
import { referenceHasher } from './reference.js'

/** The hasher behind the unsuffixed API (`merkleRoot`, `buildTree`, chunk trees). */
export function defaultHasher (): TreeHasher {
  return referenceHasher
}

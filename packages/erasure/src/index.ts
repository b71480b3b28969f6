export type { ErasureCoder } from './coder.js'
export { ErasureParametersError, TooFewShardsError } from './errors.js'
export { libraryCoder } from './library.js'
export { MAX_TOTAL_SHARDS } from './params.js'

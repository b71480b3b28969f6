// Offline data path: encodeFile / decodeFile (segment, encrypt, erasure-code, commit; docs/data-path.md).
export * from './pipeline/index.js'

// The Node entry: the SDK (api.ts) and the repair keeper, a Node service (files, an HTTP endpoint).
export * from './api.js'
// The repair keeper: createKeeper and its store (docs/keeper.md).
export * from './keeper/index.js'
// For an app that embeds the SDK in Node: the V8 setting the providers run with (docs/client.md, "Running in Node").
export { accountBuffersInHeapLimit } from '@sherd/protocol/heap-node'

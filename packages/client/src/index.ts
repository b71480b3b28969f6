// The Node entry: the SDK (api.ts) and the repair keeper, a Node service (files, an HTTP endpoint).
export * from './api.js'
// The repair keeper: createKeeper and its store (docs/keeper.md).
export * from './keeper/index.js'

// The repair keeper (docs/keeper.md): a service that keeps files healthy with a repair capability.
export { createKeeper, KEEPER_PAUSE_POINTS } from './keeper.js'
export type {
  Keeper,
  KeeperClient,
  KeeperComponents,
  KeeperEvent,
  KeeperInit,
  KeeperPausePoint,
  KeeperStatus,
  SegmentView
} from './keeper.js'
export { KeeperStore, KEEPER_STORE_FILE, KEEPER_STORE_FORMAT, linkCid } from './store.js'
export type { ExtendIntent, KeeperState, KeptDeal, KeptFile, RepairIntent } from './store.js'
export { KeeperMetrics } from './metrics.js'
export { KeeperConfigError, KeeperStoreError } from './errors.js'
export * from './constants.js'
export { readFileMarketEvents, KEEPER_WATCHED_EVENTS } from './market-events.js'
export type { FileMarketEvent, KeeperWatchedEvent, WatchedDeals } from './market-events.js'

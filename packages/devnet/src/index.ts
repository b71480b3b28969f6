export { startDevnet } from './devnet.js'
export type {
  Devnet,
  DevnetAccount,
  DevnetInfo,
  DevnetProgressEvent,
  DevnetProvider,
  StartDevnetOptions
} from './devnet.js'
export { DevnetError, DevnetStartError, NotBuiltError, ProviderExitedError, ProviderStateError } from './errors.js'
export { defaultNodeCommand, resolveNodeBin } from './provider-process.js'
export type { ProviderInfo, ProviderState } from './provider-process.js'
export { TcpProxy } from './tcp-proxy.js'
export type { TcpProxyInit } from './tcp-proxy.js'
export { freePorts } from '@sherd/contracts'
export * from './constants.js'

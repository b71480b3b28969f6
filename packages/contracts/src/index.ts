// The Node entry: everything in common.ts, plus a local chain, ports, deployment files and the gas table.
export * from './common.js'
export { startAnvil, resolveAnvilBinary, ANVIL_MNEMONIC } from './anvil.js'
export { freePorts } from './ports.js'
export type { Anvil, StartAnvilOptions } from './anvil.js'
export {
  formatMarketDeployment,
  parseMarketDeployment,
  readMarketDeployment,
  writeMarketDeployment
} from './deployment-file.js'
export type { MarketDeploymentRecord, WriteMarketDeploymentOptions } from './deployment-file.js'
export { EQUAL_WEIGHT_DEALS, formatProofSetGasTable, measureProofSetGas, periodsPerMonth } from './proof-set-gas.js'
export type { MeasureProofSetGasOptions, ProofSetGasReport, ProofSetGasRow, ProofSetSetGas } from './proof-set-gas.js'

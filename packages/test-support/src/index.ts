// What the tests of every package share: a funded anvil with the market, anvil's keys, waiting on a condition,
// temp dirs and free ports. Test code only (private, never a runtime dependency).
export { deployTestMarket, startTestChain, TOKEN } from './chain.js'
export type { DeployTestMarketOptions, StartTestChainOptions, TestChain, TestMarket, TestWallet } from './chain.js'
export { anvilAccount, anvilKey } from './keys.js'
export { waitFor } from './wait.js'
export { removeDir, tempDir } from './dirs.js'
export { freePort, freePorts } from './ports.js'

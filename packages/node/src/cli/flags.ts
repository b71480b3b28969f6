// What the sherd-node commands share: the data dir, the flags that become config.json, the chain settings in force.
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { readMarketDeployment } from '@sherd/contracts'
import type { TokenInfo } from '@sherd/contracts'
import { amountForConfig, resolveAmount } from '../chain/amounts.js'
import { connectChain } from '../chain/chain.js'
import type { ChainConnection } from '../chain/chain.js'
import { ConfigError } from '../errors.js'
import { readEvmKey, readFileConfig } from '../identity.js'
import type { NodeFileConfig } from '../identity.js'
import { parseBootstrapList } from '../network/bootstrap.js'

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40
}

export function parseSize(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()]
  if (m === null || unit === undefined)
    throw new ConfigError(`cannot read size "${text}": use bytes or a unit such as 500MB, 10GiB`)
  const bytes = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new ConfigError(`size "${text}" is out of range`)
  return bytes
}

export function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`"${text}" is not a TCP port (0-65535)`)
  return port
}

export function checkMultiaddr(text: string, flag: string): string {
  try {
    multiaddr(text)
  } catch (err) {
    throw new ConfigError(
      `${flag} "${text}" is not a multiaddr (${(err as Error).message}): e.g. /ip4/0.0.0.0/tcp/4002/ws or /dns4/node.example.org/tcp/443/wss`,
      { cause: err }
    )
  }
  return text
}

/** The node listens on plain WebSockets only; TLS (wss) belongs to a reverse proxy in front of it (docs/operations.md). */
export function checkWsListen(text: string): string {
  checkMultiaddr(text, '--listen-ws')
  if (!/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/[0-9]+\/ws$/.test(text)) {
    throw new ConfigError(
      `--listen-ws "${text}" must be /ip4/<host>/tcp/<port>/ws: the node serves plain WebSockets; for wss:// put a TLS ` +
        'proxy in front of it and --announce its /dns4/<name>/tcp/443/wss address'
    )
  }
  return text
}

export function defaultDataDir(): string {
  return process.env.SHERD_NODE_DIR ?? join(homedir(), '.sherd-node')
}

/** Every command's flags. */
export const COMMON_OPTIONS = {
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

/** What init writes to config.json and start overrides it with. */
export const NODE_OPTIONS = {
  ...COMMON_OPTIONS,
  listen: { type: 'string', multiple: true },
  'listen-ws': { type: 'string', multiple: true },
  announce: { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  'http-host': { type: 'string' },
  'http-port': { type: 'string' },
  capacity: { type: 'string' },
  price: { type: 'string' },
  stake: { type: 'string' },
  'rpc-url': { type: 'string' },
  contract: { type: 'string' },
  deployment: { type: 'string' },
  'max-term': { type: 'string' }
} as const

export type NodeFlags = {
  listen?: string[]
  'listen-ws'?: string[]
  announce?: string[]
  bootstrap?: string[]
  'http-host'?: string
  'http-port'?: string
  capacity?: string
  price?: string
  stake?: string
  'rpc-url'?: string
  contract?: string
  deployment?: string
  'max-term'?: string
}

export function configFromFlags(v: NodeFlags): Partial<NodeFileConfig> {
  const out: Partial<NodeFileConfig> = {}
  if (v.listen !== undefined) out.listen = v.listen
  if (v['listen-ws'] !== undefined) out.listenWs = v['listen-ws'].map(checkWsListen)
  if (v.announce !== undefined) out.announce = v.announce.map((a) => checkMultiaddr(a, '--announce'))
  if (v.bootstrap !== undefined) {
    parseBootstrapList(v.bootstrap)
    out.bootstrap = v.bootstrap
  }
  if (v['http-host'] !== undefined) out.httpHost = v['http-host']
  if (v['http-port'] !== undefined) out.httpPort = parsePort(v['http-port'])
  if (v.capacity !== undefined) out.capacityBytes = parseSize(v.capacity)
  if (v.price !== undefined) out.pricePerMiB = amountForConfig(v.price, '--price')
  if (v.stake !== undefined) out.stake = amountForConfig(v.stake, '--stake')
  if (v['rpc-url'] !== undefined) out.rpcUrl = v['rpc-url']
  if (v.contract !== undefined) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(v.contract))
      throw new ConfigError(`--contract must be a 0x-prefixed 20-byte address, got "${v.contract}"`)
    out.contractAddress = v.contract
  }
  if (v.deployment !== undefined) out.deployment = resolve(v.deployment)
  if (v['max-term'] !== undefined) {
    const n = Number(v['max-term'])
    if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32 - 1)
      throw new ConfigError(
        `--max-term must be a whole number of periods from 1 to ${2 ** 32 - 1}, got "${v['max-term']}"`
      )
    out.maxTermPeriods = n
  }
  return out
}

/**
 * The chain settings in force. --rpc-url / --contract given now win. A deployment file given now (--deployment or
 * $SHERD_DEPLOYMENT) wins over config.json; the deployment file config.json names gives only what config.json does
 * not say itself (an `init --deployment F --rpc-url U` keeps U, e.g. a proxy in front of the file's RPC).
 */
export async function chainSettings(
  fileConfig: NodeFileConfig,
  flags: Partial<NodeFileConfig>
): Promise<NodeFileConfig & { chainId?: number }> {
  const merged: NodeFileConfig & { chainId?: number } = { ...fileConfig, ...flags }
  const env = process.env.SHERD_DEPLOYMENT
  const now = flags.deployment ?? (env !== undefined && env !== '' ? resolve(env) : undefined)
  const path = now ?? fileConfig.deployment
  if (path === undefined) return merged
  const record = await readMarketDeployment(path)
  const below: Partial<NodeFileConfig> = now === undefined ? fileConfig : {}
  merged.deployment = path
  merged.chainId = record.chainId
  merged.rpcUrl = flags.rpcUrl ?? below.rpcUrl ?? record.rpcUrl
  merged.contractAddress = flags.contractAddress ?? below.contractAddress ?? record.market
  return merged
}

/** Price and stake in base units, converted with the token's decimals where the config holds an amount as written. */
export function resolveAmounts(
  config: Pick<NodeFileConfig, 'pricePerMiB' | 'stake'>,
  token: TokenInfo
): { pricePerMiB: string; stake: string } {
  return {
    pricePerMiB: resolveAmount(
      config.pricePerMiB,
      token,
      'the price (--price, or pricePerMiB in config.json)'
    ).toString(),
    stake: resolveAmount(config.stake, token, 'the stake (--stake, or stake in config.json)').toString()
  }
}

/** The chain flags of the commands that only send transactions (withdraw, stake, exit). */
export const CHAIN_OPTIONS = {
  ...COMMON_OPTIONS,
  'rpc-url': { type: 'string' },
  contract: { type: 'string' },
  deployment: { type: 'string' }
} as const

/** The provider's market connection for `sherd-node <command>`, from its data dir and the chain flags. */
export async function connectForCommand(
  command: string,
  v: { 'data-dir'?: string } & NodeFlags
): Promise<{ conn: ChainConnection; dataDir: string }> {
  const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
  const config = await chainSettings(await readFileConfig(dataDir), configFromFlags(v))
  if (config.rpcUrl === undefined || config.contractAddress === undefined) {
    throw new ConfigError(
      `\`sherd-node ${command}\` needs the chain: pass --deployment (or --rpc-url and --contract), or set them in ${join(dataDir, 'config.json')}`
    )
  }
  const conn = await connectChain({
    rpcUrl: config.rpcUrl,
    market: config.contractAddress,
    privateKey: await readEvmKey(dataDir),
    expectedChainId: config.chainId
  })
  return { conn, dataDir }
}

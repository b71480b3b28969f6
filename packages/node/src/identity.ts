import { mkdir, readFile, rename, rm, writeFile, chmod, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { addressOf } from '@sherd/protocol'
import { AlreadyInitializedError, ConfigError, NotInitializedError } from './errors.js'
import { DEFAULT_CAPACITY_BYTES, DEFAULT_HTTP_PORT, DEFAULT_LISTEN } from './constants.js'

export const PEER_KEY_FILE = 'peer.key'
export const EVM_KEY_FILE = 'evm.key'
export const CONFIG_FILE = 'config.json'
export const STORE_DIR = 'store'
/** Written by `sherd-node exit`: the node signs no new offers, and once exited `start` refuses to stake again unless told to. */
export const EXIT_RECORD_FILE = 'exited.json'

/** What `sherd-node init` writes to <dataDir>/config.json; `start` flags override it. */
export interface NodeFileConfig {
  listen: string[]
  /** WebSocket listen addresses (`/ip4/…/tcp/…/ws`), added to `listen` at start; empty: TCP only. */
  listenWs: string[]
  /** Addresses to announce instead of the listen addresses (e.g. a TLS proxy's `/dns4/…/tcp/443/wss`); empty: the listen addresses. */
  announce: string[]
  /** Peers to stay connected to, each ending in /p2p/<peer id> (empty: the node waits to be dialled). */
  bootstrap: string[]
  httpHost: string
  httpPort: number
  capacityBytes: number
  /**
   * Price per MiB per proving period (registered on chain, announced): a whole number is token base units; an amount
   * with a unit (`0.001 tokens`, `2 SHERD`) is converted with the token's decimals at start (amounts.ts).
   */
  pricePerMiB: string
  /** Stake to register with, in the same two forms as `pricePerMiB`. */
  stake: string
  rpcUrl?: string
  contractAddress?: string
  /** The market's deployment file (absolute path): chain RPC URL and market address come from it at start. */
  deployment?: string
  /** Longest deal term signed and registered on chain (default DEFAULT_MAX_TERM_PERIODS). */
  maxTermPeriods?: number
}

export const DEFAULT_FILE_CONFIG: NodeFileConfig = {
  listen: [DEFAULT_LISTEN],
  listenWs: [],
  announce: [],
  bootstrap: [],
  httpHost: '127.0.0.1',
  httpPort: DEFAULT_HTTP_PORT,
  capacityBytes: DEFAULT_CAPACITY_BYTES,
  pricePerMiB: '1',
  stake: '0'
}

export type Hex = `0x${string}`

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

export interface InitOptions {
  /** An EVM private key to use instead of a fresh one. */
  evmKey?: Hex
  /** Values to set; with `force`, every value not given here keeps what the existing config file holds. */
  config?: Partial<NodeFileConfig>
  /** Change an existing config file (without it, an existing config is an AlreadyInitializedError). */
  force?: boolean
  /** Replace the libp2p key (new peer id); the old file is kept beside it as peer.key.replaced-<time>. */
  newPeerKey?: boolean
  /** Replace the EVM key (new chain address); the old file is kept beside it as evm.key.replaced-<time>. */
  newEvmKey?: boolean
}

/** The refusal of a second `init` without --force: what to run (or edit) instead. */
export function alreadyInitialized(dataDir: string): AlreadyInitializedError {
  const configPath = join(dataDir, CONFIG_FILE)
  return new AlreadyInitializedError(
    `${dataDir} is already initialised (${configPath} exists); nothing was changed. To change values run ` +
      `\`sherd-node init --data-dir ${dataDir} --force\` with only the flags to change (e.g. --force --price 0.002: every other value is kept), or edit ${configPath}`
  )
}

/** Whether the data dir has a config file (init ran). */
export async function hasConfig(dataDir: string): Promise<boolean> {
  return await exists(join(dataDir, CONFIG_FILE))
}

/** Writes through a temporary file and a rename, so a crash leaves the old file or the new one, never half of one. */
async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, data, { mode })
  await rename(tmp, path)
}

/** Moves a key aside instead of deleting it: a replaced EVM key may still hold funds or a stake. */
async function moveAside(path: string): Promise<string> {
  const aside = `${path}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`
  await rename(path, aside)
  return aside
}

/**
 * Creates the data dir, the libp2p key, the EVM key and the config file; keeps keys that already exist unless asked
 * to replace them. An existing config is refused without `force`; with it, only the values given change.
 */
export async function initDataDir(
  dataDir: string,
  options: InitOptions = {}
): Promise<{ created: string[]; replaced: string[]; config: NodeFileConfig; chainAddress: Hex; peerKey: PrivateKey }> {
  const configPath = join(dataDir, CONFIG_FILE)
  const configExists = await exists(configPath)
  if (configExists && options.force !== true) throw alreadyInitialized(dataDir)
  // Read before anything is written: a broken file must stop init, not be replaced by defaults.
  const existing = configExists ? await readFileConfig(dataDir) : undefined
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const created: string[] = []
  const replaced: string[] = []
  const peerKeyPath = join(dataDir, PEER_KEY_FILE)
  if (options.newPeerKey === true && (await exists(peerKeyPath))) replaced.push(await moveAside(peerKeyPath))
  if (!(await exists(peerKeyPath))) {
    const key = await generateKeyPair('Ed25519')
    await writeFile(peerKeyPath, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
    created.push(peerKeyPath)
  }
  const evmKeyPath = join(dataDir, EVM_KEY_FILE)
  if (options.evmKey !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(options.evmKey))
    throw new ConfigError('the EVM private key must be 0x followed by 64 hex digits')
  if (await exists(evmKeyPath)) {
    const current = await readEvmKey(dataDir)
    if (options.newEvmKey === true && current !== options.evmKey) {
      replaced.push(await moveAside(evmKeyPath))
    } else if (options.evmKey !== undefined && current !== options.evmKey) {
      throw new ConfigError(
        `${evmKeyPath} already holds a different key: add --new-evm-key to replace it (the old file is kept beside it), or leave out --evm-key`
      )
    }
  }
  if (!(await exists(evmKeyPath))) {
    const key = options.evmKey ?? (`0x${randomBytes(32).toString('hex')}` as Hex)
    await writeFile(evmKeyPath, `${key}\n`, { mode: 0o600, flag: 'wx' })
    created.push(evmKeyPath)
  }
  const config: NodeFileConfig = { ...DEFAULT_FILE_CONFIG, ...existing, ...options.config }
  await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n', 0o600)
  created.push(configPath)
  await chmod(dataDir, 0o700)
  return {
    created,
    replaced,
    config,
    chainAddress: addressOf(await readEvmKey(dataDir)),
    peerKey: await readPeerKey(dataDir)
  }
}

/**
 * What `sherd-node exit` leaves in the data dir. `leaving`: the provider signs no new offers and waits for its
 * collateral to be released (a running node keeps proving); `exited` (or absent, in records of older versions): its
 * stake was removed and withdrawn, and `start` does not register or stake again unless told to.
 */
export interface ExitRecord {
  provider: Hex
  contractAddress: string
  chainId: number
  phase?: 'leaving' | 'exited'
  /** The removeStake and withdraw transactions, once sent. */
  txs?: Hex[]
  /** Older records: the exit transaction. */
  tx?: Hex
  exitedAt: string
}

export async function readExitRecord(dataDir: string): Promise<ExitRecord | undefined> {
  let text: string
  try {
    text = await readFile(join(dataDir, EXIT_RECORD_FILE), 'utf8')
  } catch {
    return undefined
  }
  try {
    return JSON.parse(text) as ExitRecord
  } catch {
    throw new ConfigError(
      `${join(dataDir, EXIT_RECORD_FILE)} is not valid JSON: delete it if this provider should register again`
    )
  }
}

export async function writeExitRecord(dataDir: string, record: ExitRecord): Promise<void> {
  await writeFileAtomic(join(dataDir, EXIT_RECORD_FILE), JSON.stringify(record, null, 2) + '\n', 0o600)
}

export async function clearExitRecord(dataDir: string): Promise<void> {
  await rm(join(dataDir, EXIT_RECORD_FILE), { force: true })
}

export async function readPeerKey(dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, PEER_KEY_FILE)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch {
    throw new NotInitializedError(`${path} is missing: run \`sherd-node init --data-dir ${dataDir}\` first`)
  }
  return privateKeyFromProtobuf(bytes)
}

export async function readEvmKey(dataDir: string): Promise<Hex> {
  const path = join(dataDir, EVM_KEY_FILE)
  let text: string
  try {
    text = (await readFile(path, 'utf8')).trim()
  } catch {
    throw new NotInitializedError(`${path} is missing: run \`sherd-node init --data-dir ${dataDir}\` first`)
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(text))
    throw new ConfigError(`${path} does not hold a 0x-prefixed 32-byte hex private key`)
  return text as Hex
}

export async function readFileConfig(dataDir: string): Promise<NodeFileConfig> {
  const path = join(dataDir, CONFIG_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new NotInitializedError(`${path} is missing: run \`sherd-node init --data-dir ${dataDir}\` first`)
  }
  try {
    return { ...DEFAULT_FILE_CONFIG, ...(JSON.parse(text) as Partial<NodeFileConfig>) }
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON (${(err as Error).message}); fix it or re-run init with --force`, {
      cause: err
    })
  }
}

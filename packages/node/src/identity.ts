import { mkdir, readFile, writeFile, chmod, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { addressOf } from '@sherd/protocol'
import { ConfigError, NotInitializedError } from './errors.js'
import { DEFAULT_CAPACITY_BYTES, DEFAULT_HTTP_PORT, DEFAULT_LISTEN } from './constants.js'

export const PEER_KEY_FILE = 'peer.key'
export const EVM_KEY_FILE = 'evm.key'
export const CONFIG_FILE = 'config.json'
export const STORE_DIR = 'store'

/** What `sherd-node init` writes to <dataDir>/config.json; `start` flags override it. */
export interface NodeFileConfig {
  listen: string[]
  /** Peers to stay connected to, each ending in /p2p/<peer id> (empty: the node waits to be dialled). */
  bootstrap: string[]
  httpHost: string
  httpPort: number
  capacityBytes: number
  /** Token base units per MiB per proving period, decimal string (registered on chain, announced). */
  pricePerMiB: string
  /** Stake to register with, token base units, decimal string. */
  stake: string
  rpcUrl?: string
  contractAddress?: string
}

export const DEFAULT_FILE_CONFIG: NodeFileConfig = {
  listen: [DEFAULT_LISTEN],
  bootstrap: [],
  httpHost: '127.0.0.1',
  httpPort: DEFAULT_HTTP_PORT,
  capacityBytes: DEFAULT_CAPACITY_BYTES,
  pricePerMiB: '1',
  stake: '0'
}

export type Hex = `0x${string}`

async function exists (path: string): Promise<boolean> {
  try { await stat(path); return true } catch { return false }
}

export interface InitOptions {
  /** An EVM private key to use instead of a fresh one. */
  evmKey?: Hex
  config?: Partial<NodeFileConfig>
  /** Overwrite an existing config file (keys are never overwritten). */
  force?: boolean
}


/** Creates the data dir, the libp2p key, the EVM key and the config file; keeps keys that already exist. */
export async function initDataDir (dataDir: string, options: InitOptions = {}): Promise<{ created: string[], chainAddress: Hex, peerKey: PrivateKey }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const created: string[] = []
  const peerKeyPath = join(dataDir, PEER_KEY_FILE)
  if (!(await exists(peerKeyPath))) {
    const key = await generateKeyPair('Ed25519')
    await writeFile(peerKeyPath, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
    created.push(peerKeyPath)
  }
  const evmKeyPath = join(dataDir, EVM_KEY_FILE)
  if (!(await exists(evmKeyPath))) {
    const key = options.evmKey ?? (`0x${randomBytes(32).toString('hex')}` as Hex)
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new ConfigError('the EVM private key must be 0x followed by 64 hex digits')
    await writeFile(evmKeyPath, `${key}\n`, { mode: 0o600, flag: 'wx' })
    created.push(evmKeyPath)
  } else if (options.evmKey !== undefined && (await readEvmKey(dataDir)) !== options.evmKey) {
    throw new ConfigError(`${evmKeyPath} already holds a different key; move it away to use the one given`)
  }
  const configPath = join(dataDir, CONFIG_FILE)
  if (options.force === true || !(await exists(configPath))) {
    const config = { ...DEFAULT_FILE_CONFIG, ...options.config }
    await writeFile(configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
    created.push(configPath)
  }
  await chmod(dataDir, 0o700)
  return { created, chainAddress: addressOf(await readEvmKey(dataDir)), peerKey: await readPeerKey(dataDir) }
}

export async function readPeerKey (dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, PEER_KEY_FILE)
  let bytes: Uint8Array
  try { bytes = await readFile(path) } catch { throw new NotInitializedError(`${path} is missing: run \`sherd-node init --data-dir ${dataDir}\` first`) }
  return privateKeyFromProtobuf(bytes)
}

export async function readEvmKey (dataDir: string): Promise<Hex> {
  const path = join(dataDir, EVM_KEY_FILE)
  let text: string
  try { text = (await readFile(path, 'utf8')).trim() } catch { throw new NotInitializedError(`${path} is missing: run \`sherd-node init --data-dir ${dataDir}\` first`) }
  if (!/^0x[0-9a-fA-F]{64}$/.test(text)) throw new ConfigError(`${path} does not hold a 0x-prefixed 32-byte hex private key`)
  return text as Hex
}

export async function readFileConfig (dataDir: string): Promise<NodeFileConfig> {
  const path = join(dataDir, CONFIG_FILE)
  let text: string
  try { text = await readFile(path, 'utf8') } catch { throw new NotInitializedError(`${path} is missing: run \`sherd-node init --data-dir ${dataDir}\` first`) }
  try {
    return { ...DEFAULT_FILE_CONFIG, ...(JSON.parse(text) as Partial<NodeFileConfig>) }
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON (${(err as Error).message}); fix it or re-run init with --force`)
  }
}

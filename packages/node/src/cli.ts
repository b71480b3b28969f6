import { parseArgs } from 'node:util'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { parseBootstrapList } from './bootstrap.js'
import { ConfigError } from './errors.js'
import { connectChain, exitMarket, withdrawEarnings } from './chain.js'
import { initDataDir, readEvmKey, readFileConfig } from './identity.js'
import type { Hex, NodeFileConfig } from './identity.js'
import { createProviderNode } from './node.js'
import type { ProverInit } from './prover.js'

/** `status` asks the local HTTP API; it answers at once or not at all. */
const STATUS_TIMEOUT_MS = 5_000

const HELP: Record<string, string> = {
  main: `sherd-node: a Sherd storage provider

Usage: sherd-node <command> [flags]

Commands:
  init       create the data dir: libp2p key, EVM key, config file
  start      run the provider (prints one JSON "ready" line on stdout when listening)
  status     print the running node's status (asks its HTTP API)
  withdraw   withdraw earned tokens (chain)
  exit       unregister and withdraw the stake once deals end (chain)

Run \`sherd-node <command> --help\` for its flags. The data dir defaults to $SHERD_NODE_DIR or ~/.sherd-node.`,
  init: `Usage: sherd-node init [flags]

  --data-dir <dir>        data dir to create (default $SHERD_NODE_DIR or ~/.sherd-node)
  --evm-key <0x...>       use this EVM private key instead of generating one
  --listen <multiaddr>    libp2p listen address, repeatable (default /ip4/127.0.0.1/tcp/0)
  --bootstrap <multiaddr> peer to stay connected to, /ip4/…/tcp/…/p2p/<peer id>, repeatable (another
                          provider: through it the node joins the announcement mesh; default none)
  --http-port <port>      status API port on 127.0.0.1 (default 7070; 0 = any free port)
  --capacity <size>       bytes to offer, e.g. 10GiB, 500MB, 1048576 (default 10GiB)
  --price <amount>        token base units per MiB per proving period
  --stake <amount>        stake to register with, token base units
  --rpc-url <url>         chain JSON-RPC endpoint
  --contract <address>    Sherd market contract address
  --force                 rewrite an existing config file (keys are never replaced)
  -h, --help`,
  start: `Usage: sherd-node start [flags]   (flags override <data-dir>/config.json)

  --data-dir <dir>        data dir made by \`sherd-node init\`
  --listen <multiaddr>    libp2p listen address, repeatable
  --bootstrap <multiaddr> peer to stay connected to (…/p2p/<peer id>), repeatable; replaces the config's list.
                          Start does not wait for it: an unreachable one is retried in the background
  --http-host <host>      status API host (default 127.0.0.1)
  --http-port <port>      status API port (0 = any free port)
  --capacity <size>       bytes to offer (e.g. 10GiB)
  --price <amount>        token base units per MiB per proving period
  --stake <amount>        stake, token base units
  --rpc-url <url>         chain JSON-RPC endpoint (checked at start)
  --contract <address>    Sherd market contract (checked at start)
  --announce-interval-ms <ms>
  --withdraw-every <periods>   withdraw earnings every this many proving periods (default 0: only on \`withdraw\`)
  --report-misses <on|off>     mark other providers' missed periods for the reporter's share of the slash (default on)
  --prover-poll-ms <ms>        how often the prover checks for a new block (default 1000)
  -h, --help

On start it prints one line of JSON to stdout: {"event":"ready","peerId",...,"multiaddrs":[...],"httpPort",...}.
SIGINT/SIGTERM stop it gracefully: no new streams, running transfers finish or are undone, LevelDB is closed.`,
  status: `Usage: sherd-node status [--data-dir <dir> | --url <http://127.0.0.1:port>]

Prints the JSON status of the node running on that data dir (its HTTP API).`,
  withdraw: `Usage: sherd-node withdraw [--data-dir <dir>] [--rpc-url <url>] [--contract <address>]

Withdraws the provider's earnings from the market contract.`,
  exit: `Usage: sherd-node exit [--data-dir <dir>] [--rpc-url <url>] [--contract <address>]

Unregisters the provider; its stake returns once its deals end.`
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 }

export function parseSize (text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()]
  if (m === null || unit === undefined) throw new ConfigError(`cannot read size "${text}": use bytes or a unit such as 500MB, 10GiB`)
  const bytes = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new ConfigError(`size "${text}" is out of range`)
  return bytes
}

function parsePort (text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`"${text}" is not a TCP port (0-65535)`)
  return port
}

function parseAmount (text: string, flag: string): string {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new ConfigError(`${flag} must be a whole number of token base units, got "${text}"`)
  return text
}

function defaultDataDir (): string {
  return process.env.SHERD_NODE_DIR ?? join(homedir(), '.sherd-node')
}

const common = {
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

const nodeFlags = {
  ...common,
  listen: { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  'http-host': { type: 'string' },
  'http-port': { type: 'string' },
  capacity: { type: 'string' },
  price: { type: 'string' },
  stake: { type: 'string' },
  'rpc-url': { type: 'string' },
  contract: { type: 'string' }
} as const

type NodeFlags = { listen?: string[], bootstrap?: string[], 'http-host'?: string, 'http-port'?: string, capacity?: string, price?: string, stake?: string, 'rpc-url'?: string, contract?: string }

function configFromFlags (v: NodeFlags): Partial<NodeFileConfig> {
  const out: Partial<NodeFileConfig> = {}
  if (v.listen !== undefined) out.listen = v.listen
  if (v.bootstrap !== undefined) {
    parseBootstrapList(v.bootstrap)
    out.bootstrap = v.bootstrap
  }
  if (v['http-host'] !== undefined) out.httpHost = v['http-host']
  if (v['http-port'] !== undefined) out.httpPort = parsePort(v['http-port'])
  if (v.capacity !== undefined) out.capacityBytes = parseSize(v.capacity)
  if (v.price !== undefined) out.pricePerMiB = parseAmount(v.price, '--price')
  if (v.stake !== undefined) out.stake = parseAmount(v.stake, '--stake')
  if (v['rpc-url'] !== undefined) out.rpcUrl = v['rpc-url']
  if (v.contract !== undefined) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(v.contract)) throw new ConfigError(`--contract must be a 0x-prefixed 20-byte address, got "${v.contract}"`)
    out.contractAddress = v.contract
  }
  return out
}

async function cmdInit (args: string[]): Promise<void> {
  const { values: v } = parseArgs({ args, options: { ...nodeFlags, 'evm-key': { type: 'string' }, force: { type: 'boolean' } }, strict: true })
  if (v.help === true) { console.log(HELP.init); return }
  const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
  const evmKey = v['evm-key']
  if (evmKey !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(evmKey)) throw new ConfigError('--evm-key must be 0x followed by 64 hex digits')
  const result = await initDataDir(dataDir, { evmKey: evmKey as Hex | undefined, config: configFromFlags(v), force: v.force === true })
  console.log(JSON.stringify({ dataDir, peerId: peerIdFromPrivateKey(result.peerKey).toString(), chainAddress: result.chainAddress, created: result.created }))
}

function proverFlags (v: { 'withdraw-every'?: string, 'prover-poll-ms'?: string }): ProverInit {
  const out: ProverInit = {}
  const count = (text: string, flag: string): number => {
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${flag} must be a whole number ≥ 0, got "${text}"`)
    return n
  }
  if (v['withdraw-every'] !== undefined) out.withdrawEveryPeriods = count(v['withdraw-every'], '--withdraw-every')
  if (v['prover-poll-ms'] !== undefined) out.pollIntervalMs = Math.max(1, count(v['prover-poll-ms'], '--prover-poll-ms'))
  return out
}

function reportMissesFlag (text: string | undefined): false | undefined {
  if (text === undefined || text === 'on') return undefined
  if (text === 'off') return false
  throw new ConfigError(`--report-misses takes on or off, got "${text}"`)
}

async function cmdStart (args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: { ...nodeFlags, 'announce-interval-ms': { type: 'string' }, 'withdraw-every': { type: 'string' }, 'report-misses': { type: 'string' }, 'prover-poll-ms': { type: 'string' } },
    strict: true
  })
  if (v.help === true) { console.log(HELP.start); return }
  const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
  const config = { ...(await readFileConfig(dataDir)), ...configFromFlags(v) }
  if ((config.rpcUrl === undefined) !== (config.contractAddress === undefined)) {
    throw new ConfigError('give both --rpc-url and --contract (or neither, to run without a chain)')
  }
  const node = await createProviderNode({
    dataDir,
    listen: config.listen,
    bootstrap: config.bootstrap,
    httpHost: config.httpHost,
    httpPort: config.httpPort,
    capacityBytes: config.capacityBytes,
    pricePerMiB: config.pricePerMiB,
    announceIntervalMs: v['announce-interval-ms'] === undefined ? undefined : Number(v['announce-interval-ms']),
    chain: { rpcUrl: config.rpcUrl, contractAddress: config.contractAddress, stake: config.stake },
    processMetrics: true,
    prover: proverFlags(v),
    missReporter: reportMissesFlag(v['report-misses'])
  })
  let stopping: Promise<void> | undefined
  const shutdown = (signal: string): void => {
    if (stopping !== undefined) return
    process.stderr.write(`sherd-node: ${signal} received, stopping (transfers get a few seconds to finish)\n`)
    stopping = node.stop().then(() => { process.exit(0) }, (err) => { process.stderr.write(`sherd-node: stop failed: ${(err as Error).message}\n`); process.exit(1) })
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  try {
    await node.start()
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.code === 'EADDRINUSE') throw new ConfigError(`a port is already in use (${e.message}): pick another --http-port or --listen port, or stop the other process`)
    throw err
  }
  process.stdout.write(JSON.stringify(node.ready()) + '\n')
}

async function cmdStatus (args: string[]): Promise<void> {
  const { values: v } = parseArgs({ args, options: { ...common, url: { type: 'string' } }, strict: true })
  if (v.help === true) { console.log(HELP.status); return }
  let url = v.url
  if (url === undefined) {
    const config = await readFileConfig(resolve(v['data-dir'] ?? defaultDataDir()))
    if (config.httpPort === 0) throw new ConfigError('this node\'s config uses --http-port 0 (any free port): pass --url with the port from its ready line')
    url = `http://${config.httpHost}:${config.httpPort}`
  }
  let res: Response
  try {
    res = await fetch(`${url.replace(/\/$/, '')}/status`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
  } catch (err) {
    throw new ConfigError(`no node answers at ${url} (${(err as Error).message}): is \`sherd-node start\` running for this data dir?`)
  }
  if (!res.ok) throw new ConfigError(`${url}/status answered HTTP ${res.status}`)
  process.stdout.write(await res.text())
}

async function cmdChain (name: 'withdraw' | 'exit', args: string[]): Promise<void> {
  const { values: v } = parseArgs({ args, options: { ...common, 'rpc-url': { type: 'string' }, contract: { type: 'string' } }, strict: true })
  if (v.help === true) { console.log(HELP[name]); return }
  const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
  const config = { ...(await readFileConfig(dataDir)), ...configFromFlags(v) }
  if (config.rpcUrl === undefined || config.contractAddress === undefined) {
    throw new ConfigError(`\`sherd-node ${name}\` needs the chain: pass --rpc-url and --contract (or set rpcUrl and contractAddress in ${join(dataDir, 'config.json')})`)
  }
  const conn = await connectChain({ rpcUrl: config.rpcUrl, market: config.contractAddress, privateKey: await readEvmKey(dataDir) })
  if (name === 'withdraw') {
    const { amount, tx } = await withdrawEarnings(conn)
    if (amount === 0n) process.stderr.write(`sherd-node: nothing to withdraw for ${conn.address}\n`)
    console.log(JSON.stringify({ provider: conn.address, withdrawn: amount.toString(), tx: tx ?? null }))
  } else {
    const tx = await exitMarket(conn)
    console.log(JSON.stringify({ provider: conn.address, exited: true, tx }))
  }
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case undefined: case '-h': case '--help': case 'help':
        console.log(HELP.main); return command === undefined ? 2 : 0
      case 'init': await cmdInit(rest); return 0
      case 'start': await cmdStart(rest); return -1
      case 'status': await cmdStatus(rest); return 0
      case 'withdraw': case 'exit': await cmdChain(command, rest); return 0
      default:
        process.stderr.write(`sherd-node: unknown command "${command}"\n\n${HELP.main}\n`)
        return 2
    }
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      process.stderr.write(`sherd-node: ${e.message}\nRun \`sherd-node ${command} --help\`.\n`)
      return 2
    }
    process.stderr.write(`sherd-node: ${e.name}: ${e.message}\n`)
    return 1
  }
}

/** Entry point of bin/sherd-node.js. `start` keeps the process alive; other commands exit with their code. */
export async function run (): Promise<void> {
  const code = await main(process.argv.slice(2))
  if (code >= 0) process.exitCode = code
}

import { parseArgs } from 'node:util'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { parseBootstrapList } from './network/bootstrap.js'
import type { Address } from 'viem'
import { readMarketDeployment } from '@sherd/contracts'
import type { TokenInfo } from '@sherd/contracts'
import { ConfigError } from './errors.js'
import { addStake, connectChain, DEFAULT_MAX_TERM_PERIODS, leaveMarket, providerInfo, readMarketToken, withdrawEarnings } from './chain/chain.js'
import { alreadyInitialized, hasConfig, initDataDir, readEvmKey, readExitRecord, readFileConfig, writeExitRecord } from './identity.js'
import type { Hex, NodeFileConfig } from './identity.js'
import { amountForConfig, isBaseUnits, resolveAmount, tokens } from './chain/amounts.js'
import { createProviderNode } from './node.js'
import type { ProofSetProverInit } from './prover/index.js'

/** `status` asks the local HTTP API; it answers at once or not at all. */
const STATUS_TIMEOUT_MS = 5_000
/** `init` only tries the chain (to read the token's decimals); a chain that is not up yet must not hold it long. */
const INIT_CHAIN_TIMEOUT_MS = 5_000

const HELP: Record<string, string> = {
  main: `sherd-node: a Sherd storage provider

Usage: sherd-node <command> [flags]

Commands:
  init       create the data dir: libp2p key, EVM key, config file (--force changes an existing one)
  start      run the provider (prints one JSON "ready" line on stdout when listening)
  status     print the running node's status (asks its HTTP API)
  withdraw   withdraw claimed earnings (chain)
  stake      add to the provider's stake (chain)
  exit       leave the market: no new offers, then remove and withdraw the stake once no collateral is locked (chain)

Run \`sherd-node <command> --help\` for its flags. The data dir defaults to $SHERD_NODE_DIR or ~/.sherd-node.`,
  init: `Usage: sherd-node init [flags]

  --data-dir <dir>        data dir to create (default $SHERD_NODE_DIR or ~/.sherd-node)
  --evm-key <0x...>       use this EVM private key instead of generating one
  --listen <multiaddr>    libp2p listen address, repeatable (default /ip4/127.0.0.1/tcp/0)
  --listen-ws <multiaddr> WebSocket listen address /ip4/…/tcp/<port>/ws, repeatable (browsers dial these; default none)
  --announce <multiaddr>  address to announce instead of the listen addresses, repeatable, e.g. a TLS proxy's
                          /dns4/node.example.org/tcp/443/wss (give the public TCP one too; default: the listen ones)
  --bootstrap <multiaddr> peer to stay connected to, /ip4/…/tcp/…/p2p/<peer id>, repeatable (another
                          provider: through it the node joins the announcement mesh; default none)
  --http-port <port>      status API port on 127.0.0.1 (default 7070; 0 = any free port)
  --capacity <size>       bytes to offer, e.g. 10GiB, 500MB, 1048576 (default 10GiB)
  --price <amount>        tokens per MiB per proving period, e.g. 0.001 (base units: 1000000base)
  --stake <amount>        tokens to stake when registering, e.g. 1000 (base units: 1000base)
  --deployment <file>     the market's deployment file (sherd-market deploy, or the devnet's deployment.json):
                          chain RPC URL and market address come from it (also $SHERD_DEPLOYMENT)
  --rpc-url <url>         chain JSON-RPC endpoint (wins over the deployment file)
  --contract <address>    Sherd ProofSetMarket address (wins over the deployment file)
  --max-term <periods>    longest deal term this provider signs and clients may extend to (default ${DEFAULT_MAX_TERM_PERIODS},
                          about a year of 256-block periods)
  --force                 change an existing config: only the values given change, every other one is kept
  --new-peer-key          with --force: a new libp2p key (new peer id); the old file is kept as peer.key.replaced-…
  --new-evm-key           with --force: a new EVM key (new chain address); the old file is kept as evm.key.replaced-…
  -h, --help

Amounts are in the market token's units (its decimals are read from --contract). If the chain cannot be reached
yet, the config keeps the amount as written ("0.001 tokens") and start converts it.`,
  start: `Usage: sherd-node start [flags]   (flags override <data-dir>/config.json)

  --data-dir <dir>        data dir made by \`sherd-node init\`
  --listen <multiaddr>    libp2p listen address, repeatable
  --listen-ws <multiaddr> WebSocket listen address (/ip4/…/tcp/<port>/ws), repeatable
  --announce <multiaddr>  address to announce instead of the listen addresses, repeatable
  --bootstrap <multiaddr> peer to stay connected to (…/p2p/<peer id>), repeatable; replaces the config's list.
                          Start does not wait for it: an unreachable one is retried in the background
  --http-host <host>      status API host (default 127.0.0.1)
  --http-port <port>      status API port (0 = any free port)
  --capacity <size>       bytes to offer (e.g. 10GiB)
  --price <amount>        tokens per MiB per proving period (base units with a "base" suffix)
  --stake <amount>        tokens to stake if it registers (base units with a "base" suffix)
  --deployment <file>     the market's deployment file (also $SHERD_DEPLOYMENT); --rpc-url and --contract win over it
  --rpc-url <url>         chain JSON-RPC endpoint (checked at start)
  --contract <address>    Sherd ProofSetMarket (checked at start)
  --max-term <periods>    longest deal term signed (registered with the stake; default ${DEFAULT_MAX_TERM_PERIODS})
  --register-again        stake again after \`sherd-node exit\` (refused without it), or sign offers again while leaving
  --announce-interval-ms <ms>
  --withdraw-every <periods>   claim earnings and withdraw them every this many periods (default 4; 0: claim every 4
                               periods, withdraw only with \`sherd-node withdraw\`)
  --report-misses <on|off>     mark other providers' missed periods for the reporter's share of the slash (default on)
  --prover-poll-ms <ms>        how often the prover checks for a new block (default 1000)
  -h, --help

On start it prints one line of JSON to stdout: {"event":"ready","peerId",...,"multiaddrs":[...],"httpPort",...}.
SIGINT/SIGTERM stop it gracefully: no new streams, running transfers finish or are undone, LevelDB is closed.`,
  status: `Usage: sherd-node status [--data-dir <dir> | --url <http://127.0.0.1:port>]

Prints the JSON status of the node running on that data dir (its HTTP API).`,
  withdraw: `Usage: sherd-node withdraw [--data-dir <dir>] [--deployment <file>] [--rpc-url <url>] [--contract <address>]

Withdraws the provider's claimed earnings (a running node claims every few periods) from the market contract.`,
  stake: `Usage: sherd-node stake --add <amount> [--data-dir <dir>] [--deployment <file>] [--rpc-url <url>] [--contract <address>]

Adds tokens to the provider's stake (e.g. --add 500, or base units 500base): more free stake backs more deals.`,
  exit: `Usage: sherd-node exit [--data-dir <dir>] [--deployment <file>] [--rpc-url <url>] [--contract <address>]

Leaves the market. The market has no exit call: from the first run the provider signs no new offers (a running node
reads exited.json); while collateral is locked in deals it lists them and when each is released (a running node
proves them to the end and claims them), and refuses. Run it again then: it removes the whole stake and withdraws it.
After exit, start refuses to stake again unless given --register-again.`
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

function checkMultiaddr (text: string, flag: string): string {
  try { multiaddr(text) } catch (err) {
    throw new ConfigError(`${flag} "${text}" is not a multiaddr (${(err as Error).message}): e.g. /ip4/0.0.0.0/tcp/4002/ws or /dns4/node.example.org/tcp/443/wss`)
  }
  return text
}

/** The node listens on plain WebSockets only; TLS (wss) belongs to a reverse proxy in front of it (docs/operations.md). */
function checkWsListen (text: string): string {
  checkMultiaddr(text, '--listen-ws')
  if (!/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/[0-9]+\/ws$/.test(text)) {
    throw new ConfigError(`--listen-ws "${text}" must be /ip4/<host>/tcp/<port>/ws: the node serves plain WebSockets; for wss:// put a TLS ` +
      'proxy in front of it and --announce its /dns4/<name>/tcp/443/wss address')
  }
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

type NodeFlags = { listen?: string[], 'listen-ws'?: string[], announce?: string[], bootstrap?: string[], 'http-host'?: string, 'http-port'?: string, capacity?: string, price?: string, stake?: string, 'rpc-url'?: string, contract?: string, deployment?: string, 'max-term'?: string }

function configFromFlags (v: NodeFlags): Partial<NodeFileConfig> {
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
    if (!/^0x[0-9a-fA-F]{40}$/.test(v.contract)) throw new ConfigError(`--contract must be a 0x-prefixed 20-byte address, got "${v.contract}"`)
    out.contractAddress = v.contract
  }
  if (v.deployment !== undefined) out.deployment = resolve(v.deployment)
  if (v['max-term'] !== undefined) {
    const n = Number(v['max-term'])
    if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32 - 1) throw new ConfigError(`--max-term must be a whole number of periods from 1 to ${2 ** 32 - 1}, got "${v['max-term']}"`)
    out.maxTermPeriods = n
  }
  return out
}

/**
 * The chain settings in force. --rpc-url / --contract given now win. A deployment file given now (--deployment or
 * $SHERD_DEPLOYMENT) wins over config.json; the deployment file config.json names gives only what config.json does
 * not say itself (an `init --deployment F --rpc-url U` keeps U, e.g. a proxy in front of the file's RPC).
 */
async function chainSettings (fileConfig: NodeFileConfig, flags: Partial<NodeFileConfig>): Promise<NodeFileConfig & { chainId?: number }> {
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
function resolveAmounts (config: Pick<NodeFileConfig, 'pricePerMiB' | 'stake'>, token: TokenInfo): { pricePerMiB: string, stake: string } {
  return {
    pricePerMiB: resolveAmount(config.pricePerMiB, token, 'the price (--price, or pricePerMiB in config.json)').toString(),
    stake: resolveAmount(config.stake, token, 'the stake (--stake, or stake in config.json)').toString()
  }
}

async function cmdInit (args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: { ...nodeFlags, 'evm-key': { type: 'string' }, force: { type: 'boolean' }, 'new-peer-key': { type: 'boolean' }, 'new-evm-key': { type: 'boolean' } },
    strict: true
  })
  if (v.help === true) { console.log(HELP.init); return }
  const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
  const force = v.force === true
  const evmKey = v['evm-key']
  if (evmKey !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(evmKey)) throw new ConfigError('--evm-key must be 0x followed by 64 hex digits')
  const exists = await hasConfig(dataDir)
  if (exists && !force) throw alreadyInitialized(dataDir)
  if (!force && (v['new-peer-key'] === true || v['new-evm-key'] === true)) throw new ConfigError('--new-peer-key and --new-evm-key replace keys of an existing data dir: add --force')
  const given = configFromFlags(v)
  const config = await chainSettings({ ...(exists ? await readFileConfig(dataDir) : {}) } as NodeFileConfig, given)
  // Amounts typed as tokens become base units now if the chain answers; otherwise they stay as written for start.
  let token: TokenInfo | undefined
  const needsToken = [given.pricePerMiB, given.stake].some((a) => a !== undefined && !isBaseUnits(a))
  if (needsToken && config.rpcUrl !== undefined && config.contractAddress !== undefined) {
    try {
      token = await readMarketToken(config.rpcUrl, config.contractAddress as Address, INIT_CHAIN_TIMEOUT_MS)
    } catch (err) {
      process.stderr.write(`sherd-node: the chain at ${config.rpcUrl} did not answer (${(err as Error).message.split('\n')[0]}); ` +
        'price and stake are kept as written and converted with the token\'s decimals at start\n')
    }
  }
  if (token !== undefined) {
    if (given.pricePerMiB !== undefined) given.pricePerMiB = resolveAmount(given.pricePerMiB, token, '--price').toString()
    if (given.stake !== undefined) given.stake = resolveAmount(given.stake, token, '--stake').toString()
  }
  const result = await initDataDir(dataDir, {
    evmKey: evmKey as Hex | undefined, config: given, force, newPeerKey: v['new-peer-key'] === true, newEvmKey: v['new-evm-key'] === true
  })
  // Amounts kept from config.json are base units: shown in tokens when the chain answers, else with the base suffix.
  if (token === undefined && !needsToken && config.rpcUrl !== undefined && config.contractAddress !== undefined) {
    token = await readMarketToken(config.rpcUrl, config.contractAddress as Address, INIT_CHAIN_TIMEOUT_MS).catch(() => undefined)
  }
  const shown = (amount: string): string => !isBaseUnits(amount) ? amount : token !== undefined ? tokens(amount, token) : `${amount}base`
  console.log(JSON.stringify({
    dataDir,
    peerId: peerIdFromPrivateKey(result.peerKey).toString(),
    chainAddress: result.chainAddress,
    created: result.created,
    ...(result.replaced.length > 0 ? { replaced: result.replaced } : {}),
    pricePerMiB: shown(result.config.pricePerMiB),
    stake: shown(result.config.stake)
  }))
}

function proverFlags (v: { 'withdraw-every'?: string, 'prover-poll-ms'?: string }): ProofSetProverInit {
  const out: ProofSetProverInit = {}
  const count = (text: string, flag: string): number => {
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${flag} must be a whole number ≥ 0, got "${text}"`)
    return n
  }
  if (v['withdraw-every'] !== undefined) {
    // Claims run on the same schedule: each claim round pays every closed period since the last, then withdraws.
    const every = count(v['withdraw-every'], '--withdraw-every')
    if (every === 0) out.withdrawMinimum = 0n
    else out.claimEveryPeriods = every
  }
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
    options: {
      ...nodeFlags,
      'announce-interval-ms': { type: 'string' },
      'withdraw-every': { type: 'string' },
      'report-misses': { type: 'string' },
      'prover-poll-ms': { type: 'string' },
      'register-again': { type: 'boolean' }
    },
    strict: true
  })
  if (v.help === true) { console.log(HELP.start); return }
  const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
  const config = await chainSettings(await readFileConfig(dataDir), configFromFlags(v))
  if ((config.rpcUrl === undefined) !== (config.contractAddress === undefined)) {
    throw new ConfigError('give both --rpc-url and --contract, or --deployment (or none of them, to run without a chain)')
  }
  let amounts = { pricePerMiB: config.pricePerMiB, stake: config.stake }
  if (!isBaseUnits(config.pricePerMiB) || !isBaseUnits(config.stake)) {
    if (config.rpcUrl === undefined || config.contractAddress === undefined) {
      const written = [['price', config.pricePerMiB], ['stake', config.stake]].filter(([, a]) => !isBaseUnits(a!)).map(([k, a]) => `${k} "${a}"`)
      throw new ConfigError(`${written.join(' and ')}: token amounts need the token's decimals, read from the chain: ` +
        'pass --deployment (or --rpc-url and --contract), or give base units (e.g. --price 1000base)')
    }
    const conn = await connectChain({ rpcUrl: config.rpcUrl, market: config.contractAddress, privateKey: await readEvmKey(dataDir) })
    amounts = resolveAmounts(config, conn.token)
  }
  const node = await createProviderNode({
    dataDir,
    listen: [...config.listen, ...config.listenWs],
    announce: config.announce.length > 0 ? config.announce : undefined,
    bootstrap: config.bootstrap,
    httpHost: config.httpHost,
    httpPort: config.httpPort,
    capacityBytes: config.capacityBytes,
    pricePerMiB: amounts.pricePerMiB,
    announceIntervalMs: v['announce-interval-ms'] === undefined ? undefined : Number(v['announce-interval-ms']),
    chain: {
      rpcUrl: config.rpcUrl,
      contractAddress: config.contractAddress,
      expectedChainId: config.chainId,
      stake: amounts.stake,
      maxTermPeriods: config.maxTermPeriods,
      registerAgain: v['register-again'] === true
    },
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
    throw startError(err, config.httpHost, config.httpPort)
  }
  process.stdout.write(JSON.stringify(node.ready()) + '\n')
}

/** Listen failures (libp2p's and the HTTP API's) as one line that says which address and what to do. */
function startError (err: unknown, httpHost: string, httpPort: number): unknown {
  const e = err as Error & { code?: string }
  if (e.name === 'UnsupportedListenAddressesError') {
    // libp2p lists each refused address with the system error (and its stack) in the message.
    const refused = [...e.message.matchAll(/^\s*(\/\S+): Error: listen (\w+)/gm)].map((m) => ({ addr: m[1]!, code: m[2]! }))
    const first = refused[0]
    const [flag, key] = first !== undefined && /\/ws(\/|$)/.test(first.addr) ? ['--listen-ws', 'listenWs'] : ['--listen', 'listen']
    if (first?.code === 'EADDRINUSE') {
      return new ConfigError(`the libp2p listen address ${first.addr} is already in use: stop the process using it (another sherd-node?), or pick another port with ${flag} (or "${key}" in config.json)`)
    }
    if (first?.code === 'EADDRNOTAVAIL') return new ConfigError(`cannot listen on ${first.addr}: no interface of this machine has that address; fix ${flag} (or "${key}" in config.json)`)
    if (first?.code === 'EACCES') return new ConfigError(`not allowed to listen on ${first.addr} (ports below 1024 need privileges): pick a port ≥ 1024 with ${flag}`)
    return new ConfigError(`libp2p cannot listen on ${refused.map((r) => `${r.addr} (${r.code})`).join(', ') || 'the configured addresses'}: fix --listen (or "listen" in config.json)`)
  }
  if (e.code === 'EADDRINUSE') {
    return new ConfigError(`the status API port ${httpHost}:${httpPort} is already in use: stop the process using it, or pick another with --http-port (0 = any free port)`)
  }
  return err
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
  // The API has every amount in base units (for programs) and, beside them, in tokens (`chain.amounts`) for people.
  const status = await res.json() as unknown
  process.stdout.write(JSON.stringify(status, null, 2) + '\n')
}

async function cmdChain (name: 'withdraw' | 'exit' | 'stake', args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: { ...common, 'rpc-url': { type: 'string' }, contract: { type: 'string' }, deployment: { type: 'string' }, ...(name === 'stake' ? { add: { type: 'string' } } : {}) },
    strict: true
  })
  if (v.help === true) { console.log(HELP[name]); return }
  const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
  const config = await chainSettings(await readFileConfig(dataDir), configFromFlags(v))
  if (config.rpcUrl === undefined || config.contractAddress === undefined) {
    throw new ConfigError(`\`sherd-node ${name}\` needs the chain: pass --deployment (or --rpc-url and --contract), or set them in ${join(dataDir, 'config.json')}`)
  }
  const conn = await connectChain({ rpcUrl: config.rpcUrl, market: config.contractAddress, privateKey: await readEvmKey(dataDir), expectedChainId: config.chainId })
  if (name === 'withdraw') {
    const { amount, tx } = await withdrawEarnings(conn)
    if (amount === 0n) process.stderr.write(`sherd-node: nothing to withdraw for ${conn.address} (a running node claims its earnings every few periods)\n`)
    console.log(JSON.stringify({ provider: conn.address, withdrawn: tokens(amount, conn.token), withdrawnBaseUnits: amount.toString(), tx: tx ?? null }))
    return
  }
  if (name === 'stake') {
    const text = (v as { add?: string }).add
    if (text === undefined) throw new ConfigError('say how much to add: sherd-node stake --add <amount> (e.g. --add 500)')
    const amount = resolveAmount(amountForConfig(text, '--add'), conn.token, '--add')
    const tx = await addStake(conn, amount)
    const info = await providerInfo(conn)
    console.log(JSON.stringify({ provider: conn.address, added: tokens(amount, conn.token), stake: info === undefined ? null : tokens(info.stake, conn.token), tx }))
    return
  }
  // Recorded before anything is sent: from now on the running node signs no new offers, and a later `start` never
  // silently stakes again, even if this process dies right after the stake is removed.
  const previous = await readExitRecord(dataDir)
  const sameMarket = previous !== undefined && previous.chainId === conn.chainId && previous.contractAddress.toLowerCase() === conn.mc.market.toLowerCase()
  const record = sameMarket
    ? { ...previous, phase: previous.phase ?? 'exited' as const }
    : { provider: conn.address, contractAddress: conn.mc.market, chainId: conn.chainId, phase: 'leaving' as const, exitedAt: new Date().toISOString() }
  if (!sameMarket) await writeExitRecord(dataDir, record)
  const { stakeRemoved, withdrawn, txs } = await leaveMarket(conn)
  await writeExitRecord(dataDir, { ...record, phase: 'exited', txs: [...(record.txs ?? []), ...txs], exitedAt: new Date().toISOString() })
  process.stderr.write(`sherd-node: ${conn.address} left the market: ${tokens(stakeRemoved, conn.token)} of stake removed, ${tokens(withdrawn, conn.token)} withdrawn to it\n`)
  console.log(JSON.stringify({ provider: conn.address, exited: true, stakeRemoved: tokens(stakeRemoved, conn.token), withdrawn: tokens(withdrawn, conn.token), txs }))
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
      case 'withdraw': case 'exit': case 'stake': await cmdChain(command, rest); return 0
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

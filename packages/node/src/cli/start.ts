// `sherd-node start`: run the provider until SIGINT/SIGTERM.
import { resolve } from 'node:path'
import { isBaseUnits } from '../chain/amounts.js'
import { connectChain, DEFAULT_MAX_TERM_PERIODS } from '../chain/chain.js'
import { AddressInUseError, ConfigError } from '../errors.js'
import { readEvmKey, readFileConfig } from '../identity.js'
import { createProviderNode } from '../node.js'
import type { ProofSetProverInit } from '../prover/index.js'
import { defineCommand } from './command.js'
import { NODE_OPTIONS, chainSettings, configFromFlags, defaultDataDir, resolveAmounts } from './flags.js'

export const startCommand = defineCommand({
  name: 'start',
  summary: 'run the provider (prints one JSON "ready" line on stdout when listening)',
  help: `Usage: sherd-node start [flags]   (flags override <data-dir>/config.json)

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
  options: {
    ...NODE_OPTIONS,
    'announce-interval-ms': { type: 'string' },
    'withdraw-every': { type: 'string' },
    'report-misses': { type: 'string' },
    'prover-poll-ms': { type: 'string' },
    'register-again': { type: 'boolean' }
  },
  async run({ values: v }) {
    const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
    const config = await chainSettings(await readFileConfig(dataDir), configFromFlags(v))
    if ((config.rpcUrl === undefined) !== (config.contractAddress === undefined)) {
      throw new ConfigError(
        'give both --rpc-url and --contract, or --deployment (or none of them, to run without a chain)'
      )
    }
    let amounts = { pricePerMiB: config.pricePerMiB, stake: config.stake }
    if (!isBaseUnits(config.pricePerMiB) || !isBaseUnits(config.stake)) {
      if (config.rpcUrl === undefined || config.contractAddress === undefined) {
        const written = [
          ['price', config.pricePerMiB],
          ['stake', config.stake]
        ]
          .filter(([, a]) => !isBaseUnits(a!))
          .map(([k, a]) => `${k} "${a}"`)
        throw new ConfigError(
          `${written.join(' and ')}: token amounts need the token's decimals, read from the chain: ` +
            'pass --deployment (or --rpc-url and --contract), or give base units (e.g. --price 1000base)'
        )
      }
      const conn = await connectChain({
        rpcUrl: config.rpcUrl,
        market: config.contractAddress,
        privateKey: await readEvmKey(dataDir)
      })
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
      stopping = node.stop().then(
        () => {
          process.exit(0)
        },
        (err) => {
          process.stderr.write(`sherd-node: stop failed: ${(err as Error).message}\n`)
          process.exit(1)
        }
      )
    }
    process.on('SIGINT', () => {
      shutdown('SIGINT')
    })
    process.on('SIGTERM', () => {
      shutdown('SIGTERM')
    })
    try {
      await node.start()
    } catch (err) {
      throw startError(err, config.httpHost, config.httpPort)
    }
    process.stdout.write(JSON.stringify(node.ready()) + '\n')
    return -1
  }
})

function proverFlags(v: { 'withdraw-every'?: string; 'prover-poll-ms'?: string }): ProofSetProverInit {
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
  if (v['prover-poll-ms'] !== undefined)
    out.pollIntervalMs = Math.max(1, count(v['prover-poll-ms'], '--prover-poll-ms'))
  return out
}

function reportMissesFlag(text: string | undefined): false | undefined {
  if (text === undefined || text === 'on') return undefined
  if (text === 'off') return false
  throw new ConfigError(`--report-misses takes on or off, got "${text}"`)
}

/** Listen failures (libp2p's and the HTTP API's) as one line that says which address and what to do. */
function startError(err: unknown, httpHost: string, httpPort: number): unknown {
  const e = err as Error & { code?: string }
  if (e.name === 'UnsupportedListenAddressesError') {
    // libp2p lists each refused address with the system error (and its stack) in the message.
    const refused = [...e.message.matchAll(/^\s*(\/\S+): Error: listen (\w+)/gm)].map((m) => ({
      addr: m[1]!,
      code: m[2]!
    }))
    const first = refused[0]
    const [flag, key] =
      first !== undefined && /\/ws(\/|$)/.test(first.addr) ? ['--listen-ws', 'listenWs'] : ['--listen', 'listen']
    if (first?.code === 'EADDRINUSE') {
      return new AddressInUseError(
        `the libp2p listen address ${first.addr} is already in use: stop the process using it (another sherd-node?), or pick another port with ${flag} (or "${key}" in config.json)`,
        { cause: err }
      )
    }
    if (first?.code === 'EADDRNOTAVAIL')
      return new ConfigError(
        `cannot listen on ${first.addr}: no interface of this machine has that address; fix ${flag} (or "${key}" in config.json)`,
        { cause: err }
      )
    if (first?.code === 'EACCES')
      return new ConfigError(
        `not allowed to listen on ${first.addr} (ports below 1024 need privileges): pick a port ≥ 1024 with ${flag}`,
        { cause: err }
      )
    return new ConfigError(
      `libp2p cannot listen on ${refused.map((r) => `${r.addr} (${r.code})`).join(', ') || 'the configured addresses'}: fix --listen (or "listen" in config.json)`,
      { cause: err }
    )
  }
  if (e.code === 'EADDRINUSE') {
    return new AddressInUseError(
      `the status API port ${httpHost}:${httpPort} is already in use: stop the process using it, or pick another with --http-port (0 = any free port)`,
      { cause: err }
    )
  }
  return err
}

// `sherd-node init`: create (or, with --force, change) a data dir: libp2p key, EVM key, config.json.
import { resolve } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { TokenInfo } from '@sherd/contracts'
import type { Address } from 'viem'
import { isBaseUnits, resolveAmount, tokens } from '../chain/amounts.js'
import { DEFAULT_MAX_TERM_PERIODS, readMarketToken } from '../chain/chain.js'
import { ConfigError } from '../errors.js'
import { alreadyInitialized, hasConfig, initDataDir, readFileConfig } from '../identity.js'
import type { Hex, NodeFileConfig } from '../identity.js'
import { defineCommand } from './command.js'
import { NODE_OPTIONS, chainSettings, configFromFlags, defaultDataDir } from './flags.js'

/** `init` only tries the chain (to read the token's decimals); a chain that is not up yet must not hold it long. */
const INIT_CHAIN_TIMEOUT_MS = 5_000

export const initCommand = defineCommand({
  name: 'init',
  summary: 'create the data dir: libp2p key, EVM key, config file (--force changes an existing one)',
  help: `Usage: sherd-node init [flags]

  --data-dir <dir>        data dir to create (default $SHERD_NODE_DIR or ~/.sherd-node)
  --evm-key <0x...>       use this EVM private key instead of generating one
  --listen <multiaddr>    libp2p listen address, repeatable (default /ip4/127.0.0.1/tcp/0)
  --listen-ws <multiaddr> WebSocket listen address /ip4/…/tcp/<port>/ws, repeatable (browsers dial these; default none)
  --announce <multiaddr>  address to announce instead of the listen addresses, repeatable, e.g. a TLS proxy's
                          /dns4/node.example.org/tcp/443/wss (give the public TCP one too; default: the listen ones)
  --bootstrap <multiaddr> peer to stay connected to, /ip4/…/tcp/…/p2p/<peer id>, repeatable (another
                          provider: through it the node joins the announcement mesh; default none)
  --http-host <host>      status API host (default 127.0.0.1)
  --http-port <port>      status API port (default 7070; 0 = any free port)
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
  options: {
    ...NODE_OPTIONS,
    'evm-key': { type: 'string' },
    force: { type: 'boolean' },
    'new-peer-key': { type: 'boolean' },
    'new-evm-key': { type: 'boolean' }
  },
  async run({ values: v }) {
    const dataDir = resolve(v['data-dir'] ?? defaultDataDir())
    const force = v.force === true
    const evmKey = v['evm-key']
    if (evmKey !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(evmKey))
      throw new ConfigError('--evm-key must be 0x followed by 64 hex digits')
    const exists = await hasConfig(dataDir)
    if (exists && !force) throw alreadyInitialized(dataDir)
    if (!force && (v['new-peer-key'] === true || v['new-evm-key'] === true))
      throw new ConfigError('--new-peer-key and --new-evm-key replace keys of an existing data dir: add --force')
    const given = configFromFlags(v)
    const config = await chainSettings({ ...(exists ? await readFileConfig(dataDir) : {}) } as NodeFileConfig, given)
    // Amounts typed as tokens become base units now if the chain answers; otherwise they stay as written for start.
    let token: TokenInfo | undefined
    const needsToken = [given.pricePerMiB, given.stake].some((a) => a !== undefined && !isBaseUnits(a))
    if (needsToken && config.rpcUrl !== undefined && config.contractAddress !== undefined) {
      try {
        token = await readMarketToken(config.rpcUrl, config.contractAddress as Address, INIT_CHAIN_TIMEOUT_MS)
      } catch (err) {
        process.stderr.write(
          `sherd-node: the chain at ${config.rpcUrl} did not answer (${(err as Error).message.split('\n')[0]}); ` +
            "price and stake are kept as written and converted with the token's decimals at start\n"
        )
      }
    }
    if (token !== undefined) {
      if (given.pricePerMiB !== undefined)
        given.pricePerMiB = resolveAmount(given.pricePerMiB, token, '--price').toString()
      if (given.stake !== undefined) given.stake = resolveAmount(given.stake, token, '--stake').toString()
    }
    const result = await initDataDir(dataDir, {
      evmKey: evmKey as Hex | undefined,
      config: given,
      force,
      newPeerKey: v['new-peer-key'] === true,
      newEvmKey: v['new-evm-key'] === true
    })
    // Amounts kept from config.json are base units: shown in tokens when the chain answers, else with the base suffix.
    if (token === undefined && !needsToken && config.rpcUrl !== undefined && config.contractAddress !== undefined) {
      token = await readMarketToken(config.rpcUrl, config.contractAddress as Address, INIT_CHAIN_TIMEOUT_MS).catch(
        () => undefined
      )
    }
    const shown = (amount: string): string =>
      !isBaseUnits(amount) ? amount : token !== undefined ? tokens(amount, token) : `${amount}base`
    console.log(
      JSON.stringify({
        dataDir,
        peerId: peerIdFromPrivateKey(result.peerKey).toString(),
        chainAddress: result.chainAddress,
        created: result.created,
        ...(result.replaced.length > 0 ? { replaced: result.replaced } : {}),
        pricePerMiB: shown(result.config.pricePerMiB),
        stake: shown(result.config.stake)
      })
    )
    return 0
  }
})

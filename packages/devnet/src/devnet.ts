import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createPublicClient, createTestClient, createWalletClient, http, toHex } from 'viem'
import type { Account, Address, Chain, Hex, PublicClient, TestClient, Transport, WalletClient } from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import {
  ANVIL_MNEMONIC,
  deployProofSetMarket,
  freePorts,
  mintTokens,
  PROOF_SET_DEVNET_PARAMS,
  startAnvil,
  rpcChain,
  writeMarketDeployment
} from '@sherd/contracts'
import type { Anvil, MarketClient, ProofSetParams } from '@sherd/contracts'
import { createClient } from '@sherd/client'
import type { SherdClient } from '@sherd/client'
import { trackDir, untrackDir } from './cleanup.js'
import {
  CLIENT_ACCOUNT_INDEX,
  DEFAULT_BLOCK_TIME_SECONDS,
  DEFAULT_CAPACITY_BYTES,
  DEFAULT_MINT,
  DEFAULT_PRICE_PER_MIB,
  DEFAULT_PROVIDERS,
  DEFAULT_STAKE,
  DEPLOYER_ACCOUNT_INDEX,
  DEPLOYMENT_FILE,
  DEVNET_ANNOUNCE_INTERVAL_MS,
  DEVNET_HARDFORK,
  FIRST_PROVIDER_ACCOUNT_INDEX,
  NETWORK_READY_TIMEOUT_MS,
  READINESS_POLL_MS
} from './constants.js'
import { DevnetStartError, ProviderStateError } from './errors.js'
import { defaultNodeCommand, ProviderProcess } from './provider-process.js'
import type { ProviderInfo, ProviderState } from './provider-process.js'
import { TcpProxy } from './tcp-proxy.js'

/** Typed progress of `startDevnet`, for a log that tells what is happening. */
export type DevnetProgressEvent =
  | { type: 'chain-started'; rpcUrl: string; chainId: number; anvilPid: number; dir: string }
  | { type: 'contracts-deployed'; market: Address; token: Address; params: ProofSetParams; deploymentFile: string }
  | { type: 'accounts-funded'; client: Address; providers: Address[]; amount: bigint }
  | { type: 'interval-mining'; blockTimeSeconds: number }
  | {
      type: 'provider-started'
      index: number
      peerId: string
      chainAddress: Address
      multiaddr: string
      httpUrl: string
    }
  | { type: 'network-ready'; providers: number; elapsedMs: number }
  | { type: 'provider-crashed'; index: number; code: number | null; signal: string | null; lastLines: string }

export interface StartDevnetOptions {
  /** Provider processes to run (default 6: k + m = 4 + 2). */
  providers?: number
  /** Whole seconds between blocks once the contracts are deployed (default 1). */
  blockTimeSeconds?: number
  /** ProofSetMarket parameters (default PROOF_SET_DEVNET_PARAMS: 8-block periods, challenge 1 block in). */
  marketParams?: Partial<ProofSetParams>
  /** Directory for data dirs and logs; a fresh temp dir when omitted (removed by `stop()` unless `keepDir`). */
  dir?: string
  /** Keep `dir` after `stop()` (a given `dir` is always kept; a temp dir only with this). */
  keepDir?: boolean
  /**
   * Put a TCP proxy in front of anvil for the providers (the client keeps the direct URL), so that `rpcProxy.stop()`
   * takes the providers' RPC endpoint away while the chain keeps mining.
   */
  rpcProxy?: boolean
  /** Stake each provider registers with, token base units. */
  stake?: bigint
  /** Each provider's price, token base units per MiB per period. */
  pricePerMiB?: bigint
  /** Bytes each provider offers. */
  capacityBytes?: number
  /** Tokens minted to the client and to each provider, base units. */
  mint?: bigint
  announceIntervalMs?: number
  /** argv prefix that runs `sherd-node` (default: this Node on @sherd/node's built bin). */
  nodeCommand?: string[]
  /** Extra environment for the provider processes (e.g. `{ DEBUG: 'sherd:*' }`; their stderr goes to log files). */
  nodeEnv?: NodeJS.ProcessEnv
  /** On SIGINT/SIGTERM, stop the devnet and exit (default true); `stop()` removes the handlers. */
  handleSignals?: boolean
  onProgress?: (event: DevnetProgressEvent) => void
  signal?: AbortSignal
}

/** An anvil account: its key and address. */
export interface DevnetAccount {
  address: Address
  privateKey: Hex
}

/** One provider of the devnet: what a client needs to know of it, and its process. */
export interface DevnetProvider extends ProviderInfo {
  readonly state: ProviderState
  readonly pid: number | undefined
  /** Graceful stop (SIGTERM). */
  stop: () => Promise<void>
  /** SIGKILL, as in a crash. */
  kill: () => Promise<void>
  /** Starts a stopped or killed provider again on the same data dir, keys and ports. */
  start: (options?: { signal?: AbortSignal }) => Promise<void>
  /** Graceful stop, then start. */
  restart: (options?: { signal?: AbortSignal }) => Promise<void>
  /** The node's /status. */
  status: ProviderProcess['status']
  /** Last lines of its stderr. */
  lastLines: () => string
}

/** Everything a client (SDK or CLI) needs to use the devnet, JSON-friendly. */
export interface DevnetInfo {
  rpcUrl: string
  chainId: number
  market: Address
  token: Address
  genesisBlock: string
  params: ProofSetParams
  /** The market's deployment file (`writeMarketDeployment`): `sherd --deployment` and `sherd-node --deployment` read it. */
  deploymentFile: string
  /** The client account: funded with ETH and tokens. */
  client: DevnetAccount
  /**
   * libp2p addresses to dial first (every provider's, each ending in /p2p/<peerId>). Provider 0's alone would do:
   * the others bootstrap to it, and announcements reach a client through the providers' gossipsub mesh.
   */
  bootstrap: string[]
  providers: Array<{
    index: number
    peerId: string
    chainAddress: Address
    multiaddrs: string[]
    wsMultiaddrs: string[]
    httpUrl: string
    dataDir: string
  }>
  dir: string
}

export interface Devnet extends Omit<DevnetInfo, 'genesisBlock' | 'providers'> {
  genesisBlock: bigint
  /** `dir` is a temp dir that `stop()` removes. */
  temporaryDir: boolean
  /** The RPC URL the providers were given (the proxy's when `rpcProxy`). */
  providerRpcUrl: string
  /** The proxy in front of anvil for the providers, when `rpcProxy` was set. */
  rpcProxy: TcpProxy | undefined
  anvil: Anvil
  deployer: DevnetAccount
  providers: DevnetProvider[]
  chain: Chain
  publicClient: PublicClient
  testClient: TestClient<'anvil'>
  /** A market client (reads; writes with `account`, default the client account). */
  marketClient: (account?: DevnetAccount) => MarketClient
  /**
   * Starts one more provider (the next anvil account, funded like the others) and resolves once a client sees it:
   * a provider joining a running network.
   */
  addProvider: (options?: { signal?: AbortSignal }) => Promise<DevnetProvider>
  /** Provider `index`, or a ProviderStateError. */
  provider: (index: number) => DevnetProvider
  info: () => DevnetInfo
  /** Stops every provider (gracefully, in parallel), the proxy and anvil, and removes the temp dir. Idempotent. */
  stop: () => Promise<void>
}

function account(index: number): DevnetAccount {
  const a = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index })
  const key = a.getHdKey().privateKey
  if (key === null) throw new DevnetStartError(`anvil account ${index} has no private key`)
  return { address: a.address, privateKey: toHex(key) }
}

/**
 * Starts a whole local network: anvil, the token and market contracts, funded accounts, and `providers`
 * `sherd-node` processes (each with its own data dir, keys and ports), and resolves once a client sees every
 * provider both in the on-chain registry and in announcements. On any error (or abort) everything started so far is
 * stopped and removed.
 *
 * @example
 * const devnet = await startDevnet({ providers: 6 })
 * try {
 *   // devnet.rpcUrl, devnet.market, devnet.client.privateKey, devnet.bootstrap
 *   await devnet.provider(0).kill()
 * } finally { await devnet.stop() }
 */
export async function startDevnet(options: StartDevnetOptions = {}): Promise<Devnet> {
  const count = options.providers ?? DEFAULT_PROVIDERS
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`providers must be a positive whole number, got ${count}`)
  const blockTimeSeconds = options.blockTimeSeconds ?? DEFAULT_BLOCK_TIME_SECONDS
  if (!Number.isInteger(blockTimeSeconds) || blockTimeSeconds < 1) {
    throw new RangeError(
      `blockTimeSeconds must be a whole number of seconds ≥ 1 (anvil's interval mining), got ${blockTimeSeconds}`
    )
  }
  const progress = options.onProgress ?? (() => {})
  const signal = options.signal
  const startedAt = Date.now()
  const nodeCommand = options.nodeCommand ?? defaultNodeCommand()

  const ownDir = options.dir === undefined
  const dir = ownDir ? await mkdtemp(join(tmpdir(), 'sherd-devnet-')) : resolve(options.dir!)
  if (ownDir && options.keepDir !== true) trackDir(dir)
  await mkdir(join(dir, 'logs'), { recursive: true })

  let anvil: Anvil | undefined
  let proxy: TcpProxy | undefined
  const processes: ProviderProcess[] = []
  const observers = new Set<SherdClient>()
  let stopping: Promise<void> | undefined
  let onSignal: ((sig: NodeJS.Signals) => void) | undefined

  const stopAll = async (): Promise<void> => {
    if (onSignal !== undefined) {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    await Promise.all(
      [...observers].map(async (o) => {
        await o.stop().catch(() => {})
      })
    )
    await Promise.all(
      processes.map(async (p) => {
        await p.stop()
        await p.close()
      })
    )
    await proxy?.stop()
    await anvil?.stop()
    if (ownDir && options.keepDir !== true) {
      await rm(dir, { recursive: true, force: true })
      untrackDir(dir)
    }
  }
  const stop = async (): Promise<void> => {
    stopping ??= stopAll()
    await stopping
  }

  if (options.handleSignals !== false) {
    onSignal = (sig) => {
      process.stderr.write(`\nsherd-devnet: ${sig} received, stopping the devnet\n`)
      void stop().finally(() => {
        process.exit(sig === 'SIGINT' ? 130 : 143)
      })
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }

  try {
    const deployer = account(DEPLOYER_ACCOUNT_INDEX)
    const client = account(CLIENT_ACCOUNT_INDEX)
    const providerAccounts = Array.from({ length: count }, (_, i) => account(FIRST_PROVIDER_ACCOUNT_INDEX + i))

    // Automine while deploying and funding (each transaction is mined at once), interval mining afterwards: the
    // market's periods only mean something when blocks come at a steady pace.
    // The newest fork anvil knows: EIP-7825's 2^24 gas cap per transaction and the calldata floor apply, as on a real chain.
    anvil = await startAnvil({ accounts: FIRST_PROVIDER_ACCOUNT_INDEX + count, hardfork: DEVNET_HARDFORK, signal })
    progress({ type: 'chain-started', rpcUrl: anvil.url, chainId: anvil.chainId, anvilPid: anvil.pid, dir })
    const chain = rpcChain(anvil.chainId, anvil.url, 'sherd-devnet')
    const transport = http(anvil.url)
    const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 }) as PublicClient
    const testClient = createTestClient({ chain, transport, mode: 'anvil' })
    const wallet = (a: DevnetAccount): WalletClient<Transport, Chain, Account> =>
      createWalletClient({ account: privateKeyToAccount(a.privateKey), chain, transport })

    const mint = options.mint ?? DEFAULT_MINT
    const deployment = await deployProofSetMarket(wallet(deployer), {
      publicClient,
      params: { ...PROOF_SET_DEVNET_PARAMS, ...options.marketParams },
      signal
    })
    const deploymentFile = join(dir, DEPLOYMENT_FILE)
    // What clients use: anvil's own URL (the providers get the proxy's with --rpc-url, which wins over the file).
    await writeMarketDeployment(
      deploymentFile,
      {
        contract: 'ProofSetMarket',
        chainId: anvil.chainId,
        rpcUrl: anvil.url,
        market: deployment.market,
        token: deployment.token,
        tokenDeployed: true,
        genesisBlock: deployment.genesisBlock,
        deployer: deployer.address,
        params: deployment.params
      },
      { force: !ownDir }
    )
    progress({
      type: 'contracts-deployed',
      market: deployment.market,
      token: deployment.token,
      params: deployment.params,
      deploymentFile
    })
    for (const to of [client, ...providerAccounts]) {
      await mintTokens(wallet(deployer), {
        publicClient,
        token: deployment.token,
        to: to.address,
        amount: mint,
        signal
      })
    }
    progress({
      type: 'accounts-funded',
      client: client.address,
      providers: providerAccounts.map((a) => a.address),
      amount: mint
    })
    await testClient.setIntervalMining({ interval: blockTimeSeconds })
    progress({ type: 'interval-mining', blockTimeSeconds })

    if (options.rpcProxy === true) {
      proxy = new TcpProxy({ targetPort: anvil.port })
      await proxy.start()
    }
    const providerRpcUrl = proxy?.url ?? anvil.url

    const marketClient = (a: DevnetAccount = client): MarketClient => ({
      market: deployment.market,
      publicClient,
      walletClient: wallet(a)
    })
    const providerSettings = {
      deploymentFile,
      rpcUrl: providerRpcUrl,
      capacityBytes: options.capacityBytes ?? DEFAULT_CAPACITY_BYTES,
      pricePerMiB: options.pricePerMiB ?? DEFAULT_PRICE_PER_MIB,
      stake: options.stake ?? DEFAULT_STAKE,
      announceIntervalMs: options.announceIntervalMs ?? DEVNET_ANNOUNCE_INTERVAL_MS,
      command: nodeCommand,
      env: options.nodeEnv
    }
    // Every provider but the first bootstraps to provider 0, which keeps its key and port across restarts; through
    // it they form one gossipsub mesh, so a client connected to any one of them hears every announcement.
    const seeds = (): string[] => (processes[0]?.started === true ? processes[0].info.multiaddrs : [])
    // freePorts only knows what is bound now, and a provider binds its ports minutes after they were picked (29
    // start at once on a loaded machine): without this, two providers of one devnet were handed the same port
    // (a 30-provider devnet picks 90 of 12,768 ports: a clash in about one start in four).
    const handedOut = new Set<number>()
    const newProcess = async (index: number): Promise<ProviderProcess> => {
      let picked = await freePorts(3)
      for (let attempt = 0; picked.some((port) => handedOut.has(port)) && attempt < 10; attempt++)
        picked = await freePorts(3)
      for (const port of picked) handedOut.add(port)
      const [libp2pPort, httpPort, wsPort] = picked
      const p = new ProviderProcess({
        ...providerSettings,
        index,
        bootstrap: index === 0 ? [] : seeds(),
        dataDir: join(dir, `provider-${index}`),
        logFile: join(dir, 'logs', `provider-${index}.log`),
        evmKey: providerAccounts[index]!.privateKey,
        libp2pPort: libp2pPort!,
        wsPort: wsPort!,
        httpPort: httpPort!
      })
      p.onCrash = (proc, code, sig) => {
        progress({ type: 'provider-crashed', index: proc.index, code, signal: sig, lastLines: proc.lastLines() })
      }
      processes.push(p)
      return p
    }
    const launch = async (p: ProviderProcess, launchSignal?: AbortSignal): Promise<void> => {
      await p.initDataDir({ signal: launchSignal })
      const info = await p.start({ signal: launchSignal })
      progress({
        type: 'provider-started',
        index: p.index,
        peerId: info.peerId,
        chainAddress: info.chainAddress,
        multiaddr: info.multiaddrs[0] ?? '',
        httpUrl: info.httpUrl
      })
    }
    // Ready when a client (the SDK itself, connected to the providers as any client would be) sees every provider
    // where a client looks: registered on chain under the peer id it runs with, and freshly announcing.
    const waitUntilSeen = async (ps: ProviderProcess[], waitSignal?: AbortSignal): Promise<void> => {
      const readySignal = AbortSignal.any([
        AbortSignal.timeout(NETWORK_READY_TIMEOUT_MS),
        ...(waitSignal === undefined ? [] : [waitSignal])
      ])
      const expected = ps.map((p) => p.info.peerId)
      const observer = createClient({
        rpcUrl: anvil!.url,
        contract: deployment.market,
        bootstrap: ps.flatMap((p) => p.info.multiaddrs)
      })
      observers.add(observer)
      try {
        await observer.start({ signal: readySignal })
        for (;;) {
          const seen = new Set(
            (await observer.providers({ signal: readySignal }))
              .filter((v) => v.registered && v.fresh)
              .map((v) => v.peerId)
          )
          if (expected.every((peerId) => seen.has(peerId))) return
          await new Promise((resolve) => setTimeout(resolve, READINESS_POLL_MS))
          readySignal.throwIfAborted()
        }
      } finally {
        observers.delete(observer)
        await observer.stop()
      }
    }

    // Provider 0 first: the others are given its address (ports and keys are fixed, the peer id comes from its
    // ready line). They would also find it if it came later (sherd-node retries its bootstrap peers).
    const initial: ProviderProcess[] = [await newProcess(0)]
    await launch(initial[0]!, signal)
    const rest: ProviderProcess[] = []
    for (let i = 1; i < count; i++) rest.push(await newProcess(i))
    await Promise.all(
      rest.map(async (p) => {
        await launch(p, signal)
      })
    )
    initial.push(...rest)
    await waitUntilSeen(initial, signal)
    progress({ type: 'network-ready', providers: count, elapsedMs: Date.now() - startedAt })

    const handles: DevnetProvider[] = processes.map((p) => providerHandle(p))
    const addOne = async (o: { signal?: AbortSignal }): Promise<DevnetProvider> => {
      if (stopping !== undefined) throw new ProviderStateError('the devnet is stopping')
      const index = processes.length
      const a = account(FIRST_PROVIDER_ACCOUNT_INDEX + index)
      providerAccounts.push(a)
      // Beyond anvil's prefunded accounts: give it gas here, tokens below.
      await testClient.setBalance({ address: a.address, value: 10n ** 22n })
      await mintTokens(wallet(deployer), {
        publicClient,
        token: deployment.token,
        to: a.address,
        amount: mint,
        signal: o.signal
      })
      const p = await newProcess(index)
      await launch(p, o.signal)
      const handle = providerHandle(p)
      handles.push(handle)
      await waitUntilSeen([p], o.signal)
      return handle
    }
    // One at a time: each takes the next account index.
    let adding: Promise<unknown> = Promise.resolve()
    const addProvider = async (o: { signal?: AbortSignal } = {}): Promise<DevnetProvider> => {
      const next = adding.then(async () => await addOne(o))
      adding = next.catch(() => {})
      return await next
    }
    const info = (): DevnetInfo => ({
      rpcUrl: anvil!.url,
      chainId: anvil!.chainId,
      market: deployment.market,
      token: deployment.token,
      genesisBlock: deployment.genesisBlock.toString(),
      params: deployment.params,
      deploymentFile,
      client,
      bootstrap: bootstrapOf(processes),
      providers: processes
        .filter((p) => p.started)
        .map((p) => {
          const { index, peerId, chainAddress, multiaddrs, wsMultiaddrs, httpUrl, dataDir } = p.info
          return { index, peerId, chainAddress, multiaddrs, wsMultiaddrs, httpUrl, dataDir }
        }),
      dir
    })
    return {
      rpcUrl: anvil.url,
      chainId: anvil.chainId,
      market: deployment.market,
      token: deployment.token,
      genesisBlock: deployment.genesisBlock,
      params: deployment.params,
      deploymentFile,
      client,
      get bootstrap() {
        return bootstrapOf(processes)
      },
      dir,
      temporaryDir: ownDir && options.keepDir !== true,
      providerRpcUrl,
      rpcProxy: proxy,
      anvil,
      deployer,
      providers: handles,
      chain,
      publicClient,
      testClient,
      marketClient,
      provider: (index) => {
        const h = handles[index]
        if (h === undefined)
          throw new ProviderStateError(`no provider ${index}: this devnet has providers 0..${handles.length - 1}`)
        return h
      },
      addProvider,
      info,
      stop
    }
  } catch (err) {
    await stop()
    if (err instanceof Error && err.name === 'TimeoutError') {
      throw new DevnetStartError(
        `the network did not form within ${NETWORK_READY_TIMEOUT_MS} ms (every provider registered on chain and heard announcing)`,
        { cause: err }
      )
    }
    throw err
  }
}

function bootstrapOf(processes: ProviderProcess[]): string[] {
  return processes.filter((p) => p.started).flatMap((p) => p.info.multiaddrs)
}

/** A provider's handle; its identity is read from the process once it has started (ports and keys never change). */
function providerHandle(p: ProviderProcess): DevnetProvider {
  return {
    get index() {
      return p.info.index
    },
    get peerId() {
      return p.info.peerId
    },
    get chainAddress() {
      return p.info.chainAddress
    },
    get multiaddrs() {
      return p.info.multiaddrs
    },
    get wsMultiaddrs() {
      return p.info.wsMultiaddrs
    },
    get httpUrl() {
      return p.info.httpUrl
    },
    get dataDir() {
      return p.info.dataDir
    },
    get logFile() {
      return p.info.logFile
    },
    get state() {
      return p.state
    },
    get pid() {
      return p.pid
    },
    stop: async () => {
      await p.stop()
    },
    kill: async () => {
      await p.kill()
    },
    start: async (o) => {
      await p.start(o)
    },
    restart: async (o) => {
      await p.restart(o)
    },
    status: async (o) => await p.status(o),
    lastLines: () => p.lastLines()
  }
}

import { logger } from '@libp2p/logger'
import { getMarketParams, getToken, getWithdrawable, rpcChain } from '@sherd/contracts'
import type { MarketClient } from '@sherd/contracts'
import { createNonceManager, createPublicClient, createWalletClient, erc20Abi, http } from 'viem'
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { jsonRpc } from 'viem/nonce'
import type { PrivateKey } from '@libp2p/interface'
import { deleteFile, extend } from './actions/lifecycle.js'
import type { DeleteOptions, DeleteResult, ExtendOptions, ExtendResult } from './actions/lifecycle.js'
import { get, getManifest } from './actions/get.js'
import type { FileTarget, GetOptions } from './actions/get.js'
import { estimatePut } from './actions/estimate.js'
import type { EstimatePutOptions, PutEstimate } from './actions/estimate.js'
import { put } from './actions/put.js'
import type { PutOptions, PutResult, PutSource } from './actions/put.js'
import { abandonPut, resumePut } from './actions/resume.js'
import type { AbandonResult, ResumePutOptions } from './actions/resume.js'
import { repair } from './actions/repair.js'
import type { RepairOptions, RepairResult } from './actions/repair.js'
import { stat } from './actions/stat.js'
import type { FileStat, StatOptions } from './actions/stat.js'
import {
  DEFAULT_ACTIVATION_TIMEOUT_MS, DEFAULT_DEAL_PERIODS, DEFAULT_DISCOVERY_TIMEOUT_MS, DEFAULT_EXTRA_UPLOADS,
  DEFAULT_MANIFEST_REPLICAS, DEFAULT_POLLING_INTERVAL_MS, DIAL_TIMEOUT_MS
} from './constants.js'
import { running } from './context.js'
import type { ClientContext, ClientDefaults } from './context.js'
import { ClientConfigError } from './errors.js'
import { createClientHost } from './host.js'
import type { ClientHost } from './host.js'
import { PutJournal } from './journal.js'
import { ProviderDirectory } from './providers.js'
import type { KnownProvider } from './providers.js'
import { ProviderScores } from './scores.js'
import type { ProviderRecord } from './scores.js'
import type { Manifest } from '@sherd/protocol'

const log = logger('sherd:client')

export interface ClientConfig {
  /** Chain JSON-RPC URL (or pass `publicClient`). */
  rpcUrl?: string
  publicClient?: PublicClient
  /** A wallet client with an account; otherwise built from `account` and `rpcUrl`. */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>
  /** The paying account: a 0x private key or a viem Account. A private key gets viem's nonce manager, so deals open in parallel. */
  account?: Hex | Account
  /** The StorageMarket contract address. */
  contract?: Address | string
  /** Provider multiaddrs with /p2p/<peer id>: dialled at start; their announcements fill the provider table. */
  bootstrap?: readonly string[]
  /** libp2p identity (a fresh Ed25519 key by default). */
  peerKey?: PrivateKey
  /** JSON file the provider scores are kept in across runs (in memory only by default). */
  scoreFile?: string
  /**
   * Directory of the put journal: every put records its key, offers and deals there before it spends, so an
   * interrupted put can be finished with `resume` and listed with `listFiles`. In memory only by default (the
   * `sherd` CLI always keeps one, see `defaultJournalDir`).
   */
  journalDir?: string
  /** `start()` waits up to this long for the bootstrap providers' announcements (default 5 s). */
  discoveryTimeoutMs?: number
  /** Defaults for put/repair (each overridable per call). */
  k?: number
  m?: number
  segmentSize?: number
  periods?: number
  maxPeriods?: number
  extraUploads?: number
  manifestReplicas?: number
  waitForActivation?: boolean
  activationTimeoutMs?: number
  maxPricePerMiB?: bigint
  pollingIntervalMs?: number
}

/** A provider as `providers()` lists it: what the directory knows plus the local score record. */
export interface ProviderView extends KnownProvider {
  readonly record: Readonly<ProviderRecord>
}

export interface WalletInfo {
  readonly address: Address
  readonly token: Address
  readonly balance: bigint
  /** Native coin for gas, wei. */
  readonly gasBalance: bigint
  /** Refunds waiting in the market (withdrawn by `delete`). */
  readonly withdrawable: bigint
}

/** The networked SDK. Create with `createClient`, then `await client.start()`. */
export interface SherdClient {
  /** The libp2p host (after start). */
  readonly libp2p: ClientHost | undefined
  /** The paying account's address, if any. */
  readonly address: Address | undefined
  readonly scores: ProviderScores
  /** Connects to the chain and the bootstrap providers and listens for announcements. */
  start: (options?: { signal?: AbortSignal }) => Promise<void>
  /** Closes every connection. Idempotent. */
  stop: () => Promise<void>
  put: (source: PutSource, options?: PutOptions) => Promise<PutResult>
  /** What a put of `fileSize` bytes would cost and where it would go; sends nothing. */
  estimatePut: (fileSize: number, options?: EstimatePutOptions) => Promise<PutEstimate>
  /** Finishes an interrupted put from its journal entry (needs `journalDir`); safe to run again. */
  resume: (id: string, options?: ResumePutOptions) => Promise<PutResult>
  /** Gives up an interrupted put: opens nothing more, claims back what the market allows. */
  abandon: (id: string, options?: DeleteOptions) => Promise<AbandonResult>
  get: (target: FileTarget, options?: GetOptions) => AsyncGenerator<Uint8Array, void, undefined>
  getManifest: (target: FileTarget, options?: GetOptions) => Promise<Manifest>
  stat: (target: FileTarget, options?: StatOptions) => Promise<FileStat>
  repair: (target: FileTarget, options?: RepairOptions) => Promise<RepairResult>
  extend: (target: FileTarget, periods: number, options?: ExtendOptions) => Promise<ExtendResult>
  delete: (target: FileTarget, options?: DeleteOptions) => Promise<DeleteResult>
  /** Adds provider addresses (…/p2p/<peer id>) to the bootstrap list, dials them and waits for their announcements. */
  connect: (addrs: readonly string[], options?: { signal?: AbortSignal, timeoutMs?: number }) => Promise<void>
  /** Every provider known (announcements, registry, bootstrap), best score first. */
  providers: (options?: { signal?: AbortSignal }) => Promise<ProviderView[]>
  /** The paying account's address and balances. */
  wallet: () => Promise<WalletInfo>
}

function isHex (value: unknown): value is Hex {
  return typeof value === 'string' && /^0x[0-9a-fA-F]{64}$/.test(value)
}

/**
 * Creates a client. Nothing connects until `start()`.
 *
 * @example
 * const client = createClient({ rpcUrl, contract: market, account: privateKey, bootstrap: providerAddrs })
 * await client.start()
 * const { link } = await client.put(createReadStream('file.bin'))
 * for await (const chunk of client.get(link)) process.stdout.write(chunk)
 * await client.stop()
 */
export function createClient (config: ClientConfig = {}): SherdClient {
  if (config.contract !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(config.contract)) {
    throw new ClientConfigError(`contract must be the market's 0x-prefixed 20-byte address, got "${config.contract}"`)
  }
  if (config.account !== undefined && typeof config.account === 'string' && !isHex(config.account)) {
    throw new ClientConfigError('account must be a 0x-prefixed 32-byte private key or a viem Account')
  }
  const scores = new ProviderScores(config.scoreFile)
  const defaults: ClientDefaults = {
    ...(config.k === undefined ? {} : { k: config.k }),
    ...(config.m === undefined ? {} : { m: config.m }),
    ...(config.segmentSize === undefined ? {} : { segmentSize: config.segmentSize }),
    periods: config.periods ?? DEFAULT_DEAL_PERIODS,
    ...(config.maxPeriods === undefined ? {} : { maxPeriods: config.maxPeriods }),
    extraUploads: config.extraUploads ?? DEFAULT_EXTRA_UPLOADS,
    manifestReplicas: config.manifestReplicas ?? DEFAULT_MANIFEST_REPLICAS,
    waitForActivation: config.waitForActivation ?? true,
    activationTimeoutMs: config.activationTimeoutMs ?? DEFAULT_ACTIVATION_TIMEOUT_MS,
    ...(config.maxPricePerMiB === undefined ? {} : { maxPricePerMiB: config.maxPricePerMiB }),
    pollingIntervalMs: config.pollingIntervalMs ?? DEFAULT_POLLING_INTERVAL_MS
  }
  let ctx: ClientContext | undefined
  let starting: Promise<void> | undefined
  let address: Address | undefined

  async function connectChain (signal?: AbortSignal): Promise<Partial<ClientContext>> {
    const rpcUrl = config.rpcUrl
    let publicClient = config.publicClient
    if (config.contract === undefined) {
      if (publicClient !== undefined || rpcUrl !== undefined || config.walletClient !== undefined || config.account !== undefined) {
        throw new ClientConfigError('a chain was configured but no contract: pass contract (the market address; the devnet prints it)')
      }
      return {}
    }
    if (publicClient === undefined && rpcUrl === undefined) {
      throw new ClientConfigError('contract was given but no chain: pass rpcUrl (e.g. http://127.0.0.1:8545) or publicClient')
    }
    let chainId: number
    const transport = http(rpcUrl, { timeout: 30_000, retryCount: 2 })
    try {
      chainId = publicClient !== undefined ? await publicClient.getChainId() : await createPublicClient({ transport }).getChainId()
    } catch (err) {
      throw new ClientConfigError(`cannot reach the chain RPC${rpcUrl === undefined ? '' : ` at ${rpcUrl}`} (${(err as Error).message.split('\n')[0]}): start the chain (anvil, or the devnet) or fix rpcUrl`)
    }
    signal?.throwIfAborted()
    const chain = rpcChain(chainId, rpcUrl)
    publicClient ??= createPublicClient({ chain, transport, pollingInterval: defaults.pollingIntervalMs }) as PublicClient
    let walletClient = config.walletClient
    if (walletClient === undefined && config.account !== undefined) {
      if (rpcUrl === undefined) throw new ClientConfigError('account was given without rpcUrl: pass rpcUrl, or a walletClient')
      const account = typeof config.account === 'string' ? privateKeyToAccount(config.account, {
        // A nonce manager of this client's own: viem's shared one is keyed by (address, chain id), so a second
        // chain with the same id and account (a fresh devnet) would inherit the first one's nonces and hang.
        nonceManager: createNonceManager({ source: jsonRpc() })
      }) : config.account
      walletClient = createWalletClient({ account, chain, transport })
    }
    const market: MarketClient = { market: config.contract as Address, publicClient, ...(walletClient === undefined ? {} : { walletClient }) }
    try {
      await getMarketParams(market)
    } catch (err) {
      throw new ClientConfigError(`the contract at ${config.contract} on chain ${chainId} is not a Sherd StorageMarket (${(err as Error).message.split('\n')[0]}): check contract`)
    }
    address = walletClient?.account.address
    return {
      publicClient, market, chainId,
      ...(walletClient === undefined ? {} : { walletClient, account: walletClient.account.address })
    }
  }

  // Dials `peerIds` (unreachable ones are scored down and skipped) and waits for their first announcements.
  async function dialAndListen (c: ClientContext, peerIds: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const reached: string[] = []
    await Promise.all(peerIds.map(async (peerId) => {
      try {
        const timeout = AbortSignal.timeout(DIAL_TIMEOUT_MS)
        await c.host.dial(c.directory.addrsOf(peerId), { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) })
        reached.push(peerId)
      } catch (err) {
        signal?.throwIfAborted()
        scores.failure(peerId)
        log('provider %s unreachable: %s', peerId, (err as Error).message)
      }
    }))
    await c.directory.waitForAnnouncements(reached, timeoutMs, signal)
  }

  const client: SherdClient = {
    get libp2p () { return ctx?.host },
    get address () { return address },
    scores,

    async start (options = {}) {
      if (ctx !== undefined) return
      starting ??= (async () => {
        await scores.load()
        const chain = await connectChain(options.signal)
        const host = await createClientHost(config.peerKey === undefined ? {} : { privateKey: config.peerKey })
        const directory = new ProviderDirectory(host, scores, chain.market)
        try {
          directory.addBootstrap(config.bootstrap ?? [])
        } catch (err) {
          throw new ClientConfigError(`a bootstrap address is not a multiaddr (${(err as Error).message}): use /ip4/<host>/tcp/<port>/p2p/<peer id>`)
        }
        await host.start()
        directory.start()
        const next: ClientContext = {
          host, directory, scores, defaults, ...chain,
          ...(config.journalDir === undefined ? {} : { journal: new PutJournal(config.journalDir) })
        }
        try {
          await directory.refreshRegistry(options)
          await dialAndListen(next, directory.bootstrapPeers(), config.discoveryTimeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS, options.signal)
        } catch (err) {
          directory.stop()
          await host.stop()
          throw err
        }
        ctx = next
        log('started as %s with %d providers known', host.peerId.toString(), directory.list().length)
      })().finally(() => { starting = undefined })
      await starting
    },

    async stop () {
      const current = ctx
      ctx = undefined
      if (current === undefined) return
      current.directory.stop()
      await current.host.stop()
      await scores.save()
    },

    put: async (source, options) => await put(running(ctx), source, options),
    estimatePut: async (fileSize, options) => await estimatePut(running(ctx), fileSize, options),
    resume: async (id, options) => await resumePut(running(ctx), id, options),
    abandon: async (id, options) => await abandonPut(running(ctx), id, options),
    get: (target, options) => get(running(ctx), target, options),
    getManifest: async (target, options) => (await getManifest(running(ctx), target, options)).manifest,
    stat: async (target, options) => await stat(running(ctx), target, options),
    repair: async (target, options) => await repair(running(ctx), target, options),
    extend: async (target, periods, options) => await extend(running(ctx), target, periods, options),
    delete: async (target, options) => await deleteFile(running(ctx), target, options),

    async connect (addrs, options = {}) {
      const c = running(ctx)
      const before = new Set(c.directory.bootstrapPeers())
      try {
        c.directory.addBootstrap(addrs)
      } catch (err) {
        throw new ClientConfigError(`a provider address is not a multiaddr with /p2p/<peer id> (${(err as Error).message})`)
      }
      const added = c.directory.bootstrapPeers().filter((id) => !before.has(id) || addrs.some((a) => a.endsWith(id)))
      await c.directory.refreshRegistry(options)
      await dialAndListen(c, added, options.timeoutMs ?? config.discoveryTimeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS, options.signal)
    },

    async providers (options = {}) {
      const c = running(ctx)
      await c.directory.refreshRegistry(options)
      return c.directory.list()
        .map((p) => ({ ...p, record: scores.record(p.peerId) }))
        .sort((a, b) => b.score - a.score || a.peerId.localeCompare(b.peerId))
    },

    async wallet () {
      const c = running(ctx)
      if (c.market === undefined || c.publicClient === undefined || c.account === undefined) {
        throw new ClientConfigError('wallet needs the chain and an account: pass rpcUrl, contract and account')
      }
      const token = await getToken(c.market)
      const [balance, gasBalance, withdrawable] = await Promise.all([
        c.publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [c.account] }),
        c.publicClient.getBalance({ address: c.account }),
        getWithdrawable(c.market, c.account)
      ])
      return { address: c.account, token, balance, gasBalance, withdrawable }
    }
  }
  return client
}

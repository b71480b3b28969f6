import { logger } from '@libp2p/logger'
import type { TokenInfo } from '@sherd/contracts'
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import type { PrivateKey } from '@libp2p/interface'
import { connectChain, marketToken, readWallet } from './chain.js'
import type { WalletInfo } from './chain.js'
import type { ManifestCache } from './manifest-cache.js'
import { audit } from './actions/audit.js'
import type { AuditOptions, AuditResult } from './actions/audit.js'
import { deleteFile, extend } from './actions/lifecycle.js'
import type { DeleteOptions, DeleteResult, ExtendOptions, ExtendResult } from './actions/lifecycle.js'
import { getManifest } from './actions/get.js'
import type { FileTarget, GetOptions } from './actions/get.js'
import type { RepairTarget } from './capability.js'
import { getLatest, publishLatest, resolveLatest } from './latest.js'
import type { LatestOptions, PublishLatestResult } from './latest.js'
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
  DEFAULT_ACTIVATION_TIMEOUT_MS,
  DEFAULT_DEAL_PERIODS,
  DEFAULT_DISCOVERY_TIMEOUT_MS,
  DEFAULT_EXTRA_UPLOADS,
  DEFAULT_MANIFEST_REPLICAS,
  DEFAULT_POLLING_INTERVAL_MS,
  DIAL_TIMEOUT_MS
} from './constants.js'
import { rankProviders, running } from './context.js'
import type { ClientContext, ClientDefaults } from './context.js'
import { ClientConfigError } from './errors.js'
import { readableStreamOf } from './pipeline/source.js'
import { createClientHost } from './host.js'
import { DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS } from './pipeline/constants.js'
import { fetchAnnouncements } from './transfer.js'
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
  /**
   * The paying account: a private key (0x and 64 hex digits, checked by createClient, so a string read from the
   * environment can be passed as it is) or a viem Account. A private key gets its own nonce manager, so deals open in
   * parallel.
   */
  account?: string | Account
  /** The ProofSetMarket contract address. */
  contract?: Address | string
  /**
   * What a deployment file says of the chain (the CLI's --deployment): a chain answering with another id, or a
   * market settling in another token, is refused with ClientConfigError.
   */
  expect?: { chainId?: number; token?: Address; source?: string }
  /** Provider multiaddrs with /p2p/<peer id>: dialled at start; their announcements fill the provider table. */
  bootstrap?: readonly string[]
  /** libp2p identity (a fresh Ed25519 key by default). */
  peerKey?: PrivateKey
  /** JSON file the provider scores are kept in across runs (in memory only by default). */
  scoreFile?: string
  /** Sealed manifests kept locally, read before asking providers (e.g. `directoryManifestCache(dir)`; none by default). */
  manifestCache?: ManifestCache
  /**
   * Directory of the put journal: every put records its key, offers and deals there before it spends, so an
   * interrupted put can be finished with `resume` and listed with `listFiles`. In memory only by default (the
   * `sherd` CLI always keeps one, see `defaultJournalDir`).
   */
  journalDir?: string
  /**
   * `start()` resolves as soon as the client can place a put (k + m registered providers known with addresses and
   * free space; docs/client.md, "Readiness"), and at the latest after this long; a put or repair that finds too
   * few providers waits up to this long again for more before its NotEnoughProvidersError (default 10 s).
   */
  discoveryTimeoutMs?: number
  /** Defaults for put/repair (each overridable per call). */
  k?: number
  m?: number
  segmentSize?: number
  periods?: number
  extraUploads?: number
  manifestReplicas?: number
  /** Wait until new deals' terms have begun (false by default: a deal is binding once opened). */
  waitForActivation?: boolean
  activationTimeoutMs?: number
  maxPricePerMiB?: bigint
  pollingIntervalMs?: number
}

/** A provider as `providers()` lists it: what the directory knows plus the local score record. */
export interface ProviderView extends KnownProvider {
  readonly record: Readonly<ProviderRecord>
}

export type { WalletInfo } from './chain.js'

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
  /** Follows the file's latest-version record (a repair's newer manifest) unless `followLatest: false`. */
  get: (target: FileTarget, options?: GetOptions & LatestOptions) => AsyncGenerator<Uint8Array, void, undefined>
  /** `get` as a web ReadableStream (a page's `Response`, `pipeTo`); cancelling the stream stops the get. */
  getStream: (target: FileTarget, options?: GetOptions & LatestOptions) => ReadableStream<Uint8Array>
  /** Publishes the target as its file's newest version to the providers of it and of `olderCids` (docs/keeper.md). */
  publishLatest: (
    target: RepairTarget,
    options?: { olderCids?: readonly string[]; afterSeq?: number; signal?: AbortSignal }
  ) => Promise<PublishLatestResult>
  /** The CID `get` would read for `target`: its file's newest version as the providers of its manifest know it. */
  latestCid: (
    target: FileTarget,
    options?: Pick<GetOptions, 'signal'> & Pick<LatestOptions, 'latestTimeoutMs'>
  ) => Promise<string>
  getManifest: (target: FileTarget, options?: GetOptions) => Promise<Manifest>
  /** `stat`, `repair` and `extend` take a repair capability (`sherd://<cid>#r=…`) as well as a full link. */
  stat: (target: RepairTarget, options?: StatOptions) => Promise<FileStat>
  repair: (target: RepairTarget, options?: RepairOptions) => Promise<RepairResult>
  extend: (target: RepairTarget, periods: number, options?: ExtendOptions) => Promise<ExtendResult>
  delete: (target: FileTarget, options?: DeleteOptions) => Promise<DeleteResult>
  /** On-demand audit of the file's live deals (a bond each): answered, or failed for the reward (then repair). */
  audit: (target: FileTarget, options?: AuditOptions) => Promise<AuditResult>
  /** Adds provider addresses (…/p2p/<peer id>) to the bootstrap list, dials them and waits for their announcements. */
  connect: (addrs: readonly string[], options?: { signal?: AbortSignal; timeoutMs?: number }) => Promise<void>
  /** Every provider known (announcements, registry, bootstrap), best score first. */
  providers: (options?: { signal?: AbortSignal }) => Promise<ProviderView[]>
  /** The paying account's address and balances. */
  wallet: () => Promise<WalletInfo>
  /** The market's payment token (decimals and symbol, to read and print amounts): needs the chain. */
  tokenInfo: () => Promise<TokenInfo>
}

function isPrivateKey(value: unknown): value is Hex {
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
export function createClient(config: ClientConfig = {}): SherdClient {
  if (config.contract !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(config.contract)) {
    throw new ClientConfigError(`contract must be the market's 0x-prefixed 20-byte address, got "${config.contract}"`)
  }
  if (typeof config.account === 'string' && !isPrivateKey(config.account)) {
    // Never echo the string: it may be a real key with a typo.
    throw new ClientConfigError(
      `account must be a private key (0x followed by 64 hex digits) or a viem Account; got a string of ${config.account.length} characters: check the key you passed (SHERD_PRIVATE_KEY on a devnet)`
    )
  }
  const scores = new ProviderScores(config.scoreFile)
  const defaults: ClientDefaults = {
    ...(config.k === undefined ? {} : { k: config.k }),
    ...(config.m === undefined ? {} : { m: config.m }),
    ...(config.segmentSize === undefined ? {} : { segmentSize: config.segmentSize }),
    periods: config.periods ?? DEFAULT_DEAL_PERIODS,
    extraUploads: config.extraUploads ?? DEFAULT_EXTRA_UPLOADS,
    manifestReplicas: config.manifestReplicas ?? DEFAULT_MANIFEST_REPLICAS,
    waitForActivation: config.waitForActivation ?? false,
    activationTimeoutMs: config.activationTimeoutMs ?? DEFAULT_ACTIVATION_TIMEOUT_MS,
    ...(config.maxPricePerMiB === undefined ? {} : { maxPricePerMiB: config.maxPricePerMiB }),
    pollingIntervalMs: config.pollingIntervalMs ?? DEFAULT_POLLING_INTERVAL_MS,
    discoveryTimeoutMs: config.discoveryTimeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS
  }
  let ctx: ClientContext | undefined
  let starting: Promise<void> | undefined
  let address: Address | undefined

  async function connectChainContext(signal?: AbortSignal): Promise<Partial<ClientContext>> {
    const chain = await connectChain(
      { ...config, pollingIntervalMs: defaults.pollingIntervalMs },
      signal === undefined ? {} : { signal }
    )
    address = chain?.walletClient?.account.address
    return chain ?? {}
  }

  /**
   * Dials `peerIds` (unreachable ones are scored down and skipped), asks each for the announcements it has heard, and
   * waits until the client is ready or `timeoutMs` passed (docs/client.md, "Readiness"). Ready: every reached peer
   * has announced and, with a chain, either enough registered providers are usable for a put of k + m shards (or all
   * registered ones, when fewer are registered) or a provider has relayed what it knows: waiting longer would then
   * only find providers that are still starting, which a put waits for itself. Gossip keeps filling the table.
   */
  async function dialAndListen(
    c: ClientContext,
    peerIds: readonly string[],
    timeoutMs: number,
    signal?: AbortSignal
  ): Promise<void> {
    const reached: string[] = []
    let relays = 0
    await Promise.all(
      peerIds.map(async (peerId) => {
        try {
          const timeout = AbortSignal.timeout(DIAL_TIMEOUT_MS)
          await c.host.dial(c.directory.addrsOf(peerId), {
            signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout])
          })
          reached.push(peerId)
        } catch (err) {
          signal?.throwIfAborted()
          scores.failure(peerId)
          log('provider %s unreachable: %s', peerId, (err as Error).message)
          return
        }
        try {
          const taken = c.directory.addRelayed(await fetchAnnouncements(c, peerId, signal), peerId)
          relays++
          log('provider %s relayed %d announcements', peerId, taken)
        } catch (err) {
          signal?.throwIfAborted()
          // A provider without the relay protocol still announces by gossip.
          log('provider %s relayed no announcements: %s', peerId, (err as Error).message)
        }
      })
    )
    await c.directory.waitUntil(() => isReady(c, reached, relays > 0), timeoutMs, signal)
  }

  function isReady(c: ClientContext, reached: readonly string[], relayed: boolean): boolean {
    if (!reached.every((id) => c.directory.hasAnnounced(id))) return false
    if (c.market === undefined || relayed) return true
    const needed = (defaults.k ?? DEFAULT_DATA_SHARDS) + (defaults.m ?? DEFAULT_PARITY_SHARDS)
    const registered = c.directory.list().filter((p) => p.registered).length
    return rankProviders(c, 1, new Set(), new Map(), defaults.maxPricePerMiB).length >= Math.min(needed, registered)
  }

  const client: SherdClient = {
    get libp2p() {
      return ctx?.host
    },
    get address() {
      return address
    },
    scores,

    async start(options = {}) {
      if (ctx !== undefined) return
      starting ??= (async () => {
        await scores.load()
        const chain = await connectChainContext(options.signal)
        const host = await createClientHost(config.peerKey === undefined ? {} : { privateKey: config.peerKey })
        const directory = new ProviderDirectory(host, scores, chain.market)
        try {
          directory.addBootstrap(config.bootstrap ?? [])
        } catch (err) {
          throw new ClientConfigError(
            `a bootstrap address is not a multiaddr (${(err as Error).message}): use /ip4/<host>/tcp/<port>/p2p/<peer id>`,
            { cause: err }
          )
        }
        await host.start()
        directory.start()
        const next: ClientContext = {
          host,
          directory,
          scores,
          defaults,
          ...chain,
          ...(config.manifestCache === undefined ? {} : { manifestCache: config.manifestCache }),
          ...(config.journalDir === undefined ? {} : { journal: new PutJournal(config.journalDir) })
        }
        try {
          await directory.refreshRegistry(options)
          await dialAndListen(next, directory.bootstrapPeers(), defaults.discoveryTimeoutMs, options.signal)
        } catch (err) {
          directory.stop()
          await host.stop()
          throw err
        }
        ctx = next
        log('started as %s with %d providers known', host.peerId.toString(), directory.list().length)
      })().finally(() => {
        starting = undefined
      })
      await starting
    },

    async stop() {
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
    get: (target, options) => getLatest(running(ctx), target, options),
    getStream: (target, options) => readableStreamOf(getLatest(running(ctx), target, options)),
    publishLatest: async (target, options) => await publishLatest(running(ctx), target, options),
    latestCid: async (target, options) => (await resolveLatest(running(ctx), target, options)).cid.toString(),
    getManifest: async (target, options) => (await getManifest(running(ctx), target, options)).manifest,
    stat: async (target, options) => await stat(running(ctx), target, options),
    repair: async (target, options) => await repair(running(ctx), target, options),
    extend: async (target, periods, options) => await extend(running(ctx), target, periods, options),
    delete: async (target, options) => await deleteFile(running(ctx), target, options),
    audit: async (target, options) => await audit(running(ctx), target, options),

    async connect(addrs, options = {}) {
      const c = running(ctx)
      const before = new Set(c.directory.bootstrapPeers())
      try {
        c.directory.addBootstrap(addrs)
      } catch (err) {
        throw new ClientConfigError(
          `a provider address is not a multiaddr with /p2p/<peer id> (${(err as Error).message})`,
          { cause: err }
        )
      }
      const added = c.directory.bootstrapPeers().filter((id) => !before.has(id) || addrs.some((a) => a.endsWith(id)))
      await c.directory.refreshRegistry(options)
      await dialAndListen(c, added, options.timeoutMs ?? defaults.discoveryTimeoutMs, options.signal)
    },

    async providers(options = {}) {
      const c = running(ctx)
      await c.directory.refreshRegistry(options)
      return c.directory
        .list()
        .map((p) => ({ ...p, record: scores.record(p.peerId) }))
        .sort((a, b) => b.score - a.score || a.peerId.localeCompare(b.peerId))
    },

    async wallet() {
      const c = running(ctx)
      return await readWallet(
        c.market === undefined || c.publicClient === undefined || c.chainId === undefined
          ? undefined
          : {
              publicClient: c.publicClient,
              market: c.market,
              chainId: c.chainId,
              ...(c.account === undefined ? {} : { account: c.account })
            }
      )
    },

    async tokenInfo() {
      const c = running(ctx)
      if (c.market === undefined)
        throw new ClientConfigError('token amounts need the chain: pass rpcUrl and contract (the market address)')
      return await marketToken(c.market)
    }
  }
  return client
}

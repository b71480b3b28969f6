import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MAX_ANNOUNCED_ADDRS, addressOf } from '@sherd/protocol'
import type { Address } from '@sherd/protocol'
import { Announcer } from './announcer.js'
import { DEFAULT_CAPACITY_BYTES, DEFAULT_HTTP_PORT, DEFAULT_LISTEN } from './constants.js'
import { createHost } from './host.js'
import type { SherdHost } from './host.js'
import { HttpApi } from './http-api.js'
import type { ChainStatus, NodeStatus } from './http-api.js'
import { STORE_DIR, clearExitRecord, readEvmKey, readExitRecord, readPeerKey } from './identity.js'
import { tokens } from './amounts.js'
import { NodeMetrics } from './metrics.js'
import { ShardService } from './shard-service.js'
import type { OfferSigner } from './shard-service.js'
import { ShardStore } from './store.js'
import { connectChain, ensureRegistered } from './chain.js'
import { proofSetOfferSigner, SequentialNonces } from './offer-signer.js'
import type { NonceDb } from './offer-signer.js'
import { UnclaimedShards } from './unclaimed.js'
import { DEFAULT_UNCLAIMED_MAX_BYTES } from './constants.js'
import { DealLedger } from './deal-ledger.js'
import type { LedgerDb } from './deal-ledger.js'
import { Prover } from './prover.js'
import type { ProverInit } from './prover.js'
import { TxQueue } from './prover-chain.js'
import { MissReporter } from './prover-miss-reporter.js'
import type { MissReporterInit } from './prover-miss-reporter.js'
import { ShardCollector } from './shard-collector.js'
import { StatusHistory } from './status-history.js'
import type { ShardCollectorInit } from './shard-collector.js'
import type { ChainConnection } from './chain.js'

const log = logger('sherd:node')

export interface ProviderNodeConfig {
  /** Holds peer.key, evm.key, config.json and the store; create it with `initDataDir` or `sherd-node init`. */
  dataDir: string
  /** libp2p listen multiaddrs (default /ip4/127.0.0.1/tcp/0); `/ip4/…/tcp/…/ws` ones listen on WebSockets. */
  listen?: string[]
  /** Addresses announced (and printed in the ready line) instead of the listen addresses; empty: the listen addresses. */
  announce?: string[]
  /**
   * Peers to stay connected to (multiaddrs ending in /p2p/<peer id>), usually a few other providers: through them
   * the node joins the announcement mesh. Unreachable ones are retried in the background; start never waits.
   */
  bootstrap?: string[]
  httpHost?: string
  /** 0 picks a free port. */
  httpPort?: number
  capacityBytes?: number
  /** Token base units per MiB per proving period, decimal string. */
  pricePerMiB?: string
  announceIntervalMs?: number
  storeTimeoutMs?: number
  stopGraceMs?: number
  offerSigner?: OfferSigner
  /** Bytes of shards no deal claims that the node holds at most (default DEFAULT_UNCLAIMED_MAX_BYTES, capped at capacity). */
  unclaimedMaxBytes?: number
  /**
   * The market. With `rpcUrl` and `contractAddress`, start() checks both, registers the provider (or updates its
   * price, capacity and peer id) and signs offers; without them the node stores and serves but cannot sign offers.
   */
  chain?: {
    rpcUrl?: string
    contractAddress?: string
    /** Token base units, decimal string. */
    stake?: string
    /**
     * Register (and stake) again although this data dir's provider left the market with `exit` (its exited.json);
     * without it start refuses with ProviderExitedError.
     */
    registerAgain?: boolean
  }
  /** Export Node.js process metrics on /metrics (off in tests that run several nodes per process). */
  processMetrics?: boolean
  /** The prover's options (it runs whenever the node has a chain). */
  prover?: ProverInit
  /** Mark other providers' missed periods (default on, as the devnet needs); `false` turns it off. */
  missReporter?: MissReporterInit | false
  /** Deleting shards no live deal needs (default on; docs/operations.md, "Reclaiming space"). */
  gc?: ShardCollectorInit
}

/**
 * At most MAX_ANNOUNCED_ADDRS addresses, taken in turn from TCP (and anything else) and from WebSockets, in order: a
 * host listening on 0.0.0.0 gets one address per interface and transport, and a plain cut after the first 16 could
 * leave the WebSocket ones, all a browser can dial, out of the announcement.
 */
export function announceable (addrs: readonly string[]): string[] {
  if (addrs.length <= MAX_ANNOUNCED_ADDRS) return [...addrs]
  const isWs = (a: string): boolean => /\/(ws|wss)(\/|$)/.test(a)
  const groups = [addrs.filter((a) => !isWs(a)), addrs.filter(isWs)]
  const out: string[] = []
  for (let i = 0; out.length < MAX_ANNOUNCED_ADDRS; i++) {
    for (const group of groups) if (i < group.length && out.length < MAX_ANNOUNCED_ADDRS) out.push(group[i]!)
  }
  return out
}

/** What a parent process waits for on stdout: `sherd-node start` prints this as one JSON line. */
export interface ReadyInfo {
  event: 'ready'
  peerId: string
  multiaddrs: string[]
  httpPort: number
  httpUrl: string
  chainAddress: string
  dataDir: string
}

export interface ProviderNode {
  readonly peerId: string
  readonly chainAddress: Address
  readonly libp2p: SherdHost
  readonly store: ShardStore
  readonly service: ShardService
  readonly announcer: Announcer
  readonly http: HttpApi
  readonly metrics: NodeMetrics
  /** Chain numbers for /status; the prover updates this object in place. */
  readonly chain: ChainStatus
  /** The market connection once started with a chain (the prover uses it). */
  readonly chainConnection: () => ChainConnection | undefined
  /** Proves this provider's deals; records them in `ledger`. */
  readonly prover: Prover
  readonly ledger: DealLedger
  readonly missReporter: MissReporter | undefined
  readonly collector: ShardCollector
  /** The bytes of stored shards no deal claims, bounded. */
  readonly unclaimed: UnclaimedShards
  status: () => NodeStatus
  ready: () => ReadyInfo
  start: () => Promise<void>
  stop: () => Promise<void>
}

/**
 * Builds a provider from its data dir. `start()` opens the store (collecting incomplete writes), starts libp2p, the
 * stream protocols, the announcer and the HTTP API, in that order; `stop()` reverses it, letting transfers finish
 * (or aborting them after a grace period) before LevelDB closes.
 */
export async function createProviderNode (config: ProviderNodeConfig): Promise<ProviderNode> {
  const privateKey = await readPeerKey(config.dataDir)
  const chainKey = await readEvmKey(config.dataDir)
  const chainAddress = addressOf(chainKey)
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  const pricePerMiB = config.pricePerMiB ?? '1'
  const metrics = new NodeMetrics({ processMetrics: config.processMetrics ?? false })
  const store = new ShardStore({ path: join(config.dataDir, STORE_DIR), capacityBytes: config.capacityBytes ?? DEFAULT_CAPACITY_BYTES })
  const libp2p = await createHost({ privateKey, listen: config.listen ?? [DEFAULT_LISTEN], announce: config.announce, bootstrap: config.bootstrap, start: false })
  const claimedRoots = (): Set<string> => new Set(ledger.deals().map((d) => d.root.slice(2).toLowerCase()))
  const unclaimed = new UnclaimedShards(
    { isClaimed: (rootHex) => ledger.started && claimedRoots().has(rootHex) },
    { maxBytes: Math.min(config.unclaimedMaxBytes ?? DEFAULT_UNCLAIMED_MAX_BYTES, config.capacityBytes ?? DEFAULT_CAPACITY_BYTES) }
  )
  const nonces = new SequentialNonces(() => store.sublevel('offer-nonces') as unknown as NonceDb)
  const service = new ShardService(
    { registrar: libp2p, store, metrics, chainKey, chainAddress, peerId, unclaimed },
    {
      storeTimeoutMs: config.storeTimeoutMs,
      stopGraceMs: config.stopGraceMs,
      offerSigner: config.offerSigner
    }
  )
  const multiaddrs = (): string[] => libp2p.getMultiaddrs().map((a) => a.toString())
  const announcer = new Announcer({
    pubsub: libp2p.services.pubsub,
    registrar: libp2p,
    describe: () => ({ peerId, addrs: announceable(multiaddrs()), capacityBytes: store.capacityBytes, freeBytes: store.freeBytes }),
    chainKey,
    chainAddress,
    metrics
  }, { pricePerMiB, intervalMs: config.announceIntervalMs })
  const chain: ChainStatus = {
    rpcUrl: config.chain?.rpcUrl,
    contractAddress: config.chain?.contractAddress,
    deals: 0,
    periodsProven: 0,
    periodsMissed: 0,
    earnings: '0',
    withdrawn: '0'
  }
  const startedAt = Date.now()
  const status = (): NodeStatus => ({
    peerId,
    multiaddrs: multiaddrs(),
    chainAddress,
    chain,
    store: {
      shards: store.shards,
      manifests: store.manifests,
      usedBytes: store.usedBytes,
      reservedBytes: store.pendingBytes,
      freeBytes: store.freeBytes,
      capacityBytes: store.capacityBytes
    },
    pricePerMiB,
    activeTransfers: service.activeTransfers,
    peers: libp2p.getPeers().length,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    gc: collector.status
  })
  const refreshMetrics = (): void => {
    metrics.usedBytes.set(store.usedBytes)
    metrics.reservedBytes.set(store.pendingBytes)
    metrics.capacityBytes.set(store.capacityBytes)
    metrics.shards.set(store.shards)
    metrics.peers.set(libp2p.getPeers().length)
  }
  const history = new StatusHistory(() => chain)
  const http = new HttpApi({ status, metrics, refreshMetrics, history: () => { history.sample(); return history.toJSON() } }, { host: config.httpHost ?? '127.0.0.1', port: config.httpPort ?? DEFAULT_HTTP_PORT })
  const started: Array<{ stop: () => Promise<void> | void }> = []
  const ledger = new DealLedger(() => store.sublevel('ledger') as unknown as LedgerDb)
  const txQueue = new TxQueue()
  const chainConnection = (): ChainConnection | undefined => connection
  const prover = new Prover({ store, ledger, connection: chainConnection, metrics, status: chain, txQueue }, config.prover)
  const missReporter = config.missReporter === false ? undefined : new MissReporter({ connection: chainConnection, metrics, txQueue }, config.missReporter)
  const collector = new ShardCollector({ store, ledger, metrics, scans: prover.events }, config.gc)
  let connection: ChainConnection | undefined
  // Connects, registers and plugs in the offer signer; a Startable so it runs in order with the rest.
  const chainLink = {
    async start (): Promise<void> {
      const { rpcUrl, contractAddress } = config.chain ?? {}
      if (rpcUrl === undefined || contractAddress === undefined) return
      const conn = await connectChain({ rpcUrl, market: contractAddress, privateKey: chainKey })
      chain.chainId = conn.chainId
      chain.token = { address: conn.token.address, symbol: conn.token.symbol, decimals: conn.token.decimals }
      const stake = BigInt(config.chain?.stake ?? '0')
      const exited = await readExitRecord(config.dataDir)
      const exitedHere = exited !== undefined && exited.chainId === conn.chainId && exited.contractAddress.toLowerCase() === contractAddress.toLowerCase()
      const refuseToRegister = exitedHere && config.chain?.registerAgain !== true
        ? `${chainAddress} left this market with \`sherd-node exit\` at ${exited.exitedAt}${exited.tx === undefined ? '' : ` (tx ${exited.tx})`}; starting would register it ` +
          `again and stake ${tokens(stake, conn.token)}. To do that, start with --register-again; to leave it out of the market, do not start it with this chain`
        : undefined
      const outcome = await ensureRegistered(conn, {
        stake,
        pricePerMiB: BigInt(pricePerMiB),
        capacity: BigInt(store.capacityBytes),
        peerId
      }, { refuseToRegister })
      if (exited !== undefined) await clearExitRecord(config.dataDir)
      connection = conn
      chain.registered = true
      log('chain %d market %s: %s', connection.chainId, contractAddress, outcome)
      service.setOfferSigner(proofSetOfferSigner(
        { mc: conn.mc, address: conn.address, chainId: conn.chainId, token: conn.token, store, nonces },
        { pricePerMiB: BigInt(pricePerMiB) }
      ))
    },
    async stop (): Promise<void> {}
  }

  const node: ProviderNode = {
    peerId,
    chainAddress,
    libp2p,
    store,
    service,
    announcer,
    http,
    metrics,
    chain,
    chainConnection,
    prover,
    ledger,
    missReporter,
    collector,
    unclaimed,
    status,
    ready: () => ({
      event: 'ready',
      peerId,
      multiaddrs: multiaddrs(),
      httpPort: http.port,
      httpUrl: `http://${config.httpHost ?? '127.0.0.1'}:${http.port}`,
      chainAddress,
      dataDir: config.dataDir
    }),
    async start () {
      try {
        for (const part of [store, ledger, chainLink, libp2p, service, announcer, http, prover, collector, missReporter, history] as const) {
          if (part === undefined) continue
          await part.start()
          started.push(part)
        }
      } catch (err) {
        await node.stop()
        throw err
      }
      log('provider %s started on %s', peerId, multiaddrs().join(', '))
    },
    async stop () {
      // Reverse order: stop accepting and drain transfers first, close LevelDB last.
      const order = [history, collector, prover, missReporter, service, announcer, http, libp2p, ledger, store].filter((p): p is NonNullable<typeof p> => p !== undefined && started.includes(p))
      started.length = 0
      for (const part of order) {
        try { await part.stop() } catch (err) { log.error('stopping failed: %e', err) }
      }
      log('provider %s stopped', peerId)
    }
  }
  return node
}

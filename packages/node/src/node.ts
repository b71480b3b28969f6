import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { addressOf } from '@sherd/protocol'
import type { Address } from '@sherd/protocol'
import { Announcer } from './network/announcer.js'
import { DEFAULT_CAPACITY_BYTES, DEFAULT_HTTP_PORT, DEFAULT_LISTEN } from './constants.js'
import { createHost } from './network/host.js'
import type { SherdHost } from './network/host.js'
import { HttpApi } from './api/http-api.js'
import type { ChainStatus, NodeStatus } from './api/http-api.js'
import { STORE_DIR, clearExitRecord, readEvmKey, readExitRecord, readPeerKey } from './identity.js'
import type { ExitRecord } from './identity.js'
import { tokens } from './chain/amounts.js'
import { ProviderExitedError } from './errors.js'
import { NodeMetrics } from './api/metrics.js'
import { ShardService } from './network/shard-service.js'
import { LatestService } from './network/latest-service.js'
import type { LatestDb } from './network/latest-service.js'
import { ShardStore } from './storage/store.js'
import { connectChain, DEFAULT_MAX_TERM_PERIODS, ensureRegistered, providerInfo } from './chain/chain.js'
import type { ChainConnection } from './chain/chain.js'
import { proofSetOfferSigner, SequentialNonces } from './chain/offer-signer.js'
import type { NonceDb } from './chain/offer-signer.js'
import { UnclaimedShards } from './storage/unclaimed.js'
import { DEFAULT_UNCLAIMED_MAX_BYTES } from './constants.js'
import { ProofSetProver } from './prover/index.js'
import { ProofSetClock } from './prover/context.js'
import type { ProofSetLedgerDb } from './prover/ledger.js'
import { TxQueue } from './prover/tx-queue.js'
import { MissReporter } from './chain/miss-reporter.js'
import { ShardCollector } from './storage/shard-collector.js'
import { NodeParts } from './parts.js'
import { StatusHistory } from './api/status-history.js'
import { amountsInTokens, ledgerStatus } from './api/ledger-status.js'

import type { ProviderNodeConfig } from './node-config.js'
import { announceable } from './network/announceable.js'

export type { ProviderNodeConfig }
export { announceable }

const log = logger('sherd:node')

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
  /** Chain numbers for /status, as of this call (from the proof-set ledger). */
  readonly chain: () => ChainStatus
  /** The market connection once started with a chain (the prover uses it). */
  readonly chainConnection: () => ChainConnection | undefined
  /** Proves this provider's deals and keeps its ledger; there once started with a chain. */
  readonly prover: () => ProofSetProver | undefined
  /** The prover's events (`synced`, `chunk`, `audit`, `claimed`, `declared`, `failed`), whichever prover runs. */
  readonly proverEvents: EventTarget
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
export async function createProviderNode(config: ProviderNodeConfig): Promise<ProviderNode> {
  const privateKey = await readPeerKey(config.dataDir)
  const chainKey = await readEvmKey(config.dataDir)
  const chainAddress = addressOf(chainKey)
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  const pricePerMiB = config.pricePerMiB ?? '1'
  const metrics = new NodeMetrics({ processMetrics: config.processMetrics ?? false })
  const store = new ShardStore({
    path: join(config.dataDir, STORE_DIR),
    capacityBytes: config.capacityBytes ?? DEFAULT_CAPACITY_BYTES
  })
  const libp2p = await createHost({
    privateKey,
    listen: config.listen ?? [DEFAULT_LISTEN],
    announce: config.announce,
    bootstrap: config.bootstrap,
    start: false
  })
  // Roots of this provider's deals, rebuilt when the ledger's deal count changes (deals are only added, or rolled
  // back by a reorg).
  let claimedRoots: { size: number; roots: Set<string> } = { size: -1, roots: new Set() }
  const isClaimed = (rootHex: string): boolean => {
    const ledger = prover?.ledger
    if (ledger?.started !== true) return false
    if (claimedRoots.size !== ledger.size)
      claimedRoots = { size: ledger.size, roots: new Set(ledger.sorted().map((d) => d.root.slice(2).toLowerCase())) }
    return claimedRoots.roots.has(rootHex)
  }
  const unclaimed = new UnclaimedShards(
    { isClaimed },
    {
      maxBytes: Math.min(
        config.unclaimedMaxBytes ?? DEFAULT_UNCLAIMED_MAX_BYTES,
        config.capacityBytes ?? DEFAULT_CAPACITY_BYTES
      )
    }
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
  // Latest-version records of repaired files (docs/keeper.md): a get with an old link follows them. The sublevel
  // is opened on first use: the store opens in start().
  const latest = new LatestService({ registrar: libp2p, db: () => store.sublevel('latest') as unknown as LatestDb })
  const multiaddrs = (): string[] => libp2p.getMultiaddrs().map((a) => a.toString())
  const announcer = new Announcer(
    {
      pubsub: libp2p.services.pubsub,
      registrar: libp2p,
      describe: () => ({
        peerId,
        addrs: announceable(multiaddrs()),
        capacityBytes: store.capacityBytes,
        freeBytes: store.freeBytes
      }),
      chainKey,
      chainAddress,
      metrics
    },
    { pricePerMiB, intervalMs: config.announceIntervalMs }
  )
  const startedAt = Date.now()
  const txQueue = new TxQueue()
  let connection: ChainConnection | undefined
  let prover: ProofSetProver | undefined
  let registered = false
  let warning: string | undefined
  let accepting = true
  const onChain: { stake?: bigint; locked?: bigint; readAtMs: number } = { readAtMs: 0 }
  const maxTermPeriods = config.chain?.maxTermPeriods ?? DEFAULT_MAX_TERM_PERIODS
  const proverEvents = new EventTarget()
  const chainConnection = (): ChainConnection | undefined => connection
  const missReporter =
    config.missReporter === false
      ? undefined
      : new MissReporter({ connection: chainConnection, metrics, txQueue }, config.missReporter)

  const chainStatus = (): ChainStatus => {
    const out: ChainStatus = {
      rpcUrl: config.chain?.rpcUrl,
      contractAddress: config.chain?.contractAddress,
      deals: 0,
      periodsProven: 0,
      periodsMissed: 0,
      earnings: '0',
      withdrawn: '0'
    }
    const conn = connection
    if (conn === undefined) return out
    out.chainId = conn.chainId
    out.token = { address: conn.token.address, symbol: conn.token.symbol, decimals: conn.token.decimals }
    out.registered = registered
    out.maxTermPeriods = maxTermPeriods
    out.acceptingOffers = accepting
    if (warning !== undefined) out.warning = warning
    if (missReporter !== undefined) out.reporterRewards = missReporter.status.rewards.toString()
    if (onChain.stake !== undefined) out.stake = onChain.stake.toString()
    if (onChain.locked !== undefined) out.locked = onChain.locked.toString()
    if (prover?.ledger.started === true) {
      const head = prover.status.head
      const clock = new ProofSetClock(conn.genesisBlock, conn.params)
      const current = head === undefined ? 0n : clock.periodOf(head + 1n)
      Object.assign(out, ledgerStatus(prover.ledger, current))
      if (head !== undefined) {
        out.block = head.toString()
        out.period = current.toString()
      }
      out.lastError = prover.status.lastError ?? missReporter?.status.lastError
    }
    out.amounts = amountsInTokens(
      {
        earnings: out.earnings,
        unclaimed: out.unclaimed,
        withdrawn: out.withdrawn,
        slashed: out.slashed,
        reporterRewards: out.reporterRewards,
        stake: out.stake,
        locked: out.locked,
        pricePerMiB
      },
      conn.token
    )
    return out
  }
  const status = (): NodeStatus => ({
    peerId,
    multiaddrs: multiaddrs(),
    chainAddress,
    chain: chainStatus(),
    store: {
      shards: store.shards,
      manifests: store.manifests,
      usedBytes: store.usedBytes,
      reservedBytes: store.pendingBytes,
      freeBytes: store.freeBytes,
      capacityBytes: store.capacityBytes,
      unclaimedBytes: unclaimed.bytes,
      unclaimedMaxBytes: unclaimed.maxBytes
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
  const history = new StatusHistory(chainStatus)
  const http = new HttpApi(
    {
      status,
      metrics,
      refreshMetrics,
      history: () => {
        history.sample()
        return history.toJSON()
      }
    },
    { host: config.httpHost ?? '127.0.0.1', port: config.httpPort ?? DEFAULT_HTTP_PORT }
  )
  const ledgerView = {
    get started(): boolean {
      return prover?.ledger.started ?? false
    },
    get size(): number {
      return prover?.ledger.size ?? 0
    },
    sorted: () => prover?.ledger.sorted() ?? []
  }
  const collector = new ShardCollector(
    {
      store,
      ledger: ledgerView,
      metrics,
      scans: proverEvents,
      onDeleted: (root) => {
        unclaimed.forget(root)
      }
    },
    { offerTtlSeconds: config.chain?.offerTtlSeconds, ...config.gc }
  )
  const exitedHere = (record: ExitRecord | undefined, conn: ChainConnection): boolean =>
    record !== undefined &&
    record.chainId === conn.chainId &&
    record.contractAddress.toLowerCase() === conn.mc.market.toLowerCase()
  // Stake and locked collateral for status, read at most every few seconds (after a ledger sync).
  const refreshStake = (): void => {
    const conn = connection
    if (conn === undefined || Date.now() - onChain.readAtMs < 5_000) return
    onChain.readAtMs = Date.now()
    void providerInfo(conn).then(
      (info) => {
        onChain.stake = info?.stake
        onChain.locked = info?.locked
      },
      () => {}
    )
  }
  // Connects, registers, starts the prover (which loads the ledger) and plugs in the offer signer; a Startable so it
  // runs in order with the rest.
  const chainLink = {
    async start(): Promise<void> {
      const { rpcUrl, contractAddress } = config.chain ?? {}
      if (rpcUrl === undefined || contractAddress === undefined) return
      const conn = await connectChain({
        rpcUrl,
        market: contractAddress,
        privateKey: chainKey,
        expectedChainId: config.chain?.expectedChainId
      })
      const stake = BigInt(config.chain?.stake ?? '0')
      const record = await readExitRecord(config.dataDir)
      const here = exitedHere(record, conn)
      const phase = here ? (record!.phase ?? 'exited') : undefined
      const registerAgain = config.chain?.registerAgain === true
      const refuseToRegister =
        phase === 'exited' && !registerAgain
          ? `${chainAddress} left this market with \`sherd-node exit\` at ${record!.exitedAt}; starting would stake ` +
            `${tokens(stake, conn.token)} again. To do that, start with --register-again; to leave it out of the market, do not start it with this chain`
          : undefined
      // The provider stays registered (with no stake) after an exit: starting must not stake it again unasked.
      if (refuseToRegister !== undefined) throw new ProviderExitedError(refuseToRegister)
      const { outcome, warning: w } = await ensureRegistered(
        conn,
        { stake, peerId, maxTermPeriods },
        { refuseToRegister, restake: phase === 'exited' && registerAgain }
      )
      warning = w
      if (record !== undefined && (!here || registerAgain)) await clearExitRecord(config.dataDir)
      accepting = !(phase === 'leaving' && !registerAgain)
      connection = conn
      registered = true
      log(
        'chain %d market %s: %s%s',
        conn.chainId,
        contractAddress,
        outcome,
        accepting ? '' : ' (leaving the market: no new offers)'
      )
      prover = new ProofSetProver(
        { store, db: store.sublevel('proof-set') as unknown as ProofSetLedgerDb, mc: conn.mc, txQueue },
        { fromBlock: conn.genesisBlock, ...config.prover }
      )
      for (const type of ['synced', 'chunk', 'audit', 'claimed', 'declared', 'failed']) {
        prover.events.addEventListener(type, (e) => {
          proverEvents.dispatchEvent(new CustomEvent(type, { detail: (e as CustomEvent).detail }))
        })
      }
      prover.events.addEventListener('synced', refreshStake)
      prover.events.addEventListener('chunk', (e) => {
        const c = (e as CustomEvent<{ receipt: { gasUsed: bigint }; elapsedMs: number }>).detail
        metrics.proofsSubmitted.inc({ kind: 'chunk' })
        metrics.proofGas.observe(Number(c.receipt.gasUsed))
        metrics.proofSeconds.observe(c.elapsedMs / 1000)
      })
      prover.events.addEventListener('audit', (e) => {
        metrics.proofsSubmitted.inc({ kind: 'audit' })
        metrics.proofGas.observe(Number((e as CustomEvent<{ receipt: { gasUsed: bigint } }>).detail.receipt.gasUsed))
      })
      prover.events.addEventListener('claimed', (e) => {
        metrics.dealsSettled.inc({ action: 'claim' }, (e as CustomEvent<{ dealIds: bigint[] }>).detail.dealIds.length)
      })
      prover.events.addEventListener('declared', (e) => {
        metrics.dealsSettled.inc({ action: 'declare' }, (e as CustomEvent<bigint[]>).detail.length)
      })
      prover.events.addEventListener('failed', (e) => {
        metrics.proverErrors.inc({ stage: (e as CustomEvent<{ stage: string }>).detail.stage })
      })
      await prover.start()
      service.setOfferSigner(
        proofSetOfferSigner(
          { mc: conn.mc, address: conn.address, chainId: conn.chainId, token: conn.token, store, nonces },
          {
            pricePerMiB: BigInt(pricePerMiB),
            maxTermPeriods: () => maxTermPeriods,
            ttlSeconds: config.chain?.offerTtlSeconds,
            // `sherd-node exit` (another process) writes the record: from then on no new offers.
            accepting: async () => {
              accepting = !exitedHere(await readExitRecord(config.dataDir), conn)
              return accepting
            }
          }
        )
      )
    },
    async stop(): Promise<void> {
      await prover?.stop()
    }
  }
  // The unclaimed-bytes count needs the ledger (loaded by the prover's start) to tell claimed shards apart.
  const unclaimedCount = {
    async start(): Promise<void> {
      await unclaimed.load(store)
    },
    stop(): void {}
  }

  // One parts list: started in this order, stopped in the reverse (stop watching and proving, stop accepting and
  // drain transfers, close LevelDB last).
  const parts = new NodeParts(
    [store, chainLink, unclaimedCount, libp2p, service, latest, announcer, http, collector, missReporter, history],
    (err) => {
      log.error('stopping failed: %e', err)
    }
  )
  const node: ProviderNode = {
    peerId,
    chainAddress,
    libp2p,
    store,
    service,
    announcer,
    http,
    metrics,
    chain: chainStatus,
    chainConnection,
    prover: () => prover,
    proverEvents,
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
    async start() {
      await parts.start()
      log('provider %s started on %s', peerId, multiaddrs().join(', '))
    },
    async stop() {
      await parts.stop()
      log('provider %s stopped', peerId)
    }
  }
  return node
}

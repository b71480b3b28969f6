import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Message } from '@libp2p/gossipsub'
import { listProofSetProviders } from '@sherd/contracts'
import type { MarketClient, ProofSetProvider } from '@sherd/contracts'
import type { Address } from 'viem'
import { ANNOUNCE_TOPIC, decodeAnnouncement, verifyAnnouncement } from '@sherd/protocol'
import type { AnnouncementPayload, SignedAnnouncement } from '@sherd/protocol'
import { marketParams } from './chain.js'
import { ANNOUNCEMENT_MAX_AGE_MS } from './constants.js'
import type { ClientHost } from './host.js'
import type { ProviderScores } from './scores.js'

const log = logger('sherd:client:providers')

/** One provider as the client knows it: announcement, registry entry and addresses merged. */
export interface KnownProvider {
  /** libp2p peer id (the key the manifest uses). */
  readonly peerId: string
  /** Chain address (from the registry or a verified announcement). */
  readonly chainAddress?: `0x${string}`
  /** Dialable addresses (announced, or given as bootstrap). */
  readonly addrs: readonly string[]
  /** Token units per MiB per period, as announced (the chain has no prices: the signed offer is binding). */
  readonly pricePerMiB?: bigint
  /** Free bytes, as announced. */
  readonly freeBytes?: number
  readonly capacityBytes?: number
  /** Stake not locked as collateral (chain: stake − locked), base units, as of the last registry read. */
  readonly freeStake?: bigint
  /** Longest deal term the provider accepts, and so the longest a deal of it may be extended to (chain). */
  readonly maxTermPeriods?: number
  /** Registered on the market now. */
  readonly registered: boolean
  /** Time of its newest verified announcement. */
  readonly announcedAtMs?: number
  /** True if announced within ANNOUNCEMENT_MAX_AGE_MS. */
  readonly fresh: boolean
  /** Local score in (0, 1]. */
  readonly score: number
}

/**
 * The client's table of providers: verified gossipsub announcements (signature by the announced chain address,
 * published by the announced peer id; newest `seq` wins), the on-chain registry, and bootstrap addresses.
 */
export class ProviderDirectory {
  private readonly announcements = new Map<string, { payload: AnnouncementPayload; receivedAtMs: number }>()
  private readonly registry = new Map<string, ProofSetProvider & { address: Address }>()
  private readonly bootstrap = new Map<string, string[]>()
  private readonly listeners = new Set<() => void>()
  rejected = 0

  constructor(
    private readonly host: ClientHost,
    private readonly scores: ProviderScores,
    private readonly market?: MarketClient
  ) {}

  addBootstrap(addrs: readonly string[]): void {
    for (const text of addrs) {
      const peerId = multiaddr(text)
        .getComponents()
        .findLast((c) => c.name === 'p2p')?.value
      if (peerId === undefined) throw new Error(`${text} has no /p2p/<peer id> part`)
      const list = this.bootstrap.get(peerId) ?? []
      if (!list.includes(text)) list.push(text)
      this.bootstrap.set(peerId, list)
    }
  }

  bootstrapPeers(): string[] {
    return [...this.bootstrap.keys()]
  }

  start(): void {
    this.host.services.pubsub.addEventListener('message', this.onMessage)
    this.host.services.pubsub.subscribe(ANNOUNCE_TOPIC)
  }

  stop(): void {
    this.host.services.pubsub.removeEventListener('message', this.onMessage)
    try {
      this.host.services.pubsub.unsubscribe(ANNOUNCE_TOPIC)
    } catch {}
  }

  /** Calls `listener` after each accepted announcement; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== ANNOUNCE_TOPIC) return
    try {
      if (msg.type !== 'signed') throw new Error('unsigned gossipsub message')
      this.accept(decodeAnnouncement(msg.data), { fromPeerId: msg.from.toString(), receivedAtMs: Date.now() })
    } catch (err) {
      this.rejected++
      log(
        'dropped an announcement from %s: %s',
        msg.type === 'signed' ? msg.from.toString() : '?',
        (err as Error).message
      )
    }
  }

  /**
   * Takes the announcements a provider relayed (ANNOUNCEMENTS_PROTOCOL). Its own is authenticated by the connection,
   * as a gossipsub message is by its publisher; another provider's only by the registry: the announced peer id must
   * be registered to the announced chain address, which signed it. Each counts as received when it was signed
   * (never later than now), so a relayed one is no fresher than it is. Returns how many were taken.
   */
  addRelayed(announcements: readonly SignedAnnouncement[], relayedBy: string): number {
    let taken = 0
    const now = Date.now()
    for (const signed of announcements) {
      const a = signed.announcement
      try {
        if (a.peerId !== relayedBy) {
          const entry = this.registry.get(a.peerId)
          if (entry === undefined) throw new Error(`${a.peerId} is not registered on the market`)
        }
        if (
          this.accept(signed, {
            fromPeerId: a.peerId === relayedBy ? relayedBy : undefined,
            receivedAtMs: a.peerId === relayedBy ? now : Math.min(now, a.timestampMs)
          })
        )
          taken++
      } catch (err) {
        this.rejected++
        log('dropped an announcement of %s relayed by %s: %s', a.peerId, relayedBy, (err as Error).message)
      }
    }
    return taken
  }

  /** Verifies and keeps an announcement if it is newer than the one held; throws why it is not acceptable. */
  private accept(
    signed: SignedAnnouncement,
    origin: { fromPeerId: string | undefined; receivedAtMs: number }
  ): boolean {
    verifyAnnouncement(signed, origin.fromPeerId === undefined ? {} : { fromPeerId: origin.fromPeerId })
    const a = signed.announcement
    const registered = this.registry.get(a.peerId)
    if (registered !== undefined && registered.address.toLowerCase() !== a.chainAddress.toLowerCase()) {
      throw new Error(`announced chain address ${a.chainAddress} is not the registered ${registered.address}`)
    }
    const prior = this.announcements.get(a.peerId)
    if (prior !== undefined && prior.payload.seq >= a.seq && prior.payload.timestampMs >= a.timestampMs) return false
    this.announcements.set(a.peerId, { payload: a, receivedAtMs: origin.receivedAtMs })
    log.trace('announcement from %s: %d bytes free, price %s', a.peerId, a.freeBytes, a.pricePerMiB)
    for (const l of this.listeners) l()
    return true
  }

  /**
   * Re-reads the on-chain registry (no-op without a chain): every ProviderRegistered since the market's genesis,
   * with each provider's current stake, locked collateral and term limit.
   */
  async refreshRegistry(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.market === undefined) return
    const { genesisBlock } = await marketParams(this.market)
    const list = await listProofSetProviders(this.market, {
      fromBlock: genesisBlock,
      ...(options.signal === undefined ? {} : { signal: options.signal })
    })
    this.registry.clear()
    for (const p of list) if (p.peerId !== '') this.registry.set(p.peerId, p)
  }

  /** The registry entry of `peerId`, if registered. */
  registryEntry(peerId: string): (ProofSetProvider & { address: Address }) | undefined {
    return this.registry.get(peerId)
  }

  /** Every provider known from any source. */
  list(): KnownProvider[] {
    const ids = new Set([...this.announcements.keys(), ...this.registry.keys(), ...this.bootstrap.keys()])
    return [...ids].map((id) => this.describe(id))
  }

  describe(peerId: string): KnownProvider {
    const a = this.announcements.get(peerId)
    const r = this.registry.get(peerId)
    const addrs = [...new Set([...(a?.payload.addrs ?? []), ...(this.bootstrap.get(peerId) ?? [])])].map((s) =>
      s.includes('/p2p/') ? s : `${s}/p2p/${peerId}`
    )
    const now = Date.now()
    const freeBytes: number | undefined = a?.payload.freeBytes
    const price = a === undefined ? undefined : BigInt(a.payload.pricePerMiB)
    return {
      peerId,
      ...(r !== undefined
        ? { chainAddress: r.address }
        : a !== undefined
          ? { chainAddress: a.payload.chainAddress }
          : {}),
      addrs,
      ...(price === undefined ? {} : { pricePerMiB: price }),
      ...(freeBytes === undefined ? {} : { freeBytes }),
      ...(r === undefined
        ? {}
        : { freeStake: r.stake > r.locked ? r.stake - r.locked : 0n, maxTermPeriods: r.maxTermPeriods }),
      ...(a === undefined ? {} : { capacityBytes: a.payload.capacityBytes, announcedAtMs: a.receivedAtMs }),
      registered: r !== undefined,
      fresh: a !== undefined && now - a.receivedAtMs < ANNOUNCEMENT_MAX_AGE_MS,
      score: this.scores.score(peerId)
    }
  }

  /** Multiaddrs to dial `peerId` on (empty when nothing is known). */
  addrsOf(peerId: string): Multiaddr[] {
    return this.describe(peerId).addrs.map((s) => multiaddr(s))
  }

  /** Notes bytes a put has just committed to `peerId`, so the next choice does not overfill it. */
  reserve(peerId: string, bytes: number): void {
    const a = this.announcements.get(peerId)
    if (a !== undefined) a.payload = { ...a.payload, freeBytes: Math.max(0, a.payload.freeBytes - bytes) }
  }

  /** True once `peerId` has announced (by gossip or relayed). */
  hasAnnounced(peerId: string): boolean {
    return this.announcements.has(peerId)
  }

  /**
   * Resolves as soon as `done()` holds, checked now and after every accepted announcement, or after `timeoutMs`
   * (the caller checks `done()` again to tell which). Rejects only on abort.
   */
  async waitUntil(done: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (done() || timeoutMs <= 0) return
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer)
        off()
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        clearTimeout(timer)
        off()
        reject(signal?.reason)
      }
      const timer = setTimeout(finish, timeoutMs)
      const off = this.onChange(() => {
        if (done()) finish()
      })
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

import { logger } from '@libp2p/logger'
import type { Startable, Stream } from '@libp2p/interface'
import type { GossipSub, Message, SubscriptionChangeData } from '@libp2p/gossipsub'
import {
  ANNOUNCE_TOPIC,
  ANNOUNCEMENTS_PROTOCOL,
  MAX_RELAYED_ANNOUNCEMENTS,
  decodeAnnouncement,
  encodeAnnouncement,
  encodeFrame,
  sendBytes,
  signAnnouncement,
  verifyAnnouncement
} from '@sherd/protocol'
import type { Address, AnnouncementPayload, Response } from '@sherd/protocol'
import {
  ANNOUNCE_INTERVAL_MS,
  MAX_HEARD_ANNOUNCEMENTS,
  MAX_INBOUND_STREAMS,
  MAX_OUTBOUND_STREAMS,
  RELAY_CLOCK_SKEW_MS,
  RELAYED_ANNOUNCEMENT_MAX_AGE_MS,
  REQUEST_TIMEOUT_MS
} from '../constants.js'
import type { NodeMetrics } from '../api/metrics.js'
import type { ProtocolRegistrar } from './shard-service.js'

const log = logger('sherd:node:announcer')

export interface AnnouncerInit {
  intervalMs?: number
  /** Token base units per MiB per proving period, decimal. */
  pricePerMiB: string
}

export interface AnnouncerComponents {
  pubsub: Pick<GossipSub, 'publish' | 'subscribe' | 'unsubscribe' | 'addEventListener' | 'removeEventListener'>
  /** Serves ANNOUNCEMENTS_PROTOCOL (omitted by tests that only publish). */
  registrar?: ProtocolRegistrar
  /** Current state, read at every announcement. */
  describe: () => { peerId: string; addrs: string[]; capacityBytes: number; freeBytes: number }
  chainKey: Address
  chainAddress: Address
  metrics: NodeMetrics
}

/**
 * Publishes the provider's signed announcement on ANNOUNCE_TOPIC at start and every interval. Until a peer has
 * joined the topic's mesh gossipsub throws `NoPeersSubscribedToTopic`; that is normal on a fresh network, so the
 * announcer retries at the next interval and also re-announces at once when a peer subscribes.
 *
 * It also keeps the newest verified announcement of every provider it hears and serves them, with a fresh one of its
 * own, on ANNOUNCEMENTS_PROTOCOL: a client that dials one provider learns the others in one round trip instead of
 * waiting up to an announce interval for each of them to publish again.
 */
export class Announcer implements Startable {
  private timer: NodeJS.Timeout | undefined
  private seq = 0
  private readonly intervalMs: number
  /** Newest verified announcement per provider peer id, as received (bytes) with its payload's time. */
  private readonly heard = new Map<string, { bytes: Uint8Array; seq: number; timestampMs: number }>()
  lastPublishedAtMs: number | undefined

  constructor(
    private readonly components: AnnouncerComponents,
    private readonly init: AnnouncerInit
  ) {
    this.intervalMs = init.intervalMs ?? ANNOUNCE_INTERVAL_MS
  }

  async start(): Promise<void> {
    // Subscribing makes this node part of the topic mesh, so it relays other providers' announcements too.
    this.components.pubsub.subscribe(ANNOUNCE_TOPIC)
    this.components.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.components.pubsub.addEventListener('message', this.onMessage)
    await this.components.registrar?.handle(
      ANNOUNCEMENTS_PROTOCOL,
      (stream) => {
        void this.serveAnnouncements(stream)
      },
      {
        maxInboundStreams: MAX_INBOUND_STREAMS,
        maxOutboundStreams: MAX_OUTBOUND_STREAMS
      }
    )
    void this.announce()
    this.timer = setInterval(() => {
      void this.announce()
    }, this.intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    this.components.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    this.components.pubsub.removeEventListener('message', this.onMessage)
    await this.components.registrar?.unhandle(ANNOUNCEMENTS_PROTOCOL).catch(() => {})
    try {
      this.components.pubsub.unsubscribe(ANNOUNCE_TOPIC)
    } catch {}
  }

  /** A peer joining the topic gets our announcement without waiting a whole interval. */
  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (this.timer !== undefined && evt.detail.subscriptions.some((s) => s.subscribe && s.topic === ANNOUNCE_TOPIC)) {
      // The mesh forms a heartbeat after the subscription; publish shortly after, not synchronously.
      setTimeout(() => {
        void this.announce()
      }, 1_000).unref()
    }
  }

  /** Keeps other providers' announcements that verify (signed by their chain address, published by their peer id). */
  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return
    try {
      const signed = decodeAnnouncement(msg.data)
      verifyAnnouncement(signed, { fromPeerId: msg.from.toString() })
      const a = signed.announcement
      // A timestamp from the future would stay "freshest" and never expire here.
      if (a.timestampMs > Date.now() + RELAY_CLOCK_SKEW_MS)
        throw new Error(`timestamp ${a.timestampMs} is in the future`)
      const prior = this.heard.get(a.peerId)
      if (prior !== undefined && prior.seq >= a.seq && prior.timestampMs >= a.timestampMs) return
      this.heard.set(a.peerId, { bytes: msg.data, seq: a.seq, timestampMs: a.timestampMs })
      if (this.heard.size > MAX_HEARD_ANNOUNCEMENTS) this.forgetOldest()
    } catch (err) {
      log('not relaying an announcement from %p: %s', msg.from, (err as Error).message)
    }
  }

  private forgetOldest(): void {
    let oldest: [string, number] | undefined
    for (const [id, h] of this.heard)
      if (oldest === undefined || h.timestampMs < oldest[1]) oldest = [id, h.timestampMs]
    if (oldest !== undefined) this.heard.delete(oldest[0])
  }

  /**
   * The announcements to hand a client: a fresh one of our own, then the freshest others heard within
   * RELAYED_ANNOUNCEMENT_MAX_AGE_MS (older ones are forgotten here).
   */
  relayable(): Uint8Array[] {
    const now = Date.now()
    for (const [id, h] of this.heard) if (now - h.timestampMs > RELAYED_ANNOUNCEMENT_MAX_AGE_MS) this.heard.delete(id)
    const self = this.components.describe().peerId
    const others = [...this.heard.entries()]
      .filter(([id]) => id !== self)
      .map(([, h]) => h)
      .sort((a, b) => b.timestampMs - a.timestampMs)
      .slice(0, MAX_RELAYED_ANNOUNCEMENTS - 1)
    return [
      encodeAnnouncement(signAnnouncement(this.payload(), this.components.chainKey)),
      ...others.map((h) => h.bytes)
    ]
  }

  private async serveAnnouncements(stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    try {
      const response: Response = { status: 'announcements', announcements: this.relayable() }
      await sendBytes(stream, encodeFrame(response), { signal })
      await stream.close({ signal })
      this.components.metrics.requests.inc({ protocol: 'announcements', outcome: 'ok' })
    } catch (err) {
      this.components.metrics.requests.inc({ protocol: 'announcements', outcome: (err as Error).name })
      log('announcements request failed: %s', (err as Error).message)
      stream.abort(err as Error)
    }
  }

  payload(): AnnouncementPayload {
    const state = this.components.describe()
    return {
      peerId: state.peerId,
      addrs: state.addrs.slice(0, 16),
      chainAddress: this.components.chainAddress,
      capacityBytes: state.capacityBytes,
      freeBytes: state.freeBytes,
      pricePerMiB: this.init.pricePerMiB,
      timestampMs: Date.now(),
      seq: ++this.seq
    }
  }

  /** Publishes one announcement; returns false if no peer is subscribed yet. */
  async announce(): Promise<boolean> {
    const data = encodeAnnouncement(signAnnouncement(this.payload(), this.components.chainKey))
    try {
      await this.components.pubsub.publish(ANNOUNCE_TOPIC, data)
      this.lastPublishedAtMs = Date.now()
      this.components.metrics.announcements.inc({ outcome: 'published' })
      return true
    } catch (err) {
      if (/NoPeersSubscribedToTopic/.test((err as Error).message)) {
        this.components.metrics.announcements.inc({ outcome: 'no-peers' })
        log.trace('no peers on %s yet', ANNOUNCE_TOPIC)
        return false
      }
      this.components.metrics.announcements.inc({ outcome: 'error' })
      log.error('announce failed: %e', err)
      return false
    }
  }
}

export function announcer(init: AnnouncerInit): (components: AnnouncerComponents) => Announcer {
  return (components) => new Announcer(components, init)
}

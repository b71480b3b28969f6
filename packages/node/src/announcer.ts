import { logger } from '@libp2p/logger'
import type { Startable } from '@libp2p/interface'
import type { GossipSub, SubscriptionChangeData } from '@libp2p/gossipsub'
import { ANNOUNCE_TOPIC, encodeAnnouncement, signAnnouncement } from '@sherd/protocol'
import type { Address, AnnouncementPayload } from '@sherd/protocol'
import { ANNOUNCE_INTERVAL_MS } from './constants.js'
import type { NodeMetrics } from './metrics.js'

const log = logger('sherd:node:announcer')

export interface AnnouncerInit {
  intervalMs?: number
  /** Token base units per MiB per proving period, decimal. */
  pricePerMiB: string
}

export interface AnnouncerComponents {
  pubsub: Pick<GossipSub, 'publish' | 'subscribe' | 'unsubscribe' | 'addEventListener' | 'removeEventListener'>
  /** Current state, read at every announcement. */
  describe: () => { peerId: string, addrs: string[], capacityBytes: number, freeBytes: number }
  chainKey: Address
  chainAddress: Address
  metrics: NodeMetrics
}

/**
 * Publishes the provider's signed announcement on ANNOUNCE_TOPIC at start and every interval. Until a peer has
 * joined the topic's mesh gossipsub throws `NoPeersSubscribedToTopic`; that is normal on a fresh network, so the
 * announcer retries at the next interval and also re-announces at once when a peer subscribes.
 */
export class Announcer implements Startable {
  private timer: NodeJS.Timeout | undefined
  private seq = 0
  private readonly intervalMs: number
  lastPublishedAtMs: number | undefined

  constructor (private readonly components: AnnouncerComponents, private readonly init: AnnouncerInit) {
    this.intervalMs = init.intervalMs ?? ANNOUNCE_INTERVAL_MS
  }

  async start (): Promise<void> {
    // Subscribing makes this node part of the topic mesh, so it relays other providers' announcements too.
    this.components.pubsub.subscribe(ANNOUNCE_TOPIC)
    this.components.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    void this.announce()
    this.timer = setInterval(() => { void this.announce() }, this.intervalMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    this.components.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    try { this.components.pubsub.unsubscribe(ANNOUNCE_TOPIC) } catch {}
  }

  /** A peer joining the topic gets our announcement without waiting a whole interval. */
  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (this.timer !== undefined && evt.detail.subscriptions.some((s) => s.subscribe && s.topic === ANNOUNCE_TOPIC)) {
      // The mesh forms a heartbeat after the subscription; publish shortly after, not synchronously.
      setTimeout(() => { void this.announce() }, 1_000).unref()
    }
  }

  payload (): AnnouncementPayload {
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
  async announce (): Promise<boolean> {
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

export function announcer (init: AnnouncerInit): (components: AnnouncerComponents) => Announcer {
  return (components) => new Announcer(components, init)
}

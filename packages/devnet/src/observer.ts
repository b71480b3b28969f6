import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '@sherd/node'
import type { SherdHost } from '@sherd/node'
import { ANNOUNCE_TOPIC, decodeAnnouncement, verifyAnnouncement } from '@sherd/protocol'
import type { AnnouncementPayload } from '@sherd/protocol'

interface PubsubMessage { topic: string, data: Uint8Array, type: string, from?: { toString: () => string } }

/** Re-dial a provider that is not connected this often while waiting (it may have just come up). */
const REDIAL_INTERVAL_MS = 1_000

/**
 * A client's view of the network, for readiness: a dial-only libp2p host (the same host a client builds) that
 * connects to the providers, joins the announcement topic, and keeps the newest verified announcement of each peer.
 */
export class NetworkObserver {
  readonly announcements = new Map<string, AnnouncementPayload>()
  private constructor (private readonly host: SherdHost) {}

  static async start (): Promise<NetworkObserver> {
    const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    const observer = new NetworkObserver(host)
    host.services.pubsub.addEventListener('message', observer.onMessage as never)
    host.services.pubsub.subscribe(ANNOUNCE_TOPIC)
    return observer
  }

  /**
   * Resolves once every peer in `peers` (peer id → its multiaddrs) has been heard announcing, dialing those not yet
   * connected meanwhile.
   */
  async waitForAnnouncements (peers: Map<string, string[]>, options: { signal?: AbortSignal } = {}): Promise<void> {
    for (;;) {
      options.signal?.throwIfAborted()
      const missing = [...peers].filter(([peerId]) => !this.announcements.has(peerId))
      if (missing.length === 0) return
      const connected = new Set(this.host.getPeers().map((p) => p.toString()))
      await Promise.all(missing.filter(([peerId]) => !connected.has(peerId)).map(async ([, addrs]) => {
        for (const addr of addrs) {
          try { await this.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(REDIAL_INTERVAL_MS * 5) }); return } catch {}
        }
      }))
      await new Promise((resolve) => setTimeout(resolve, REDIAL_INTERVAL_MS))
    }
  }

  async stop (): Promise<void> {
    this.host.services.pubsub.removeEventListener('message', this.onMessage as never)
    await this.host.stop()
  }

  private readonly onMessage = (evt: CustomEvent<PubsubMessage>): void => {
    const msg = evt.detail
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed' || msg.from === undefined) return
    try {
      const signed = decodeAnnouncement(msg.data)
      verifyAnnouncement(signed, { fromPeerId: msg.from.toString() })
      const previous = this.announcements.get(signed.announcement.peerId)
      // Newest by timestamp, not seq: a restarted provider counts its seq from 1 again.
      if (previous === undefined || previous.timestampMs <= signed.announcement.timestampMs) this.announcements.set(signed.announcement.peerId, signed.announcement)
    } catch {
      // A malformed or forged announcement is simply not counted.
    }
  }
}

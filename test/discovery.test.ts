// Discovery on a devnet: announcements keep reaching new clients however many short-lived clients came and went
// (each `sherd` command is a fresh peer id from 127.0.0.1), and a client can put as soon as start() resolves.
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, createClientHost } from '@sherd/client'
import type { ClientHost, SherdClient } from '@sherd/client'
import { startDevnet } from '@sherd/devnet'
import type { Devnet } from '@sherd/devnet'
import { ANNOUNCE_TOPIC } from '@sherd/protocol'
import { waitFor } from '@sherd/test-support'
import { randomBytes } from './helpers.js'

const ANNOUNCE_INTERVAL_MS = 5_000
const CHURNED_CLIENTS = 50
/**
 * Clients started together while churning, one batch a second: libp2p refuses more than 5 inbound connections a second
 * from one host (connection manager inboundConnectionThreshold), and every client here is 127.0.0.1.
 */
const CHURN_BATCH = 4
const CHURN_BATCH_SPACING_MS = 1_100

/** A provider's count of announcements that reached at least one peer (its /metrics). */
async function publishedCount(httpUrl: string): Promise<number> {
  const metrics = await (await fetch(new URL('/metrics', httpUrl))).text()
  return Number(/sherd_announcements_total\{outcome="published"\} (\d+)/.exec(metrics)?.[1] ?? 0)
}

/** A refused dial (the rate limit above, under load) is tried again a second later, as a client would. */
async function dialWithRetry(host: ClientHost, addr: Multiaddr): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await host.dial(addr, { signal: AbortSignal.timeout(20_000) })
      return
    } catch (err) {
      if (attempt === 3) throw err
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
  }
}

describe('discovery', () => {
  let devnet: Devnet

  beforeAll(async () => {
    devnet = await startDevnet({ providers: 4, handleSignals: false, announceIntervalMs: ANNOUNCE_INTERVAL_MS })
  }, 120_000)
  afterAll(async () => {
    await devnet?.stop()
  })

  /** A client bootstrapped to provider 0 only, as in the README's SDK example. */
  function newClient(config: Parameters<typeof createClient>[0] = {}): SherdClient {
    return createClient({
      rpcUrl: devnet.rpcUrl,
      contract: devnet.market,
      account: devnet.client.privateKey,
      bootstrap: devnet.provider(0).multiaddrs,
      periods: 4,
      ...config
    })
  }

  it('a client bootstrapped to one provider can put right after start()', async () => {
    // k + m = 4: every provider is needed, three of which the client only hears of through provider 0.
    const client = newClient({ k: 3, m: 1, extraUploads: 0, waitForActivation: false })
    try {
      await client.start()
      const result = await client.put(randomBytes(64 * 1024))
      expect(new Set(result.deals.map((d) => d.provider)).size).toBe(4)
    } finally {
      await client.stop()
    }
  }, 60_000)

  it('a put that needs more providers than there are waits discoveryTimeoutMs for them, then says so', async () => {
    const client = newClient({ k: 4, m: 1, discoveryTimeoutMs: 1_500, waitForActivation: false })
    try {
      await client.start()
      const started = Date.now()
      await expect(client.put(randomBytes(1024))).rejects.toMatchObject({
        name: 'NotEnoughProvidersError',
        needed: 5,
        available: 4
      })
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500)
    } finally {
      await client.stop()
    }
  }, 60_000)

  it(`every provider's announcements still reach a new client after ${CHURNED_CLIENTS} clients connected and dropped`, async () => {
    const providerAddrs = devnet.providers.map((p) => multiaddr(p.multiaddrs[0]!))
    const providerIds = devnet.providers.map((p) => p.peerId)
    // Each one as a `sherd` command is: a fresh key, connected to every provider, subscribed, then gone.
    async function connectAndDrop(): Promise<void> {
      const host: ClientHost = await createClientHost()
      await host.start()
      try {
        host.services.pubsub.subscribe(ANNOUNCE_TOPIC)
        await Promise.all(
          providerAddrs.map(async (addr) => {
            await dialWithRetry(host, addr)
          })
        )
        // Once their subscriptions reached us, the providers have taken us in as gossipsub peers.
        await waitFor(
          "the providers' subscriptions",
          () => {
            const subscribers = new Set(host.services.pubsub.getSubscribers(ANNOUNCE_TOPIC).map(String))
            return providerIds.every((id) => subscribers.has(id))
          },
          20_000,
          50
        )
      } finally {
        await host.stop()
      }
    }
    await new Promise((resolve) => setTimeout(resolve, CHURN_BATCH_SPACING_MS))
    for (let done = 0; done < CHURNED_CLIENTS; done += CHURN_BATCH) {
      const spacing = new Promise((resolve) => setTimeout(resolve, CHURN_BATCH_SPACING_MS))
      await Promise.all(Array.from({ length: Math.min(CHURN_BATCH, CHURNED_CLIENTS - done) }, connectAndDrop))
      await spacing
    }

    const publishedBefore = await Promise.all(devnet.providers.map(async (p) => await publishedCount(p.httpUrl)))
    const since = Date.now()
    const client = newClient({ discoveryTimeoutMs: 2 * ANNOUNCE_INTERVAL_MS })
    try {
      await client.start()
      // Relayed announcements arrive within start(); one received after it came by gossip, through provider 0.
      const readyAt = Date.now()
      await waitFor(
        'a gossiped announcement of every provider',
        async () => {
          const heard = new Set(
            (await client.providers()).filter((p) => (p.announcedAtMs ?? 0) > readyAt).map((p) => p.peerId)
          )
          return providerIds.every((id) => heard.has(id))
        },
        Math.max(0, 2 * ANNOUNCE_INTERVAL_MS - (readyAt - since))
      )
    } finally {
      await client.stop()
    }
    // And every provider's own count of announcements that found a peer kept rising.
    for (const p of devnet.providers) {
      expect(await publishedCount(p.httpUrl), `provider ${p.index}'s published announcements`).toBeGreaterThan(
        publishedBefore[p.index]!
      )
    }
  }, 90_000)
})

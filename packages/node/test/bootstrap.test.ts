import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Message } from '@libp2p/gossipsub'
import {
  ANNOUNCE_TOPIC,
  ANNOUNCEMENTS_PROTOCOL,
  decodeAnnouncement,
  requestAnnouncements,
  verifyAnnouncement
} from '@sherd/protocol'
import type { RequestStream, SignedAnnouncement } from '@sherd/protocol'
import { freePort, removeDir, tempDir, waitFor } from '@sherd/test-support'
import { createHost, createProviderNode, initDataDir, readPeerKey } from '../src/index.js'
import type { ProviderNode, SherdHost } from '../src/index.js'
import { runToEnd, startNode } from './helpers.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function track(node: ProviderNode): ProviderNode {
  cleanups.push(async () => {
    await node.stop()
    await removeDir(node.ready().dataDir)
  })
  return node
}

function addressOf(node: ProviderNode): string {
  const addr = node.ready().multiaddrs[0]
  if (addr === undefined || !addr.endsWith(`/p2p/${node.peerId}`)) throw new Error(`unexpected address ${addr}`)
  return addr
}

/** A TCP port that was free a moment ago (the late bootstrap peer must come up on an address known in advance). */

/** Collects verified announcements heard on `host`'s pubsub, keyed by the peer id that signed-published them. */
function listen(host: SherdHost): Map<string, SignedAnnouncement> {
  const heard = new Map<string, SignedAnnouncement>()
  host.services.pubsub.subscribe(ANNOUNCE_TOPIC)
  host.services.pubsub.addEventListener('message', (evt: CustomEvent<Message>) => {
    const msg = evt.detail
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return
    const signed = decodeAnnouncement(msg.data)
    // The gossipsub origin (not the relay we got it from) must be the announced peer, signed by its chain key.
    verifyAnnouncement(signed, { fromPeerId: msg.from.toString() })
    heard.set(signed.announcement.peerId, signed)
  })
  return heard
}

describe('bootstrap', () => {
  it('B and C bootstrap to A only; a listener connected only to A hears their signed announcements through the mesh', async () => {
    const a = track(await startNode({ announceIntervalMs: 500 }))
    const b = track(await startNode({ announceIntervalMs: 500, bootstrap: [addressOf(a)] }))
    const c = track(await startNode({ announceIntervalMs: 500, bootstrap: [addressOf(a)] }))
    const listener = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    cleanups.push(async () => {
      await listener.stop()
    })
    const heard = listen(listener)
    await listener.dial(a.libp2p.getMultiaddrs()[0]!)

    await waitFor('announcements of B and C at the listener', () => heard.has(b.peerId) && heard.has(c.peerId), 20_000)
    expect(heard.get(b.peerId)!.announcement.chainAddress).toBe(b.chainAddress)
    expect(heard.get(c.peerId)!.announcement.chainAddress).toBe(c.chainAddress)
    // Relayed, not heard directly: the listener's only peer is A, and B and C know A alone.
    expect(listener.getPeers().map(String)).toEqual([a.peerId])
    expect(b.libp2p.getPeers().map(String)).not.toContain(c.peerId)
    expect(b.libp2p.services.bootstrap.state()).toEqual([
      { peerId: a.peerId, addr: addressOf(a), connected: true, failedDials: 0 }
    ])
    expect(a.libp2p.services.bootstrap.state()).toEqual([])

    // A also hands what it heard to whoever asks, its own announcement first and freshly signed.
    const asked = await listener.dialProtocol(a.libp2p.getMultiaddrs()[0]!, ANNOUNCEMENTS_PROTOCOL)
    const { announcements, malformed } = await requestAnnouncements(asked as unknown as RequestStream)
    expect(malformed).toBe(0)
    expect(announcements.map((x) => x.announcement.peerId)[0]).toBe(a.peerId)
    expect(announcements.map((x) => x.announcement.peerId).sort()).toEqual([a.peerId, b.peerId, c.peerId].sort())
    for (const x of announcements) verifyAnnouncement(x)
    expect(announcements.find((x) => x.announcement.peerId === b.peerId)!.announcement.chainAddress).toBe(
      b.chainAddress
    )
  }, 40_000)

  it('a node whose bootstrap peer is down at start joins once it comes up, and again after it restarts', async () => {
    const dirA = await tempDir()
    cleanups.push(async () => {
      await removeDir(dirA)
    })
    await initDataDir(dirA)
    const peerIdA = peerIdFromPrivateKey(await readPeerKey(dirA)).toString()
    const listenA = `/ip4/127.0.0.1/tcp/${await freePort()}`
    const startA = async (): Promise<ProviderNode> => {
      const node = await createProviderNode({ dataDir: dirA, listen: [listenA], httpPort: 0, announceIntervalMs: 500 })
      await node.start()
      return node
    }

    // Start does not wait for (or fail on) the unreachable peer.
    const b = track(await startNode({ announceIntervalMs: 500, bootstrap: [`${listenA}/p2p/${peerIdA}`] }))
    await waitFor(
      'a failed bootstrap dial',
      () => (b.libp2p.services.bootstrap.state()[0]?.failedDials ?? 0) >= 1,
      5_000
    )
    expect(b.libp2p.getPeers()).toEqual([])

    let a = await startA()
    cleanups.push(async () => {
      await a.stop()
    })
    const heardAtA = listen(a.libp2p)
    await waitFor('B connected to A', () => b.libp2p.getPeers().map(String).includes(peerIdA), 15_000)
    await waitFor("A hearing B's announcement", () => heardAtA.has(b.peerId), 15_000)

    // A restarts on the same key and port: B dials it again.
    await a.stop()
    await waitFor('B seeing A gone', () => !b.libp2p.getPeers().map(String).includes(peerIdA), 5_000)
    a = await startA()
    const heardAgain = listen(a.libp2p)
    await waitFor('B reconnected to A', () => b.libp2p.getPeers().map(String).includes(peerIdA), 15_000)
    await waitFor('A hearing B again', () => heardAgain.has(b.peerId), 15_000)
  }, 60_000)

  it('stops cleanly while still retrying an unreachable peer', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const node = await startNode({ bootstrap: [`/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${peer}`] })
    cleanups.push(async () => {
      await removeDir(node.ready().dataDir)
    })
    await waitFor(
      'a failed bootstrap dial',
      () => (node.libp2p.services.bootstrap.state()[0]?.failedDials ?? 0) >= 1,
      5_000
    )
    const t0 = Date.now()
    await node.stop()
    expect(Date.now() - t0).toBeLessThan(5_000)
    const failed = node.libp2p.services.bootstrap.state()[0]?.failedDials
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    expect(node.libp2p.services.bootstrap.state()[0]?.failedDials).toBe(failed)
  }, 20_000)

  it('rejects a bootstrap address without a peer id, in the API and on the command line', async () => {
    const dir = await tempDir()
    cleanups.push(async () => {
      await removeDir(dir)
    })
    await initDataDir(dir)
    await expect(createProviderNode({ dataDir: dir, bootstrap: ['/ip4/127.0.0.1/tcp/4001'] })).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringMatching(/no \/p2p\/<peer id>/)
    })
    const init = await runToEnd(['init', '--data-dir', dir, '--force', '--bootstrap', 'not-a-multiaddr'])
    expect(init.code).toBe(1)
    expect(init.stderr).toMatch(/ConfigError: bootstrap address "not-a-multiaddr" is not a multiaddr/)
  })

  it('`init --bootstrap` (repeatable) writes the list to the config file and `--help` documents it', async () => {
    const dir = await tempDir()
    cleanups.push(async () => {
      await removeDir(dir)
    })
    const ids = await Promise.all(
      [0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString())
    )
    const list = ids.map((id, i) => `/ip4/127.0.0.1/tcp/${4001 + i}/p2p/${id}`)
    const init = await runToEnd([
      'init',
      '--data-dir',
      dir,
      '--http-port',
      '0',
      '--bootstrap',
      list[0]!,
      '--bootstrap',
      list[1]!
    ])
    expect(init.code).toBe(0)
    const { readFileConfig } = await import('../src/index.js')
    expect((await readFileConfig(dir)).bootstrap).toEqual(list)
    for (const command of ['init', 'start']) {
      expect((await runToEnd([command, '--help'])).stdout).toMatch(/--bootstrap <multiaddr>/)
    }
  })
})

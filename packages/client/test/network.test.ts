import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import {
  ANNOUNCEMENTS_PROTOCOL,
  encodeAnnouncement,
  encodeFrame,
  parseShardCid,
  requestAnnouncements,
  sendBytes,
  signAnnouncement
} from '@sherd/protocol'
import type { AnnouncementPayload, RequestStream, Response } from '@sherd/protocol'
import { getProofSetDeal } from '@sherd/contracts'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { removeDir, tempDir } from '@sherd/test-support'
import { createClient, createClientHost } from '../src/index.js'
import type { GetProgressEvent, PutProgressEvent, SherdClient } from '../src/index.js'
import { collect, corruptStoredShard, startNetwork, runCli } from './network-helpers.js'
import type { TestNetwork } from './network-helpers.js'

// Small segments so a few hundred KiB make a multi-segment file; k + m = 6 of 8 providers.
const SEGMENT = 64 * 1024
const K = 4
const M = 2

let net: TestNetwork
let client: SherdClient

function newClient(): SherdClient {
  return createClient({
    rpcUrl: net.anvil.url,
    contract: net.deployment.market,
    account: net.clientKey,
    bootstrap: net.bootstrap(),
    k: K,
    m: M,
    segmentSize: SEGMENT,
    periods: 4,
    waitForActivation: false,
    pollingIntervalMs: 50
  })
}

beforeAll(async () => {
  // Provider 0 is the cheapest, so placement tries it first (the dead-provider test relies on that).
  net = await startNetwork(8, (i) => (i === 0 ? '1' : '2'))
  client = newClient()
  await client.start()
}, 180_000)

afterAll(async () => {
  await client?.stop()
  await net?.close()
})

describe('client against anvil and real providers', () => {
  it('discovers the providers from verified announcements and the registry', async () => {
    const providers = await client.providers()
    expect(providers).toHaveLength(8)
    for (const p of providers) {
      expect(p.registered).toBe(true)
      expect(p.fresh).toBe(true)
      expect(p.freeBytes).toBeGreaterThan(0)
    }
    expect(providers.find((p) => p.peerId === net.providers[0]!.node.peerId)?.pricePerMiB).toBe(1n)
  })

  it('connect() adds providers at run time; their announcements make them fresh', async () => {
    const [first, ...rest] = net.bootstrap()
    const other = createClient({ bootstrap: [first!], discoveryTimeoutMs: 3_000 })
    await other.start()
    try {
      expect((await other.providers()).filter((p) => p.fresh)).toHaveLength(1)
      await other.connect(rest)
      expect((await other.providers()).filter((p) => p.fresh)).toHaveLength(8)
    } finally {
      await other.stop()
    }
  })

  it('a provider relays what it heard; a relayed announcement the registry does not vouch for is refused', async () => {
    // A peer that relays on its own terms: one genuine announcement (provider 1's, fetched from it over the
    // relay protocol) among forgeries, and one of its own.
    const relayer = await createClientHost({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await relayer.start()
    try {
      const [p1, p2, p3] = [net.providers[1]!, net.providers[2]!, net.providers[3]!]
      const asked = await relayer.dialProtocol(multiaddr(net.bootstrap()[1]!), ANNOUNCEMENTS_PROTOCOL)
      const { announcements: fromP1 } = await requestAnnouncements(asked as unknown as RequestStream)
      expect(fromP1[0]?.announcement.peerId, 'a provider answers with its own announcement first').toBe(p1.node.peerId)

      const fakeAddr = relayer.getMultiaddrs()[0]!.toString() // ends in /p2p/<its peer id>
      const strangerKey = generatePrivateKey()
      const payload = (peerId: string, chainAddress: `0x${string}`): AnnouncementPayload => ({
        peerId,
        addrs: [fakeAddr],
        chainAddress,
        capacityBytes: 1 << 30,
        freeBytes: 1 << 30,
        pricePerMiB: '1',
        timestampMs: Date.now(),
        seq: 1_000
      })
      // Lower case, as providers sign it: the decoded address is lower case, and the signature covers the bytes.
      const stranger = privateKeyToAccount(strangerKey).address.toLowerCase() as `0x${string}`
      const relayed = [
        // Its own: authenticated by the connection, but not registered, so never used for a put.
        signAnnouncement(payload(relayer.peerId.toString(), stranger), strangerKey),
        fromP1[0]!,
        // Provider 2's peer id under another chain address (its own signature is fine).
        signAnnouncement(payload(p2.node.peerId, stranger), strangerKey),
        // Provider 3's peer id and registered address, signed by someone else.
        {
          ...signAnnouncement(payload(p3.node.peerId, stranger), strangerKey),
          announcement: payload(p3.node.peerId, p3.node.ready().chainAddress.toLowerCase() as `0x${string}`)
        }
      ]
      await relayer.handle(ANNOUNCEMENTS_PROTOCOL, async (stream) => {
        const response: Response = { status: 'announcements', announcements: relayed.map(encodeAnnouncement) }
        await sendBytes(stream, encodeFrame(response))
        await stream.close()
      })

      const other = createClient({
        rpcUrl: net.anvil.url,
        contract: net.deployment.market,
        bootstrap: [fakeAddr],
        discoveryTimeoutMs: 3_000
      })
      await other.start()
      try {
        const byId = new Map((await other.providers()).map((p) => [p.peerId, p]))
        expect(byId.get(relayer.peerId.toString())?.announcedAtMs).toBeDefined()
        expect(byId.get(relayer.peerId.toString())?.registered).toBe(false)
        // The genuine one is taken although a stranger relayed it: the registry binds its peer id to its signer.
        expect(byId.get(p1.node.peerId)?.announcedAtMs).toBeDefined()
        expect(byId.get(p1.node.peerId)?.addrs.some((a) => a.includes(`/tcp/${p1.port}/`))).toBe(true)
        for (const forged of [p2, p3]) {
          expect(byId.get(forged.node.peerId)?.announcedAtMs, 'forged announcement refused').toBeUndefined()
          expect(byId.get(forged.node.peerId)?.addrs ?? [], 'no address of the forger').toEqual([])
        }
      } finally {
        await other.stop()
      }
    } finally {
      await relayer.stop()
    }
  })

  it("put with waitForActivation waits until every deal's term has begun (it joined its provider's proof set)", async () => {
    const data = randomBytes(SEGMENT + 1)
    const events: PutProgressEvent[] = []
    const putting = client.put(data, {
      waitForActivation: true,
      activationTimeoutMs: 60_000,
      onProgress: (e) => events.push(e)
    })
    // Automine anvil moves only with transactions: carry the chain into the next period once the deals are open.
    while (!events.some((e) => e.type === 'put:manifest-stored'))
      await new Promise((resolve) => setTimeout(resolve, 50))
    await net.mine(net.periodBlocks)
    const put = await putting
    const started = events.filter((e) => e.type === 'put:deal-activated')
    expect(started).toHaveLength(put.deals.length)
    const s = await client.stat(put.link)
    for (const sh of s.segments.flatMap((seg) => seg.shards)) expect(sh.state).toBe('live')
    expect(s.healthy).toBe(true)
  }, 120_000)

  it('repair after a provider is gone for good brings every segment back to k + m healthy shards', async () => {
    const data = randomBytes(SEGMENT + 99)
    const put = await client.put(data)
    const gone = net.byPeerId(put.manifest.segments[0]!.shards[1]!.provider!)
    await net.stopProvider(gone)
    try {
      const before = await client.stat(put.link)
      expect(before.healthy).toBe(false)
      expect(before.recoverable).toBe(true)
      const lost = before.segments.flatMap((s) => s.shards).filter((s) => s.provider === gone.node.peerId)
      expect(lost.length).toBeGreaterThan(0)
      for (const s of lost) expect(s).toMatchObject({ online: false, healthy: false })

      const repaired = await client.repair(put.link)
      expect(repaired.cid.toString()).not.toBe(put.cid.toString())
      expect(repaired.repaired).toHaveLength(lost.length)
      for (const r of repaired.repaired) {
        expect(r.from).toBe(gone.node.peerId)
        expect(r.to).not.toBe(gone.node.peerId)
        expect(r.dealId).toBeDefined()
      }
      const after = await client.stat(repaired.link)
      expect(after.healthy).toBe(true)
      for (const seg of after.segments) {
        expect(seg.healthyShards).toBe(K + M)
        expect(new Set(seg.shards.map((s) => s.provider)).size).toBe(K + M)
      }
      expect((await collect(client.get(repaired.link))).equals(data)).toBe(true)
    } finally {
      await net.restartProvider(gone) // gone for this file; back for the tests that follow
    }
  }, 180_000)

  it('put then get is byte-identical for empty, small and multi-segment files', async () => {
    for (const size of [0, 1000, 5 * SEGMENT + 123]) {
      const data = randomBytes(size)
      const events: PutProgressEvent[] = []
      const put = await client.put(data, { onProgress: (e) => events.push(e) })
      expect(put.link).toMatch(/^sherd:\/\//)
      expect(put.manifest.fileSize).toBe(size)
      const segments = Math.ceil(size / SEGMENT)
      expect(put.manifest.segments).toHaveLength(segments)
      for (const seg of put.manifest.segments) {
        const holders = seg.shards.map((s) => s.provider)
        expect(new Set(holders).size).toBe(K + M) // never two shards of a segment on one provider
        for (const s of seg.shards) expect(s.deal).toBeDefined()
      }
      expect(events.filter((e) => e.type === 'put:deal-opened')).toHaveLength(segments * (K + M))
      expect(events.filter((e) => e.type === 'put:manifest-stored').length).toBeGreaterThanOrEqual(1)
      const getEvents: GetProgressEvent[] = []
      const back = await collect(client.get(put.link, { onProgress: (e) => getEvents.push(e) }))
      expect(back.equals(data)).toBe(true)
      if (size > 0) expect(getEvents.some((e) => e.type === 'get:shard-fetched')).toBe(true)
    }
  }, 120_000)

  it('get detects a provider serving corrupted bytes, uses the others and scores it down', async () => {
    const data = randomBytes(3 * SEGMENT)
    const put = await client.put(data)
    // The provider of data shard 0 of segment 0 is asked first: corrupt that shard in its LevelDB on disk.
    const shard = put.manifest.segments[0]!.shards[0]!
    const liar = net.byPeerId(shard.provider!)
    await net.stopProvider(liar)
    await corruptStoredShard(liar, parseShardCid(shard.commitment).root)
    await net.restartProvider(liar)
    const before = client.scores.score(liar.node.peerId)
    const events: GetProgressEvent[] = []
    const back = await collect(client.get(put.link, { onProgress: (e) => events.push(e) }))
    expect(back.equals(data)).toBe(true)
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'get:shard-failed',
        segmentIndex: 0,
        shardIndex: 0,
        provider: liar.node.peerId,
        kind: 'corrupt'
      })
    )
    expect(client.scores.record(liar.node.peerId).corrupt).toBe(1)
    expect(client.scores.score(liar.node.peerId)).toBeLessThan(before)
    // Below every honest provider of the file that has not failed a transfer either.
    const honest = put.manifest.segments[0]!.shards.slice(1)
      .map((s) => s.provider!)
      .filter(
        (p) => p !== liar.node.peerId && client.scores.record(p).failures === 0 && client.scores.record(p).corrupt === 0
      )
    for (const p of honest) expect(client.scores.score(p)).toBeGreaterThan(client.scores.score(liar.node.peerId))
  }, 120_000)

  it('get still works after m providers holding shards are stopped', async () => {
    const data = randomBytes(4 * SEGMENT + 7)
    const put = await client.put(data)
    // Stop the holders of two data shards of segment 0, so every segment that used them must rebuild.
    const victims = put.manifest.segments[0]!.shards.slice(0, M).map((s) => net.byPeerId(s.provider!))
    for (const v of victims) await net.stopProvider(v)
    try {
      const events: GetProgressEvent[] = []
      const back = await collect(client.get(put.link, { onProgress: (e) => events.push(e) }))
      expect(back.equals(data)).toBe(true)
      const failed = events.filter((e) => e.type === 'get:shard-failed')
      expect(failed.length).toBeGreaterThanOrEqual(M)
      for (const f of failed) expect(victims.map((v) => v.node.peerId)).toContain(f.provider)
    } finally {
      for (const v of victims) await net.restartProvider(v)
    }
  }, 120_000)

  it('put succeeds when a provider is dead: its uploads fail over to others', async () => {
    // The cheapest provider dies after a client with no history has discovered it, so placement picks it first.
    const dead = net.providers[0]!
    const fresh = newClient()
    await fresh.start()
    await net.stopProvider(dead)
    try {
      const data = randomBytes(3 * SEGMENT)
      const events: PutProgressEvent[] = []
      const put = await fresh.put(data, { onProgress: (e) => events.push(e) })
      for (const seg of put.manifest.segments) {
        expect(seg.shards.map((s) => s.provider)).not.toContain(dead.node.peerId)
        expect(new Set(seg.shards.map((s) => s.provider)).size).toBe(K + M)
      }
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'put:shard-failed', provider: dead.node.peerId, next: 'retry' })
      )
      expect(fresh.scores.record(dead.node.peerId).failures).toBeGreaterThan(0)
      expect((await collect(fresh.get(put.link))).equals(data)).toBe(true)
    } finally {
      await fresh.stop()
    }
  }, 120_000)

  it('extend adds periods to every deal; delete leaves running deals to their term', async () => {
    const put = await client.put(randomBytes(SEGMENT + 10), { periods: 3 })
    const ext = await client.extend(put.link, 2)
    expect(ext.skipped).toEqual([])
    expect(ext.extended).toHaveLength(put.deals.length)
    const market = { market: net.deployment.market, publicClient: net.publicClient }
    for (const d of put.deals) {
      const deal = await getProofSetDeal(market, d.dealId!)
      expect(deal.endPeriod - deal.startPeriod).toBe(5n)
    }
    const del = await client.delete(put.link)
    expect(del.running.length + del.settled.length).toBe(put.deals.length)
  }, 120_000)

  it('every call honours an AbortSignal', async () => {
    const reason = new Error('stop now')
    await expect(client.put(randomBytes(1000), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const put = await client.put(randomBytes(3 * SEGMENT))
    const controller = new AbortController()
    const reading = collect(
      client.get(put.link, {
        signal: controller.signal,
        onProgress: (e) => {
          if (e.type === 'get:segment') controller.abort(reason)
        }
      })
    )
    await expect(reading).rejects.toBe(reason)
    await expect(client.stat(put.link, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  }, 120_000)

  it('the CLI round-trips a file (put, get -o, stat, providers, wallet) with config from env and flags', async () => {
    const dir = await tempDir('sherd-cli-test-')
    try {
      const run = async (args: string[]): ReturnType<typeof runCli> => await runCli(net, dir, args)
      const file = join(dir, 'in.bin')
      const data = randomBytes(2 * SEGMENT + 5)
      await writeFile(file, data)
      const put = await run([
        'put',
        file,
        '-k',
        '4',
        '-m',
        '2',
        '--segment-size',
        String(SEGMENT),
        '--periods',
        '3',
        '--no-wait'
      ])
      expect(put.stderr).toMatch(/^stored 131077 bytes in 3 segment\(s\) under 18 deal\(s\); escrow [\d,.]+ \w+\n$/)
      expect(put.code).toBe(0)
      const link = put.stdout.trim()
      expect(link).toMatch(/^sherd:\/\/\S+#\S+$/)
      const out = join(dir, 'out.bin')
      const get = await run(['get', link, '-o', out])
      expect(get.code).toBe(0)
      expect((await readFile(out)).equals(data)).toBe(true)
      const stat = await run(['stat', link, '--json'])
      expect(stat.code).toBe(0)
      const parsed = JSON.parse(stat.stdout) as {
        segments: Array<{ shards: Array<{ dealId: string; periods: number }> }>
      }
      expect(parsed.segments).toHaveLength(3)
      expect(parsed.segments[0]!.shards[0]!.periods).toBe(3)
      const providers = await run(['providers'])
      expect(providers.code).toBe(0)
      expect(providers.stdout.split('\n').filter((l) => l.startsWith('12D3Koo'))).toHaveLength(8)
      const wallet = await run(['wallet', '--json'])
      expect(JSON.parse(wallet.stdout)).toMatchObject({ address: expect.stringMatching(/^0x/) })
      const help = await run(['put', '--help'])
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(/SHERD_RPC_URL/)
      const bad = await run(['get', 'sherd://nonsense'])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toMatch(/InvalidLinkError/)
      const usage = await run(['extend', link])
      expect(usage.code).toBe(2)
      expect((await run(['devnet', '--help'])).stdout).toMatch(/sherd-devnet/)
    } finally {
      await removeDir(dir)
    }
  }, 120_000)

  // Last: it mines blocks fast, so the provers of the files above may fall behind on their periods.
  it('sherd audit has every provider prove its shard within the next period, and reports each answer', async () => {
    const dir = await tempDir('sherd-audit-cli-')
    const put = await client.put(randomBytes(SEGMENT), { periods: 8 })
    // Automine anvil moves only with transactions: carry the chain through the audit's period meanwhile.
    let mining = true
    const miner = (async () => {
      while (mining) {
        await net.mine(4)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    try {
      const bad = await runCli(net, dir, ['audit', put.link, '--shard', 'first'])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toMatch(/--shard must be <segment>:<shard>/)
      const r = await runCli(net, dir, ['audit', put.link, '--json'])
      expect(r.code, r.stderr).toBe(0)
      const result = JSON.parse(r.stdout) as { audits: Array<{ result: string; dealId: string }>; bonds: string }
      expect(result.audits.map((a) => a.result)).toEqual(Array.from({ length: K + M }, () => 'answered'))
      expect(BigInt(result.bonds)).toBeGreaterThan(0n)
      // Nothing is open any more: a second run requests again, one shard only.
      const one = await runCli(net, dir, ['audit', put.link, '--shard', '0:2'])
      expect(one.code, one.stderr).toBe(0)
      expect(one.stdout).toMatch(/^0\s+2\s+\S+\s+\d+\s+\d+\s+answered/m)
      expect(one.stdout).toMatch(/^bonds [\d,.]+ \w+; withdrew [\d,.]+ \w+$/m)
    } finally {
      mining = false
      await miner
      await removeDir(dir)
    }
  }, 180_000)
})

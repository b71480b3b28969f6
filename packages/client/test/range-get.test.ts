import { randomBytes } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHUNK_PLAINTEXT_BYTES, parseShardCid, SEALED_CHUNK_BYTES } from '@sherd/protocol'
import { removeDir, tempDir } from '@sherd/test-support'
import { createClient, InvalidRangeError, segmentLayout, stripeChunksFor, stripeWidthFor } from '../src/index.js'
import type { GetProgressEvent, PutResult, SherdClient } from '../src/index.js'
import { collect, corruptStoredShard, runCli, startNetwork } from './network-helpers.js'
import type { TestNetwork } from './network-helpers.js'

// 2 + 2 on 5 providers: a stripe is 2 × 1 MiB of sealed bytes (32 chunks), so a segment of two stripes and a bit
// keeps the upload small while every boundary (chunk, stripe, segment, the last narrow stripe) is there.
const K = 2
const M = 2
const C = CHUNK_PLAINTEXT_BYTES
const STRIPE = K * (stripeWidthFor(K, M) / SEALED_CHUNK_BYTES) * C
const SEGMENT = 2 * STRIPE + 200_000
const SIZE = 2 * SEGMENT + 70_000

let net: TestNetwork
let client: SherdClient
let data: Buffer
let put: PutResult

/** Sealed chunks holding plaintext [offset, offset + length): the most a range get may fetch. */
function chunksSpanned(offset: number, length: number): number {
  let chunks = 0
  for (let s = 0; s * SEGMENT < offset + length; s++) {
    const from = Math.max(offset, s * SEGMENT) - s * SEGMENT
    const to = Math.min(offset + length, Math.min(SIZE, (s + 1) * SEGMENT)) - s * SEGMENT
    if (to > from) chunks += Math.ceil(to / C) - Math.floor(from / C)
  }
  return chunks
}

async function readRange(offset: number, length: number): Promise<{ bytes: Buffer; events: GetProgressEvent[] }> {
  const events: GetProgressEvent[] = []
  const bytes = await collect(client.get(put.link, { offset, length, onProgress: (e) => events.push(e) }))
  return { bytes, events }
}

const fetched = (events: GetProgressEvent[]): number =>
  events.reduce((n, e) => n + (e.type === 'get:shard-fetched' ? e.bytes : 0), 0)

beforeAll(async () => {
  net = await startNetwork(K + M + 1)
  client = createClient({
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
  await client.start()
  data = randomBytes(SIZE)
  put = await client.put(data)
  expect(put.manifest.segments).toHaveLength(3)
  // The layout the boundaries below assume: two full stripes and a narrow last one per full segment.
  expect(Math.ceil(segmentLayout(SEGMENT, K, M, stripeChunksFor(K, M)).shardSize / stripeWidthFor(K, M))).toBe(3)
}, 240_000)

afterAll(async () => {
  await client?.stop()
  await net?.close()
})

describe('byte-range get over the network', () => {
  it('reads every boundary range byte for byte, fetching only the chunks that hold it', async () => {
    const G = SEGMENT
    const N = SIZE
    const cases: Array<[number, number]> = [
      [0, 1],
      [1, 1],
      [0, N],
      [1, N - 1],
      [C - 1, 1],
      [C - 1, 2],
      [C, 1],
      [C + 1, 1],
      [0, C - 1],
      [0, C],
      [0, C + 1],
      [STRIPE - 1, 1],
      [STRIPE - 1, 2],
      [STRIPE, 1],
      [STRIPE + 1, 1],
      [0, STRIPE + 1],
      [2 * STRIPE + 5, 1000],
      [2 * STRIPE - 3, 200_003],
      [G - 1, 1],
      [G - 1, 2],
      [G, 1],
      [G + 1, 1],
      [G - 1, STRIPE + 2],
      [G - C, 2 * C],
      [2 * G - 1, 2],
      [2 * G, 70_000],
      [N - 1, 1],
      [N - C, C],
      [N - C - 1, C + 1]
    ]
    for (const [offset, length] of cases) {
      const { bytes, events } = await readRange(offset, length)
      expect(bytes.equals(data.subarray(offset, offset + length)), `bytes ${offset}+${length}`).toBe(true)
      const got = fetched(events)
      expect(got, `fetched for ${offset}+${length}`).toBeGreaterThan(0)
      expect(got, `fetched for ${offset}+${length}`).toBeLessThanOrEqual(
        chunksSpanned(offset, length) * SEALED_CHUNK_BYTES
      )
      expect(
        events.filter((e) => e.type === 'get:shard-failed'),
        `failures for ${offset}+${length}`
      ).toEqual([])
    }
    // One byte inside a full stripe costs one sealed chunk of one shard.
    for (const offset of [0, C, G + 1]) {
      const { events } = await readRange(offset, 1)
      expect(events.filter((e) => e.type === 'get:shard-fetched').map((e) => (e as { bytes: number }).bytes)).toEqual([
        SEALED_CHUNK_BYTES
      ])
    }
  }, 240_000)

  it('an empty range reads nothing; a range outside the file is an InvalidRangeError before any shard is asked for', async () => {
    for (const offset of [0, SEGMENT, SIZE]) {
      const { bytes, events } = await readRange(offset, 0)
      expect(bytes.length).toBe(0)
      expect(fetched(events)).toBe(0)
    }
    // Offset alone reads to the end.
    expect((await collect(client.get(put.link, { offset: SIZE - 10 }))).equals(data.subarray(SIZE - 10))).toBe(true)
    for (const [offset, length] of [
      [SIZE, 1],
      [-1, 1],
      [0, SIZE + 1],
      [1.5, 1],
      [0, -1],
      [SIZE + 1, undefined]
    ] as const) {
      const events: GetProgressEvent[] = []
      await expect(
        collect(
          client.get(put.link, {
            offset,
            ...(length === undefined ? {} : { length }),
            onProgress: (e) => events.push(e)
          })
        )
      ).rejects.toBeInstanceOf(InvalidRangeError)
      expect(fetched(events)).toBe(0)
    }
  }, 120_000)

  it('a provider lying about a range (one flipped byte) is outvoted by parity and scored down', async () => {
    // Store chunk 3 of data shard 1 of segment 1 is sealed chunk 16 + 3 (shard 1 holds the second half of stripe 0).
    const shard = put.manifest.segments[1]!.shards[1]!
    const liar = net.byPeerId(shard.provider!)
    await net.stopProvider(liar)
    await corruptStoredShard(liar, parseShardCid(shard.commitment).root, 3)
    await net.restartProvider(liar)
    const before = client.scores.record(liar.node.peerId).corrupt
    const offset = SEGMENT + 19 * C + 100
    const { bytes, events } = await readRange(offset, 5000)
    expect(bytes.equals(data.subarray(offset, offset + 5000))).toBe(true)
    expect(events.filter((e) => e.type === 'get:shard-failed')).toEqual([
      expect.objectContaining({ segmentIndex: 1, shardIndex: 1, provider: liar.node.peerId, kind: 'corrupt' })
    ])
    expect(client.scores.record(liar.node.peerId).corrupt).toBe(before + 1)
    // The whole file still reads right: after the first bad chunk the liar's shard comes from parity.
    const whole = await collect(client.get(put.link))
    expect(whole.equals(data)).toBe(true)
    // Bytes of the liar's shard it did not alter are still served and used.
    const clean = await readRange(SEGMENT + 16 * C, C)
    expect(clean.bytes.equals(data.subarray(SEGMENT + 16 * C, SEGMENT + 17 * C))).toBe(true)
    expect(clean.events.filter((e) => e.type === 'get:shard-failed')).toEqual([])
  }, 240_000)

  it('sherd get --range START-END writes exactly those bytes; a bad or outside range is refused clearly', async () => {
    const dir = await tempDir('sherd-range-cli-')
    try {
      const out = join(dir, 'part.bin')
      const start = SEGMENT - 10
      const last = SEGMENT + STRIPE
      const ok = await runCli(net, dir, ['get', put.link, '--range', `${start}-${last}`, '-o', out, '--json'])
      expect(ok.stderr).toBe('')
      expect(ok.code).toBe(0)
      expect((await readFile(out)).equals(data.subarray(start, last + 1))).toBe(true)
      expect(JSON.parse(ok.stdout)).toEqual({ output: out, fileSize: SIZE, offset: start, length: last - start + 1 })
      const tail = join(dir, 'tail.bin')
      expect((await runCli(net, dir, ['get', put.link, '--range', `${SIZE - 3}-`, '-o', tail])).code).toBe(0)
      expect((await readFile(tail)).equals(data.subarray(SIZE - 3))).toBe(true)

      for (const text of ['9-3', 'abc', '-5', '1:2']) {
        // "--range=-5", as "--range -5" is refused by the option parser itself (an ambiguous argument; exit 2 too).
        const bad = await runCli(net, dir, ['get', put.link, `--range=${text}`, '-o', join(dir, 'never.bin')])
        expect(bad.code, text).toBe(2)
        expect(bad.stderr, text).toMatch(/--range .*: .*; write START-END/)
      }
      const outside = await runCli(net, dir, ['get', put.link, '--range', `0-${SIZE}`, '-o', join(dir, 'never.bin')])
      expect(outside.code).toBe(1)
      expect(outside.stderr).toBe(
        `error: --range 0-${SIZE} is not inside the file, which has ${SIZE} bytes (0-${SIZE - 1}): ` +
          `give a range that ends at ${SIZE - 1} or before, or START- to read to the end\n`
      )
      await expect(stat(join(dir, 'never.bin'))).rejects.toMatchObject({ code: 'ENOENT' })
    } finally {
      await removeDir(dir)
    }
  }, 120_000)

  it("reads each data shard's pieces of a segment over one request, and a provider that dies mid-span leaves the rest of its shard to parity", async () => {
    // One segment of 8 stripes: each data shard's span is 8 pieces of 1 MiB, more than a paused stream buffers
    // (one piece unread plus a 2 MiB yamux window), so its provider is stopped while it still has bytes to send.
    const size = 8 * STRIPE
    const big = randomBytes(size)
    const bigPut = await client.put(big, { segmentSize: size })
    const shards = bigPut.manifest.segments[0]!.shards
    const fetchRequests = async (): Promise<number> => {
      let n = 0
      for (const p of net.providers) {
        if (!p.running) continue
        for (const v of (await p.node.metrics.requests.get()).values)
          if (v.labels.protocol === 'fetch-shard') n += v.value
      }
      return n
    }
    const before = await fetchRequests()
    const events: GetProgressEvent[] = []
    expect((await collect(client.get(bigPut.link, { onProgress: (e) => events.push(e) }))).equals(big)).toBe(true)
    const pieces = events.filter((e) => e.type === 'get:shard-fetched')
    expect(pieces).toHaveLength(K * 8)
    // One request per data shard's span (the manifest fetch is another protocol), not one per piece; a span is
    // asked anew after SHARD_SPAN_MAX_MS, which a loaded machine can reach, so a few more are allowed.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const requests = (await fetchRequests()) - before
    expect(requests).toBeGreaterThanOrEqual(K)
    expect(requests).toBeLessThanOrEqual((K * 8) / 4)

    const victim = net.byPeerId(shards[0]!.provider!)
    try {
      const seen: GetProgressEvent[] = []
      const parts: Uint8Array[] = []
      for await (const part of client.get(bigPut.link, { onProgress: (e) => seen.push(e) })) {
        parts.push(part)
        if (parts.length === 1) await net.stopProvider(victim)
      }
      expect(Buffer.concat(parts).equals(big)).toBe(true)
      const fromVictim = seen.filter((e) => e.type === 'get:shard-fetched' && e.shardIndex === 0)
      expect(fromVictim.length).toBeGreaterThanOrEqual(1)
      expect(fromVictim.length).toBeLessThan(8)
      expect(seen.filter((e) => e.type === 'get:shard-failed')).toEqual([
        expect.objectContaining({ segmentIndex: 0, shardIndex: 0, provider: victim.node.peerId, kind: 'unreachable' })
      ])
      // The rest of shard 0 was rebuilt from the parity shards.
      expect(seen.some((e) => e.type === 'get:shard-fetched' && e.shardIndex >= K)).toBe(true)
    } finally {
      await net.restartProvider(victim)
    }
  }, 240_000)
})

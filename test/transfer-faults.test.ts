import { afterAll, describe, expect, it } from 'vitest'
import type { GetProgressEvent, PutProgressEvent } from '@sherd/client'
import { getProofSetDeal } from '@sherd/contracts'
import type { DevnetProvider } from '@sherd/devnet'
import { randomBytes, readAll, sha256, shardsOf, startNetwork } from './helpers.js'
import type { Network } from './helpers.js'

const K = 2
const M = 2
/** Shards of 8 MiB take long enough on loopback to be caught in flight by a 20 ms status poll. */
const FILE_BYTES = 16 * 1024 * 1024 - 4096
const STATUS_POLL_MS = 20

describe('providers killed during transfers (up to m)', () => {
  let net: Network | undefined
  afterAll(async () => {
    await net?.stop()
  })

  it(`put survives ${M} providers killed mid-upload, get survives ${M} holders killed mid-read`, async () => {
    // k + m = 4 shards on 6 providers: two may die during the put and the shards still find homes.
    net = await startNetwork({ providers: K + M + M, client: { k: K, m: M } })
    const { devnet, client } = net
    const data = randomBytes(FILE_BYTES)

    // Watch every provider's /status during the put; SIGKILL the first M seen receiving a shard.
    const killedDuringPut: DevnetProvider[] = []
    let putting = true
    const watcher = (async () => {
      while (putting && killedDuringPut.length < M) {
        await Promise.all(
          devnet.providers
            .filter((p) => p.state === 'running')
            .map(async (p) => {
              try {
                const status = await p.status({ signal: AbortSignal.timeout(1_000) })
                if (status.activeTransfers > 0 && status.store.shards === 0 && killedDuringPut.length < M && putting) {
                  killedDuringPut.push(p)
                  await p.kill()
                }
              } catch {}
            })
        )
        await new Promise((resolve) => setTimeout(resolve, STATUS_POLL_MS))
      }
    })()
    const events: PutProgressEvent[] = []
    const put = await client
      .put(data, {
        onProgress: (e) => {
          events.push(e)
        }
      })
      .finally(() => {
        putting = false
      })
    await watcher

    expect(killedDuringPut.map((p) => p.state)).toEqual(['killed', 'killed'])
    const failedOn = new Set(events.flatMap((e) => (e.type === 'put:shard-failed' ? [e.provider] : [])))
    for (const p of killedDuringPut)
      expect(failedOn, `the client saw the upload to provider ${p.index} fail`).toContain(p.peerId)
    const shards = shardsOf(devnet, put)
    expect(shards.map((s) => s.provider.state)).toEqual(['running', 'running', 'running', 'running'])
    const mc = devnet.marketClient()
    expect(await Promise.all(shards.map(async (s) => (await getProofSetDeal(mc, s.dealId)).state))).toEqual([
      'live',
      'live',
      'live',
      'live'
    ])

    // Read it back while the holders of both data shards are killed the moment the manifest is in.
    const dataHolders = shards.filter((s) => s.shardIndex < K).map((s) => s.provider)
    const getEvents: GetProgressEvent[] = []
    const read = await readAll(client, put.link, {
      onProgress: (e) => {
        getEvents.push(e)
        if (e.type === 'get:manifest') for (const p of dataHolders) void p.kill()
      }
    })
    expect(sha256(read)).toBe(sha256(data))
    expect(dataHolders.map((p) => p.state)).toEqual(['killed', 'killed'])
    const decoded = getEvents.flatMap((e) => (e.type === 'get:segment' ? [...e.shardsUsed] : []))
    expect(decoded.sort()).toEqual([2, 3])

    await net.stop()
  }, 240_000)
})

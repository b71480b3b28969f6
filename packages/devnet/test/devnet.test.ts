import { existsSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { getProofSetProvider, listProofSetProviders, readMarketDeployment } from '@sherd/contracts'
import { createClient } from '@sherd/client'
import { waitFor } from '@sherd/test-support'
import { startDevnet } from '../src/index.js'
import type { Devnet, DevnetProgressEvent } from '../src/index.js'

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * A client given provider `via`'s address alone hears the announcements of `expected` providers: they reach it
 * through the providers' gossipsub mesh (the others bootstrap to provider 0), not over connections of its own.
 */
async function expectHeardThrough(d: Devnet, via: number, expected: string[]): Promise<void> {
  const client = createClient({ rpcUrl: d.rpcUrl, contract: d.market, bootstrap: d.provider(via).multiaddrs })
  try {
    await client.start()
    await waitFor(
      `announcements of ${expected.length} providers through provider ${via}`,
      async () => {
        const fresh = new Set((await client.providers()).filter((p) => p.fresh).map((p) => p.peerId))
        return expected.every((peerId) => fresh.has(peerId))
      },
      30_000
    )
    expect(client.libp2p?.getPeers().map(String)).toEqual([d.provider(via).peerId])
  } finally {
    await client.stop()
  }
}

describe('startDevnet', () => {
  let devnet: Devnet | undefined
  const events: DevnetProgressEvent[] = []
  afterAll(async () => {
    await devnet?.stop()
  })

  it('starts anvil, the contracts and 3 provider processes that a client sees, and stops, kills and restarts them', async () => {
    devnet = await startDevnet({
      providers: 3,
      rpcProxy: true,
      onProgress: (e) => {
        events.push(e)
      }
    })
    const d = devnet
    expect(events.map((e) => e.type)).toEqual([
      'chain-started',
      'contracts-deployed',
      'accounts-funded',
      'interval-mining',
      'provider-started',
      'provider-started',
      'provider-started',
      'network-ready'
    ])
    // Every provider is its own process, registered on chain under the peer id it announces.
    const pids = d.providers.map((p) => p.pid)
    expect(new Set(pids).size).toBe(3)
    expect(pids.every((pid) => pid !== process.pid && alive(pid))).toBe(true)
    const registry = await listProofSetProviders(d.marketClient(), { fromBlock: d.genesisBlock })
    expect(registry.map((r) => r.peerId).sort()).toEqual(d.providers.map((p) => p.peerId).sort())
    // The deployment file the providers were started with names this chain and market.
    const file = await readMarketDeployment(d.deploymentFile)
    expect(file).toMatchObject({
      contract: 'ProofSetMarket',
      chainId: d.chainId,
      rpcUrl: d.rpcUrl,
      genesisBlock: d.genesisBlock
    })
    expect([file.market.toLowerCase(), file.token.toLowerCase()]).toEqual([
      d.market.toLowerCase(),
      d.token.toLowerCase()
    ])
    expect(d.bootstrap).toHaveLength(3)
    expect(d.bootstrap.every((a, i) => a.endsWith(`/p2p/${d.providers[i]!.peerId}`))).toBe(true)
    await expectHeardThrough(
      d,
      0,
      d.providers.map((p) => p.peerId)
    )
    const status = await d.provider(1).status()
    expect(status).toMatchObject({ peerId: d.providers[1]!.peerId, chain: { registered: true } })
    // Read from the deployment file (checksummed), so compared without case.
    expect(status.chain.contractAddress?.toLowerCase()).toBe(d.market.toLowerCase())
    // Providers go through the proxy; the client gets anvil itself.
    expect(d.providerRpcUrl).not.toBe(d.rpcUrl)
    expect(status.chain.rpcUrl).toBe(d.providerRpcUrl)
    // Blocks are mined at an interval, not per transaction.
    const b0 = await d.publicClient.getBlockNumber({ cacheTime: 0 })
    await waitFor(
      'two more blocks',
      async () => (await d.publicClient.getBlockNumber({ cacheTime: 0 })) >= b0 + 2n,
      10_000
    )
    const balance = await getProofSetProvider(d.marketClient(), d.providers[0]!.chainAddress)
    expect(balance.stake).toBeGreaterThan(0n)

    // kill: the process is gone at once; start brings it back with the same identity and addresses.
    const killed = d.provider(2)
    const oldPid = killed.pid
    await killed.kill()
    expect(killed.state).toBe('killed')
    expect(alive(oldPid)).toBe(false)
    await expect(killed.status()).rejects.toThrow()
    await killed.start()
    expect(killed.state).toBe('running')
    expect(killed.pid).not.toBe(oldPid)
    expect((await killed.status()).peerId).toBe(killed.peerId)

    // restart: graceful stop then start.
    const before = d.provider(0).pid
    await d.provider(0).restart()
    expect(alive(before)).toBe(false)
    expect((await d.provider(0).status()).multiaddrs[0]).toBe(d.providers[0]!.multiaddrs[0])

    // addProvider: a fourth provider joins the running network.
    const added = await d.addProvider()
    expect(added.index).toBe(3)
    expect(
      (await listProofSetProviders(d.marketClient(), { fromBlock: d.genesisBlock })).map((r) => r.peerId)
    ).toContain(added.peerId)
    expect(d.bootstrap).toHaveLength(4)
    // It bootstrapped to provider 0 (restarted above, same address): its announcements reach a client through it.
    await expectHeardThrough(d, 0, [added.peerId])
    expect(d.info().providers.map((p) => p.peerId)).toEqual(d.providers.map((p) => p.peerId))

    // stop: no process and no temp dir left behind.
    const everyPid = [...d.providers.map((p) => p.pid), d.anvil.pid]
    await d.stop()
    expect(everyPid.filter(alive)).toEqual([])
    expect(existsSync(d.dir)).toBe(false)
    expect(d.providers.map((p) => p.state)).toEqual(['stopped', 'stopped', 'stopped', 'stopped'])
  })

  it('cleans up after a failed start', async () => {
    const events2: DevnetProgressEvent[] = []
    await expect(
      startDevnet({
        providers: 1,
        nodeCommand: [process.execPath, '-e', 'process.exit(3)'],
        onProgress: (e) => {
          events2.push(e)
        }
      })
    ).rejects.toThrow(/init for provider 0 failed \(exit 3\)/)
    const chain = events2.find((e) => e.type === 'chain-started')
    expect(chain).toBeDefined()
    if (chain?.type !== 'chain-started') return
    expect(alive(chain.anvilPid)).toBe(false)
    expect(existsSync(chain.dir)).toBe(false)
  })
})

// A provider's whole life through the real CLI against anvil (a block every 0.5 s, 8-block periods, ProofSetMarket):
// init with token amounts and a deployment file, start, a deal the node proves and claims to its end, exit (first:
// no new offers, refused while collateral is locked, with the deal and when it is released), withdraw, and a start
// after exit that does not stake again unless told to.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { multiaddr } from '@multiformats/multiaddr'
import {
  getProofSetDeal,
  getProofSetProvider,
  getProofSetWithdrawable,
  openProofSetDeals,
  writeMarketDeployment
} from '@sherd/contracts'
import { OFFER_PROTOCOL, STORE_SHARD_PROTOCOL, offerFromWire, requestOffer, requestStoreShard } from '@sherd/protocol'
import { anvilKey, removeDir, tempDir, TOKEN, waitFor } from '@sherd/test-support'
import { EXIT_RECORD_FILE } from '../src/index.js'
import type { ReadyInfo, SherdHost } from '../src/index.js'
import { cli, randomShard, runToEnd, startDialer } from './helpers.js'
import { balanceOf, startPsChain } from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

const PROVIDER = 1
const CLIENT = 2
const providerKey = anvilKey(PROVIDER)

let c: PsChain
let dialer: SherdHost
let dataDir: string
let deploymentFile: string
const children: ChildProcessWithoutNullStreams[] = []

/** `sherd-node start` as its own process; resolves with its ready line, or rejects with its stderr if it exits. */
async function startCli(extra: string[] = []): Promise<{ child: ChildProcessWithoutNullStreams; ready: ReadyInfo }> {
  const child = cli([
    'start',
    '--data-dir',
    dataDir,
    '--http-port',
    '0',
    '--prover-poll-ms',
    '100',
    '--report-misses',
    'off',
    '--withdraw-every',
    '1',
    ...extra
  ])
  children.push(child)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const ready = await new Promise<ReadyInfo>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => {
      resolve(JSON.parse(line) as ReadyInfo)
    })
    child.once('exit', (code) => {
      reject(new Error(`sherd-node start exited with ${code}: ${stderr}`))
    })
  })
  return { child, ready }
}

async function stopCli(child: ChildProcessWithoutNullStreams): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  expect(await exited).toBe(0)
}

/** Stores the shard, asks for its offer, opens the deal from the client. */
async function openDealWith(ready: ReadyInfo, bytes: Uint8Array, root: Uint8Array, periods: number): Promise<bigint> {
  const addr = multiaddr(ready.multiaddrs[0]!)
  await requestStoreShard(
    await dialer.dialProtocol(addr, STORE_SHARD_PROTOCOL),
    { root, byteLength: bytes.byteLength },
    bytes
  )
  const { offer, signature } = await requestOffer(await dialer.dialProtocol(addr, OFFER_PROTOCOL), {
    root,
    byteLength: bytes.byteLength,
    periods,
    client: c.accounts[CLIENT]!.address
  })
  const { dealIds } = await openProofSetDeals(c.as(CLIENT), {
    offers: [{ offer: offerFromWire(offer), signature: `0x${Buffer.from(signature).toString('hex')}` as Hex }]
  })
  return dealIds[0]!
}

beforeAll(async () => {
  c = await startPsChain({ accounts: 3, blockTime: 0.5 })
  dialer = await startDialer()
  const dir = await tempDir()
  dataDir = join(dir, 'provider')
  deploymentFile = join(dir, 'deployment.json')
  await writeMarketDeployment(deploymentFile, {
    contract: 'ProofSetMarket',
    chainId: c.anvil.chainId,
    rpcUrl: c.anvil.url,
    market: c.market.market,
    token: c.market.token,
    tokenDeployed: true,
    genesisBlock: c.market.genesisBlock,
    deployer: c.accounts[0]!.address,
    params: c.market.params
  })
}, 60_000)

afterAll(async () => {
  await dialer?.stop()
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  if (dataDir !== undefined) await removeDir(join(dataDir, '..'))
  await c?.anvil.stop()
})

describe('a provider proves and claims its deals, exits, and is not staked again by accident', () => {
  it('runs init → start → exit (refused, no new offers) → claims → exit → withdraw → start (refused) → start --register-again through the CLI', async () => {
    const mc = c.as(0)
    const address = c.accounts[PROVIDER]!.address
    // init with token amounts and the deployment file: the chain is up, so config.json holds them in base units.
    const init = await runToEnd([
      'init',
      '--data-dir',
      dataDir,
      '--evm-key',
      providerKey,
      '--price',
      '0.001',
      '--stake',
      '100 SHERD',
      '--deployment',
      deploymentFile,
      '--capacity',
      '64MiB',
      '--max-term',
      '50'
    ])
    expect(init.code).toBe(0)
    expect(JSON.parse(init.stdout)).toMatchObject({ pricePerMiB: '0.001 SHERD', stake: '100 SHERD' })
    const config = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(config).toMatchObject({
      pricePerMiB: (TOKEN / 1000n).toString(),
      stake: (100n * TOKEN).toString(),
      deployment: deploymentFile,
      maxTermPeriods: 50
    })
    // init --force without amounts keeps them and still shows them in tokens (not the base units of config.json).
    const kept = await runToEnd(['init', '--data-dir', dataDir, '--force', '--capacity', '64MiB'])
    expect(kept.code).toBe(0)
    expect(JSON.parse(kept.stdout)).toMatchObject({ pricePerMiB: '0.001 SHERD', stake: '100 SHERD' })

    let { child, ready } = await startCli()
    expect(await getProofSetProvider(mc, address)).toMatchObject({
      stake: 100n * TOKEN,
      locked: 0n,
      maxTermPeriods: 50
    })

    // One deal stored and proven for a 2-period term.
    const shard = randomShard(256 * 1024 + 10)
    const id = await openDealWith(ready, shard.bytes, shard.root, 2)
    const price = (BigInt(shard.bytes.byteLength) * (TOKEN / 1000n) + 2n ** 20n - 1n) / 2n ** 20n

    // exit while its collateral is locked: refused, naming the deal and when it is released, as a date; from now on
    // the running node signs no new offers.
    const flags = ['--data-dir', dataDir]
    const refused = await runToEnd(['exit', ...flags])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/OpenDealsError: .* of collateral locked in a deal/)
    expect(refused.stderr).toMatch(
      new RegExp(
        `deal ${id}: live, its collateral is released after block \\d+ \\(about \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\)`
      )
    )
    expect(refused.stderr).toMatch(/Keep `sherd-node start` running/)
    expect(refused.stderr).not.toMatch(/\n\s+at /)
    expect(JSON.parse(await readFile(join(dataDir, EXIT_RECORD_FILE), 'utf8'))).toMatchObject({ phase: 'leaving' })
    const other = randomShard(4096)
    await expect(openDealWith(ready, other.bytes, other.root, 1)).rejects.toMatchObject({
      remoteName: 'NotAcceptingOffersError'
    })

    // Nobody but the node touches the deal: it proves both periods and claims it off the books, releasing the collateral.
    await waitFor('the deal settled by the provider', async () => (await getProofSetDeal(mc, id)).settled, 90_000)
    expect((await getProofSetDeal(mc, id)).state).toBe('ended')
    expect(await getProofSetProvider(mc, address)).toMatchObject({ locked: 0n })
    await waitFor('the ledger to see the settlement', async () => {
      const st = JSON.parse((await runToEnd(['status', '--url', ready.httpUrl])).stdout) as {
        chain: { dealList: Array<{ settled: boolean }> }
      }
      return st.chain.dealList[0]?.settled === true
    })
    // status prints the amounts in tokens beside the base units: both periods paid, nothing left to claim.
    const status = JSON.parse((await runToEnd(['status', '--url', ready.httpUrl])).stdout) as {
      chain: { earnings: string; acceptingOffers: boolean; amounts: Record<string, string> }
    }
    expect(status.chain.earnings).toBe((2n * price).toString())
    expect(status.chain.acceptingOffers).toBe(false)
    const tokensOf = (n: bigint): string => `0.${n.toString().padStart(18, '0').replace(/0+$/, '')} SHERD`
    expect(status.chain.amounts).toMatchObject({
      earnings: tokensOf(2n * price),
      unclaimed: '0 SHERD',
      pricePerMiB: '0.001 SHERD'
    })
    await stopCli(child)

    // exit now works: the whole stake removed and withdrawn with what is left to withdraw.
    const before = await balanceOf(c, address)
    const left = await getProofSetWithdrawable(mc, address)
    const exit = await runToEnd(['exit', ...flags])
    expect(exit.code).toBe(0)
    expect(JSON.parse(exit.stdout)).toMatchObject({ exited: true, stakeRemoved: '100 SHERD' })
    expect(JSON.parse(await readFile(join(dataDir, EXIT_RECORD_FILE), 'utf8'))).toMatchObject({
      provider: address,
      phase: 'exited',
      txs: expect.arrayContaining([expect.stringMatching(/^0x/)])
    })
    expect((await balanceOf(c, address)) - before).toBe(100n * TOKEN + left)
    expect(await getProofSetProvider(mc, address)).toMatchObject({ stake: 0n, locked: 0n })
    const w = await runToEnd(['withdraw', ...flags])
    expect(w.code).toBe(0)
    expect(JSON.parse(w.stdout)).toMatchObject({ withdrawn: '0 SHERD' })

    // start after exit: refused, one line saying how to stake again; nothing staked.
    const again = await runToEnd(['start', '--data-dir', dataDir, '--http-port', '0'])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(
      /ProviderExitedError: .*left this market with `sherd-node exit`.*stake 100 SHERD.*--register-again/
    )
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    expect((await getProofSetProvider(mc, address)).stake).toBe(0n)

    ;({ child, ready } = await startCli(['--register-again']))
    expect(await getProofSetProvider(mc, address)).toMatchObject({ stake: 100n * TOKEN })
    expect(existsSync(join(dataDir, EXIT_RECORD_FILE))).toBe(false)
    await stopCli(child)
  }, 240_000)
})

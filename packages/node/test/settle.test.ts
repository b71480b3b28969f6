// A provider's whole life through the real CLI against anvil (a block every 0.5 s, 8-block periods): init with token
// amounts, start, deals that run out or are never activated and that the node settles itself, exit (refused while
// deals are open, with their end dates), withdraw, and a start after exit that does not re-register unless told to.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createPublicClient, createWalletClient, http } from 'viem'
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { multiaddr } from '@multiformats/multiaddr'
import {
  ANVIL_MNEMONIC, deploy, DEVNET_MARKET_PARAMS, getDeal, getProvider, getWithdrawable, mintTokens, openDeal, rpcChain,
  startAnvil
} from '@sherd/contracts'
import type { Anvil, Deployment, MarketClient } from '@sherd/contracts'
import { OFFER_PROTOCOL, STORE_SHARD_PROTOCOL, offerFromWire, requestOffer, requestStoreShard } from '@sherd/protocol'
import { EXIT_RECORD_FILE } from '../src/index.js'
import type { ReadyInfo, SherdHost } from '../src/index.js'
import { cli, randomShard, removeDir, runToEnd, startDialer, tempDir } from './helpers.js'

const TOKEN = 10n ** 18n
const providerAccount = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: 1 })
const providerKey = `0x${Buffer.from(providerAccount.getHdKey().privateKey!).toString('hex')}` as Hex

let anvil: Anvil
let deployment: Deployment
let publicClient: PublicClient
let mc: MarketClient
let client: WalletClient<Transport, Chain, Account>
let dialer: SherdHost
let dataDir: string
const children: ChildProcessWithoutNullStreams[] = []

async function waitFor<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** `sherd-node start` as its own process; resolves with its ready line, or rejects with its stderr if it exits. */
async function startCli (extra: string[] = []): Promise<{ child: ChildProcessWithoutNullStreams, ready: ReadyInfo }> {
  const child = cli(['start', '--data-dir', dataDir, '--http-port', '0', '--prover-poll-ms', '100', '--report-misses', 'off', ...extra])
  children.push(child)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const ready = await new Promise<ReadyInfo>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => { resolve(JSON.parse(line) as ReadyInfo) })
    child.once('exit', (code) => { reject(new Error(`sherd-node start exited with ${code}: ${stderr}`)) })
  })
  return { child, ready }
}

async function stopCli (child: ChildProcessWithoutNullStreams): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  expect(await exited).toBe(0)
}

async function openDealWith (ready: ReadyInfo, root: Uint8Array, byteLength: number, periods: number): Promise<bigint> {
  const addr = multiaddr(ready.multiaddrs[0]!)
  const { offer, signature } = await requestOffer(await dialer.dialProtocol(addr, OFFER_PROTOCOL), {
    root, byteLength, periods, client: client.account.address.toLowerCase() as Hex
  })
  const { dealId } = await openDeal({ market: deployment.market, publicClient, walletClient: client }, {
    offer: offerFromWire(offer), signature: `0x${Buffer.from(signature).toString('hex')}`
  })
  return dealId
}

beforeAll(async () => {
  anvil = await startAnvil({ accounts: 3, blockTime: 0.5 })
  const chain = rpcChain(anvil.chainId, anvil.url, 'anvil')
  publicClient = createPublicClient({ chain, transport: http(anvil.url), pollingInterval: 50 }) as PublicClient
  const wallets = [0, 1, 2].map((i) => createWalletClient({ account: mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }), chain, transport: http(anvil.url) }))
  deployment = await deploy(wallets[0]!, { publicClient, params: DEVNET_MARKET_PARAMS })
  mc = { market: deployment.market, publicClient }
  for (const w of wallets.slice(1)) await mintTokens(wallets[0]!, { publicClient, token: deployment.token, to: w.account.address, amount: 1_000_000n * TOKEN })
  client = wallets[2]!
  dialer = await startDialer()
  dataDir = join(await tempDir(), 'provider')
})

afterAll(async () => {
  await dialer?.stop()
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  if (dataDir !== undefined) await removeDir(join(dataDir, '..'))
  await anvil?.stop()
})

describe('a provider settles its own deals, exits, and is not re-registered by accident', () => {
  it('runs init → start → settle → exit → withdraw → start (refused) → start --register-again through the CLI', async () => {
    // init with token amounts: the chain is up, so config.json holds them in base units (the token has 18 decimals).
    const init = await runToEnd([
      'init', '--data-dir', dataDir, '--evm-key', providerKey, '--price', '0.001', '--stake', '100 SHERD',
      '--rpc-url', anvil.url, '--contract', deployment.market, '--capacity', '64MiB'
    ])
    expect(init.code).toBe(0)
    expect(JSON.parse(init.stdout)).toMatchObject({ pricePerMiB: '0.001 SHERD', stake: '100 SHERD' })
    const config = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8')) as { pricePerMiB: string, stake: string }
    expect(config).toMatchObject({ pricePerMiB: (TOKEN / 1000n).toString(), stake: (100n * TOKEN).toString() })
    // init --force without amounts keeps them and still shows them in tokens (not the base units of config.json).
    const kept = await runToEnd(['init', '--data-dir', dataDir, '--force', '--capacity', '64MiB'])
    expect(kept.code).toBe(0)
    expect(JSON.parse(kept.stdout)).toMatchObject({ pricePerMiB: '0.001 SHERD', stake: '100 SHERD' })

    let { child, ready } = await startCli()
    const registered = await getProvider(mc, providerAccount.address)
    expect(registered).toMatchObject({ stake: 100n * TOKEN, pricePerMiB: TOKEN / 1000n, openDeals: 0 })

    // One deal stored and proven for a 2-period term; one the client opens but never stores (never activated).
    const shard = randomShard(256 * 1024 + 10)
    const ended = await openDealWith(ready, shard.root, shard.bytes.byteLength, 2)
    await requestStoreShard(await dialer.dialProtocol(multiaddr(ready.multiaddrs[0]!), STORE_SHARD_PROTOCOL), {
      root: shard.root, byteLength: shard.bytes.byteLength, dealId: ended.toString()
    }, shard.bytes)
    const stray = randomShard(4096)
    const expired = await openDealWith(ready, stray.root, 4096, 2)
    await waitFor('the stored deal active', async () => (await getDeal(mc, ended)).state === 'active')

    // exit while both are open: refused, naming each deal and when it can be settled, as a date.
    const flags = ['--data-dir', dataDir]
    const refused = await runToEnd(['exit', ...flags])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/OpenDealsError: .* still has 2 open deals/)
    expect(refused.stderr).toMatch(new RegExp(`deal ${ended}: active, its term ends at block \\d+ \\(about \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\)`))
    expect(refused.stderr).toMatch(new RegExp(`deal ${expired}: never activated, expires after block \\d+ \\(about \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\)`))
    expect(refused.stderr).toMatch(/Keep `sherd-node start` running/)
    expect(refused.stderr).not.toMatch(/\n\s+at /)
    expect(existsSync(join(dataDir, EXIT_RECORD_FILE))).toBe(false)

    // Nobody but the node touches the deals: it ends the proven one and expires the other, releasing the stake.
    await waitFor('both deals settled by the provider', async () => {
      const [a, b] = await Promise.all([getDeal(mc, ended), getDeal(mc, expired)])
      return a.state === 'ended' && b.state === 'expired'
    }, 90_000)
    const d = await getDeal(mc, ended)
    expect(d.provenPeriods).toBe(2)
    expect(d.missedPeriods).toBe(0)
    expect(await getProvider(mc, providerAccount.address)).toMatchObject({ openDeals: 0, lockedStake: 0n, usedBytes: 0n })
    // The node counts a settlement when it has the receipt, which can be a poll after the chain shows it.
    await waitFor('the node to count both settlements', async () => {
      const metrics = await (await fetch(`${ready.httpUrl}/metrics`)).text()
      return /sherd_deals_settled_total\{action="end"\} 1/.test(metrics) && /sherd_deals_settled_total\{action="expire"\} 1/.test(metrics)
    }, 20_000)

    // status prints the amounts in tokens beside the base units.
    const earned = 2n * ((BigInt(shard.bytes.byteLength) * (TOKEN / 1000n) + 2n ** 20n - 1n) / 2n ** 20n)
    await waitFor('the ledger to see the ends', async () => {
      const st = JSON.parse((await runToEnd(['status', '--url', ready.httpUrl])).stdout) as { chain: { dealStates: Record<string, number> } }
      return st.chain.dealStates.ended === 1 && st.chain.dealStates.expired === 1
    })
    const status = JSON.parse((await runToEnd(['status', '--url', ready.httpUrl])).stdout) as { chain: { earnings: string, amounts: Record<string, string> } }
    expect(status.chain.earnings).toBe(earned.toString())
    expect(status.chain.amounts).toMatchObject({ earnings: `0.${earned.toString().padStart(18, '0').replace(/0+$/, '')} SHERD`, pricePerMiB: '0.001 SHERD' })
    await stopCli(child)

    // exit now works; the stake becomes withdrawable and withdraw prints tokens.
    const exit = await runToEnd(['exit', ...flags])
    expect(exit.code).toBe(0)
    expect(JSON.parse(exit.stdout)).toMatchObject({ exited: true, stakeReleased: '100 SHERD' })
    expect(JSON.parse(await readFile(join(dataDir, EXIT_RECORD_FILE), 'utf8'))).toMatchObject({ provider: providerAccount.address, tx: expect.stringMatching(/^0x/) })
    const due = await getWithdrawable(mc, providerAccount.address)
    expect(due).toBe(100n * TOKEN + earned)
    const w = await runToEnd(['withdraw', ...flags])
    expect(w.code).toBe(0)
    expect(JSON.parse(w.stdout)).toMatchObject({ withdrawn: `100.${earned.toString().padStart(18, '0').replace(/0+$/, '')} SHERD`, withdrawnBaseUnits: due.toString() })

    // start after exit: refused, one line saying how to register again; nothing staked.
    const again = await runToEnd(['start', '--data-dir', dataDir, '--http-port', '0'])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/ProviderExitedError: .*left this market with `sherd-node exit`.*stake 100 SHERD.*--register-again/)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    await expect(getProvider(mc, providerAccount.address)).rejects.toThrow(/NotRegistered/);

    ({ child, ready } = await startCli(['--register-again']))
    expect(await getProvider(mc, providerAccount.address)).toMatchObject({ stake: 100n * TOKEN })
    expect(existsSync(join(dataDir, EXIT_RECORD_FILE))).toBe(false)
    await stopCli(child)
  }, 180_000)
})

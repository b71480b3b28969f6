// ProofSetMarket's withdraw against a token that calls back into the market mid-transfer (a hostile ERC-20):
// the guard must stop a second withdraw from inside the first, and the outer one must pay exactly once.
import { erc20Abi } from 'viem'
import type { Abi, Address, Hex } from 'viem'
import { afterAll, beforeAll, expect, test } from 'vitest'
import {
  deployProofSetMarket,
  getProofSetWithdrawable,
  PROOF_SET_DEVNET_PARAMS,
  proofSetMarketAbi
} from '../src/index.js'
import {
  hostileTokenAbi,
  hostileTokenBytecode,
  reentrancyAttackerAbi,
  reentrancyAttackerBytecode
} from './generated/test-contracts.js'
import { startTestChain, TOKEN } from '@sherd/test-support'
import type { TestChain } from '@sherd/test-support'
import { expectRevert } from './helpers.js'

let c: TestChain
beforeAll(async () => {
  c = await startTestChain()
}, 60_000)
afterAll(async () => {
  await c?.anvil.stop()
})

test('a re-entrant withdraw reverts and moves nothing; a swallowed one pays once', async () => {
  const w = c.wallets[0]!
  const deployed = async (abi: Abi, bytecode: Hex, args: readonly unknown[]): Promise<Address> => {
    const hash = await w.deployContract({ abi, bytecode, args })
    return (await c.publicClient.waitForTransactionReceipt({ hash })).contractAddress!
  }
  const mined = async (hash: Hex): Promise<void> => {
    const receipt = await c.publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`)
  }
  const token = await deployed(hostileTokenAbi, hostileTokenBytecode, [])
  const { market } = await deployProofSetMarket(w, {
    publicClient: c.publicClient,
    token,
    params: PROOF_SET_DEVNET_PARAMS
  })
  const attacker = await deployed(reentrancyAttackerAbi, reentrancyAttackerBytecode, [market, token])
  const mc = { market, publicClient: c.publicClient }
  const balance = async (who: Address): Promise<bigint> =>
    await c.publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [who] })

  await mined(
    await w.writeContract({
      address: token,
      abi: hostileTokenAbi,
      functionName: 'mint',
      args: [attacker, 1000n * TOKEN]
    })
  )
  // The attacker stakes as a provider and frees part of it: that part is its withdrawable balance.
  await mined(
    await w.writeContract({
      address: attacker,
      abi: reentrancyAttackerAbi,
      functionName: 'register',
      args: [500n * TOKEN, 'attacker']
    })
  )
  await mined(
    await w.writeContract({
      address: attacker,
      abi: reentrancyAttackerAbi,
      functionName: 'removeStake',
      args: [80n * TOKEN]
    })
  )
  expect(await getProofSetWithdrawable(mc, attacker)).toBe(80n * TOKEN)
  const before = await balance(attacker)

  // Strict re-entry: the inner withdraw hits the guard, the whole call reverts, nothing moves.
  const errors = proofSetMarketAbi.filter((x) => x.type === 'error')
  await expectRevert(
    c.publicClient.simulateContract({
      address: attacker,
      abi: [...reentrancyAttackerAbi, ...errors],
      functionName: 'attack',
      args: [false],
      account: c.accounts[0]!
    }),
    'ReentrancyGuardReentrantCall'
  )
  await expect(
    mined(
      await w.writeContract({
        address: attacker,
        abi: reentrancyAttackerAbi,
        functionName: 'attack',
        args: [false],
        gas: 1_000_000n
      })
    )
  ).rejects.toThrow(/reverted/)
  expect(await balance(attacker)).toBe(before)
  expect(await getProofSetWithdrawable(mc, attacker)).toBe(80n * TOKEN)

  // Swallowed re-entry: the outer withdraw completes and pays exactly once.
  await mined(
    await w.writeContract({ address: attacker, abi: reentrancyAttackerAbi, functionName: 'attack', args: [true] })
  )
  expect(
    await c.publicClient.readContract({ address: attacker, abi: reentrancyAttackerAbi, functionName: 'reentries' })
  ).toBe(1n)
  expect(await balance(attacker)).toBe(before + 80n * TOKEN)
  expect(await getProofSetWithdrawable(mc, attacker)).toBe(0n)
  expect(await balance(market)).toBe(420n * TOKEN)
}, 120_000)

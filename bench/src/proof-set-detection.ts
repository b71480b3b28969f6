/**
 * Detection probabilities of ProofSetMarket at its defaults, by Monte Carlo over random period seeds with the
 * contract's own challenge rule (challenge i = keccak256(abi.encode(seed, provider, i)) % W, leaf offset
 * ⌊(idx − start)·leafCount / w⌋; audits: keccak256(abi.encode(seed, j)) % leafCount), cross-checked against the
 * deployed contract's `challengeIndex` and `challengeCountFor` views on anvil before any trial runs.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { randomBytes } from 'node:crypto'
import {
  deployProofSetMarket,
  PROOF_SET_AUDIT_CHALLENGES,
  PROOF_SET_MIN_WEIGHT,
  proofSetChallengeCount,
  proofSetChallengeIndex,
  proofSetMarketAbi,
  proofSetWeight,
  startAnvil,
  ANVIL_MNEMONIC,
  periodsPerMonth,
  PROOF_SET_DEFAULT_PARAMS
} from '@sherd/contracts'
import { bytesToHex, createPublicClient, createWalletClient, http } from 'viem'
import type { Address, PublicClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

/** keccak256(abi.encode(seed, provider, i)) as a bigint, on one reused buffer (the rule, without viem's overhead). */
function makeChallenger(provider: Address): (seed: Uint8Array, i: number) => bigint {
  const buf = new Uint8Array(96)
  const addr = Buffer.from(provider.slice(2), 'hex')
  buf.set(addr, 32 + 12)
  const view = new DataView(buf.buffer)
  return (seed, i) => {
    buf.set(seed, 0)
    view.setUint32(92, i)
    return BigInt(bytesToHex(keccak_256(buf)))
  }
}

/** keccak256(abi.encode(seed, j)) (the audit leaf rule of MerkleVerifier.sol). */
function auditIndex(seed: Uint8Array, j: number, leafCount: bigint): bigint {
  const buf = new Uint8Array(64)
  buf.set(seed, 0)
  new DataView(buf.buffer).setUint32(60, j)
  return BigInt(bytesToHex(keccak_256(buf))) % leafCount
}

export interface DetectionScenario {
  name: string
  /** Probability that the loss is caught within `periods` periods. */
  probability: number
  /** The same from the closed form 1 − (1 − f)^(K·periods), for comparison. */
  analytic: number
  periods: number
  trials: number
  /** Mean periods to the first challenge on lost data among the trials that caught it. */
  meanPeriodsToCatch: number
}

export interface DetectionReport {
  crossChecked: number
  periodsPerMonth: number
  scenarios: DetectionScenario[]
}

/** Compares the fast rule with the TypeScript one and the contract's view on a fresh anvil. */
async function crossCheck(cases: number): Promise<number> {
  const anvil = await startAnvil({ accounts: 1, hardfork: 'osaka' })
  try {
    const transport = http(anvil.url)
    const publicClient = createPublicClient({ transport }) as PublicClient
    const wallet = createWalletClient({ account: mnemonicToAccount(ANVIL_MNEMONIC), transport })
    const d = await deployProofSetMarket(wallet, { publicClient })
    for (let n = 0; n < cases; n++) {
      const seed = new Uint8Array(randomBytes(32))
      const provider = bytesToHex(new Uint8Array(randomBytes(20)))
      const weight = BigInt(bytesToHex(new Uint8Array(randomBytes(7)))) + 1n
      const i = n % 40
      const fast = makeChallenger(provider)(seed, i) % weight
      const ts = proofSetChallengeIndex(bytesToHex(seed), provider, BigInt(i), weight)
      const chain = await publicClient.readContract({
        address: d.market,
        abi: proofSetMarketAbi,
        functionName: 'challengeIndex',
        args: [bytesToHex(seed), provider, BigInt(i), weight]
      })
      const k = await publicClient.readContract({
        address: d.market,
        abi: proofSetMarketAbi,
        functionName: 'challengeCountFor',
        args: [weight << 20n]
      })
      if (fast !== chain || ts !== chain || k !== proofSetChallengeCount(weight << 20n)) {
        throw new Error(
          `challenge rule mismatch: seed ${bytesToHex(seed)} provider ${provider} i ${i} weight ${weight}: fast ${fast}, ts ${ts}, contract ${chain}`
        )
      }
    }
    return cases
  } finally {
    await anvil.stop()
  }
}

interface SetLayout {
  /** Total weight W of the set, leaves. */
  weight: bigint
  /** Is the leaf a challenge at set index `idx` lands on lost? */
  lost: (idx: bigint) => boolean
  /** Lost fraction of W. */
  fraction: number
}

function simulate(name: string, layout: SetLayout, periods: number, trials: number): DetectionScenario {
  const provider = bytesToHex(new Uint8Array(randomBytes(20)))
  const challenge = makeChallenger(provider)
  const k = Number(proofSetChallengeCount(layout.weight))
  let caught = 0
  let sum = 0
  for (let t = 0; t < trials; t++) {
    for (let p = 1; p <= periods; p++) {
      const seed = new Uint8Array(randomBytes(32))
      let hit = false
      for (let i = 0; i < k && !hit; i++) hit = layout.lost(challenge(seed, i) % layout.weight)
      if (hit) {
        caught++
        sum += p
        break
      }
    }
  }
  return {
    name,
    probability: caught / trials,
    analytic: 1 - (1 - layout.fraction) ** (k * periods),
    periods,
    trials,
    meanPeriodsToCatch: caught > 0 ? sum / caught : Number.NaN
  }
}

/**
 * Runs the scenarios of docs/contracts.md at the defaults (λ = 4, K_MIN = 4, MIN_WEIGHT = 256 MiB, 256-block
 * periods of 12-s blocks): a provider with 1 TiB in 1,024 deals of 1 GiB.
 */
export async function simulateDetection(
  options: { trials?: number; log?: (line: string) => void } = {}
): Promise<DetectionReport> {
  const log = options.log ?? (() => {})
  const trials = options.trials ?? 2000
  const crossChecked = await crossCheck(64)
  log(`challenge rule cross-checked on ${crossChecked} cases against the contract`)
  const month = Math.floor(periodsPerMonth(PROOF_SET_DEFAULT_PARAMS.periodBlocks))
  const gib = 2n ** 24n
  const tib = 1024n * gib
  const scenarios: DetectionScenario[] = []
  scenarios.push(
    simulate('all data lost (1 TiB provider), first period', { weight: tib, lost: () => true, fraction: 1 }, 1, trials)
  )
  scenarios.push(
    simulate(
      'one lost 1 GiB deal of 1 TiB, within 30 days',
      { weight: tib, lost: (idx) => idx < gib, fraction: 1 / 1024 },
      month,
      trials
    )
  )
  log('whole-deal scenario done')
  const fivePct = gib / 20n
  scenarios.push(
    simulate(
      '5 % of one 1 GiB shard lost (of 1 TiB), within 30 days',
      {
        weight: tib,
        lost: (idx) => idx < gib && (idx * gib) / proofSetWeight(gib) < fivePct,
        fraction: 0.05 / 1024
      },
      month,
      trials
    )
  )
  log('5 % scenario done')
  // A 64 MiB deal weighs MIN_WEIGHT: it is challenged as often as a 256 MiB one.
  const small = 2n ** 20n
  const smallWeight = proofSetWeight(small)
  scenarios.push(
    simulate(
      'one lost 64 MiB deal (weight 256 MiB) of 1 TiB, within 30 days',
      {
        weight: tib - gib + smallWeight,
        lost: (idx) => idx < smallWeight,
        fraction: Number(smallWeight) / Number(tib - gib + smallWeight)
      },
      month,
      trials
    )
  )
  scenarios.push(
    simulate(
      'one lost 64 MiB deal (weight 256 MiB) of 1 TiB, within 6 months',
      {
        weight: tib - gib + smallWeight,
        lost: (idx) => idx < smallWeight,
        fraction: Number(smallWeight) / Number(tib - gib + smallWeight)
      },
      month * 6,
      Math.max(100, Math.floor(trials / 4))
    )
  )
  // An on-demand audit of the 5 %-damaged shard: c = 10 leaves of the deal.
  let auditCaught = 0
  for (let t = 0; t < trials; t++) {
    const seed = new Uint8Array(randomBytes(32))
    for (let j = 0; j < PROOF_SET_AUDIT_CHALLENGES; j++) {
      if (auditIndex(seed, j, gib) < fivePct) {
        auditCaught++
        break
      }
    }
  }
  scenarios.push({
    name: 'one audit of the 5 %-damaged 1 GiB shard',
    probability: auditCaught / trials,
    analytic: 1 - 0.95 ** PROOF_SET_AUDIT_CHALLENGES,
    periods: 1,
    trials,
    meanPeriodsToCatch: 1
  })
  if (PROOF_SET_MIN_WEIGHT !== 2n ** 22n) throw new Error('MIN_WEIGHT changed: revisit the scenarios')
  return { crossChecked, periodsPerMonth: periodsPerMonth(PROOF_SET_DEFAULT_PARAMS.periodBlocks), scenarios }
}

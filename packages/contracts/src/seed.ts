import { encodeAbiParameters, keccak256, maxUint256 } from 'viem'
import type { Hex } from 'viem'

/** The period number the activation seed uses: never a real period, so its seed never equals a period's. */
export const ACTIVATION_PERIOD = maxUint256

const SEED_ABI = [{ type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }] as const

/**
 * The challenge seed of `dealId` in `period`, as the market derives it:
 * keccak256(abi.encode(blockhash(challengeBlock(period)), dealId, period)).
 * Lets a prover derive every deal's seed from one block hash instead of one call per deal.
 */
export function deriveChallengeSeed (challengeBlockHash: Hex, dealId: bigint, period: bigint): Hex {
  return keccak256(encodeAbiParameters(SEED_ABI, [challengeBlockHash, dealId, period]))
}

/** The activation seed of `dealId`: keccak256(abi.encode(blockhash(openedBlock), dealId, 2^256 − 1)). */
export function deriveActivationSeed (openedBlockHash: Hex, dealId: bigint): Hex {
  return deriveChallengeSeed(openedBlockHash, dealId, ACTIVATION_PERIOD)
}

import { ANVIL_MNEMONIC } from '@sherd/contracts'
import type { Hex, HDAccount } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

/** anvil's dev account `index` (the accounts `startAnvil` funds, from `ANVIL_MNEMONIC`). */
export function anvilAccount(index: number): HDAccount {
  return mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index })
}

/** The private key of anvil's dev account `index`, as a provider's evm.key or `SHERD_PRIVATE_KEY` takes it. */
export function anvilKey(index: number): Hex {
  const key = anvilAccount(index).getHdKey().privateKey
  if (key === null) throw new Error(`anvil account ${index} has no private key`)
  return `0x${Buffer.from(key).toString('hex')}`
}

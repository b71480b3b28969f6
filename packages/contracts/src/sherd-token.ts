import type { Account, Address, Chain, PublicClient, Transport, WalletClient } from 'viem'
import { sherdTokenAbi } from './generated/contracts.js'
import { waitForSuccess } from './market-client.js'

/** Mints `amount` of a `SherdToken` to `to` (the wallet must be the token's deployer). */
export async function mintTokens(
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
  p: { publicClient: PublicClient; token: Address; to: Address; amount: bigint; signal?: AbortSignal }
): Promise<void> {
  const hash = await walletClient.writeContract({
    address: p.token,
    abi: sherdTokenAbi,
    functionName: 'mint',
    args: [p.to, p.amount],
    account: walletClient.account,
    chain: walletClient.chain ?? null
  })
  await waitForSuccess(p.publicClient, hash, { signal: p.signal })
}

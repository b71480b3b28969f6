import { defineChain } from 'viem'
import type { Chain } from 'viem'

/**
 * A viem chain for an EVM endpoint known only by its chain id and RPC URL (anvil, the devnet, or a chain
 * the user points a node or client at). viem needs a Chain object to sign transactions; ETH as the native
 * currency is what every EVM chain we target reports for gas.
 */
export function rpcChain(chainId: number, rpcUrl?: string, name = `chain-${chainId}`): Chain {
  return defineChain({
    id: chainId,
    name,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: rpcUrl === undefined ? [] : [rpcUrl] } }
  })
}

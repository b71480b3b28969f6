import { erc20Abi, formatUnits, parseUnits } from 'viem'
import type { Address, PublicClient } from 'viem'
import { ContractsError } from './errors.js'

/** What a person needs to read and write amounts of a token: its decimals and its symbol. */
export interface TokenInfo {
  address: Address
  decimals: number
  symbol: string
}

/** A token amount a person typed cannot be read: says what form is expected. */
export class InvalidTokenAmountError extends ContractsError {
  override name = 'InvalidTokenAmountError'
}

/** Reads the token's decimals and symbol from the chain (one multicall-free pair of reads). */
export async function readTokenInfo(publicClient: PublicClient, address: Address): Promise<TokenInfo> {
  const [decimals, symbol] = await Promise.all([
    publicClient.readContract({ address, abi: erc20Abi, functionName: 'decimals' }),
    publicClient.readContract({ address, abi: erc20Abi, functionName: 'symbol' })
  ])
  return { address, decimals, symbol }
}

// Base units are what the chain stores; people write whole tokens. The suffix keeps the old form reachable
// without a guess: `1000` is 1000 tokens, `1000base` (or `1000wei`) is 1000 base units.
const BASE_UNIT_SUFFIXES = ['base', 'wei']

/**
 * Reads an amount a person wrote: `12`, `12.5`, `12.5 SHERD` (the token's own symbol, any case) are tokens;
 * `1000base` / `1000wei` are base units. Refuses negative numbers, more decimals than the token has, and
 * another token's symbol, so a typo never turns into a different amount.
 */
export function parseTokenAmount(text: string, token: Pick<TokenInfo, 'decimals' | 'symbol'>): bigint {
  const trimmed = text.trim()
  const match = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)$/.exec(trimmed)
  if (match === null) {
    throw new InvalidTokenAmountError(
      `"${text}" is not a token amount: write a number of ${token.symbol} (e.g. 12.5 or 12.5${token.symbol}), or base units with a "base" suffix (e.g. 1000base)`
    )
  }
  const [, number, unit] = match as unknown as [string, string, string]
  const lowerUnit = unit.toLowerCase()
  if (BASE_UNIT_SUFFIXES.includes(lowerUnit)) {
    if (number.includes('.')) throw new InvalidTokenAmountError(`"${text}": base units are whole numbers`)
    return BigInt(number)
  }
  if (unit !== '' && lowerUnit !== token.symbol.toLowerCase()) {
    throw new InvalidTokenAmountError(`"${text}": the token here is ${token.symbol}, not ${unit}`)
  }
  const fraction = number.split('.')[1] ?? ''
  if (fraction.length > token.decimals) {
    throw new InvalidTokenAmountError(`"${text}": ${token.symbol} has ${token.decimals} decimals`)
  }
  return parseUnits(number, token.decimals)
}

/**
 * An amount for people: `1,234.5 SHERD`. Exact (every significant decimal is kept, none invented), so what is
 * printed can be typed back; `maxFractionDigits` rounds down for tables where exactness matters less.
 */
export function formatTokenAmount(
  amount: bigint,
  token: Pick<TokenInfo, 'decimals' | 'symbol'>,
  options: { maxFractionDigits?: number } = {}
): string {
  const negative = amount < 0n
  const exact = formatUnits(negative ? -amount : amount, token.decimals)
  let [whole = '0', fraction = ''] = exact.split('.')
  if (options.maxFractionDigits !== undefined)
    fraction = fraction.slice(0, options.maxFractionDigits).replace(/0+$/, '')
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return `${negative ? '-' : ''}${grouped}${fraction === '' ? '' : `.${fraction}`} ${token.symbol}`
}

import { formatTokenAmount, InvalidTokenAmountError, parseTokenAmount } from '@sherd/contracts'
import type { TokenInfo } from '@sherd/contracts'
import { InvalidAmountError } from '../errors.js'

/*
 * Token amounts in the provider's config. People type tokens (`--price 0.001`, `--stake 100`); the chain stores base
 * units. `init` may run before the chain answers, so it cannot always know the token's decimals. The config therefore
 * holds one of two forms, and `start` resolves the second once it has read the token:
 *   "1000000000000000"   a whole number: base units (what every config written before tokens held, so old files keep
 *                        their meaning)
 *   "0.001 tokens"       an amount as written, to convert with the token's decimals ("12 SHERD" and "1000base" too)
 */

const TOKENS_SUFFIX = ' tokens'
const AMOUNT_FORM = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)$/

/**
 * Checks an amount typed on the command line without the chain and returns the form the config keeps for it: base
 * units as a plain whole number, anything else as written with its unit made explicit.
 */
export function amountForConfig(text: string, flag: string): string {
  const m = AMOUNT_FORM.exec(text.trim())
  if (m === null) {
    throw new InvalidAmountError(
      `${flag} "${text}" is not a token amount: write tokens (e.g. ${flag} 0.5) or base units with a "base" suffix (e.g. ${flag} 1000base)`
    )
  }
  const [, number, unit] = m as unknown as [string, string, string]
  const lower = unit.toLowerCase()
  if (lower === 'base' || lower === 'wei') {
    if (number.includes('.')) throw new InvalidAmountError(`${flag} "${text}": base units are whole numbers`)
    return BigInt(number).toString()
  }
  return unit === '' ? `${number}${TOKENS_SUFFIX}` : `${number} ${unit}`
}

/** Turns a config amount (either form above) into base units with the token's decimals; `what` names where it came from. */
export function resolveAmount(stored: string, token: Pick<TokenInfo, 'decimals' | 'symbol'>, what: string): bigint {
  const text = stored.trim()
  if (/^[0-9]+$/.test(text)) return BigInt(text)
  const written = text.endsWith(TOKENS_SUFFIX) ? text.slice(0, -TOKENS_SUFFIX.length) : text
  try {
    return parseTokenAmount(written, token)
  } catch (err) {
    if (err instanceof InvalidTokenAmountError) throw new InvalidAmountError(`${what}: ${err.message}`, { cause: err })
    throw err
  }
}

/** Whether a config amount is already in base units (it can be used without reading the token). */
export function isBaseUnits(stored: string): boolean {
  return /^[0-9]+$/.test(stored.trim())
}

/** An amount for people, with the token's symbol: `1,000.5 SHERD`. */
export function tokens(amount: bigint | string, token: Pick<TokenInfo, 'decimals' | 'symbol'>): string {
  return formatTokenAmount(BigInt(amount), token)
}

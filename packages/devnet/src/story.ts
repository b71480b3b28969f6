import { formatUnits } from 'viem'
import { TOKEN_DECIMALS } from './constants.js'

/**
 * The devnet's and the demo's log: one line per event, each with the time since the start, so it reads as a story
 * and shows where the time goes. Writes to stdout (the demo's output is the product here, not a diagnostic).
 */
export class Story {
  private readonly startedAt = Date.now()
  private readonly tty: boolean

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {
    this.tty = (out as { isTTY?: boolean }).isTTY === true && process.env.NO_COLOR === undefined
  }

  get elapsedMs(): number {
    return Date.now() - this.startedAt
  }

  /** A chapter heading. */
  chapter(title: string): void {
    this.out.write(`\n${this.bold(`== ${title}`)}\n`)
  }

  /** One event. */
  line(text: string): void {
    this.out.write(`${this.dim(`[${(this.elapsedMs / 1000).toFixed(1).padStart(6)} s]`)} ${text}\n`)
  }

  /** Indented detail under the previous line. */
  detail(text: string): void {
    this.out.write(`            ${text}\n`)
  }

  /** Plain text (commands to copy). */
  text(text: string): void {
    this.out.write(`${text}\n`)
  }

  bold(text: string): string {
    return this.tty ? `\u001b[1m${text}\u001b[22m` : text
  }
  private dim(text: string): string {
    return this.tty ? `\u001b[2m${text}\u001b[22m` : text
  }
}

/** Token amount for people, to 2 decimals: `12.50 SHERD` (SherdToken has 18 decimals). */
export function tokens(amount: bigint): string {
  return `${Number(formatUnits(amount, TOKEN_DECIMALS)).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} SHERD`
}

/** `12D3KooW…AbCdEf`: enough of a peer id to tell providers apart. */
export function shortId(peerId: string): string {
  return peerId.length > 16 ? `${peerId.slice(0, 8)}…${peerId.slice(-6)}` : peerId
}

/** Bytes for people: `4.0 MiB`. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

import { sleep } from '@sherd/protocol'

export interface PollingInit {
  /** Pause after a step that succeeded. */
  intervalMs: number
  /** First pause after a failed step; it doubles with each failure in a row. */
  retryInitialMs: number
  /** Longest pause after failures. */
  retryMaxBackoffMs: number
}

/**
 * The node's one polling loop (the prover's and the miss reporter's): runs `step` until `signal` aborts, pausing
 * `intervalMs` after a step that returned true and backing off (doubling, capped) after each one that returned
 * false in a row, so a chain that is down is not hammered and one that is back is polled at once at full speed.
 * `step` reports its own errors and returns false; the loop itself never throws.
 */
export async function pollUntilAborted(
  step: (signal: AbortSignal) => Promise<boolean>,
  init: PollingInit,
  signal: AbortSignal
): Promise<void> {
  let failures = 0
  while (!signal.aborted) {
    failures = (await step(signal)) ? 0 : failures + 1
    const delay =
      failures === 0 ? init.intervalMs : Math.min(init.retryInitialMs * 2 ** (failures - 1), init.retryMaxBackoffMs)
    try {
      await sleep(delay, signal)
    } catch {
      return
    }
  }
}

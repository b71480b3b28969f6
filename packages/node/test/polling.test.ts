import { describe, expect, it } from 'vitest'
import { pollUntilAborted } from '../src/index.js'

describe("pollUntilAborted (the prover's and the miss reporter's loop)", () => {
  it('retries failed steps after short backoff pauses, pauses intervalMs after a success, and ends when aborted mid-pause', async () => {
    const abort = new AbortController()
    let calls = 0
    const loop = pollUntilAborted(
      async () => {
        calls++
        if (calls < 4) return false
        // A success is followed by the minute-long pause: the abort must end it at once.
        setImmediate(() => {
          abort.abort()
        })
        return true
      },
      { intervalMs: 60_000, retryInitialMs: 1, retryMaxBackoffMs: 60_000 },
      abort.signal
    )
    const outcome = await Promise.race([
      loop.then(() => 'ended'),
      new Promise((resolve) =>
        setTimeout(() => {
          resolve('hung')
        }, 30_000)
      )
    ])
    expect(outcome).toBe('ended')
    expect(calls).toBe(4)
  }, 40_000)

  it('does not run a step once the signal has aborted', async () => {
    const abort = new AbortController()
    abort.abort()
    let calls = 0
    await pollUntilAborted(
      async () => {
        calls++
        return true
      },
      { intervalMs: 1, retryInitialMs: 1, retryMaxBackoffMs: 1 },
      abort.signal
    )
    expect(calls).toBe(0)
  })
})

/**
 * Polls `check` until it returns something other than `false` or `undefined`, and returns that. Tests wait on a
 * state they can observe, not for a time: a loaded machine (load 5–10) only makes them slower. Throws, naming
 * `what`, once `timeoutMs` has passed; an error thrown by `check` ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 100
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

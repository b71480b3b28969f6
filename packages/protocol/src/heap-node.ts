import { setFlagsFromString } from 'node:v8'

// Node only (`@sherd/protocol/heap-node`): imports node:v8.

/**
 * The V8 flag that counts the bytes ArrayBuffers hold toward the heap's own collection limit. Without it, V8 (before
 * 14.8) starts a mark-compact of the whole heap for every 64 MB allocated in buffers since the last one, whether
 * those buffers are still alive or long dead. A Sherd data path allocates several times its bytes in buffers
 * (socket reads, noise frames, cipher outputs), so a 64 MiB get ran five or six full collections in the client and
 * three in each provider serving it (docs/data-path.md, "Garbage collection on the data path").
 */
export const BUFFER_ACCOUNTING_FLAG = '--external-memory-accounted-in-global-limit'

/**
 * `SHERD_V8_BUFFER_ACCOUNTING=0` leaves V8's default (fewer dead buffers held, more collections), `=1` sets the flag
 * where the program would not (the `sherd` CLI); unset, each program's own default.
 */
export const BUFFER_ACCOUNTING_ENV = 'SHERD_V8_BUFFER_ACCOUNTING'

/**
 * Whether V8 `version` (as `process.versions.v8`, e.g. "13.6.233.17-node.37") needs the flag set: from 13.0, the
 * first V8 a supported Node ships that is known to have it (Node 24's 13.6 has it), to before 14.8, where upstream
 * made it the default and removed the flag (so setting it there would print "unrecognized flag").
 */
export function needsBufferAccountingFlag(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10))
  if (!Number.isFinite(major) || !Number.isFinite(minor)) return false
  if (major < 13) return false
  return major < 14 || (major === 14 && minor < 8)
}

/**
 * Makes this process's V8 count what buffers hold, not what was allocated in them, toward the limit that starts a
 * mark-compact, where this V8 needs telling (`needsBufferAccountingFlag`). Process-wide and taking effect at once;
 * a program calls it before it loads anything else. Returns whether it set the flag.
 *
 * `byDefault` is what happens when `SHERD_V8_BUFFER_ACCOUNTING` is unset. The servers (`sherd-node`, the devnet,
 * the market CLI) pass true. The `sherd` CLI passes false: a process holds more dead buffers between collections
 * with the flag, and the client's peak RSS is held to 256 MiB (a 4 GiB 4 + 2 get peaked at 278 MiB with it against
 * 228–240 at 1 GiB without; docs/data-path.md, "Garbage collection on the data path").
 */
export function accountBuffersInHeapLimit(
  options: { byDefault?: boolean; version?: string; env?: NodeJS.ProcessEnv } = {}
): boolean {
  const setting = (options.env ?? process.env)[BUFFER_ACCOUNTING_ENV]
  // Only 0 and 1 mean anything: "false" or "off" must not turn the flag on, so any other value is as if unset.
  const wanted = setting === '1' ? true : setting === '0' ? false : (options.byDefault ?? true)
  if (!wanted || !needsBufferAccountingFlag(options.version ?? process.versions.v8)) return false
  setFlagsFromString(BUFFER_ACCOUNTING_FLAG)
  return true
}

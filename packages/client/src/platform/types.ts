import type { ConnectionGater } from '@libp2p/interface'
import type { Libp2pOptions } from 'libp2p'

/**
 * What the client needs from its engine, one module per environment (package.json "imports" `#platform`: node.ts
 * in Node, browser.ts under the "browser" condition). Everything else in the SDK is the same code in both.
 */
export interface HostTransports {
  transports: NonNullable<Libp2pOptions['transports']>
  connectionGater?: ConnectionGater
}

/**
 * The few file operations the journal, the score file and the manifest cache use. Node: the file system. Browser:
 * `localStorage`, a path being a key (`dir/name`), so a page keeps its journal across reloads.
 */
export interface PlatformFiles {
  /** Where a user sees the entry: a path in Node, `localStorage:<key>` in a page. */
  describe: (path: string) => string
  join: (dir: string, name: string) => string
  dirname: (path: string) => string
  /** Creates `dir` and its parents (mode 0700 in Node). */
  mkdir: (dir: string) => Promise<void>
  /** The text at `path`; rejects when there is none. */
  readText: (path: string) => Promise<string>
  /** Names (not paths) in `dir`; rejects when `dir` does not exist. */
  list: (dir: string) => Promise<string[]>
  /** Durable replace: a crash leaves the old text or the new, never a torn one (mode 0600 in Node). */
  writeAtomic: (path: string, text: string) => Promise<void>
}

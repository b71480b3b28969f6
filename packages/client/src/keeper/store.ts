import { constants as fsConstants } from 'node:fs'
import { chmod, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { parseCapability } from '@sherd/protocol'
import { writeFileAtomic } from '../journal.js'
import { sleep } from '@sherd/protocol'
import { KeeperStoreError } from './errors.js'

/** Format of keeper.json this code reads and writes. */
export const KEEPER_STORE_FORMAT = 1
export const KEEPER_STORE_FILE = 'keeper.json'
const LOCK_FILE = 'keeper.lock'
/** A writer holds the lock for one read-modify-write (milliseconds); waiting longer means its owner died. */
const LOCK_WAIT_MS = 10_000
const LOCK_RETRY_MS = 20

/** A deal a repair opened, recorded from its progress events as it opens (dealId as a decimal string). */
export interface KeptDeal {
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly provider: string
  readonly dealId: string
}

/**
 * Written before a repair spends anything and kept until its new manifest is recorded: a keeper that finds one at
 * start-up runs the repair again, handing it the deals already opened (`repair({ adopt })`), so nothing is paid twice.
 */
export interface RepairIntent {
  readonly startedAt: number
  readonly fromCid: string
  readonly segments: readonly number[]
  readonly deals: readonly KeptDeal[]
}

export interface KeptFile {
  /** The manifest CID the file was added under: its stable name in the keeper (repairs change the CID). */
  readonly id: string
  /** `read`: a full link (the keeper could decrypt, and never does); `repair`: a repair capability. */
  readonly capability: 'read' | 'repair'
  /** The link of the latest manifest version, of the same kind as the one added. Holds key material. */
  readonly link: string
  /** Manifest CIDs this file had before, oldest first. */
  readonly history: readonly string[]
  readonly addedAt: number
  readonly repairs: number
  readonly shardsRebuilt: number
  readonly intent?: RepairIntent
  readonly lastError?: string
  /** The CID last published as the file's latest version (docs/keeper.md), and that record's seq. */
  readonly publishedCid?: string
  readonly publishedSeq?: number
}

/** An extension reserved against the budget before it is sent; settled (to its real cost) once it returns. */
export interface ExtendIntent {
  readonly fileId: string
  readonly periods: number
  /** Token base units reserved (the file's cost per period × periods). */
  readonly reserved: string
  readonly startedAt: number
}

export interface KeeperState {
  readonly format: typeof KEEPER_STORE_FORMAT
  readonly files: readonly KeptFile[]
  /** Token base units spent on extensions so far, and an extension under way (counted as spent). */
  readonly extendSpent: string
  readonly extendIntent?: ExtendIntent
  /** Last block whose market events the keeper has read (decimal string); absent until it first reads any. */
  readonly eventCursor?: string
}

const EMPTY: KeeperState = { format: KEEPER_STORE_FORMAT, files: [], extendSpent: '0' }

/**
 * The keeper's list of files: one JSON file (keeper.json, mode 0600) in a directory of mode 0700, since it holds
 * links and repair keys. Every change re-reads the file under a lock file and writes it atomically (a crash leaves
 * the old version or the new one), so `sherd keeper add` can run while the keeper does.
 */
export class KeeperStore {
  readonly path: string
  readonly #dir: string
  #state: KeeperState = EMPTY

  private constructor(dir: string) {
    this.#dir = dir
    this.path = join(dir, KEEPER_STORE_FILE)
  }

  /** Opens (creating) the store in `dir`. */
  static async open(dir: string): Promise<KeeperStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    // mkdir leaves an existing directory's mode as it is: tighten it, the store holds keys.
    await chmod(dir, 0o700)
    const store = new KeeperStore(dir)
    await store.reload()
    return store
  }

  get state(): KeeperState {
    return this.#state
  }
  get files(): readonly KeptFile[] {
    return this.#state.files
  }

  file(id: string): KeptFile | undefined {
    return this.#state.files.find((f) => f.id === id)
  }

  /** Re-reads keeper.json (another process may have added or removed files). */
  async reload(): Promise<KeeperState> {
    this.#state = await this.#read()
    return this.#state
  }

  /** Applies `change` to the state as it is on disk now and writes the result; returns it. */
  async update(change: (state: KeeperState) => KeeperState): Promise<KeeperState> {
    await this.#locked(async () => {
      const next = change(await this.#read())
      await writeFileAtomic(this.path, JSON.stringify(next, null, 2) + '\n')
      this.#state = next
    })
    return this.#state
  }

  /**
   * Adds a full link or a repair capability (checked, not contacted). A file already kept under the same CID is
   * left as it is (`added: false`), so adding twice is safe; a file that was repaired since is found by any of its
   * CIDs.
   */
  async add(link: string, now = Date.now()): Promise<{ file: KeptFile; added: boolean }> {
    const parsed = parseCapability(link)
    const cid = parsed.cid.toString()
    let result: { file: KeptFile; added: boolean } | undefined
    await this.update((state) => {
      const existing = state.files.find((f) => f.id === cid || f.history.includes(cid) || linkCid(f.link) === cid)
      if (existing !== undefined) {
        result = { file: existing, added: false }
        return state
      }
      const file: KeptFile = {
        id: cid,
        capability: parsed.kind,
        link: link.trim(),
        history: [],
        addedAt: now,
        repairs: 0,
        shardsRebuilt: 0
      }
      result = { file, added: true }
      return { ...state, files: [...state.files, file] }
    })
    return result!
  }

  /** Removes a file by its id, any of its CIDs or a link to it. Throws KeeperStoreError if it is not kept. */
  async remove(idOrLink: string): Promise<KeptFile> {
    const cid = idOrLink.startsWith('sherd://') ? parseCapability(idOrLink).cid.toString() : idOrLink.trim()
    let removed: KeptFile | undefined
    await this.update((state) => {
      removed = state.files.find((f) => f.id === cid || f.history.includes(cid) || linkCid(f.link) === cid)
      return removed === undefined ? state : { ...state, files: state.files.filter((f) => f !== removed) }
    })
    if (removed === undefined)
      throw new KeeperStoreError(`no kept file has the CID ${cid}: \`sherd keeper list\` shows the ones kept`)
    return removed
  }

  /** Changes one file (by id); a file removed meanwhile stays removed. */
  async updateFile(id: string, change: (file: KeptFile) => KeptFile): Promise<KeptFile | undefined> {
    let out: KeptFile | undefined
    await this.update((state) => ({
      ...state,
      files: state.files.map((f) => {
        if (f.id !== id) return f
        out = change(f)
        return out
      })
    }))
    return out
  }

  async #read(): Promise<KeeperState> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY
      throw err
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new KeeperStoreError(
        `${this.path} is not valid JSON (${(err as Error).message}): restore it from a backup; ` +
          'it holds the links of the files kept',
        { cause: err }
      )
    }
    const state = value as Partial<KeeperState>
    if (state?.format !== KEEPER_STORE_FORMAT || !Array.isArray(state.files) || typeof state.extendSpent !== 'string') {
      throw new KeeperStoreError(
        `${this.path} is not a keeper store of format ${KEEPER_STORE_FORMAT}: it was written by another ` +
          'version of sherd or altered; point --dir at another directory or restore the file'
      )
    }
    return state as KeeperState
  }

  async #locked(fn: () => Promise<void>): Promise<void> {
    const lock = join(this.#dir, LOCK_FILE)
    const deadline = Date.now() + LOCK_WAIT_MS
    for (;;) {
      try {
        const handle = await open(lock, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600)
        await handle.writeFile(String(process.pid))
        await handle.close()
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        if (Date.now() > deadline || !(await ownerAlive(lock))) {
          // Its owner died holding it (or hung far past one write): the state file itself is never torn.
          await unlink(lock).catch(() => {})
          continue
        }
        await sleep(LOCK_RETRY_MS)
      }
    }
    try {
      await fn()
    } finally {
      await unlink(lock).catch(() => {})
    }
  }
}

async function ownerAlive(lock: string): Promise<boolean> {
  let pid: number
  try {
    pid = Number(await readFile(lock, 'utf8'))
  } catch {
    return true
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return true // being written right now
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The manifest CID of a link or capability. */
export function linkCid(link: string): string {
  return parseCapability(link).cid.toString()
}

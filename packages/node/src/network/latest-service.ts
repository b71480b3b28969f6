import { logger } from '@libp2p/logger'
import type { Startable, Stream } from '@libp2p/interface'
import {
  LATEST_PROTOCOL,
  MAX_CONTROL_FRAME_BYTES,
  WireReader,
  decodeLatestRecord,
  decodeLatestRequest,
  encodeFrame,
  errorResponse,
  latestAnswer,
  sendBytes,
  streamSource
} from '@sherd/protocol'
import type { ByteStream, LatestRecord } from '@sherd/protocol'
import { CapacityExceededError } from '../errors.js'

const log = logger('sherd:node:latest')

/**
 * The LevelDB sublevel the records live in (JSON values): key = hex of the record's public key, value = the
 * record's fields, bytes as hex (JSON has no bytes), verified again when read.
 */
export interface LatestDb {
  get: (key: string) => Promise<unknown>
  put: (key: string, value: unknown) => Promise<void>
  keys: () => AsyncIterable<string>
}

export interface LatestServiceComponents {
  registrar: {
    handle: (
      protocol: string,
      handler: (stream: Stream) => void | Promise<void>,
      options?: { maxInboundStreams?: number }
    ) => Promise<void>
    unhandle: (protocol: string) => Promise<void>
  }
  /** The sublevel, asked for once the store is open (start). */
  db: () => LatestDb
}

/**
 * A record is ~200 bytes; 100,000 of them are 20 MB. Anyone can make keys, so the count is capped: a full provider
 * still updates the records it holds, and refuses new ones (the client publishes to several providers).
 */
export const DEFAULT_MAX_LATEST_RECORDS = 100_000
const REQUEST_TIMEOUT_MS = 30_000

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (v: unknown): Uint8Array => new Uint8Array(Buffer.from(typeof v === 'string' ? v : '', 'hex'))

interface StoredLatest {
  publicKey: string
  seq: number
  cid: string
  signature: string
}
const toStored = (r: LatestRecord): StoredLatest => ({
  publicKey: hex(r.publicKey),
  seq: r.seq,
  cid: hex(r.cid),
  signature: hex(r.signature)
})
const fromStored = (v: unknown): LatestRecord => {
  const s = v as Partial<StoredLatest>
  return decodeLatestRecord({
    publicKey: unhex(s.publicKey),
    seq: s.seq,
    cid: unhex(s.cid),
    signature: unhex(s.signature)
  })
}

/**
 * Serves LATEST_PROTOCOL: keeps the newest verified latest-version record per key (the repairer publishes one after
 * each repair) and answers with it, so a `get` with an old link finds the file's newest manifest. docs/keeper.md.
 */
export class LatestService implements Startable {
  #count = 0
  /** Writes of one key are serialised: two publishes racing cannot leave the older one stored. */
  #writing = new Map<string, Promise<void>>()

  constructor(
    private readonly components: LatestServiceComponents,
    private readonly init: { maxRecords?: number } = {}
  ) {}

  async start(): Promise<void> {
    this.#count = 0
    for await (const _key of this.components.db().keys()) this.#count++
    await this.components.registrar.handle(
      LATEST_PROTOCOL,
      (stream) => {
        void this.serve(stream)
      },
      { maxInboundStreams: 32 }
    )
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(LATEST_PROTOCOL).catch(() => {})
  }

  get records(): number {
    return this.#count
  }

  async #held(key: string): Promise<LatestRecord | undefined> {
    try {
      return fromStored(await this.components.db().get(key))
    } catch {
      return undefined // none (NotFound), or unreadable: treated as none, the next publish replaces it
    }
  }

  /** Keeps `record` if it is newer than the one held; returns the newest held. */
  async keep(record: LatestRecord): Promise<LatestRecord> {
    const key = hex(record.publicKey)
    const prior = this.#writing.get(key) ?? Promise.resolve()
    let result: LatestRecord = record
    const task = prior.then(async () => {
      const held = await this.#held(key)
      if (held !== undefined && held.seq >= record.seq) {
        result = held
        return
      }
      if (held === undefined && this.#count >= (this.init.maxRecords ?? DEFAULT_MAX_LATEST_RECORDS)) {
        throw new CapacityExceededError(
          `this provider holds ${this.#count} latest-version records, its limit: publish to another provider`
        )
      }
      await this.components.db().put(key, toStored(record))
      if (held === undefined) this.#count++
    })
    const settled = task.catch(() => {})
    this.#writing.set(key, settled)
    void settled.then(() => {
      if (this.#writing.get(key) === settled) this.#writing.delete(key)
    })
    await task
    return result
  }

  private async serve(stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    const s = stream as unknown as ByteStream
    try {
      const reader = new WireReader(streamSource(s))
      const request = decodeLatestRequest(await reader.readLastFrame(MAX_CONTROL_FRAME_BYTES))
      const newest =
        request.record === undefined ? await this.#held(hex(request.publicKey)) : await this.keep(request.record)
      await sendBytes(s, encodeFrame(latestAnswer(newest)), { signal })
      await stream.close({ signal })
    } catch (err) {
      const e = err as Error
      log('latest request failed: %s', e.message)
      try {
        await sendBytes(s, encodeFrame(errorResponse(e.name, e.message)), { signal })
        await stream.close({ signal })
      } catch {
        stream.abort(e)
      }
    }
  }
}

import { randomBytes } from 'node:crypto'
import { logger } from '@libp2p/logger'
import type { Connection, Startable, Stream } from '@libp2p/interface'
import {
  FETCH_MANIFEST_PROTOCOL,
  FETCH_SHARD_PROTOCOL,
  MAX_CONTROL_FRAME_BYTES,
  OFFER_PROTOCOL,
  STORE_MANIFEST_PROTOCOL,
  STORE_SHARD_PROTOCOL,
  CommitmentMismatchError,
  WireReader,
  decodeFetchManifestRequest,
  decodeFetchShardRequest,
  decodeOfferRequest,
  decodeStoreManifestRequest,
  decodeStoreShardRequest,
  encodeFrame,
  errorResponse,
  manifestBytesMatch,
  parseManifestCid,
  sendBytes,
  signReceipt,
  streamSource
} from '@sherd/protocol'
import type { Address, ByteStream, OfferFields, OfferRequest, Response } from '@sherd/protocol'
import {
  FETCH_WRITE_BYTES,
  MAX_INBOUND_STREAMS,
  MAX_OUTBOUND_STREAMS,
  REQUEST_TIMEOUT_MS,
  STOP_GRACE_MS,
  STORE_TIMEOUT_MS
} from '../constants.js'
import { CapacityExceededError, NodeStoppingError, NotWiredError, RangeNotSatisfiableError } from '../errors.js'
import type { NodeMetrics } from '../api/metrics.js'
import type { ShardStore, ShardWriter } from '../storage/store.js'
import type { UnclaimedShards } from '../storage/unclaimed.js'

const log = logger('sherd:node:protocols')

/**
 * Produces the provider's signed EIP-712 ProofSetMarket offer for a shard it already stores (offer-signer.ts);
 * supplied once the chain is connected.
 */
export type OfferSigner = (
  request: OfferRequest,
  options: { signal?: AbortSignal }
) => Promise<{ offer: OfferFields; signature: Uint8Array }>

export interface ShardServiceInit {
  storeTimeoutMs?: number
  requestTimeoutMs?: number
  stopGraceMs?: number
  maxInboundStreams?: number
  /** Signs offers; without it the offer protocol answers `NotWiredError`. */
  offerSigner?: OfferSigner
}

/** Just the registrar part of libp2p this service needs. */
export interface ProtocolRegistrar {
  handle: (
    protocol: string,
    handler: (stream: Stream, connection: Connection) => void | Promise<void>,
    options?: { maxInboundStreams?: number; maxOutboundStreams?: number }
  ) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
}

export interface ShardServiceComponents {
  registrar: ProtocolRegistrar
  store: ShardStore
  metrics: NodeMetrics
  /** Bounds the bytes of shards no deal claims; without it uploads are bounded by capacity alone. */
  unclaimed?: Pick<UnclaimedShards, 'reserve'>
  /** Provider's chain key: signs receipts. */
  chainKey: Address
  chainAddress: Address
  peerId: string
}

type Handler = (stream: Stream, signal: AbortSignal) => Promise<void>

/**
 * The provider's stream protocols: store-shard, fetch-shard, store-manifest, fetch-manifest, offer.
 * Each request gets exactly one outcome frame or an `error` frame, then the stream is closed.
 */
export class ShardService implements Startable {
  private readonly init: Required<Omit<ShardServiceInit, 'offerSigner'>> & Pick<ShardServiceInit, 'offerSigner'>
  private readonly components: ShardServiceComponents
  private readonly active = new Set<Promise<void>>()
  private shutdown = new AbortController()
  private accepting = false

  constructor(components: ShardServiceComponents, init: ShardServiceInit = {}) {
    this.components = components
    this.init = {
      storeTimeoutMs: init.storeTimeoutMs ?? STORE_TIMEOUT_MS,
      requestTimeoutMs: init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      stopGraceMs: init.stopGraceMs ?? STOP_GRACE_MS,
      maxInboundStreams: init.maxInboundStreams ?? MAX_INBOUND_STREAMS,
      offerSigner: init.offerSigner
    }
  }

  /** Plugs in the chain layer's offer signer once it is available. */
  setOfferSigner(signer: OfferSigner): void {
    this.init.offerSigner = signer
  }

  get activeTransfers(): number {
    return this.active.size
  }

  async start(): Promise<void> {
    this.shutdown = new AbortController()
    this.accepting = true
    const handlers: Array<[string, string, Handler]> = [
      [STORE_SHARD_PROTOCOL, 'store-shard', this.storeShard.bind(this)],
      [FETCH_SHARD_PROTOCOL, 'fetch-shard', this.fetchShard.bind(this)],
      [STORE_MANIFEST_PROTOCOL, 'store-manifest', this.storeManifest.bind(this)],
      [FETCH_MANIFEST_PROTOCOL, 'fetch-manifest', this.fetchManifest.bind(this)],
      [OFFER_PROTOCOL, 'offer', this.offer.bind(this)]
    ]
    for (const [protocol, name, handler] of handlers) {
      await this.components.registrar.handle(
        protocol,
        (stream) => {
          this.run(name, stream, handler)
        },
        {
          maxInboundStreams: this.init.maxInboundStreams,
          maxOutboundStreams: MAX_OUTBOUND_STREAMS
        }
      )
    }
  }

  /** Stops accepting, gives running transfers `stopGraceMs` to finish, then aborts the rest (their writes are undone). */
  async stop(): Promise<void> {
    this.accepting = false
    for (const protocol of [
      STORE_SHARD_PROTOCOL,
      FETCH_SHARD_PROTOCOL,
      STORE_MANIFEST_PROTOCOL,
      FETCH_MANIFEST_PROTOCOL,
      OFFER_PROTOCOL
    ]) {
      await this.components.registrar.unhandle(protocol).catch(() => {})
    }
    if (this.active.size > 0) {
      log('waiting up to %d ms for %d transfers', this.init.stopGraceMs, this.active.size)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled([...this.active]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, this.init.stopGraceMs)
        })
      ])
      clearTimeout(timer)
    }
    this.shutdown.abort(new NodeStoppingError('the node is stopping'))
    await Promise.allSettled([...this.active])
  }

  private run(name: string, stream: Stream, handler: Handler): void {
    if (!this.accepting) {
      stream.abort(new NodeStoppingError('the node is stopping'))
      return
    }
    const timeout =
      name === 'store-shard' || name === 'store-manifest' ? this.init.storeTimeoutMs : this.init.requestTimeoutMs
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(timeout)])
    // An abort (timeout or shutdown) resets the stream, which ends any pending read with an error.
    const onAbort = (): void => {
      stream.abort(signal.reason as Error)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    const task = (async () => {
      try {
        await handler(stream, signal)
        this.components.metrics.requests.inc({ protocol: name, outcome: 'ok' })
      } catch (err) {
        const e = err as Error
        this.components.metrics.requests.inc({ protocol: name, outcome: e.name })
        log('%s from %s failed: %s', name, stream.id, e.message)
        await this.fail(stream, e)
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
    })()
    this.active.add(task)
    void task.finally(() => this.active.delete(task))
  }

  /** Sends an error frame if the stream can still carry one, then closes it. */
  private async fail(stream: Stream, err: Error): Promise<void> {
    try {
      if (stream.writeStatus === 'writable') {
        await this.respond(stream, errorResponse(err.name, err.message))
        await stream.close({ signal: AbortSignal.timeout(this.init.requestTimeoutMs) })
        // A client still sending (a refused upload) would otherwise wait on flow control: the error frame is on
        // the wire ahead of the reset, so it still reads it.
        if (stream.remoteWriteStatus !== 'closed') stream.abort(err)
      } else {
        stream.abort(err)
      }
    } catch {
      stream.abort(err)
    }
  }

  private async respond(stream: Stream, response: Response, signal?: AbortSignal): Promise<void> {
    await sendBytes(stream as unknown as ByteStream, encodeFrame(response), { signal })
  }

  private reader(stream: Stream): WireReader {
    return new WireReader(streamSource(stream as unknown as ByteStream))
  }

  private async storeShard(stream: Stream, signal: AbortSignal): Promise<void> {
    const started = Date.now()
    const { store, metrics } = this.components
    const reader = this.reader(stream)
    const request = decodeStoreShardRequest(await reader.readFrame(MAX_CONTROL_FRAME_BYTES))
    let writer: ShardWriter | undefined
    let unreserve = (): void => {}
    let storedRoot = request.root
    try {
      // Capacity and a shard already here (AlreadyStoredError) are refused first, then the unclaimed-bytes bound.
      writer = await store.beginShard(request, { signal })
      try {
        // An upload without a root is counted under a placeholder until its root is known (at commit).
        unreserve = this.components.unclaimed?.reserve(request.root ?? randomBytes(32), request.byteLength) ?? unreserve
      } catch (err) {
        await writer.abort()
        throw err
      }
    } catch (err) {
      metrics.storeRejected.inc({ reason: (err as Error).name })
      throw err
    }
    try {
      await this.respond(stream, { status: 'accept' }, signal)
      for await (const bytes of reader.readBytes(request.byteLength)) {
        signal.throwIfAborted()
        await writer.write(bytes)
        metrics.bytesReceived.inc(bytes.byteLength)
      }
      const info = await writer.commit()
      storedRoot = info.root
      if (request.root === undefined) {
        unreserve()
        try {
          unreserve = this.components.unclaimed?.reserve(info.root, info.byteLength) ?? (() => {})
        } catch {
          // Just released the same bytes: only a racing upload can take them, and the shard is stored either way.
          unreserve = () => {}
        }
      }
      const signed = signReceipt(
        {
          kind: 'shard',
          subject: info.root,
          byteLength: info.byteLength,
          provider: this.components.chainAddress,
          peerId: this.components.peerId,
          storedAtMs: info.storedAtMs
        },
        this.components.chainKey
      )
      metrics.shardsStored.inc()
      metrics.storeSeconds.observe((Date.now() - started) / 1000)
      await this.respond(stream, { status: 'stored', ...signed }, signal)
      await stream.close({ signal })
    } catch (err) {
      await writer.abort()
      if (storedRoot === undefined || !(await store.has(storedRoot).catch(() => false))) unreserve()
      // Bytes that do not match, a full disk, a stalled or vanished client: every store that failed after `accept`.
      metrics.storeRejected.inc({ reason: (err as Error).name })
      throw err
    }
  }

  private async fetchShard(stream: Stream, signal: AbortSignal): Promise<void> {
    const { store, metrics } = this.components
    const request = decodeFetchShardRequest(await this.reader(stream).readLastFrame(MAX_CONTROL_FRAME_BYTES))
    const info = await store.getInfo(request.root)
    const offset = request.offset ?? 0
    if (offset >= info.byteLength)
      throw new RangeNotSatisfiableError(
        `offset ${offset} is at or past the end of the shard's ${info.byteLength} bytes`
      )
    const length = request.length ?? info.byteLength - offset
    if (offset + length > info.byteLength)
      throw new RangeNotSatisfiableError(
        `bytes ${offset}..${offset + length} are outside the shard's ${info.byteLength} bytes`
      )
    // Open the range before answering `ok`, so a missing chunk still gets an error frame. The range holds a read
    // lease on the shard (it cannot be deleted meanwhile) until it is finished or returned, whatever happens here.
    const pieces = store.readRange(request.root, offset, length)
    try {
      const first = await pieces.next()
      await this.respond(stream, { status: 'ok', byteLength: info.byteLength, offset, length }, signal)
      if (first.done !== true) {
        try {
          // Chunks are 64 KiB; sending ~1 MiB at a time cuts per-send overhead in yamux and noise.
          let batch: Uint8Array[] = [first.value]
          let batchBytes = first.value.byteLength
          const flush = async (): Promise<void> => {
            if (batchBytes === 0) return
            await sendBytes(
              stream as unknown as ByteStream,
              batch.length === 1 ? (batch[0] as Uint8Array) : Buffer.concat(batch),
              { signal }
            )
            metrics.bytesServed.inc(batchBytes)
            batch = []
            batchBytes = 0
          }
          for await (const piece of pieces) {
            batch.push(piece)
            batchBytes += piece.byteLength
            if (batchBytes >= FETCH_WRITE_BYTES) await flush()
          }
          await flush()
        } catch (err) {
          // Past `ok` the client reads raw bytes: an error frame now would be read as shard data. Reset instead.
          stream.abort(err as Error)
          throw err
        }
      }
    } finally {
      await pieces.return(undefined)
    }
    await stream.close({ signal })
  }

  private async storeManifest(stream: Stream, signal: AbortSignal): Promise<void> {
    const { store, metrics } = this.components
    const reader = this.reader(stream)
    const request = decodeStoreManifestRequest(await reader.readFrame(MAX_CONTROL_FRAME_BYTES))
    const cid = parseManifestCid(request.cid)
    if (request.byteLength > store.freeBytes) {
      throw new CapacityExceededError(
        `a manifest of ${request.byteLength} bytes would exceed this node's capacity (${store.freeBytes} bytes free)`
      )
    }
    await this.respond(stream, { status: 'accept' }, signal)
    const bytes = await reader.readAll(request.byteLength)
    metrics.bytesReceived.inc(bytes.byteLength)
    if (!manifestBytesMatch(cid, bytes))
      throw new CommitmentMismatchError(`the bytes do not hash to ${cid.toString()}; nothing was stored`)
    await store.putManifest(cid.toString(), bytes)
    const signed = signReceipt(
      {
        kind: 'manifest',
        subject: cid.bytes,
        byteLength: bytes.byteLength,
        provider: this.components.chainAddress,
        peerId: this.components.peerId,
        storedAtMs: Date.now()
      },
      this.components.chainKey
    )
    await this.respond(stream, { status: 'stored', ...signed }, signal)
    await stream.close({ signal })
  }

  private async fetchManifest(stream: Stream, signal: AbortSignal): Promise<void> {
    const { store, metrics } = this.components
    const request = decodeFetchManifestRequest(await this.reader(stream).readLastFrame(MAX_CONTROL_FRAME_BYTES))
    const cid = parseManifestCid(request.cid)
    const bytes = await store.getManifest(cid.toString())
    await this.respond(
      stream,
      { status: 'ok', byteLength: bytes.byteLength, offset: 0, length: bytes.byteLength },
      signal
    )
    await sendBytes(stream as unknown as ByteStream, bytes, { signal })
    metrics.bytesServed.inc(bytes.byteLength)
    await stream.close({ signal })
  }

  private async offer(stream: Stream, signal: AbortSignal): Promise<void> {
    const request = decodeOfferRequest(await this.reader(stream).readLastFrame(MAX_CONTROL_FRAME_BYTES))
    const signer = this.init.offerSigner
    if (signer === undefined)
      throw new NotWiredError(
        'this provider has no chain connection yet and cannot sign offers; start it with --deployment (or --rpc-url and --contract)'
      )
    const { offer, signature } = await signer(request, { signal })
    await this.respond(stream, { status: 'offer', offer, signature }, signal)
    await stream.close({ signal })
  }
}

export function shardService(init: ShardServiceInit = {}): (components: ShardServiceComponents) => ShardService {
  return (components) => new ShardService(components, init)
}

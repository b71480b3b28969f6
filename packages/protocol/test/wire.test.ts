import { describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import {
  MAX_CONTROL_FRAME_BYTES,
  WireReader,
  encodeFrame,
  encodeVarint,
  decodeStoreShardRequest,
  decodeOfferRequest,
  offerFromWire,
  offerToWire,
  expectResponse,
  errorResponse,
  signReceipt,
  verifyReceipt,
  signAnnouncement,
  encodeAnnouncement,
  decodeAnnouncement,
  verifyAnnouncement,
  addressOf,
  recoverSigner,
  recoverHashSigner,
  knownSignerCounts,
  hasSignerTable,
  signDigest,
  wireDigest,
  MAX_ANNOUNCEMENT_BYTES,
  sendBytes,
  MAX_RELAYED_ANNOUNCEMENTS,
  requestAnnouncements
} from '../src/wire/index.js'
import type { ReceiptPayload, AnnouncementPayload, RequestStream } from '../src/wire/index.js'

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p
}

const key = `0x${'11'.repeat(32)}` as const
const otherKey = `0x${'22'.repeat(32)}` as const

/**
 * A stream whose send buffer is always full, with libp2p 3's onDrain(): one promise, resolved on the first 'drain'
 * and then returned forever (the libp2p stream tests in @sherd/node exercise the real one).
 */
class FullStream extends EventTarget {
  readStatus = 'readable'
  private drained?: Promise<void>
  private resolveDrained?: () => void
  constructor() {
    super()
    this.addEventListener('drain', () => {
      this.resolveDrained?.()
    })
  }

  pause(): void {}
  resume(): void {}
  send(): boolean {
    return false
  }
  async onDrain(): Promise<void> {
    this.drained ??= new Promise((resolve) => {
      this.resolveDrained = resolve
    })
    await this.drained
  }
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false
  void p.then(
    () => {
      done = true
    },
    () => {
      done = true
    }
  )
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

describe('sendBytes', () => {
  it('waits for a drain after every full send, not only the first', async () => {
    const stream = new FullStream()
    const first = sendBytes(stream, new Uint8Array(1))
    expect(await settled(first)).toBe(false)
    stream.dispatchEvent(new Event('drain'))
    await first
    // stream.onDrain() would resolve at once here.
    const second = sendBytes(stream, new Uint8Array(1))
    expect(await settled(second)).toBe(false)
    stream.dispatchEvent(new Event('drain'))
    await second
  })

  it('fails when the stream closes or the signal aborts while it waits', async () => {
    const stream = new FullStream()
    const closing = sendBytes(stream, new Uint8Array(1))
    stream.dispatchEvent(new Event('close'))
    await expect(closing).rejects.toMatchObject({ name: 'StreamClosedWhileSendingError' })
    const controller = new AbortController()
    const aborting = sendBytes(stream, new Uint8Array(1), { signal: controller.signal })
    controller.abort(new Error('stop'))
    await expect(aborting).rejects.toThrow('stop')
  })
})

describe('framing', () => {
  it('round-trips frames split at every byte boundary, then raw bytes', async () => {
    const frame = encodeFrame({ root: new Uint8Array(32).fill(7), byteLength: 1000 })
    const raw = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)
    const all = new Uint8Array([...frame, ...raw])
    for (let cut = 0; cut < all.length; cut += 7) {
      const reader = new WireReader(chunks(all.subarray(0, cut), all.subarray(cut)))
      const msg = decodeStoreShardRequest(await reader.readFrame(MAX_CONTROL_FRAME_BYTES))
      expect(msg.byteLength).toBe(1000)
      expect(await reader.readAll(300)).toEqual(raw)
    }
  })

  it("reads raw bytes in parts into the caller's buffer, across the chunks they arrived in", async () => {
    const raw = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)
    const reader = new WireReader(chunks(raw.subarray(0, 100), raw.subarray(100, 101), raw.subarray(101)))
    const into = new Uint8Array(400)
    expect(await reader.readExact(400, into.subarray(0, 400))).toEqual(raw.subarray(0, 400))
    expect(into).toEqual(raw.subarray(0, 400))
    const second = new Uint8Array(600)
    const got = await reader.readExact(600, second)
    expect(got.buffer).toBe(second.buffer)
    expect(second).toEqual(raw.subarray(400))
    await expect(reader.readExact(10, new Uint8Array(9))).rejects.toThrow(RangeError)
    // Fewer bytes than asked: the typed error, whatever arrived left in the buffer for the caller to discard.
    await expect(new WireReader(chunks(raw.subarray(0, 5))).readExact(10, new Uint8Array(10))).rejects.toMatchObject({
      name: 'TruncatedMessageError'
    })
  })

  it('refuses a declared length above the bound before reading it', async () => {
    const reader = new WireReader(chunks(encodeVarint(MAX_CONTROL_FRAME_BYTES + 1)))
    await expect(reader.readFrame(MAX_CONTROL_FRAME_BYTES)).rejects.toMatchObject({ name: 'MessageTooLargeError' })
  })

  it('refuses over-long varints, truncated frames, truncated bytes and garbage', async () => {
    await expect(new WireReader(chunks(new Uint8Array(8).fill(0xff))).readFrame(100)).rejects.toMatchObject({
      name: 'MalformedMessageError'
    })
    await expect(new WireReader(chunks(Uint8Array.of(10, 1, 2))).readFrame(100)).rejects.toMatchObject({
      name: 'TruncatedMessageError'
    })
    await expect(new WireReader(chunks(Uint8Array.of(3, 0xff, 0xff, 0xff))).readFrame(100)).rejects.toMatchObject({
      name: 'MalformedMessageError'
    })
    await expect(new WireReader(chunks(new Uint8Array(5))).readAll(10)).rejects.toMatchObject({
      name: 'TruncatedMessageError'
    })
  })

  it('validates message shapes', () => {
    expect(() => decodeStoreShardRequest({ root: new Uint8Array(31), byteLength: 1 })).toThrow(/32 bytes/)
    expect(() => decodeStoreShardRequest({ root: new Uint8Array(32), byteLength: 2 ** 40 })).toThrow(
      expect.objectContaining({ name: 'MessageTooLargeError' })
    )
    expect(() => decodeStoreShardRequest([1, 2])).toThrow(expect.objectContaining({ name: 'MalformedMessageError' }))
    expect(() => expectResponse(errorResponse('CapacityExceededError', 'full'), 'accept')).toThrow(
      expect.objectContaining({ name: 'RemoteError', remoteName: 'CapacityExceededError' })
    )
  })

  it('a store request names no deal or offer; an offer request needs root, size, term and client', () => {
    const root = new Uint8Array(32).fill(3)
    expect(decodeStoreShardRequest({ root, byteLength: 10 })).toEqual({ root, byteLength: 10 })
    expect(() => decodeStoreShardRequest({ root, byteLength: 10, offerHash: new Uint8Array(32) })).toThrow(
      expect.objectContaining({ name: 'MalformedMessageError', field: 'offerHash' })
    )
    const client = '0x' + 'Ab'.repeat(20)
    expect(decodeOfferRequest({ root, byteLength: 10, periods: 3, client })).toEqual({
      root,
      byteLength: 10,
      periods: 3,
      client: client.toLowerCase()
    })
    for (const missing of ['root', 'byteLength', 'periods', 'client']) {
      const request: Record<string, unknown> = { root, byteLength: 10, periods: 3, client }
      delete request[missing]
      expect(() => decodeOfferRequest(request), missing).toThrow(
        expect.objectContaining({ name: 'MalformedMessageError' })
      )
    }
    expect(() => decodeOfferRequest({ root, byteLength: 10, periods: 0, client })).toThrow(/at least 1/)
    expect(() => decodeOfferRequest({ root, byteLength: 0, periods: 1, client })).toThrow(
      expect.objectContaining({
        name: 'MalformedMessageError',
        field: 'byteLength',
        message: expect.stringMatching(/at least 1/)
      })
    )
  })

  it('carries a ProofSetMarket offer as decimal and hex strings, and back', () => {
    const offer = {
      provider: `0x${'11'.repeat(20)}`,
      client: `0x${'22'.repeat(20)}`,
      root: `0x${'33'.repeat(32)}`,
      size: 4096n,
      pricePerPeriod: 10n ** 20n,
      periods: 7,
      nonce: 2n ** 200n,
      expiry: 1_800_000_000n
    } as const
    const fields = offerToWire(offer)
    expect(Object.keys(fields).sort()).toEqual([
      'client',
      'expiry',
      'nonce',
      'periods',
      'pricePerPeriod',
      'provider',
      'root',
      'size'
    ])
    expect(offerFromWire(fields)).toEqual(offer)
    expect(() => offerFromWire({ ...fields, periods: String(2 ** 32) })).toThrow(/uint32/)
    expect(() => offerFromWire({ ...fields, root: '0x12' })).toThrow(
      expect.objectContaining({ name: 'MalformedMessageError' })
    )
  })
})

describe('signatures', () => {
  it('signs as EIP-191 and recovers the signer', () => {
    const digest = wireDigest('test', { a: 1 })
    expect(recoverSigner(digest, signDigest(key, digest))).toBe(addressOf(key))
  })

  it("gives recovery's verdict when it checks a known signer instead of recovering, for altered signatures too", () => {
    const n = secp256k1.Point.Fn.ORDER
    const toWord = (x: bigint): Uint8Array =>
      Uint8Array.from(x.toString(16).padStart(64, '0').match(/../g)!, (h) => parseInt(h, 16))
    const keys = [key, otherKey, `0x${'33'.repeat(32)}` as const]
    for (const k of keys) {
      const signer = addressOf(k)
      for (let i = 0; i < 4; i++) {
        const digest = wireDigest('known-signer', { i, k })
        const signature = signDigest(k, digest)
        // The first call with the claimed signer recovers and keeps its key; the rest check against it.
        expect(recoverSigner(digest, signature, signer)).toBe(signer)
        expect(recoverSigner(digest, signature, signer.toUpperCase().replace('0X', '0x'))).toBe(signer)
        const r = signature.subarray(0, 32)
        const s = BigInt(`0x${Buffer.from(signature.subarray(32, 64)).toString('hex')}`)
        const flippedV = Uint8Array.from(signature)
        flippedV[64] = signature[64] === 27 ? 28 : 27
        const highS = Uint8Array.from([...r, ...toWord(n - s), signature[64]!])
        const highSFlipped = Uint8Array.from([...r, ...toWord(n - s), flippedV[64]!])
        const otherDigest = wireDigest('known-signer', { i: i + 1, k })
        const cases: Array<[Uint8Array, Uint8Array]> = [
          [digest, flippedV],
          [digest, highS],
          [digest, highSFlipped],
          [otherDigest, signature]
        ]
        for (const [d, sig] of cases) {
          const recovered = (): string => {
            try {
              return recoverSigner(d, sig)
            } catch (err) {
              return (err as Error).name
            }
          }
          const checked = (): string => {
            try {
              return recoverSigner(d, sig, signer)
            } catch (err) {
              return (err as Error).name
            }
          }
          expect(checked()).toBe(recovered())
        }
        // The raw-hash form (an EIP-712 digest is signed without EIP-191's prefix) agrees with recoverSigner.
        const hash = keccak_256(digest)
        const raw = secp256k1.sign(hash, Uint8Array.from(Buffer.from(k.slice(2), 'hex')), {
          prehash: false,
          format: 'recovered'
        })
        const rsv = Uint8Array.from([...raw.subarray(1, 65), 27 + raw[0]!])
        expect(recoverHashSigner(hash, rsv, signer)).toBe(signer)
        expect(recoverHashSigner(hash, rsv)).toBe(signer)
      }
    }
    // A claim the signature does not bear out returns the real signer, as recovery does.
    const digest = wireDigest('known-signer', { wrong: true })
    expect(recoverSigner(digest, signDigest(otherKey, digest), addressOf(key))).toBe(addressOf(otherKey))
  })

  it('tables a signer on its second recovery and keeps at most 64 tables, least recently used out first', () => {
    // More signers than the map holds, in turn: each is recovered once before it gets a table, none churns.
    const keys = Array.from({ length: 70 }, (_, i) => `0x${(i + 0x100).toString(16).padStart(64, '0')}` as const)
    const round = (label: string): void => {
      for (const k of keys) {
        const digest = wireDigest('signer-cache', { label, k })
        expect(recoverSigner(digest, signDigest(k, digest), addressOf(k))).toBe(addressOf(k))
      }
    }
    const before = knownSignerCounts()
    round('first')
    expect(knownSignerCounts().tabled).toBe(before.tabled)
    expect(knownSignerCounts().seenOnce).toBe(before.seenOnce + 70)
    round('second')
    expect(knownSignerCounts().tabled).toBe(64)
    expect(knownSignerCounts().seenOnce).toBe(before.seenOnce)
    // The last 64 of the round hold tables; the first 6 were evicted and answer by recovery, still correctly.
    round('third')
    expect(knownSignerCounts().tabled).toBe(64)
    // Least recently used goes first: keys[6] has gone longest unused; once touched, a new table evicts keys[7].
    expect(hasSignerTable(addressOf(keys[6]!))).toBe(true)
    const touched = wireDigest('signer-cache', { touched: true })
    expect(recoverSigner(touched, signDigest(keys[6]!, touched), addressOf(keys[6]!))).toBe(addressOf(keys[6]!))
    const fresh = `0x${'77'.repeat(32)}` as const
    for (const label of ['once', 'twice']) {
      const digest = wireDigest('signer-cache', { fresh: label })
      expect(recoverSigner(digest, signDigest(fresh, digest), addressOf(fresh))).toBe(addressOf(fresh))
    }
    expect(hasSignerTable(addressOf(fresh))).toBe(true)
    expect(hasSignerTable(addressOf(keys[6]!))).toBe(true)
    expect(hasSignerTable(addressOf(keys[7]!))).toBe(false)
    expect(knownSignerCounts().tabled).toBe(64)
    const forged = wireDigest('signer-cache', { forged: true })
    expect(recoverSigner(forged, signDigest(keys[0]!, forged), addressOf(keys[69]!))).toBe(addressOf(keys[0]!))
  })

  it('verifies receipts and rejects tampering', () => {
    const payload: ReceiptPayload = {
      kind: 'shard',
      subject: new Uint8Array(32).fill(1),
      byteLength: 4096,
      provider: addressOf(key),
      peerId: '12D3KooWtest',
      storedAtMs: 1
    }
    const signed = signReceipt(payload, key)
    const decoded = expectResponse(dagCbor.decode(dagCbor.encode({ status: 'stored', ...signed })), 'stored')
    expect(() =>
      verifyReceipt(decoded, { subject: payload.subject, byteLength: 4096, provider: addressOf(key) })
    ).not.toThrow()
    expect(() => verifyReceipt({ ...decoded, receipt: { ...decoded.receipt, byteLength: 4097 } })).toThrow(
      expect.objectContaining({ name: 'InvalidSignatureError' })
    )
    expect(() => verifyReceipt(signReceipt(payload, otherKey))).toThrow(
      expect.objectContaining({ name: 'InvalidSignatureError' })
    )
    expect(() => verifyReceipt(decoded, { byteLength: 1 })).toThrow(
      expect.objectContaining({ name: 'InvalidSignatureError' })
    )
  })

  it('verifies announcements, their publisher, and bounds their size', () => {
    const a: AnnouncementPayload = {
      peerId: 'peerA',
      addrs: ['/ip4/127.0.0.1/tcp/1'],
      chainAddress: addressOf(key),
      capacityBytes: 10,
      freeBytes: 5,
      pricePerMiB: '100',
      timestampMs: 2,
      seq: 1
    }
    const decoded = decodeAnnouncement(encodeAnnouncement(signAnnouncement(a, key)))
    expect(() => verifyAnnouncement(decoded, { fromPeerId: 'peerA' })).not.toThrow()
    expect(() => verifyAnnouncement(decoded, { fromPeerId: 'peerB' })).toThrow(
      expect.objectContaining({ name: 'InvalidSignatureError' })
    )
    expect(() => verifyAnnouncement({ ...decoded, announcement: { ...a, freeBytes: 6 } })).toThrow(
      expect.objectContaining({ name: 'InvalidSignatureError' })
    )
    expect(() => decodeAnnouncement(new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1))).toThrow(
      expect.objectContaining({ name: 'MessageTooLargeError' })
    )
  })

  it('relays announcements in one bounded answer and drops malformed entries', async () => {
    const a: AnnouncementPayload = {
      peerId: 'peerA',
      addrs: [],
      chainAddress: addressOf(key),
      capacityBytes: 10,
      freeBytes: 5,
      pricePerMiB: '1',
      timestampMs: 2,
      seq: 1
    }
    const good = encodeAnnouncement(signAnnouncement(a, key))
    const answer = encodeFrame({ status: 'announcements', announcements: [good, new Uint8Array([1, 2, 3])] })
    // The provider's side of the stream: it answers once the client has closed its side, having sent nothing.
    let sent = 0
    const stream = Object.assign(new EventTarget(), {
      readStatus: 'readable',
      pause: () => {},
      resume: () => {},
      onDrain: async () => {},
      send: () => {
        sent++
        return true
      },
      close: async () => {
        setTimeout(() => {
          stream.dispatchEvent(Object.assign(new Event('message'), { data: answer }))
          stream.dispatchEvent(new Event('remoteCloseWrite'))
        }, 0)
      }
    })
    const { announcements, malformed } = await requestAnnouncements(stream as unknown as RequestStream)
    expect(sent, 'the request is the empty stream').toBe(0)
    expect(announcements.map((x) => x.announcement.peerId)).toEqual(['peerA'])
    expect(malformed).toBe(1)
    const tooMany = {
      status: 'announcements',
      announcements: Array.from({ length: MAX_RELAYED_ANNOUNCEMENTS + 1 }, () => good)
    }
    expect(() => expectResponse(tooMany, 'announcements')).toThrow(
      expect.objectContaining({ name: 'MalformedMessageError' })
    )
    const oversized = { status: 'announcements', announcements: [new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1)] }
    expect(() => expectResponse(oversized, 'announcements')).toThrow(
      expect.objectContaining({ name: 'MalformedMessageError' })
    )
  })
})

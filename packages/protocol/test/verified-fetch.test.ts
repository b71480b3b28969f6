import { randomBytes } from 'node:crypto'
import { merkleRoot } from '@sherd/proofs'
import { describe, expect, it } from 'vitest'
import {
  MAX_CONTROL_FRAME_BYTES,
  WireReader,
  encodeFrame,
  requestFetchShard,
  requestFetchShardRange,
  requestStoreShard,
  shardCid,
  streamSource,
  verifyShard
} from '@sherd/protocol'
import type { RequestStream } from '@sherd/protocol'

/**
 * One end of an in-memory stream with libp2p 3's event surface: `send` delivers a copy to the other end as a
 * 'message', `close` ends this side ('remoteCloseWrite' over there). It stands in for a provider that misbehaves on
 * purpose, which a real one will not do; the real provider's side is in provider-conformance.test.ts.
 */
class MemoryStream extends EventTarget {
  readStatus = 'readable'
  other!: MemoryStream
  sent = 0
  send(data: Uint8Array): boolean {
    const copy = data.slice()
    this.sent++
    setImmediate(() => {
      this.other.dispatchEvent(Object.assign(new Event('message'), { data: copy }))
    })
    return true
  }

  async close(): Promise<void> {
    setImmediate(() => {
      this.other.dispatchEvent(new Event('remoteCloseWrite'))
    })
  }

  pause(): void {}
  resume(): void {}
  async onDrain(): Promise<void> {}
}

function pair(): [MemoryStream, MemoryStream] {
  const a = new MemoryStream()
  const b = new MemoryStream()
  a.other = b
  b.other = a
  return [a, b]
}

/** A provider that answers one fetch with `declared` as the shard's length and `served` as its bytes. */
function serveFetch(
  end: MemoryStream,
  declared: number,
  served: Uint8Array,
  extra = new Uint8Array(0)
): Promise<unknown> {
  return (async () => {
    const request = await new WireReader(streamSource(end)).readLastFrame(MAX_CONTROL_FRAME_BYTES)
    end.send(encodeFrame({ status: 'ok', byteLength: declared, offset: 0, length: served.byteLength }))
    end.send(Uint8Array.from([...served, ...extra]))
    await end.close()
    return request
  })()
}

function shard(byteLength: number): { bytes: Uint8Array; root: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(byteLength))
  return { bytes, root: merkleRoot(bytes) }
}

describe('verifyShard', () => {
  it('accepts a shard against its CID or its { root, byteLength }', () => {
    const { bytes, root } = shard(1000)
    expect(() => verifyShard(shardCid(root, 1000), bytes)).not.toThrow()
    expect(() => verifyShard(shardCid(root, 1000).toString(), bytes)).not.toThrow()
    expect(() => verifyShard({ root, byteLength: 1000 }, bytes)).not.toThrow()
  })

  it('refuses altered bytes and a wrong length, zeros inside the last leaf included', () => {
    const { bytes, root } = shard(1000)
    const altered = bytes.slice()
    altered[500] = (altered[500] as number) ^ 1
    expect(() => verifyShard({ root, byteLength: 1000 }, altered)).toThrow(
      expect.objectContaining({ name: 'CommitmentMismatchError' })
    )
    // 1000 bytes end 40 bytes into their last leaf: with 24 zeros appended the root is the same, the length is not.
    const padded = Uint8Array.from([...bytes, ...new Uint8Array(24)])
    expect(Buffer.from(merkleRoot(padded))).toEqual(Buffer.from(root))
    expect(() => verifyShard({ root, byteLength: 1000 }, padded)).toThrow(
      expect.objectContaining({ name: 'ShardLengthMismatchError', expected: 1000, actual: 1024 })
    )
    expect(() => verifyShard(shardCid(root, 1000), bytes.subarray(1))).toThrow(
      expect.objectContaining({ name: 'ShardLengthMismatchError' })
    )
    expect(() => verifyShard('bafy-not-a-cid', bytes)).toThrow(expect.objectContaining({ name: 'InvalidCidError' }))
  })
})

describe('requestFetchShard returns only verified bytes', () => {
  it('returns a shard whose root and length check', async () => {
    const { bytes, root } = shard(70_000)
    const [client, provider] = pair()
    const served = serveFetch(provider, bytes.byteLength, bytes)
    const got = await requestFetchShard(client as unknown as RequestStream, { root }, { byteLength: bytes.byteLength })
    expect(Buffer.from(got.bytes)).toEqual(Buffer.from(bytes))
    expect(got.byteLength).toBe(70_000)
    // Only the declared fields went out.
    expect(await served).toEqual({ root })
  })

  it('refuses altered bytes, a length other than the commitment, and bytes after the declared ones', async () => {
    const { bytes, root } = shard(1000)
    const altered = bytes.slice()
    altered[0] = (altered[0] as number) ^ 0x80
    let [client, provider] = pair()
    void serveFetch(provider, 1000, altered)
    await expect(requestFetchShard(client as unknown as RequestStream, { root })).rejects.toMatchObject({
      name: 'CommitmentMismatchError'
    })

    // The same root, 24 zeros more: only the committed length tells them apart.
    const padded = Uint8Array.from([...bytes, ...new Uint8Array(24)])
    ;[client, provider] = pair()
    void serveFetch(provider, 1024, padded)
    await expect(
      requestFetchShard(client as unknown as RequestStream, { root }, { byteLength: 1000 })
    ).rejects.toMatchObject({ name: 'ShardLengthMismatchError' })
    ;[client, provider] = pair()
    void serveFetch(provider, 1024, padded)
    const unchecked = await requestFetchShard(client as unknown as RequestStream, { root })
    expect(unchecked.byteLength, 'without the committed length the root alone cannot tell (documented)').toBe(1024)

    ;[client, provider] = pair()
    void serveFetch(provider, 1000, bytes, Uint8Array.of(7))
    await expect(requestFetchShard(client as unknown as RequestStream, { root })).rejects.toMatchObject({
      name: 'ExcessBytesError'
    })
  })

  it('refuses a byte range before sending anything; requestFetchShardRange serves it, unchecked', async () => {
    const { bytes, root } = shard(5000)
    const [client, provider] = pair()
    await expect(
      requestFetchShard(client as unknown as RequestStream, { root, offset: 64, length: 100 })
    ).rejects.toMatchObject({ name: 'UnverifiableRangeError' })
    await expect(requestFetchShard(client as unknown as RequestStream, { root, offset: 0 })).rejects.toMatchObject({
      name: 'UnverifiableRangeError'
    })
    expect(client.sent).toBe(0)
    const served = (async () => {
      const request = (await new WireReader(streamSource(provider)).readLastFrame(MAX_CONTROL_FRAME_BYTES)) as {
        offset: number
        length: number
      }
      provider.send(encodeFrame({ status: 'ok', byteLength: 5000, offset: request.offset, length: request.length }))
      provider.send(bytes.subarray(request.offset, request.offset + request.length))
      await provider.close()
    })()
    const range = await requestFetchShardRange(client as unknown as RequestStream, { root, offset: 64, length: 100 })
    expect(Buffer.from(range.bytes)).toEqual(Buffer.from(bytes.subarray(64, 164)))
    await served
  })
})

describe('requestStoreShard sends exactly byteLength bytes', () => {
  /** A provider that accepts the header; what the client sends then is its own check. */
  const accepting = (end: MemoryStream): Promise<void> =>
    (async () => {
      await new WireReader(streamSource(end)).readFrame(MAX_CONTROL_FRAME_BYTES)
      end.send(encodeFrame({ status: 'accept' }))
    })()

  it('refuses a source that yields more or fewer bytes than the request declares, sending none past it', async () => {
    const { bytes, root } = shard(3000)
    async function* pieces(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
      for (const p of parts) yield p
    }
    let [client, provider] = pair()
    void accepting(provider)
    await expect(
      requestStoreShard(client as unknown as RequestStream, { root, byteLength: 3000 }, pieces(bytes, Uint8Array.of(1)))
    ).rejects.toMatchObject({ name: 'ShardLengthMismatchError', expected: 3000, actual: 3001 })
    ;[client, provider] = pair()
    void accepting(provider)
    await expect(
      requestStoreShard(client as unknown as RequestStream, { root, byteLength: 3000 }, bytes.subarray(0, 2999))
    ).rejects.toMatchObject({ name: 'ShardLengthMismatchError', expected: 3000, actual: 2999 })
  })
})

import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { merkleRoot } from '@sherd/proofs'
import { createHost, createProviderNode, initDataDir } from '@sherd/node'
import type { ProviderNode, SherdHost } from '@sherd/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  FETCH_SHARD_PROTOCOL,
  MAX_CONTROL_FRAME_BYTES,
  OFFER_PROTOCOL,
  STORE_SHARD_PROTOCOL,
  WireReader,
  encodeFrame,
  encodeVarint,
  requestFetchShard,
  requestStoreShard,
  sendBytes,
  streamSource
} from '@sherd/protocol'
import type { ByteStream } from '@sherd/protocol'
import { removeDir, tempDir } from '@sherd/test-support'

// The provider half of the wire as the real provider (@sherd/node over libp2p on 127.0.0.1) speaks it: what
// docs/protocol.md says it refuses, it refuses, with the named error frame, and keeps nothing.
// @sherd/node is used through its public surface only, and only here: the checks run in this package's code
// (WireReader, the decoders) and this test shows the provider applies them.

let node: ProviderNode
let dialer: SherdHost
let dataDir: string

beforeAll(async () => {
  dataDir = await tempDir('sherd-protocol-test-')
  await initDataDir(dataDir)
  node = await createProviderNode({
    dataDir,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    httpPort: 0,
    capacityBytes: 64 * 1024 * 1024
  })
  await node.start()
  dialer = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
})

afterAll(async () => {
  await dialer?.stop()
  await node?.stop()
  if (dataDir !== undefined) await removeDir(dataDir)
})

async function open(protocol: string): Promise<Stream> {
  return await dialer.dialProtocol(multiaddr(node.libp2p.getMultiaddrs()[0]!.toString()), protocol)
}

function shard(byteLength: number): { bytes: Uint8Array; root: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(byteLength))
  return { bytes, root: merkleRoot(bytes) }
}

/** Sends a store header and, once accepted, `body`; closes its side if told; returns the provider's last frame. */
async function rawStore(
  root: Uint8Array,
  byteLength: number,
  body: Uint8Array[],
  close: boolean
): Promise<{ status: string; name?: string; message?: string }> {
  const stream = await open(STORE_SHARD_PROTOCOL)
  const reader = new WireReader(streamSource(stream as unknown as ByteStream))
  await sendBytes(stream as unknown as ByteStream, encodeFrame({ root, byteLength }))
  expect(await reader.readFrame(MAX_CONTROL_FRAME_BYTES)).toEqual({ status: 'accept' })
  for (const piece of body) await sendBytes(stream as unknown as ByteStream, piece)
  if (close) await stream.close()
  return (await reader.readFrame(MAX_CONTROL_FRAME_BYTES)) as { status: string; name?: string }
}

/** Sends raw frame bytes on a fresh stream, closes its side, returns the provider's answer frame. */
async function rawRequest(
  protocol: string,
  bytes: Uint8Array
): Promise<{ status: string; name?: string; message?: string }> {
  const stream = await open(protocol)
  const reader = new WireReader(streamSource(stream as unknown as ByteStream))
  await sendBytes(stream as unknown as ByteStream, bytes)
  await stream.close()
  return (await reader.readFrame(MAX_CONTROL_FRAME_BYTES)) as { status: string; name?: string }
}

const frameOf = (body: Uint8Array): Uint8Array => Uint8Array.from([...encodeVarint(body.byteLength), ...body])

describe('the provider refuses what the wire does not allow', () => {
  it('refuses a store that sends more than byteLength, in the last piece or after it, and keeps nothing', async () => {
    const { bytes, root } = shard(300_000)
    const inLastPiece = await rawStore(root, bytes.byteLength, [Uint8Array.from([...bytes, 1, 2, 3])], true)
    expect(inLastPiece).toMatchObject({ status: 'error', name: 'ExcessBytesError' })
    const afterIt = await rawStore(root, bytes.byteLength, [bytes, new Uint8Array(70_000)], true)
    expect(afterIt).toMatchObject({ status: 'error', name: 'ExcessBytesError' })
    expect(await node.store.has(root)).toBe(false)
    expect(node.store.pendingBytes).toBe(0)
  })

  it('refuses a store that sends fewer bytes than byteLength, and keeps nothing', async () => {
    const { bytes, root } = shard(300_000)
    expect(await rawStore(root, bytes.byteLength, [bytes.subarray(0, 299_999)], true)).toMatchObject({
      status: 'error',
      name: 'TruncatedMessageError'
    })
    expect(await node.store.has(root)).toBe(false)
  })

  it('stores exactly byteLength bytes followed by the end of the stream, and serves them verified', async () => {
    const { bytes, root } = shard(300_000)
    const signed = await requestStoreShard(
      await open(STORE_SHARD_PROTOCOL),
      { root, byteLength: bytes.byteLength },
      bytes
    )
    expect(signed.receipt.byteLength).toBe(300_000)
    const back = await requestFetchShard(await open(FETCH_SHARD_PROTOCOL), { root }, { byteLength: 300_000 })
    expect(Buffer.from(back.bytes)).toEqual(Buffer.from(bytes))
  })

  it('refuses an offer for 0 bytes, a float for an integer, keys out of order and an unknown field', async () => {
    const root = new Uint8Array(32).fill(9)
    const client = `0x${'ab'.repeat(20)}`
    const zero = await rawRequest(OFFER_PROTOCOL, encodeFrame({ root, byteLength: 0, periods: 1, client }))
    expect(zero).toMatchObject({ status: 'error', name: 'MalformedMessageError' })
    expect(zero.message).toContain('OfferRequest.byteLength')

    // {root, byteLength: 1.0} as a double: the map (0xa2), "root" and its bytes, "byteLength" and 0xfb + 1.0.
    const float = frameOf(
      Uint8Array.from([
        0xa2,
        0x64,
        ...Buffer.from('root'),
        0x58,
        32,
        ...root,
        0x6a,
        ...Buffer.from('byteLength'),
        0xfb,
        0x3f,
        0xf0,
        0,
        0,
        0,
        0,
        0,
        0
      ])
    )
    const floatAnswer = await rawRequest(STORE_SHARD_PROTOCOL, float)
    expect(floatAnswer).toMatchObject({ status: 'error', name: 'MalformedMessageError' })
    expect(floatAnswer.message).toMatch(/byteLength is a float/)

    // The same two fields with "byteLength" first: keys out of canonical order.
    const reordered = frameOf(
      Uint8Array.from([0xa2, 0x6a, ...Buffer.from('byteLength'), 0x0a, 0x64, ...Buffer.from('root'), 0x58, 32, ...root])
    )
    const reorderedAnswer = await rawRequest(STORE_SHARD_PROTOCOL, reordered)
    expect(reorderedAnswer).toMatchObject({ status: 'error', name: 'MalformedMessageError' })
    expect(reorderedAnswer.message).toMatch(/canonical key order/)

    const unknown = await rawRequest(FETCH_SHARD_PROTOCOL, encodeFrame({ root, dealId: '1' }))
    expect(unknown).toMatchObject({ status: 'error', name: 'MalformedMessageError' })
    expect(unknown.message).toContain('dealId')

    const trailing = encodeFrame({ root, byteLength: 10 })
    trailing[0] = (trailing[0] as number) + 1
    const trailingAnswer = await rawRequest(STORE_SHARD_PROTOCOL, Uint8Array.from([...trailing, 0]))
    expect(trailingAnswer).toMatchObject({ status: 'error', name: 'MalformedMessageError' })
  })
})

import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import {
  InvalidSignatureError,
  MalformedMessageError,
  decodeLatestRecord,
  decodeLatestRequest,
  deriveRepairKey,
  latestKeyPair,
  latestRecordToWire,
  signLatestRecord
} from '@sherd/protocol'

async function manifestCid(): Promise<Uint8Array> {
  return CID.createV1(dagCbor.code, await sha256.digest(randomBytes(32))).bytes
}

describe('latest-version records', () => {
  it('are signed by a key derived from the repair key: the full link and the capability make the same key', async () => {
    const fileKey = new Uint8Array(randomBytes(32))
    const a = latestKeyPair(await deriveRepairKey(fileKey))
    const b = latestKeyPair(await deriveRepairKey(fileKey))
    expect(a.publicKey).toEqual(b.publicKey)
    expect(latestKeyPair(await deriveRepairKey(new Uint8Array(randomBytes(32)))).publicKey).not.toEqual(a.publicKey)
    // The record's key says nothing usable about the file key: it is not the repair key's bytes.
    expect(Buffer.from(a.secretKey).equals(Buffer.from((await deriveRepairKey(fileKey)).bytes()))).toBe(false)
  })

  it('verify as signed, and refuse any change to the CID, the seq or the key', async () => {
    const repairKey = await deriveRepairKey(new Uint8Array(randomBytes(32)))
    const cid = await manifestCid()
    const record = signLatestRecord(repairKey, 1_700_000_000_000, cid)
    const wire = dagCbor.decode(dagCbor.encode(latestRecordToWire(record)))
    expect(decodeLatestRecord(wire)).toEqual(record)
    expect(() => decodeLatestRecord({ ...latestRecordToWire(record), cid: new Uint8Array(0) })).toThrow()
    expect(() => decodeLatestRecord({ ...latestRecordToWire(record), cid: 'not bytes' })).toThrow(MalformedMessageError)
    const other = await manifestCid()
    expect(() => decodeLatestRecord({ ...latestRecordToWire(record), cid: other })).toThrow(InvalidSignatureError)
    expect(() => decodeLatestRecord({ ...latestRecordToWire(record), seq: record.seq + 1 })).toThrow(
      InvalidSignatureError
    )
    const stranger = latestKeyPair(await deriveRepairKey(new Uint8Array(randomBytes(32))))
    expect(() => decodeLatestRecord({ ...latestRecordToWire(record), publicKey: stranger.publicKey })).toThrow(
      InvalidSignatureError
    )
    expect(() => decodeLatestRecord({ ...latestRecordToWire(record), extra: 1 })).toThrow(MalformedMessageError)
  })

  it('requests: a record must be signed by the key it is filed under', async () => {
    const repairKey = await deriveRepairKey(new Uint8Array(randomBytes(32)))
    const record = signLatestRecord(repairKey, 5, await manifestCid())
    expect(decodeLatestRequest({ publicKey: record.publicKey })).toEqual({ publicKey: record.publicKey })
    expect(decodeLatestRequest({ publicKey: record.publicKey, record: latestRecordToWire(record) }).record).toEqual(
      record
    )
    const stranger = latestKeyPair(await deriveRepairKey(new Uint8Array(randomBytes(32))))
    expect(() => decodeLatestRequest({ publicKey: stranger.publicKey, record: latestRecordToWire(record) })).toThrow(
      MalformedMessageError
    )
    expect(() => signLatestRecord(repairKey, -1, record.cid)).toThrow(RangeError)
  })
})

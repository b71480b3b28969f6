import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { Level } from 'level'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { deriveRepairKey, signLatestRecord } from '@sherd/protocol'
import { removeDir, tempDir } from '@sherd/test-support'
import { LatestService } from '../src/network/latest-service.js'
import type { LatestDb } from '../src/network/latest-service.js'

const registrar = { handle: async () => {}, unhandle: async () => {} }

describe('LatestService (LevelDB on a temp dir)', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const d of dirs.splice(0)) await removeDir(d)
  })

  it('keeps the highest seq per key across a restart, and caps new keys', async () => {
    const dir = await tempDir('sherd-latest-')
    dirs.push(dir)
    const cid = async (): Promise<Uint8Array> => CID.createV1(dagCbor.code, await sha256.digest(randomBytes(32))).bytes
    const key = await deriveRepairKey(new Uint8Array(randomBytes(32)))
    const older = signLatestRecord(key, 10, await cid())
    const newer = signLatestRecord(key, 20, await cid())
    let level = new Level<string, unknown>(dir, { valueEncoding: 'json' })
    let service = new LatestService({ registrar, db: () => level as unknown as LatestDb }, { maxRecords: 1 })
    await service.start()
    expect(await service.keep(newer)).toEqual(newer)
    // An older record does not replace a newer one: the answer is the newer.
    expect(await service.keep(older)).toEqual(newer)
    // A new key past the cap is refused; the held key still updates.
    const other = signLatestRecord(await deriveRepairKey(new Uint8Array(randomBytes(32))), 1, await cid())
    await expect(service.keep(other)).rejects.toThrow(/limit/)
    await service.stop()
    await level.close()

    level = new Level<string, unknown>(dir, { valueEncoding: 'json' })
    service = new LatestService({ registrar, db: () => level as unknown as LatestDb }, { maxRecords: 1 })
    await service.start()
    expect(service.records).toBe(1)
    expect(await service.keep(older)).toEqual(newer)
    const newest = signLatestRecord(key, 30, await cid())
    expect(await service.keep(newest)).toEqual(newest)
    await service.stop()
    await level.close()
  })
})

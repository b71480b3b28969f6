import { afterEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { Level } from 'level'
import { verifyProof, DEFAULT_CHUNK_SIZE } from '@sherd/proofs'
import { removeDir, tempDir } from '@sherd/test-support'
import { ShardStore } from '../src/index.js'
import { randomShard } from './helpers.js'

const dirs: string[] = []
const stores: ShardStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop().catch(() => {})
  for (const d of dirs.splice(0)) await removeDir(d)
})

async function openStore(capacityBytes = 16 * 1024 * 1024, path?: string): Promise<ShardStore> {
  const dir = path ?? join(await tempDir(), 'store')
  if (path === undefined) dirs.push(join(dir, '..'))
  const store = new ShardStore({ path: dir, capacityBytes })
  await store.start()
  stores.push(store)
  return store
}

async function write(store: ShardStore, bytes: Uint8Array, root: Uint8Array, pieceBytes = 10_000): Promise<void> {
  const w = await store.beginShard({ root, byteLength: bytes.byteLength })
  for (let o = 0; o < bytes.byteLength; o += pieceBytes) await w.write(bytes.subarray(o, o + pieceBytes))
  await w.commit()
}

async function keyCount(path: string, prefix: string): Promise<number> {
  const db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' })
  let n = 0
  for await (const _ of db.keys({ gte: prefix, lt: `${prefix}~` })) n++
  await db.close()
  return n
}

describe('ShardStore', () => {
  it('stores, reads ranges and chunks, proves from a re-read chunk, and accounts space', async () => {
    const store = await openStore()
    const { bytes, root } = randomShard(3 * DEFAULT_CHUNK_SIZE + 1234)
    await write(store, bytes, root)
    expect(store.usedBytes).toBe(bytes.byteLength)
    expect(store.pendingBytes).toBe(0)
    expect(store.freeBytes).toBe(16 * 1024 * 1024 - bytes.byteLength)
    const parts: Uint8Array[] = []
    for await (const p of store.readRange(root, 65_000, 100_000)) parts.push(p)
    expect(Buffer.concat(parts)).toEqual(Buffer.from(bytes.subarray(65_000, 165_000)))
    const tree = await store.getTree(root)
    const leaf = 3000
    const { chunkIndex } = tree.chunkRange(leaf)
    const proof = tree.proveFromChunk(leaf, await store.readChunk(root, chunkIndex))
    expect(proof.index).toBe(leaf)
    expect(verifyProof(root, tree.depth, proof)).toBe(true)
    await expect(write(store, bytes, root)).rejects.toMatchObject({ name: 'AlreadyStoredError' })
  })

  it('refuses to serve a range over a stored chunk of the wrong length (a corrupt store), naming the chunk', async () => {
    const dir = join(await tempDir(), 'store')
    dirs.push(join(dir, '..'))
    const store = await openStore(16 * 1024 * 1024, dir)
    const { bytes, root } = randomShard(3 * DEFAULT_CHUNK_SIZE + 1234)
    await write(store, bytes, root)
    await store.stop()
    stores.pop()
    // Cut the second chunk short behind the store's back, as a damaged disk or a partial restore could.
    const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
    const keys: string[] = []
    for await (const key of db.keys({ gte: 's!c!', lt: 's!c!~' })) keys.push(key)
    expect(keys).toHaveLength(4)
    const second = keys.sort()[1]!
    await db.put(second, (await db.get(second))!.subarray(0, 100))
    await db.close()
    const again = await openStore(16 * 1024 * 1024, dir)
    const read = async (offset: number, length: number): Promise<void> => {
      for await (const _ of again.readRange(root, offset, length)) {
      }
    }
    await expect(read(0, bytes.byteLength)).rejects.toMatchObject({
      name: 'NotFoundError',
      message: /chunk 1 .* 100 bytes/
    })
    await expect(read(DEFAULT_CHUNK_SIZE + 10, 10)).rejects.toMatchObject({ name: 'NotFoundError' })
    // The chunks around it still read.
    const parts: Uint8Array[] = []
    for await (const p of again.readRange(root, 2 * DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE + 1234)) parts.push(p)
    expect(Buffer.concat(parts)).toEqual(Buffer.from(bytes.subarray(2 * DEFAULT_CHUNK_SIZE)))
  })

  it('keeps nothing and releases the reservation when the bytes do not match the root', async () => {
    const store = await openStore()
    const { bytes } = randomShard(200_000)
    const { root: otherRoot } = randomShard(200_000)
    await expect(write(store, bytes, otherRoot)).rejects.toMatchObject({ name: 'CommitmentMismatchError' })
    expect(store.usedBytes).toBe(0)
    expect(store.pendingBytes).toBe(0)
    expect(await store.has(otherRoot)).toBe(false)
    const path = join(dirs[0] as string, 'store')
    await store.stop()
    expect(await keyCount(path, 's!')).toBe(0)
  })

  it('refuses past capacity, counting reservations of writes in progress', async () => {
    const store = await openStore(300_000)
    const a = randomShard(200_000)
    const w = await store.beginShard({ root: a.root, byteLength: a.bytes.byteLength })
    const b = randomShard(200_000)
    await expect(store.beginShard({ root: b.root, byteLength: b.bytes.byteLength })).rejects.toMatchObject({
      name: 'CapacityExceededError'
    })
    await w.abort()
    await write(store, b.bytes, b.root)
    expect(store.freeBytes).toBe(100_000)
  })

  it('removes incomplete writes on start and keeps committed shards across restarts', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const path = join(dir, 'store')
    const store = await openStore(16 * 1024 * 1024, path)
    const kept = randomShard(150_000)
    await write(store, kept.bytes, kept.root)
    const partial = randomShard(3_000_000)
    const w = await store.beginShard({ root: partial.root, byteLength: partial.bytes.byteLength })
    await w.write(partial.bytes.subarray(0, 2_500_000))
    // Simulate a crash: close LevelDB under the writer without aborting it, as a killed process would leave it.
    await (store as unknown as { db: Level<string, Uint8Array> }).db.close()
    stores.pop()
    expect(await keyCount(path, 's!w!')).toBe(1)
    expect(await keyCount(path, `s!c!${Buffer.from(partial.root).toString('hex')}`)).toBeGreaterThan(0)
    const again = await openStore(16 * 1024 * 1024, path)
    expect(await again.has(partial.root)).toBe(false)
    expect(await again.has(kept.root)).toBe(true)
    expect(again.usedBytes).toBe(150_000)
    const got: Uint8Array[] = []
    for await (const p of again.readRange(kept.root, 0, 150_000)) got.push(p)
    expect(Buffer.concat(got)).toEqual(Buffer.from(kept.bytes))
    await again.stop()
    stores.pop()
    expect(await keyCount(path, 's!w!')).toBe(0)
    expect(await keyCount(path, `s!c!${Buffer.from(partial.root).toString('hex')}`)).toBe(0)
  })

  it('stores an upload that declares no root under the root its bytes hash to, and reads, proves and deletes it', async () => {
    const store = await openStore()
    const { bytes, root } = randomShard(2 * DEFAULT_CHUNK_SIZE + 777)
    const w = await store.beginShard({ byteLength: bytes.byteLength })
    for (let o = 0; o < bytes.byteLength; o += 50_000) await w.write(bytes.subarray(o, o + 50_000))
    const info = await w.commit()
    expect(Buffer.from(info.root).toString('hex')).toBe(Buffer.from(root).toString('hex'))
    expect(info.byteLength).toBe(bytes.byteLength)
    expect(await store.has(root)).toBe(true)
    expect(store.usedBytes).toBe(bytes.byteLength)
    const parts: Uint8Array[] = []
    for await (const p of store.readRange(root, 0, bytes.byteLength)) parts.push(p)
    expect(Buffer.concat(parts)).toEqual(Buffer.from(bytes))
    const tree = await store.getTree(root)
    const { chunkIndex } = tree.chunkRange(1500)
    expect(verifyProof(root, tree.depth, tree.proveFromChunk(1500, await store.readChunk(root, chunkIndex)))).toBe(true)
    // The same bytes again, without a root: one copy is kept and the second upload is answered for it.
    const again = await store.beginShard({ byteLength: bytes.byteLength })
    await again.write(bytes)
    expect((await again.commit()).storedAtMs).toBe(info.storedAtMs)
    expect(store.usedBytes).toBe(bytes.byteLength)
    expect(await store.deleteShard(root)).toBe(bytes.byteLength)
    expect(store.usedBytes).toBe(0)
  })

  it('keeps nothing of an upload without a root that was aborted or cut off by a crash', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const path = join(dir, 'store')
    const store = await openStore(16 * 1024 * 1024, path)
    const { bytes, root } = randomShard(3_000_000)
    const aborted = await store.beginShard({ byteLength: bytes.byteLength })
    await aborted.write(bytes.subarray(0, 600_000))
    await aborted.abort()
    expect(store.pendingBytes).toBe(0)
    const cut = await store.beginShard({ byteLength: bytes.byteLength })
    await cut.write(bytes.subarray(0, 2_500_000))
    await (store as unknown as { db: Level<string, Uint8Array> }).db.close()
    stores.pop()
    expect(await keyCount(path, 's!w!')).toBe(1)
    expect(await keyCount(path, 's!c!')).toBeGreaterThan(0)
    const reopened = await openStore(16 * 1024 * 1024, path)
    expect(await reopened.has(root)).toBe(false)
    expect(reopened.usedBytes).toBe(0)
    await reopened.stop()
    stores.pop()
    expect(await keyCount(path, 's!w!')).toBe(0)
    expect(await keyCount(path, 's!c!')).toBe(0)
    expect(await keyCount(path, 's!m!')).toBe(0)
  })

  it('says so when the data dir is locked by another process', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    await openStore(1000, join(dir, 'store'))
    const second = new ShardStore({ path: join(dir, 'store'), capacityBytes: 1000 })
    await expect(second.start()).rejects.toMatchObject({ name: 'DataDirLockedError' })
  })
})

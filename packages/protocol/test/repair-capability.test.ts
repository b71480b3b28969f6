import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import {
  deriveAesKey,
  deriveRepairKey,
  formatLink,
  formatRepairLink,
  InvalidKeyError,
  InvalidLinkError,
  ManifestDecryptionError,
  MANIFEST_KEY_INFO,
  manifestCid,
  ManifestNeedsFileKeyError,
  openManifest,
  parseCapability,
  parseLink,
  RepairCapabilityError,
  RepairKey,
  sealManifest,
  SEGMENT_CIPHER,
  shardCid,
  shardSizeFor
} from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'

function sampleManifest(): Manifest {
  const shardSize = shardSizeFor(100, 2)
  return {
    version: 2,
    fileSize: 100,
    segmentSize: 100,
    k: 2,
    m: 1,
    leafSize: 64,
    stripeChunks: 1,
    cipher: SEGMENT_CIPHER,
    keySalt: new Uint8Array(randomBytes(16)),
    segments: [
      {
        size: 100,
        shardSize,
        shards: Array.from({ length: 3 }, () => ({ commitment: shardCid(randomBytes(32), shardSize) }))
      }
    ]
  }
}

const fileKey = (): Uint8Array => new Uint8Array(randomBytes(32))

describe('the repair key', () => {
  it('is a fixed one-way branch of the file key, distinct from it', async () => {
    const key = fileKey()
    const a = await deriveRepairKey(key)
    const b = await deriveRepairKey(key.slice())
    expect(a.equals(b)).toBe(true)
    expect(a.bytes()).not.toEqual(key)
    expect((await deriveRepairKey(fileKey())).equals(a)).toBe(false)
    // It never prints its bytes.
    expect(JSON.stringify({ a })).toBe('{"a":"RepairKey(…)"}')
    expect(`${a.toString()}`).toBe('RepairKey(…)')
  })

  it('opens and re-seals a manifest sealed with the file key, and the reverse', async () => {
    const key = fileKey()
    const repairKey = await deriveRepairKey(key)
    const manifest = sampleManifest()
    const sealed = await sealManifest(manifest, key)
    const opened = await openManifest(sealed.bytes, repairKey, sealed.cid)
    expect(opened).toEqual(manifest)
    const resealed = await sealManifest(
      {
        ...opened,
        segments: [
          { ...opened.segments[0]!, shards: opened.segments[0]!.shards.map((s) => ({ ...s, provider: 'p', deal: 3n })) }
        ]
      },
      repairKey
    )
    const back = await openManifest(resealed.bytes, key, resealed.cid)
    expect(back.segments[0]!.shards[0]!.deal).toBe(3n)
    await expect(openManifest(sealed.bytes, await deriveRepairKey(fileKey()))).rejects.toThrow(ManifestDecryptionError)
  })

  it('cannot open a v1 envelope (sealed from the file key directly), which the file key still opens', async () => {
    const key = fileKey()
    const manifest = sampleManifest()
    const { encodeManifest } = await import('@sherd/protocol')
    const salt = new Uint8Array(randomBytes(16))
    const aes = await deriveAesKey(key, salt, MANIFEST_KEY_INFO)
    const ct = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: new Uint8Array(12) },
        aes,
        encodeManifest(manifest) as Uint8Array<ArrayBuffer>
      )
    )
    const bytes = dagCbor.encode({ v: 1, salt, ct })
    expect(await openManifest(bytes, key, manifestCid(bytes))).toEqual(manifest)
    await expect(openManifest(bytes, await deriveRepairKey(key))).rejects.toThrow(ManifestNeedsFileKeyError)
  })

  it('is refused where a file key is needed, at run time as well as by the types', async () => {
    const repairKey = await deriveRepairKey(fileKey())
    // @ts-expect-error a RepairKey is not a file key: deriveAesKey (the segment and v1 manifest keys) refuses it
    await expect(deriveAesKey(repairKey, new Uint8Array(16), 'x')).rejects.toThrow(InvalidKeyError)
    // @ts-expect-error formatLink makes a full link from a file key only
    expect(() => formatLink(manifestCid(new Uint8Array([1])), repairKey)).toThrow(InvalidKeyError)
    expect(() => RepairKey.fromBytes(new Uint8Array(31))).toThrow(InvalidKeyError)
  })
})

describe('repair capability links', () => {
  it('format as sherd://<cid>#r=<key> and parse back; parseLink refuses them with a typed error', async () => {
    const key = fileKey()
    const repairKey = await deriveRepairKey(key)
    const { cid } = await sealManifest(sampleManifest(), key)
    const capability = formatRepairLink(cid, repairKey)
    expect(capability).toMatch(/^sherd:\/\/b[a-z2-7]+#r=[A-Za-z0-9_-]{43}$/)
    const parsed = parseCapability(capability)
    expect(parsed.kind).toBe('repair')
    if (parsed.kind !== 'repair') throw new Error('unreachable')
    expect(parsed.cid.equals(cid)).toBe(true)
    expect(parsed.repairKey.equals(repairKey)).toBe(true)
    expect(() => parseLink(capability)).toThrow(RepairCapabilityError)
    expect(() => parseLink(capability)).toThrow(/cannot decrypt it/)
    // A full link parses as a read capability.
    const full = parseCapability(formatLink(cid, key))
    expect(full.kind).toBe('read')
    for (const bad of [`${capability.slice(0, -1)}`, `${capability.split('#')[0]!}#r=`, `${capability}A`]) {
      expect(() => parseCapability(bad)).toThrow(InvalidLinkError)
    }
    // @ts-expect-error formatRepairLink takes a RepairKey, not bytes
    expect(() => formatRepairLink(cid, key)).toThrow(InvalidLinkError)
  })
})

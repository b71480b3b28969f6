// The repair capability in the SDK: what accepts it, and that nothing that decrypts segments does (by type, and at
// run time for a caller that casts).
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import {
  deriveRepairKey,
  formatRepairLink,
  InvalidKeyError,
  isRepairKey,
  RepairCapabilityError,
  sealManifest
} from '@sherd/protocol'
import { decodeFile, encodeFile, linkFor, parseRepairTarget, segmentKey } from '@sherd/client'
import type { FileTarget, RepairTarget, SherdClient } from '@sherd/client'

async function encoded(): Promise<{
  manifest: Awaited<ReturnType<typeof sealManifest>>
  key: Uint8Array
  m: Parameters<typeof sealManifest>[0]
}> {
  const encoding = encodeFile(Readable.from([randomBytes(3000)]), { k: 2, m: 1, segmentSize: 1024 })
  for await (const segment of encoding) void segment
  const manifest = encoding.manifest
  return { manifest: await sealManifest(manifest, encoding.key), key: encoding.key, m: manifest }
}

describe('a repair capability in the SDK', () => {
  it('is a RepairTarget for stat, repair and extend, and links back to a capability of its own kind', async () => {
    const { manifest, key } = await encoded()
    const repairKey = await deriveRepairKey(key)
    const capability = formatRepairLink(manifest.cid, repairKey)
    const parsed = parseRepairTarget(capability)
    expect(isRepairKey(parsed.manifestKey)).toBe(true)
    expect(linkFor(manifest.cid, parsed.manifestKey)).toBe(capability)
    expect(linkFor(manifest.cid, key)).toMatch(/^sherd:\/\/[a-z2-7]+#[A-Za-z0-9_-]{43}$/)
    expect(isRepairKey(parseRepairTarget({ cid: manifest.cid, repairKey }).manifestKey)).toBe(true)
    // Types: the calls that only look after a file take it; get takes FileTarget, which has no repair-key form.
    const target: RepairTarget = { cid: manifest.cid, repairKey }
    const asTarget = (t: RepairTarget): RepairTarget => t
    asTarget(capability)
    // @ts-expect-error get (which decrypts) does not take a { cid, repairKey } target
    const notForGet: FileTarget = target
    void notForGet
    const call = (client: SherdClient): void => {
      void client.stat(target)
      void client.repair(target)
      void client.extend(target, 1)
      // @ts-expect-error client.get decrypts: no repair-key target
      void client.get(target)
    }
    void call
  })

  it('cannot decrypt: decodeFile and segmentKey refuse a repair key (types and run time)', async () => {
    const { m, key } = await encoded()
    const repairKey = await deriveRepairKey(key)
    // @ts-expect-error segment keys derive from the file key only
    await expect(segmentKey(repairKey, m.keySalt, 0)).rejects.toThrow(InvalidKeyError)
    // @ts-expect-error decodeFile takes the file key only
    const decoding = decodeFile(m, repairKey, async () => undefined)
    await expect(decoding.next()).rejects.toThrow(InvalidKeyError)
  })

  it('as a link string, is refused by get with a typed error before anything is fetched', async () => {
    const { manifest, key } = await encoded()
    const capability = formatRepairLink(manifest.cid, await deriveRepairKey(key))
    const { parseTarget } = await import('../src/actions/get.js')
    expect(() => parseTarget(capability)).toThrow(RepairCapabilityError)
  })
})

import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import {
  decodeManifest,
  encodeManifest,
  formatLink,
  InvalidCidError,
  InvalidKeyError,
  InvalidLinkError,
  InvalidManifestError,
  ManifestCidMismatchError,
  ManifestDecryptionError,
  manifestCid,
  MAX_STRIPE_CHUNKS,
  MAX_STRIPE_TOTAL_CHUNKS,
  maxStripeChunks,
  openManifest,
  parseLink,
  parseManifestCid,
  parseShardCid,
  sealManifest,
  SEGMENT_CIPHER,
  CHUNK_PLAINTEXT_BYTES,
  chunkCountFor,
  MAX_SEGMENT_SIZE_BYTES,
  MAX_SHARD_BYTES,
  sealedSizeFor,
  shardCid,
  shardSizeFor,
  SHERD_MERKLE_SHA256_64_CODE,
  UnexpectedCodecError,
  UnexpectedHashError
} from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'

// biome-ignore lint/suspicious/noExplicitAny: the patches break a cloned manifest's fields one by one, whatever their type.
type AnyValue = any

function sampleManifest(fileSize = 250, segmentSize = 100, k = 2, m = 1): Manifest {
  const segments = []
  for (let offset = 0; offset < fileSize; offset += segmentSize) {
    const size = Math.min(segmentSize, fileSize - offset)
    const shardSize = shardSizeFor(size, k)
    segments.push({
      size,
      shardSize,
      shards: Array.from({ length: k + m }, (_, i) => ({
        commitment: shardCid(randomBytes(32), shardSize),
        ...(i === 0 ? { provider: '12D3KooWGzNfnvj7iC5HqWsDMVS8wTVxSvLfmnFATqjh3y7qSmWZ', deal: 7n } : {})
      }))
    })
  }
  return {
    version: 2,
    fileSize,
    segmentSize,
    k,
    m,
    leafSize: 64,
    stripeChunks: 1,
    cipher: SEGMENT_CIPHER,
    keySalt: randomBytes(16),
    segments
  }
}

describe('shard CIDs', () => {
  it('carry root and byte length and parse back from CID, string and bytes', () => {
    const root = randomBytes(32)
    const cid = shardCid(root, 4_194_368)
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(raw.code)
    expect(cid.multihash.code).toBe(SHERD_MERKLE_SHA256_64_CODE)
    for (const form of [cid, cid.toString(), cid.bytes]) {
      const ref = parseShardCid(form)
      expect(Buffer.from(ref.root).equals(root)).toBe(true)
      expect(ref.byteLength).toBe(4_194_368)
    }
  })

  it('rejects other codecs, other hashes, bad digests and non-CIDs with typed errors', async () => {
    const plain = CID.createV1(raw.code, await sha256.digest(randomBytes(10)))
    expect(() => parseShardCid(plain)).toThrow(UnexpectedHashError)
    const cbor = CID.createV1(dagCbor.code, shardCid(randomBytes(32), 64).multihash)
    expect(() => parseShardCid(cbor)).toThrow(UnexpectedCodecError)
    expect(() => parseShardCid('not-a-cid')).toThrow(InvalidCidError)
    expect(() => shardCid(randomBytes(31), 64)).toThrow(TypeError)
    expect(() => shardCid(randomBytes(32), 0)).toThrow(RangeError)
  })

  it('manifest CIDs refuse shard CIDs and say so', async () => {
    const err = (() => {
      try {
        parseManifestCid(shardCid(randomBytes(32), 64))
      } catch (e) {
        return e as Error
      }
    })()
    expect(err?.name).toBe('UnexpectedCodecError')
    expect(err?.message).toContain('shard CID')
    // Each phrase once: "…a manifest CID has codec 0x71; this is a shard CID: pass the manifest CID…".
    expect(err?.message).toBe(
      'CID has codec 0x55 but a manifest CID has codec 0x71; this is a shard CID: pass the ' +
        'manifest CID (the part of a sherd:// link between "sherd://" and "#")'
    )
    const plainRaw = CID.createV1(raw.code, await sha256.digest(new Uint8Array(3)))
    expect(() => parseManifestCid(plainRaw)).toThrow(
      'CID has codec 0x55 but a manifest CID has codec 0x71; check that you passed a manifest CID'
    )
  })
})

describe('segment sizes', () => {
  it('a sealed segment adds one 16-byte tag per 65,520-byte chunk; shards split it over k, leaf-rounded', () => {
    expect(CHUNK_PLAINTEXT_BYTES).toBe(65520)
    expect(chunkCountFor(1)).toBe(1)
    expect(chunkCountFor(65520)).toBe(1)
    expect(chunkCountFor(65521)).toBe(2)
    expect(sealedSizeFor(65521)).toBe(65521 + 32)
    expect(shardSizeFor(1, 4)).toBe(64)
    expect(shardSizeFor(4 * 65520, 4)).toBe(65536)
    expect(shardSizeFor(4 * 65520 + 1, 4)).toBe(65536 + 64)
    // The largest segment at k = 1 is the largest shard a CID may name.
    expect(shardSizeFor(MAX_SEGMENT_SIZE_BYTES, 1)).toBe(MAX_SHARD_BYTES)
  })
})

describe('manifest', () => {
  it('round-trips through DAG-CBOR, optional provider and deal included', () => {
    const manifest = sampleManifest()
    const back = decodeManifest(encodeManifest(manifest))
    expect(back.segments[0]?.shards[0]?.deal).toBe(7n)
    const bigDeal = {
      ...manifest,
      segments: [
        { ...manifest.segments[0]!, shards: manifest.segments[0]!.shards.map((s) => ({ ...s, deal: 2n ** 64n - 1n })) },
        ...manifest.segments.slice(1)
      ]
    }
    expect(decodeManifest(encodeManifest(bigDeal)).segments[0]?.shards[2]?.deal).toBe(2n ** 64n - 1n)
    const tooBig = {
      ...manifest,
      segments: [
        { ...manifest.segments[0]!, shards: manifest.segments[0]!.shards.map((s) => ({ ...s, deal: 2n ** 64n })) },
        ...manifest.segments.slice(1)
      ]
    }
    expect(() => encodeManifest(tooBig)).toThrow(InvalidManifestError)
    expect(back.segments[0]?.shards[1]?.provider).toBeUndefined()
    expect(Buffer.from(encodeManifest(back)).equals(encodeManifest(manifest))).toBe(true)
  })

  it('rejects inconsistent or out-of-bounds fields, naming the field', () => {
    const good = sampleManifest()
    const bad = (patch: (m: AnyValue) => void, field: string): void => {
      const value: AnyValue = structuredClone({
        ...good,
        segments: good.segments.map((s) => ({ ...s, shards: s.shards.map((x) => ({ ...x })) }))
      })
      // structuredClone drops CID prototypes; rebuild them.
      value.segments.forEach((s: AnyValue, i: number) =>
        s.shards.forEach((x: AnyValue, j: number) => {
          x.commitment = good.segments[i]!.shards[j]!.commitment
        })
      )
      patch(value)
      expect(() => decodeManifest(dagCbor.encode(value))).toThrow(InvalidManifestError)
      try {
        decodeManifest(dagCbor.encode(value))
      } catch (e) {
        expect((e as Error).message).toContain(field)
      }
    }
    bad((m) => {
      m.version = 3
    }, 'version')
    // A version 1 manifest left the stripe width to the reader's constants: refused, saying so.
    bad((m) => {
      m.version = 1
      delete m.stripeChunks
    }, 'version 1 did not record its stripe width')
    bad((m) => {
      delete m.stripeChunks
    }, 'stripeChunks is missing')
    for (const chunks of [0, 17, 1.5, -1]) {
      bad((m) => {
        m.stripeChunks = chunks
      }, 'stripeChunks')
    }
    bad((m) => {
      m.k = 0
    }, 'code')
    bad((m) => {
      m.k = 200
      m.m = 57
    }, 'code')
    bad((m) => {
      m.fileSize = 1e6
    }, 'segments')
    bad((m) => {
      m.segments[0].size = 99
    }, 'segments[0].size')
    bad((m) => {
      m.segments[1].shardSize = 128
    }, 'segments[1].shardSize')
    bad((m) => {
      m.segments[2].shards.pop()
    }, 'segments[2].shards')
    bad((m) => {
      m.segments[0].shards[1].commitment = shardCid(randomBytes(32), 4096)
    }, 'commitment')
    bad((m) => {
      m.segments[0].shards[0].provider = 'x'.repeat(200)
    }, 'provider')
    bad((m) => {
      m.segments[0].shards[0].commitment = m.segments[0].shards[0].commitment.bytes
    }, 'CID link')
    bad((m) => {
      m.segments[0].shards[0].deal = -1
    }, 'deal')
    bad((m) => {
      m.extra = 1
    }, 'extra')
    bad((m) => {
      m.keySalt = new Uint8Array(3)
    }, 'keySalt')
    bad((m) => {
      m.segmentSize = 2 ** 31
    }, 'segmentSize')
    expect(() => decodeManifest(new Uint8Array([0xff, 0x00]))).toThrow(InvalidManifestError)
  })

  it('bounds the recorded stripe width so a whole stripe stays within MAX_STRIPE_TOTAL_CHUNKS', () => {
    expect(maxStripeChunks(2, 1)).toBe(MAX_STRIPE_CHUNKS)
    expect(maxStripeChunks(10, 20)).toBe(8)
    expect(maxStripeChunks(128, 128)).toBe(1)
    for (let n = 1; n <= 256; n++) {
      const widest = maxStripeChunks(1, n - 1)
      expect(widest >= 1 && (n * widest <= MAX_STRIPE_TOTAL_CHUNKS || widest === 1)).toBe(true)
    }
    const wide = { ...sampleManifest(), stripeChunks: MAX_STRIPE_CHUNKS }
    expect(decodeManifest(encodeManifest(wide)).stripeChunks).toBe(MAX_STRIPE_CHUNKS)
  })

  it('seals under the file key; the CID covers the sealed bytes; wrong key and tampering are typed errors', async () => {
    const key = randomBytes(32)
    const manifest = sampleManifest()
    const sealed = await sealManifest(manifest, key)
    expect(sealed.cid.equals(manifestCid(sealed.bytes))).toBe(true)
    const opened = await openManifest(sealed.bytes, key, sealed.cid)
    expect(Buffer.from(encodeManifest(opened)).equals(encodeManifest(manifest))).toBe(true)
    // Fresh salt each time: resealing the same manifest never repeats the ciphertext.
    const again = await sealManifest(manifest, key)
    expect(again.cid.equals(sealed.cid)).toBe(false)

    await expect(openManifest(sealed.bytes, randomBytes(32), sealed.cid)).rejects.toThrow(ManifestDecryptionError)
    const tampered = sealed.bytes.slice()
    tampered[tampered.length - 5]! ^= 1
    await expect(openManifest(tampered, key, sealed.cid)).rejects.toThrow(ManifestCidMismatchError)
    await expect(openManifest(tampered, key)).rejects.toThrow(ManifestDecryptionError)
    await expect(openManifest(sealed.bytes, new Uint8Array(16))).rejects.toThrow(InvalidKeyError)
    await expect(openManifest(tampered.subarray(0, 20), key)).rejects.toThrow(InvalidManifestError)
  })
})

describe('sherd:// links', () => {
  it('format and parse back', async () => {
    const key = randomBytes(32)
    const { cid } = await sealManifest(sampleManifest(), key)
    const link = formatLink(cid, key)
    expect(link).toMatch(/^sherd:\/\/b[a-z2-7]+#[A-Za-z0-9_-]{43}$/)
    const parsed = parseLink(link)
    expect(parsed.cid.equals(cid)).toBe(true)
    expect(Buffer.from(parsed.key).equals(key)).toBe(true)
  })

  it('say what is wrong', async () => {
    const key = randomBytes(32)
    const { cid } = await sealManifest(sampleManifest(), key)
    const link = formatLink(cid, key)
    const reason = (text: string): string => {
      try {
        parseLink(text)
        return 'parsed'
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidLinkError)
        return (e as Error).message
      }
    }
    expect(reason(link.replace('sherd://', 'https://'))).toContain('must start with')
    expect(reason(link.split('#')[0]!)).toContain('no "#<key>"')
    expect(reason(`${link.split('#')[0]!}#`)).toContain('empty key')
    expect(reason(link.slice(0, -3))).toContain('bytes')
    expect(reason(`${link.slice(0, -1)}*`)).toContain('base64url')
    expect(reason(`sherd://${shardCid(randomBytes(32), 64).toString()}#${link.split('#')[1]!}`)).toContain('shard CID')
    expect(reason(`sherd://#${link.split('#')[1]!}`)).toContain('no manifest CID')
  })
})

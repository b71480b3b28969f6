/**
 * AES-256-GCM as the data path uses it (one message per segment, all-zero nonce, key from HKDF): WebCrypto
 * (`crypto.subtle`, what @sherd/client calls so that the same code runs in browsers) against node:crypto's
 * `createCipheriv` (OpenSSL directly, the fastest thing Node offers), encrypt and decrypt, paired run by run.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { deriveAesKey } from '@sherd/protocol'
import { chartRow, measure, measurePaired, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'

/** 1 MiB (a small file), 32 MiB (the default segment); --full adds 256 MiB (a large segment). */
const QUICK_SIZES_MIB = [1, 32]
const FULL_SIZES_MIB = [1, 32, 256]
const NONCE = new Uint8Array(12)
const TAG_BYTES = 16

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

export const aesSuite: Suite = {
  name: 'aes',
  description: 'AES-256-GCM encrypt/decrypt of one segment: WebCrypto (used by the client) vs node:crypto',
  async run({ full, log }): Promise<SuiteResult> {
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const rows: Array<Record<string, number | string>> = []
    const rawKey = randomBytes(32)
    const key = await crypto.subtle.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt', 'decrypt'])
    const sizes = full ? FULL_SIZES_MIB : QUICK_SIZES_MIB
    const data = randomBytes(Math.max(...sizes) * MIB)

    const nodeEncrypt = (plain: Uint8Array): Uint8Array => {
      const cipher = createCipheriv('aes-256-gcm', rawKey, NONCE)
      return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()])
    }
    const nodeDecrypt = (sealed: Uint8Array): Uint8Array => {
      const decipher = createDecipheriv('aes-256-gcm', rawKey, NONCE)
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
      return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()])
    }
    const webEncrypt = async (plain: Uint8Array): Promise<Uint8Array> =>
      new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: NONCE }, key, plain as Uint8Array<ArrayBuffer>))
    const webDecrypt = async (sealed: Uint8Array): Promise<Uint8Array> =>
      new Uint8Array(
        await crypto.subtle.decrypt({ name: 'AES-GCM', iv: NONCE }, key, sealed as Uint8Array<ArrayBuffer>)
      )

    for (const mib of sizes) {
      const plain = data.subarray(0, mib * MIB)
      const bytes = plain.length
      const sealed = nodeEncrypt(plain)
      // Both implement the same GCM: identical ciphertext and tag, and each opens the other's.
      if (!same(await webEncrypt(plain), sealed)) throw new Error(`WebCrypto and node:crypto disagree on ${mib} MiB`)
      if (!same(await webDecrypt(sealed), plain)) throw new Error(`WebCrypto does not open node:crypto's ${mib} MiB`)
      const runs = mib >= 256 ? 5 : mib >= 32 ? (full ? 9 : 7) : full ? 21 : 11

      log(`encrypt ${mib} MiB`)
      const enc = await measurePaired(
        { name: `encrypt/node:crypto ${mib} MiB`, fn: () => nodeEncrypt(plain) },
        { name: `encrypt/webcrypto ${mib} MiB`, fn: () => webEncrypt(plain) },
        { bytes, runs, warmup: 2 }
      )
      enc.b.extra = { 'webcrypto÷node': enc.ratio }
      measurements.push(enc.a, enc.b)
      summary[`encrypt ${mib} MiB webcrypto÷node:crypto`] = +enc.ratio.toFixed(3)

      log(`decrypt ${mib} MiB`)
      const dec = await measurePaired(
        { name: `decrypt/node:crypto ${mib} MiB`, fn: () => nodeDecrypt(sealed) },
        { name: `decrypt/webcrypto ${mib} MiB`, fn: () => webDecrypt(sealed) },
        { bytes, runs, warmup: 2 }
      )
      dec.b.extra = { 'webcrypto÷node': dec.ratio }
      measurements.push(dec.a, dec.b)
      summary[`decrypt ${mib} MiB webcrypto÷node:crypto`] = +dec.ratio.toFixed(3)

      for (const [op, pair] of [
        ['encrypt', enc],
        ['decrypt', dec]
      ] as const) {
        rows.push(chartRow(pair.a, { config: `${op} ${mib} MiB`, impl: 'node:crypto' }))
        rows.push(chartRow(pair.b, { config: `${op} ${mib} MiB`, impl: 'WebCrypto' }))
      }
    }

    // The per-segment fixed cost the pipeline pays on top: HKDF-SHA256 and importing the derived AES key.
    log('segment key derivation')
    const salt = randomBytes(16)
    let index = 0
    const derive = await measure(
      'segment key/HKDF + import (WebCrypto)',
      async () => {
        for (let i = 0; i < 100; i++) await deriveAesKey(rawKey, salt, new Uint8Array([index++ & 0xff]))
      },
      { runs: 7, warmup: 1, extra: { keys: 100 } }
    )
    measurements.push(derive)
    summary['segment keys per second'] = Math.round(100 / (derive.medianMs / 1000))

    return {
      measurements,
      summary,
      notes: [
        'webcrypto÷node is the median over runs of time(node:crypto) ÷ time(WebCrypto), each pair run back to back: above 1, WebCrypto is faster.',
        'both produce identical ciphertext and tag (checked before timing); a segment is one GCM message under its own key.'
      ],
      charts: [
        {
          id: 'throughput',
          title: 'AES-256-GCM throughput (MB/s; whiskers: slowest and fastest run)',
          mark: 'bar',
          x: { field: 'config', title: 'operation, message size' },
          y: { field: 'value', title: 'MB/s' },
          color: { field: 'impl', title: 'implementation' },
          range: { min: 'min', max: 'max' },
          rows
        }
      ]
    }
  }
}

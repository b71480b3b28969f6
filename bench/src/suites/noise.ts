/**
 * noise's transport cipher as a bulk transfer drives it: ChaCha20-Poly1305 over 96 MiB in 65519-byte frames (its
 * largest) under one session key, noise's own Node crypto (`defaultCrypto`: the raw key to `createCipheriv` every
 * frame) against @sherd/protocol/noise-node's (the key imported once per session), paired run by run, CPU time.
 */
import { randomBytes } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { nodeNoiseCrypto } from '@sherd/protocol/noise-node'
import { measurePaired, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'

const FRAME_BYTES = 65519
const TOTAL_BYTES = 96 * MIB
const TAG_BYTES = 16

type NoiseCrypto = typeof nodeNoiseCrypto

export const noiseSuite: Suite = {
  name: 'noise',
  description: "noise transport ChaCha20-Poly1305, 96 MiB in 64 KiB frames: noise's Node crypto vs Sherd's",
  async run({ full, log }): Promise<SuiteResult> {
    const k = randomBytes(32)
    const ad = new Uint8Array(0)
    const frame = randomBytes(FRAME_BYTES)
    const frames = Math.ceil(TOTAL_BYTES / FRAME_BYTES)
    const nonce = new Uint8Array(12)
    const sealed = Uint8Array.from(defaultCrypto.chaCha20Poly1305Encrypt(frame, nonce, ad, k).subarray())
    if (Buffer.compare(sealed, nodeNoiseCrypto.chaCha20Poly1305Encrypt(frame, nonce, ad, k).subarray()) !== 0)
      throw new Error("noise's crypto and Sherd's disagree on a frame")
    if (sealed.length !== FRAME_BYTES + TAG_BYTES) throw new Error(`a sealed frame is ${sealed.length} bytes`)
    const view = new DataView(nonce.buffer)
    // A fresh nonce per frame, as a session counts them (noise's Nonce: 4 zero bytes, then the counter little-endian).
    const encrypt = (c: NoiseCrypto) => () => {
      for (let i = 0; i < frames; i++) {
        view.setUint32(4, i, true)
        c.chaCha20Poly1305Encrypt(frame, nonce, ad, k)
      }
    }
    const decrypt = (c: NoiseCrypto) => () => {
      view.setUint32(4, 0, true)
      for (let i = 0; i < frames; i++) c.chaCha20Poly1305Decrypt(sealed, nonce, ad, k)
    }
    const runs = full ? 15 : 7
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    for (const [op, make] of [
      ['encrypt', encrypt],
      ['decrypt', decrypt]
    ] as const) {
      log(`${op} 96 MiB`)
      const pair = await measurePaired(
        { name: `${op}/noise defaultCrypto 96 MiB`, fn: make(defaultCrypto) },
        { name: `${op}/sherd nodeNoiseCrypto 96 MiB`, fn: make(nodeNoiseCrypto) },
        { bytes: frames * FRAME_BYTES, runs, warmup: 2 }
      )
      pair.b.extra = { 'cpu default÷sherd': +pair.cpuRatio.toFixed(3) }
      measurements.push(pair.a, pair.b)
      summary[`${op} CPU ms per 96 MiB, noise default`] = Math.round(pair.a.cpuMedianMs)
      summary[`${op} CPU ms per 96 MiB, sherd`] = Math.round(pair.b.cpuMedianMs)
      summary[`${op} CPU default÷sherd`] = +pair.cpuRatio.toFixed(3)
    }
    return {
      measurements,
      summary,
      notes: [
        'default÷sherd is the median over runs of CPU(noise defaultCrypto) ÷ CPU(nodeNoiseCrypto), each pair run back to back: above 1, the cached key is cheaper.',
        'both seal a frame to the same bytes (checked before timing); decrypt opens one sealed frame again and again under the same nonce.'
      ]
    }
  }
}

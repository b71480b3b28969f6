/**
 * noise's transport cipher as a bulk transfer drives it: ChaCha20-Poly1305 over 96 MiB in 65519-byte frames (its
 * largest) under one session key, paired run by run, CPU time: noise's own Node crypto (`defaultCrypto`: the raw
 * key to `createCipheriv` every frame) against @sherd/protocol/noise-node on node:crypto (the key imported once per
 * session), and that against noise-node on the native AEAD (@sherd/proofs/aead-node: into noise's buffers, Sherd's
 * default where it is built).
 */
import { randomBytes } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { nativeAead } from '@sherd/proofs/aead-node'
import { nodeNoiseCrypto, noiseCryptoFor } from '@sherd/protocol/noise-node'
import { measurePaired, MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'

const FRAME_BYTES = 65519
const TOTAL_BYTES = 96 * MIB
const TAG_BYTES = 16

type NoiseCrypto = typeof nodeNoiseCrypto

export const noiseSuite: Suite = {
  name: 'noise',
  description:
    "noise transport ChaCha20-Poly1305, 96 MiB in 64 KiB frames: noise's Node crypto vs Sherd's on node:crypto vs on the native AEAD",
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
    // With a `dst` of the frame's length, as noise passes one (the node:crypto paths allocate theirs regardless).
    const dst = new Uint8Array(FRAME_BYTES)
    const decrypt = (c: NoiseCrypto) => () => {
      view.setUint32(4, 0, true)
      for (let i = 0; i < frames; i++) c.chaCha20Poly1305Decrypt(sealed, nonce, ad, k, dst)
    }
    const nodeCipher = noiseCryptoFor(true, null)
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
        { name: `${op}/sherd on node:crypto (key cached) 96 MiB`, fn: make(nodeCipher) },
        { bytes: frames * FRAME_BYTES, runs, warmup: 2 }
      )
      pair.b.extra = { 'cpu default÷sherd': +pair.cpuRatio.toFixed(3) }
      measurements.push(pair.a, pair.b)
      summary[`${op} CPU ms per 96 MiB, noise default`] = Math.round(pair.a.cpuMedianMs)
      summary[`${op} CPU ms per 96 MiB, sherd on node:crypto`] = Math.round(pair.b.cpuMedianMs)
      summary[`${op} CPU default÷sherd`] = +pair.cpuRatio.toFixed(3)
      if (nativeAead === null) continue
      log(`${op} 96 MiB, native`)
      const native = await measurePaired(
        { name: `${op}/sherd on node:crypto, paired with native 96 MiB`, fn: make(nodeCipher) },
        { name: `${op}/sherd on native AEAD 96 MiB`, fn: make(nodeNoiseCrypto) },
        { bytes: frames * FRAME_BYTES, runs, warmup: 2 }
      )
      native.b.extra = { 'cpu node:crypto÷native': +native.cpuRatio.toFixed(3) }
      measurements.push(native.a, native.b)
      summary[`${op} CPU ms per 96 MiB, sherd on native AEAD`] = Math.round(native.b.cpuMedianMs)
      summary[`${op} CPU node:crypto÷native`] = +native.cpuRatio.toFixed(3)
    }
    return {
      measurements,
      summary,
      notes: [
        'default÷sherd is the median over runs of CPU(noise defaultCrypto) ÷ CPU(nodeNoiseCrypto), each pair run back to back: above 1, the cached key is cheaper.',
        'both seal a frame to the same bytes (checked before timing); decrypt opens one sealed frame again and again under the same nonce.',
        "node:crypto÷native: CPU(noise-node on node:crypto) ÷ CPU(noise-node on the native AEAD, the default where it loaded), paired the same way; the native path writes into the caller's buffers, node:crypto allocates every output (what collecting those costs counts only as far as it falls inside the runs)."
      ]
    }
  }
}

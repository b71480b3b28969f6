import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import { AES_256_GCM, nativeAead } from '@sherd/proofs/aead-node'
import type { NativeAead } from '@sherd/proofs/aead-node'
import { chunkNonce } from './cipher.js'
import type { SegmentCipher } from './chunk-cipher.js'

const TAG_BYTES = 16
const NO_AAD = new Uint8Array(0)

/**
 * SegmentCipher in Node: synchronous on the calling thread, same bytes as WebCrypto. On the native AEAD where it
 * loaded (`aead`, @sherd/proofs/aead-node), which seals and opens straight into `out`; on node:crypto otherwise,
 * which hands back a fresh 64 KiB buffer per chunk for `out.set` to copy (docs/data-path.md, "Garbage collection
 * on the data path").
 */
export function nodeSegmentCipher(keyBytes: Uint8Array, aead: NativeAead | null = nativeAead): SegmentCipher {
  return aead === null ? nodeCryptoSegmentCipher(keyBytes) : nativeSegmentCipher(aead, Uint8Array.from(keyBytes))
}

function nativeSegmentCipher(aead: NativeAead, key: Uint8Array): SegmentCipher {
  return {
    sealInto: async (chunkIndex, final, plaintext, out, at) => {
      const sealed = out.subarray(at, at + plaintext.length + TAG_BYTES)
      if (sealed.length !== plaintext.length + TAG_BYTES) throw new RangeError('sealInto: out is too short')
      aead.seal(AES_256_GCM, key, chunkNonce(chunkIndex, final), NO_AAD, plaintext, sealed)
    },
    openInto: async (chunkIndex, final, sealed, out, at) => {
      if (sealed.length < TAG_BYTES) return false
      const length = sealed.length - TAG_BYTES
      const opened = out.subarray(at, at + length)
      if (opened.length !== length) throw new RangeError('openInto: out is too short')
      const nonce = chunkNonce(chunkIndex, final)
      return aead.open(AES_256_GCM, key, nonce, NO_AAD, sealed.subarray(0, length), sealed.subarray(length), opened)
    }
  }
}

function nodeCryptoSegmentCipher(keyBytes: Uint8Array): SegmentCipher {
  // A KeyObject made once: given raw bytes, createCipheriv imports the key again for every 64 KiB chunk, which
  // profiled at about as much CPU as the AES itself.
  const key = createSecretKey(keyBytes)
  return {
    sealInto: async (chunkIndex, final, plaintext, out, at) => {
      const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(chunkIndex, final))
      out.set(cipher.update(plaintext), at)
      cipher.final()
      out.set(cipher.getAuthTag(), at + plaintext.length)
    },
    openInto: async (chunkIndex, final, sealed, out, at) => {
      if (sealed.length < TAG_BYTES) return false
      const length = sealed.length - TAG_BYTES
      const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(chunkIndex, final))
      decipher.setAuthTag(sealed.subarray(length))
      out.set(decipher.update(sealed.subarray(0, length)), at)
      try {
        decipher.final()
        return true
      } catch {
        // GCM hands out plaintext before the tag is checked: wipe it, the caller must never see it.
        out.fill(0, at, at + length)
        return false
      }
    }
  }
}

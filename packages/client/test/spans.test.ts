import { describe, expect, it } from 'vitest'
import { SEALED_CHUNK_BYTES } from '@sherd/protocol'
import { shardSpanMaxBytes, spanRequestEnd } from '../src/actions/get.js'
import { stripeWidthFor } from '../src/index.js'
import { MAX_STREAM_WINDOW_BYTES, SHARD_SPAN_MAX_BYTES, SPANS_IN_FLIGHT_MAX_BYTES } from '../src/constants.js'

describe('a get span', () => {
  it('ends on a piece boundary for every code, so each piece the decoder asks for is inside it', () => {
    for (const [k, m] of [
      [4, 2],
      [10, 20],
      [2, 2],
      [10, 4],
      [128, 128]
    ] as const) {
      const piece = stripeWidthFor(k, m)
      expect(piece % SEALED_CHUNK_BYTES).toBe(0)
      // A shard of a 1 GiB segment: far longer than any span.
      const shardEnd = 300 * piece + 12_345
      for (const start of [0, piece, 7 * piece]) {
        const end = spanRequestEnd(start, start + piece, shardEnd, shardSpanMaxBytes(k))
        expect((end - start) % piece).toBe(0)
        expect(end - start).toBeGreaterThanOrEqual(piece)
        expect(end - start).toBeLessThanOrEqual(Math.max(piece, shardSpanMaxBytes(k)))
      }
      // Near the shard's end (its last piece shorter), the span stops where the shard does.
      const pieces = Math.max(1, Math.floor(shardSpanMaxBytes(k) / piece))
      expect(spanRequestEnd(299 * piece - piece, 299 * piece, shardEnd, shardSpanMaxBytes(k))).toBe(
        pieces >= 2 ? shardEnd : 299 * piece
      )
    }
    // 10 + 20's pieces are 384 KiB: 16 MiB holds 42 whole ones and two thirds of another.
    expect(spanRequestEnd(0, 6 * SEALED_CHUNK_BYTES, 2 ** 30, SHARD_SPAN_MAX_BYTES)).toBe(42 * 6 * SEALED_CHUNK_BYTES)
  })

  it("keeps the k spans' bytes in flight within the budget", () => {
    expect(shardSpanMaxBytes(4)).toBe(SHARD_SPAN_MAX_BYTES)
    for (const k of [7, 10, 64, 128]) {
      // Each span has at most min(its length, one yamux window) in flight.
      expect(k * Math.min(shardSpanMaxBytes(k), MAX_STREAM_WINDOW_BYTES)).toBeLessThanOrEqual(SPANS_IN_FLIGHT_MAX_BYTES)
    }
  })
})

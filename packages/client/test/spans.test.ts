import { describe, expect, it } from 'vitest'
import { SEALED_CHUNK_BYTES } from '@sherd/protocol'
import { shardSpanMaxBytes, spanRequestEnd } from '../src/actions/get.js'
import { stripeWidthFor } from '../src/index.js'
import { MAX_STREAM_WINDOW_BYTES, SHARD_SPAN_MAX_BYTES, SPANS_IN_FLIGHT_MAX_BYTES } from '../src/constants.js'

describe('a get span', () => {
  it('ends on a piece boundary for every code and first piece, so each piece the decoder asks for is inside it', () => {
    for (const [k, m] of [
      [4, 2],
      [10, 20],
      [2, 2],
      [10, 4],
      [128, 128]
    ] as const) {
      const width = stripeWidthFor(k, m)
      expect(width % SEALED_CHUNK_BYTES).toBe(0)
      const max = shardSpanMaxBytes(k)
      // A shard of a 1 GiB segment, far longer than any span, whose last piece is shorter.
      const shardEnd = 300 * width + 12_345
      // A first piece that is a whole stripe's, or the tail of one (a range starting inside a stripe).
      for (const start of [0, width, 7 * width, width - SEALED_CHUNK_BYTES, 3 * width - 2 * SEALED_CHUNK_BYTES]) {
        const pieceEnd = (Math.floor(start / width) + 1) * width
        const end = spanRequestEnd(start, pieceEnd, shardEnd, max, width)
        expect(end).toBeGreaterThanOrEqual(pieceEnd)
        expect((end - pieceEnd) % width).toBe(0)
        expect(end - start).toBeLessThanOrEqual(Math.max(pieceEnd - start, max))
        // As many whole pieces as fit: one more would pass the cap.
        expect(end + width - start).toBeGreaterThan(max)
      }
      // Near the shard's end the span stops where the shard does.
      const last = 299 * width
      const fits = Math.max(1, Math.floor(max / width))
      expect(spanRequestEnd(last - width, last, shardEnd, max, width)).toBe(
        Math.min(shardEnd, last - width + fits * width)
      )
    }
    // 10 + 20's pieces are 384 KiB: 16 MiB holds 42 whole ones and two thirds of another.
    const w = 6 * SEALED_CHUNK_BYTES
    expect(spanRequestEnd(0, w, 2 ** 30, SHARD_SPAN_MAX_BYTES, w)).toBe(42 * w)
    // A first piece of one chunk (the range starts at a stripe's last chunk): the rest are whole pieces.
    expect(spanRequestEnd(w - SEALED_CHUNK_BYTES, w, 2 ** 30, SHARD_SPAN_MAX_BYTES, w)).toBe(w + 42 * w)
  })

  it("keeps the k spans' bytes in flight within the budget", () => {
    expect(shardSpanMaxBytes(4)).toBe(SHARD_SPAN_MAX_BYTES)
    for (const k of [7, 10, 64, 128]) {
      // Each span has at most min(its length, one yamux window) in flight.
      expect(k * Math.min(shardSpanMaxBytes(k), MAX_STREAM_WINDOW_BYTES)).toBeLessThanOrEqual(SPANS_IN_FLIGHT_MAX_BYTES)
    }
  })
})

// GF(2^8) matrix-times-shards kernel, 16 bytes at a time (WebAssembly SIMD).
//
// A product c·x in GF(2^8) is linear in x, so c·x = c·(x & 0x0f) ^ c·(x & 0xf0): two lookups in 16-entry
// tables, which i8x16.swizzle does for 16 bytes at once ("split nibble", as in ISA-L and klauspost/reedsolomon).
// The host lays out, per output row and input shard, 32 bytes: the low-nibble table then the high-nibble one.
//
// Buffers: the k input chunks then the output chunks, all `stride` bytes apart, `len` bytes used in each
// (len a multiple of 32; the host pads). Tables for `dotN` are N rows interleaved per input: input j's tables
// start at tables + j * 32 * N, row r's pair at + 32 * r. Processing N rows per pass loads each input vector
// once for N outputs. dot4 also takes two vectors per step so each table load serves 32 bytes: 8 accumulators,
// 4 nibble vectors, 2 tables and the mask just fit the 16 SIMD registers of x86-64 (measured: +10 % at
// (10,20) over one vector per step).

// Indices are always 0..15 here, so the relaxed swizzle (a bare pshufb on x86) gives the same bytes as the
// strict one, which V8 must guard with an extra saturating add.
// @ts-ignore: decorator
@inline function lookup (table: v128, index: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_swizzle(table, index)
  return v128.swizzle(table, index)
}

// @ts-ignore: decorator
@inline function mul (tables: usize, lo: v128, hi: v128): v128 {
  return v128.xor(lookup(v128.load(tables), lo), lookup(v128.load(tables, 16), hi))
}

export function dot4 (tables: usize, inputs: usize, k: i32, stride: usize, outputs: usize, len: usize): void {
  const mask = i8x16.splat(0x0f)
  for (let p: usize = 0; p < len; p += 32) {
    let a0 = i8x16.splat(0)
    let a1 = a0
    let a2 = a0
    let a3 = a0
    let b0 = a0
    let b1 = a0
    let b2 = a0
    let b3 = a0
    let t = tables
    let src = inputs + p
    for (let j = 0; j < k; j++) {
      const x = v128.load(src)
      const y = v128.load(src, 16)
      const xl = v128.and(x, mask)
      const xh = v128.and(i16x8.shr_u(x, 4), mask)
      const yl = v128.and(y, mask)
      const yh = v128.and(i16x8.shr_u(y, 4), mask)
      let lo = v128.load(t)
      let hi = v128.load(t, 16)
      a0 = v128.xor(a0, v128.xor(lookup(lo, xl), lookup(hi, xh)))
      b0 = v128.xor(b0, v128.xor(lookup(lo, yl), lookup(hi, yh)))
      lo = v128.load(t, 32)
      hi = v128.load(t, 48)
      a1 = v128.xor(a1, v128.xor(lookup(lo, xl), lookup(hi, xh)))
      b1 = v128.xor(b1, v128.xor(lookup(lo, yl), lookup(hi, yh)))
      lo = v128.load(t, 64)
      hi = v128.load(t, 80)
      a2 = v128.xor(a2, v128.xor(lookup(lo, xl), lookup(hi, xh)))
      b2 = v128.xor(b2, v128.xor(lookup(lo, yl), lookup(hi, yh)))
      lo = v128.load(t, 96)
      hi = v128.load(t, 112)
      a3 = v128.xor(a3, v128.xor(lookup(lo, xl), lookup(hi, xh)))
      b3 = v128.xor(b3, v128.xor(lookup(lo, yl), lookup(hi, yh)))
      t += 128
      src += stride
    }
    const dst = outputs + p
    v128.store(dst, a0)
    v128.store(dst, b0, 16)
    v128.store(dst + stride, a1)
    v128.store(dst + stride, b1, 16)
    v128.store(dst + 2 * stride, a2)
    v128.store(dst + 2 * stride, b2, 16)
    v128.store(dst + 3 * stride, a3)
    v128.store(dst + 3 * stride, b3, 16)
  }
}

export function dot2 (tables: usize, inputs: usize, k: i32, stride: usize, outputs: usize, len: usize): void {
  const mask = i8x16.splat(0x0f)
  for (let p: usize = 0; p < len; p += 16) {
    let a0 = i8x16.splat(0)
    let a1 = a0
    let t = tables
    let src = inputs + p
    for (let j = 0; j < k; j++) {
      const x = v128.load(src)
      const lo = v128.and(x, mask)
      const hi = v128.and(i16x8.shr_u(x, 4), mask)
      a0 = v128.xor(a0, mul(t, lo, hi))
      a1 = v128.xor(a1, mul(t + 32, lo, hi))
      t += 64
      src += stride
    }
    const dst = outputs + p
    v128.store(dst, a0)
    v128.store(dst + stride, a1)
  }
}

export function dot1 (tables: usize, inputs: usize, k: i32, stride: usize, outputs: usize, len: usize): void {
  const mask = i8x16.splat(0x0f)
  for (let p: usize = 0; p < len; p += 16) {
    let a0 = i8x16.splat(0)
    let t = tables
    let src = inputs + p
    for (let j = 0; j < k; j++) {
      const x = v128.load(src)
      a0 = v128.xor(a0, mul(t, v128.and(x, mask), v128.and(i16x8.shr_u(x, 4), mask)))
      t += 32
      src += stride
    }
    v128.store(outputs + p, a0)
  }
}

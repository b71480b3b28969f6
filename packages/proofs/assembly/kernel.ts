// SHA-256 Merkle kernel: four 65-byte messages per call of `hash4`, one per 32-bit lane of WebAssembly SIMD.
//
// Every message of the tree is 65 bytes (prefix ‖ 64 bytes), two SHA-256 blocks, and a leaf level and a node
// level look alike in memory: message i is the 64 bytes at src + 64·i (leaf i, or the node pair 2i, 2i+1),
// digest i goes to dst + 32·i. So one routine hashes both, and a level can be reduced in place (dst = src):
// a group of four reads 256 bytes before it writes 128 bytes at or below them.
//
// Block 1 is prefix ‖ bytes 0..62: word j is bytes 4j−1..4j+2, so one unaligned 16-byte load at src − 1 + 16q
// per lane gives four words (the byte before the message is masked off and replaced by the prefix).
// Block 2 is byte 63 ‖ 0x80 ‖ zeros ‖ bit length 520: it depends on one byte, so its whole schedule (with the
// round constants added) is looked up in a 256-row table (64 KiB) instead of computed: ~12 % faster.

// @ts-ignore: decorator
@inline const LEAF_PREFIX: u32 = 0x00
// @ts-ignore: decorator
@inline const NODE_PREFIX: u32 = 0x01
// @ts-ignore: decorator
@inline const SUBTREE_MAX_DEPTH: u32 = 64
/** Subtrees of 1024 leaves (64 KiB of data, 32 KiB of hashes) are built whole while they sit in cache. */
// @ts-ignore: decorator
@inline const INNER_DEPTH: u32 = 10

const K = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
], 16)

/** Block 1's message schedule, raw (W) and with the round constants added (WK); WK2 is block 2's. A v128 per word. */
const W = memory.data(64 * 16, 16)
const WK = memory.data(64 * 16, 16)
const WK2 = memory.data(64 * 16, 16)
/**
 * Block 2 depends on one byte (byte 63 of the message), so its whole schedule plus round constants is a table:
 * WK_TABLE[b][i] = W[i] + K[i] for block 2 with byte 63 = b; 256 × 64 words = 64 KiB, filled by init().
 */
const WK_TABLE = memory.data(256 * 64 * 4, 64)
/** Roots of all-padding subtrees: Z[0] = 32 zero bytes, Z[l+1] = H(0x01 ‖ Z[l] ‖ Z[l]). */
const Z = memory.data(32 * (SUBTREE_MAX_DEPTH + 1), 16)
/** Staging for a last group of fewer than four messages (one spare byte before it for the unaligned load). */
const TAIL_IN = memory.data(16 + 4 * 64, 16) + 16
const TAIL_OUT = memory.data(4 * 32, 16)

// @ts-ignore: decorator
@inline function vrotr (x: v128, n: i32): v128 {
  return v128.or(i32x4.shr_u(x, n), i32x4.shl(x, 32 - n))
}
// @ts-ignore: decorator
@inline function bigSigma0 (x: v128): v128 { return v128.xor(v128.xor(vrotr(x, 2), vrotr(x, 13)), vrotr(x, 22)) }
// @ts-ignore: decorator
@inline function bigSigma1 (x: v128): v128 { return v128.xor(v128.xor(vrotr(x, 6), vrotr(x, 11)), vrotr(x, 25)) }
// @ts-ignore: decorator
@inline function smallSigma0 (x: v128): v128 { return v128.xor(v128.xor(vrotr(x, 7), vrotr(x, 18)), i32x4.shr_u(x, 3)) }
// @ts-ignore: decorator
@inline function smallSigma1 (x: v128): v128 { return v128.xor(v128.xor(vrotr(x, 17), vrotr(x, 19)), i32x4.shr_u(x, 10)) }
// Ch(e, f, g) = e ? f : g, bit by bit
// @ts-ignore: decorator
@inline function ch (e: v128, f: v128, g: v128): v128 { return v128.bitselect(f, g, e) }
// @ts-ignore: decorator
@inline function kAt (i: usize): v128 { return v128.load32_splat(K + (i << 2)) }
// @ts-ignore: decorator
@inline function bswap (x: v128): v128 {
  // a swizzle with a constant mask is one pshufb on x86; V8 lowers the equivalent i8x16.shuffle to six ops
  return i8x16.swizzle(x, i8x16(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12))
}

/** W[16..63] from W[0..15], and WK[0..63] = W + K. */
function expand (): void {
  for (let i: usize = 0; i < 16; i++) {
    v128.store(WK + (i << 4), i32x4.add(v128.load(W + (i << 4)), kAt(i)))
  }
  for (let i: usize = 16; i < 64; i++) {
    const w = i32x4.add(
      i32x4.add(smallSigma1(v128.load(W + ((i - 2) << 4))), v128.load(W + ((i - 7) << 4))),
      i32x4.add(smallSigma0(v128.load(W + ((i - 15) << 4))), v128.load(W + ((i - 16) << 4))))
    v128.store(W + (i << 4), w)
    v128.store(WK + (i << 4), i32x4.add(w, kAt(i)))
  }
}

// One round with the working variables in the roles (a, b, c, d, e, f, g, h): d and h are updated in place.
// Written out eight times per loop step so the roles rotate by renaming instead of by copying.
/** 64 rounds over WK on the state at `state` (8 v128), adding the result into it. */
function compress (state: usize, wk: usize): void {
  let a = v128.load(state, 0)
  let b = v128.load(state, 16)
  let c = v128.load(state, 32)
  let d = v128.load(state, 48)
  let e = v128.load(state, 64)
  let f = v128.load(state, 80)
  let g = v128.load(state, 96)
  let h = v128.load(state, 112)
  // Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c)), and this round's b ^ c is the last round's a ^ b
  let bc = v128.xor(b, c)
  let ab: v128
  let t: v128
  for (let p = wk; p < wk + 64 * 16; p += 8 * 16) {
    t = i32x4.add(i32x4.add(h, v128.load(p, 0)), i32x4.add(bigSigma1(e), ch(e, f, g)))
    ab = v128.xor(a, b); d = i32x4.add(d, t)
    h = i32x4.add(t, i32x4.add(bigSigma0(a), v128.xor(b, v128.and(ab, bc)))); bc = ab
    t = i32x4.add(i32x4.add(g, v128.load(p, 16)), i32x4.add(bigSigma1(d), ch(d, e, f)))
    ab = v128.xor(h, a); c = i32x4.add(c, t)
    g = i32x4.add(t, i32x4.add(bigSigma0(h), v128.xor(a, v128.and(ab, bc)))); bc = ab
    t = i32x4.add(i32x4.add(f, v128.load(p, 32)), i32x4.add(bigSigma1(c), ch(c, d, e)))
    ab = v128.xor(g, h); b = i32x4.add(b, t)
    f = i32x4.add(t, i32x4.add(bigSigma0(g), v128.xor(h, v128.and(ab, bc)))); bc = ab
    t = i32x4.add(i32x4.add(e, v128.load(p, 48)), i32x4.add(bigSigma1(b), ch(b, c, d)))
    ab = v128.xor(f, g); a = i32x4.add(a, t)
    e = i32x4.add(t, i32x4.add(bigSigma0(f), v128.xor(g, v128.and(ab, bc)))); bc = ab
    t = i32x4.add(i32x4.add(d, v128.load(p, 64)), i32x4.add(bigSigma1(a), ch(a, b, c)))
    ab = v128.xor(e, f); h = i32x4.add(h, t)
    d = i32x4.add(t, i32x4.add(bigSigma0(e), v128.xor(f, v128.and(ab, bc)))); bc = ab
    t = i32x4.add(i32x4.add(c, v128.load(p, 80)), i32x4.add(bigSigma1(h), ch(h, a, b)))
    ab = v128.xor(d, e); g = i32x4.add(g, t)
    c = i32x4.add(t, i32x4.add(bigSigma0(d), v128.xor(e, v128.and(ab, bc)))); bc = ab
    t = i32x4.add(i32x4.add(b, v128.load(p, 96)), i32x4.add(bigSigma1(g), ch(g, h, a)))
    ab = v128.xor(c, d); f = i32x4.add(f, t)
    b = i32x4.add(t, i32x4.add(bigSigma0(c), v128.xor(d, v128.and(ab, bc)))); bc = ab
    t = i32x4.add(i32x4.add(a, v128.load(p, 112)), i32x4.add(bigSigma1(f), ch(f, g, h)))
    ab = v128.xor(b, c); e = i32x4.add(e, t)
    a = i32x4.add(t, i32x4.add(bigSigma0(b), v128.xor(c, v128.and(ab, bc)))); bc = ab
  }
  v128.store(state, i32x4.add(a, v128.load(state, 0)), 0)
  v128.store(state, i32x4.add(b, v128.load(state, 16)), 16)
  v128.store(state, i32x4.add(c, v128.load(state, 32)), 32)
  v128.store(state, i32x4.add(d, v128.load(state, 48)), 48)
  v128.store(state, i32x4.add(e, v128.load(state, 64)), 64)
  v128.store(state, i32x4.add(f, v128.load(state, 80)), 80)
  v128.store(state, i32x4.add(g, v128.load(state, 96)), 96)
  v128.store(state, i32x4.add(h, v128.load(state, 112)), 112)
}

const STATE = memory.data(8 * 16, 16)

/** Loads words 4q..4q+3 of block 1 for the four lanes and stores them transposed into W. */
// @ts-ignore: decorator
@inline function loadQuad (src: usize, q: usize): void {
  const at = src - 1 + (q << 4)
  const v0 = bswap(v128.load(at))
  const v1 = bswap(v128.load(at + 64))
  const v2 = bswap(v128.load(at + 128))
  const v3 = bswap(v128.load(at + 192))
  const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5)
  const t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5)
  const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7)
  const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7)
  const w = W + (q << 6)
  v128.store(w, i64x2.shuffle(t0, t1, 0, 2), 0)
  v128.store(w, i64x2.shuffle(t0, t1, 1, 3), 16)
  v128.store(w, i64x2.shuffle(t2, t3, 0, 2), 32)
  v128.store(w, i64x2.shuffle(t2, t3, 1, 3), 48)
}

/** Stores state words 4r..4r+3 (r = 0: a..d, 1: e..h) of each lane as big-endian bytes of its digest. */
// @ts-ignore: decorator
@inline function storeQuad (dst: usize, r: usize): void {
  const s = STATE + (r << 6)
  const v0 = v128.load(s, 0)
  const v1 = v128.load(s, 16)
  const v2 = v128.load(s, 32)
  const v3 = v128.load(s, 48)
  const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5)
  const t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5)
  const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7)
  const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7)
  const at = dst + (r << 4)
  v128.store(at, bswap(i64x2.shuffle(t0, t1, 0, 2)), 0)
  v128.store(at, bswap(i64x2.shuffle(t0, t1, 1, 3)), 32)
  v128.store(at, bswap(i64x2.shuffle(t2, t3, 0, 2)), 64)
  v128.store(at, bswap(i64x2.shuffle(t2, t3, 1, 3)), 96)
}

/** WK2 for the four messages at src: rows of WK_TABLE picked by each message's byte 63, transposed. */
// @ts-ignore: decorator
@inline function gather2 (src: usize): void {
  const r0 = WK_TABLE + (<usize>load<u8>(src, 63) << 8)
  const r1 = WK_TABLE + (<usize>load<u8>(src, 127) << 8)
  const r2 = WK_TABLE + (<usize>load<u8>(src, 191) << 8)
  const r3 = WK_TABLE + (<usize>load<u8>(src, 255) << 8)
  for (let i: usize = 0; i < 64 * 4; i += 16) {
    // four words of four rows: a 4×4 transpose
    const v0 = v128.load(r0 + i)
    const v1 = v128.load(r1 + i)
    const v2 = v128.load(r2 + i)
    const v3 = v128.load(r3 + i)
    const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5)
    const t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5)
    const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7)
    const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7)
    const w = WK2 + (i << 2)
    v128.store(w, i64x2.shuffle(t0, t1, 0, 2), 0)
    v128.store(w, i64x2.shuffle(t0, t1, 1, 3), 16)
    v128.store(w, i64x2.shuffle(t2, t3, 0, 2), 32)
    v128.store(w, i64x2.shuffle(t2, t3, 1, 3), 48)
  }
}

/** SHA-256(prefix ‖ 64 bytes at src + 64·i) → dst + 32·i for i < 4. Reads everything before writing. */
function hash4 (src: usize, dst: usize, prefix: u32): void {
  loadQuad(src, 0)
  loadQuad(src, 1)
  loadQuad(src, 2)
  loadQuad(src, 3)
  gather2(src)
  v128.store(W, v128.or(v128.and(v128.load(W), i32x4.splat(0x00ffffff)), i32x4.splat(prefix << 24)))
  expand()
  v128.store(STATE, i32x4.splat(0x6a09e667), 0)
  v128.store(STATE, i32x4.splat(0xbb67ae85), 16)
  v128.store(STATE, i32x4.splat(0x3c6ef372), 32)
  v128.store(STATE, i32x4.splat(0xa54ff53a), 48)
  v128.store(STATE, i32x4.splat(0x510e527f), 64)
  v128.store(STATE, i32x4.splat(0x9b05688c), 80)
  v128.store(STATE, i32x4.splat(0x1f83d9ab), 96)
  v128.store(STATE, i32x4.splat(0x5be0cd19), 112)
  compress(STATE, WK)
  compress(STATE, WK2)
  storeQuad(dst, 0)
  storeQuad(dst, 1)
}

/** Hashes n messages (64 bytes each at src, prefixed) into n digests at dst; dst may equal src. */
export function hashLevel (src: usize, dst: usize, n: usize, prefix: u32): void {
  let i: usize = 0
  for (; i + 4 <= n; i += 4) hash4(src + (i << 6), dst + (i << 5), prefix)
  const rest = n - i
  if (rest > 0) {
    memory.copy(TAIL_IN, src + (i << 6), rest << 6)
    memory.fill(TAIL_IN + (rest << 6), 0, (4 - rest) << 6)
    hash4(TAIL_IN, TAIL_OUT, prefix)
    memory.copy(dst + (i << 5), TAIL_OUT, rest << 5)
  }
}

/**
 * Reduces, in place, n nodes at tree level `base` (at buf) through `levels` levels to one root at buf.
 * Missing right siblings are roots of padding subtrees. buf must hold n + 1 nodes.
 */
export function reduce (buf: usize, n: usize, levels: u32, base: u32): void {
  for (let l: u32 = 0; l < levels; l++) {
    if (n & 1) memory.copy(buf + (n << 5), Z + ((base + l) << 5), 32)
    n = (n + 1) >> 1
    hashLevel(buf, buf, n, NODE_PREFIX)
  }
}

/**
 * Roots of consecutive subtrees of 2^depth leaves over leafCount leaves at data (zero-padded to whole leaves)
 * → out (32 bytes each). scratch holds 2^depth + 1 nodes; one subtree at a time stays in cache.
 */
export function subtreeRoots (data: usize, leafCount: usize, depth: u32, out: usize, scratch: usize): void {
  const width: usize = (<usize>1) << depth
  for (let c: usize = 0; c * width < leafCount; c++) {
    const first = c * width
    const n = min(width, leafCount - first)
    hashLevel(data + (first << 6), scratch, n, LEAF_PREFIX)
    reduce(scratch, n, depth, 0)
    memory.copy(out + (c << 5), scratch, 32)
  }
}

// @ts-ignore: decorator
@inline function levelOffset (width: usize, level: u32): usize {
  return ((width << 1) - ((width >> level) << 1)) << 5
}

/** Writes Z[level] into slots [from, to) at dst. */
function fillPadding (dst: usize, from: usize, to: usize, level: u32): void {
  if (level === 0) {
    memory.fill(dst + (from << 5), 0, (to - from) << 5)
    return
  }
  for (let i = from; i < to; i++) memory.copy(dst + (i << 5), Z + (level << 5), 32)
}

/**
 * Every level of the tree over leafCount leaves at data, 2^depth wide, level-major into out
 * ((2^(depth+1) − 1) · 32 bytes). The levels up to a 1024-leaf subtree are built subtree by subtree, so each
 * subtree's hashes are still in cache when the level above reads them; the few levels above follow.
 */
export function levels (data: usize, leafCount: usize, depth: u32, out: usize): void {
  const width: usize = (<usize>1) << depth
  const h: u32 = min(depth, INNER_DEPTH)
  const subtreeWidth: usize = (<usize>1) << h
  const subtrees = (leafCount + subtreeWidth - 1) >> h
  for (let c: usize = 0; c < subtrees; c++) {
    let n = min(subtreeWidth, leafCount - (c << h))
    let at = out + ((c << h) << 5)
    hashLevel(data + ((c << h) << 6), at, n, LEAF_PREFIX)
    fillPadding(at, n, subtreeWidth, 0)
    for (let l: u32 = 1; l <= h; l++) {
      const slots = subtreeWidth >> l
      const next = out + levelOffset(width, l) + ((c * slots) << 5)
      n = (n + 1) >> 1
      hashLevel(at, next, n, NODE_PREFIX)
      fillPadding(next, n, slots, l)
      at = next
    }
  }
  for (let l: u32 = 0; l <= h; l++) fillPadding(out + levelOffset(width, l), subtrees * (subtreeWidth >> l), width >> l, l)
  let n = subtrees
  for (let l: u32 = h + 1; l <= depth; l++) {
    n = (n + 1) >> 1
    hashLevel(out + levelOffset(width, l - 1), out + levelOffset(width, l), n, NODE_PREFIX)
    fillPadding(out + levelOffset(width, l), n, width >> l, l)
  }
}

/**
 * Levels above given nodes: n nodes at tree level `base` sit at out (the bottom of a tree 2^depth wide, level-major
 * into out, (2^(depth+1) − 1) · 32 bytes); slots past them are padding roots Z[base], and each level above is
 * hashed with its own padding. For the part of a chunk tree above its chunk roots.
 */
export function upperLevels (out: usize, n: usize, depth: u32, base: u32): void {
  const width: usize = (<usize>1) << depth
  fillPadding(out, n, width, base)
  for (let l: u32 = 1; l <= depth; l++) {
    n = (n + 1) >> 1
    hashLevel(out + levelOffset(width, l - 1), out + levelOffset(width, l), n, NODE_PREFIX)
    fillPadding(out + levelOffset(width, l), n, width >> l, base + l)
  }
}

/** Fills the block-2 table and the padding roots; call once after instantiation. */
export function init (): void {
  for (let b: u32 = 0; b < 256; b++) {
    const row = WK_TABLE + (<usize>b << 8)
    // raw words in the row first, then the round constants added
    for (let i: usize = 0; i < 16; i++) store<u32>(row + (i << 2), 0)
    store<u32>(row, (b << 24) | 0x00800000)
    store<u32>(row + 60, 520)
    for (let i: usize = 16; i < 64; i++) {
      const w2 = load<u32>(row + ((i - 2) << 2))
      const w15 = load<u32>(row + ((i - 15) << 2))
      const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10)
      const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3)
      store<u32>(row + (i << 2), s1 + load<u32>(row + ((i - 7) << 2)) + s0 + load<u32>(row + ((i - 16) << 2)))
    }
    for (let i: usize = 0; i < 64; i++) store<u32>(row + (i << 2), load<u32>(row + (i << 2)) + load<u32>(K + (i << 2)))
  }
  memory.fill(Z, 0, 32)
  for (let l: u32 = 0; l < SUBTREE_MAX_DEPTH; l++) {
    // four copies of Z[l] ‖ Z[l] as four messages; lane 0's digest is Z[l+1]
    for (let i: usize = 0; i < 4; i++) {
      memory.copy(TAIL_IN + (i << 6), Z + (l << 5), 32)
      memory.copy(TAIL_IN + (i << 6) + 32, Z + (l << 5), 32)
    }
    hash4(TAIL_IN, TAIL_OUT, NODE_PREFIX)
    memory.copy(Z + ((l + 1) << 5), TAIL_OUT, 32)
  }
}

/** First byte free for the host: its buffers go from here up. */
export function heapBase (): usize {
  return __heap_base
}

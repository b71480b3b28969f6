// GF(2^8) arithmetic and the coding matrix of reed-solomon-erasure (the Rust crate behind
// reed-solomon-erasure.wasm), so parity from either implementation is byte-identical:
// field polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), generator 2; the (k + m) × k Vandermonde matrix
// V[r][c] = r^c, made systematic by multiplying by the inverse of its top k × k square.

/** The field's reduction polynomial, 0x11d, the usual choice for Reed-Solomon over bytes. */
const FIELD_POLYNOMIAL = 0x11d

const EXP = new Uint8Array(510)
const LOG = new Uint8Array(256)
{
  let x = 1
  for (let i = 0; i < 255; i++) {
    EXP[i] = x
    EXP[i + 255] = x
    LOG[x] = i
    x <<= 1
    if (x & 0x100) x ^= FIELD_POLYNOMIAL
  }
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0
  return EXP[LOG[a]! + LOG[b]!]!
}

function gfInverse(a: number): number {
  return EXP[255 - LOG[a]!]!
}

/** a^n with 0^0 = 1, as the crate's `galois_8::exp`. */
function gfPow(a: number, n: number): number {
  if (n === 0) return 1
  if (a === 0) return 0
  return EXP[(LOG[a]! * n) % 255]!
}

/** A row-major matrix of field elements. */
export interface Matrix {
  readonly rows: number
  readonly cols: number
  readonly data: Uint8Array
}

function matrix(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Uint8Array(rows * cols) }
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  const out = matrix(a.rows, b.cols)
  for (let r = 0; r < a.rows; r++) {
    for (let i = 0; i < a.cols; i++) {
      const x = a.data[r * a.cols + i]!
      if (x === 0) continue
      for (let c = 0; c < b.cols; c++) out.data[r * b.cols + c]! ^= gfMul(x, b.data[i * b.cols + c]!)
    }
  }
  return out
}

/** The chosen rows of m, in the order given. */
export function selectRows(m: Matrix, rows: readonly number[]): Matrix {
  const out = matrix(rows.length, m.cols)
  rows.forEach((r, i) => out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols))
  return out
}

/** Gauss-Jordan inverse of a square matrix; throws if it is singular (never for rows of the coding matrix). */
export function invert(m: Matrix): Matrix {
  const n = m.rows
  const w = 2 * n
  const work = new Uint8Array(n * w)
  for (let r = 0; r < n; r++) {
    work.set(m.data.subarray(r * n, (r + 1) * n), r * w)
    work[r * w + n + r] = 1
  }
  for (let col = 0; col < n; col++) {
    let pivot = col
    while (pivot < n && work[pivot * w + col] === 0) pivot++
    if (pivot === n) throw new Error('singular matrix')
    if (pivot !== col) {
      const tmp = work.slice(pivot * w, (pivot + 1) * w)
      work.copyWithin(pivot * w, col * w, (col + 1) * w)
      work.set(tmp, col * w)
    }
    const scale = gfInverse(work[col * w + col]!)
    for (let c = 0; c < w; c++) work[col * w + c] = gfMul(work[col * w + c]!, scale)
    for (let r = 0; r < n; r++) {
      const f = work[r * w + col]!
      if (r === col || f === 0) continue
      for (let c = 0; c < w; c++) work[r * w + c]! ^= gfMul(f, work[col * w + c]!)
    }
  }
  const out = matrix(n, n)
  for (let r = 0; r < n; r++) out.data.set(work.subarray(r * w + n, (r + 1) * w), r * n)
  return out
}

/** The (k + m) × k systematic coding matrix: identity on top, parity rows below. */
export function codingMatrix(k: number, m: number): Matrix {
  const vandermonde = matrix(k + m, k)
  for (let r = 0; r < k + m; r++) {
    for (let c = 0; c < k; c++) vandermonde.data[r * k + c] = gfPow(r, c)
  }
  const top = selectRows(
    vandermonde,
    Array.from({ length: k }, (_, i) => i)
  )
  return multiply(vandermonde, invert(top))
}

/**
 * The split-nibble tables the kernel reads for one coefficient c: c·0..c·15, then c·(0..15 << 4).
 * Written into `out` at `offset` (32 bytes).
 */
export function writeNibbleTables(c: number, out: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    out[offset + i] = gfMul(c, i)
    out[offset + 16 + i] = gfMul(c, i << 4)
  }
}

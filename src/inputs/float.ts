import type { DType } from '../core/dtype.js';

/**
 * Rounding a float64 to the narrower float formats, once, round-half-to-even. The half types are
 * held widened in Float32Array; rounding straight from float64 avoids the double rounding of
 * float64 -> float32 -> float16, so the stored value equals what numpy's astype would give.
 */

function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  // log2 may be off by one ulp near powers of two.
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Nearest value with `mbits` fraction bits, smallest normal exponent `emin`, largest `emax`. */
function roundToFormat(v: number, mbits: number, emin: number, emax: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  const e = Math.max(exponentOf(a), emin);
  const q = 2 ** (e - mbits);
  const r = roundHalfEven(a / q) * q;
  const maxFinite = (2 - 2 ** -mbits) * 2 ** emax;
  const out = r > maxFinite ? Infinity : r;
  return v < 0 ? -out : out;
}

export function roundHalf(v: number): number {
  return roundToFormat(v, 10, -14, 15);
}

export function roundBfloat16(v: number): number {
  return roundToFormat(v, 7, -126, 127);
}

/** The value a float dtype stores for `v` (identity for float64 and non-float dtypes). */
export function roundFloat(v: number, dtype: DType): number {
  switch (dtype) {
    case 'float32': case 'complex64': return Math.fround(v);
    case 'float16': return roundHalf(v);
    case 'bfloat16': return roundBfloat16(v);
    default: return v;
  }
}

/** IEEE binary16 bits of `v`, rounded half to even (numpy's float -> float16). */
export function halfBits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(roundHalf(v));
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | (a * 2 ** 24);
  const e = exponentOf(a);
  return sign | ((e + 15) << 10) | ((a / 2 ** e - 1) * 1024);
}

let HALF_TABLE: Float32Array | undefined;

/** binary16 bits -> value, through a 64K table (decoding large float16 arrays stays fast). */
export function halfValue(bits: number): number {
  if (!HALF_TABLE) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const f = h & 0x3ff;
      t[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
    }
    HALF_TABLE = t;
  }
  return HALF_TABLE[bits & 0xffff]!;
}

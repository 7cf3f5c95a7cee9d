/**
 * Snappy block decompression (the raw format, not the framed one), for table blocks written
 * with compression type 1. TensorFlow writes bundles uncompressed, but LevelDB-style tables
 * from other writers may not be. Format: varint uncompressed length, then literal and copy
 * elements told apart by the low two bits of their tag byte.
 */

/** Thrown with a plain message; the table reader wraps it into a FormatError naming the file. */
export class SnappyError extends Error {}

export function snappyUncompress(src: Uint8Array, maxLength: number): Uint8Array {
  let pos = 0;
  let len = 0;
  let shift = 0;
  for (;;) {
    if (pos >= src.length) throw new SnappyError('truncated length preamble');
    const b = src[pos++]!;
    len += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) break;
    shift += 7;
    if (shift > 28) throw new SnappyError('length preamble is longer than 5 bytes');
  }
  if (len > maxLength) throw new SnappyError(`declares ${len} uncompressed bytes, over the limit of ${maxLength}`);
  const out = new Uint8Array(len);
  let op = 0;
  while (pos < src.length) {
    const tag = src[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let n = (tag >>> 2) + 1;
      if (n > 60) {
        // 61..64 say the length minus one follows in 1..4 little-endian bytes.
        const k = n - 60;
        if (pos + k > src.length) throw new SnappyError('truncated literal length');
        n = 0;
        for (let i = 0; i < k; i++) n += src[pos + i]! * 2 ** (8 * i);
        n += 1;
        pos += k;
      }
      if (pos + n > src.length) throw new SnappyError(`literal of ${n} bytes runs past the end of the input`);
      if (op + n > len) throw new SnappyError(`literal of ${n} bytes overflows the declared ${len} bytes`);
      out.set(src.subarray(pos, pos + n), op);
      pos += n;
      op += n;
      continue;
    }
    let n: number;
    let offset: number;
    if (kind === 1) {
      if (pos + 1 > src.length) throw new SnappyError('truncated copy');
      n = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | src[pos]!;
      pos += 1;
    } else if (kind === 2) {
      if (pos + 2 > src.length) throw new SnappyError('truncated copy');
      n = (tag >>> 2) + 1;
      offset = src[pos]! | (src[pos + 1]! << 8);
      pos += 2;
    } else {
      if (pos + 4 > src.length) throw new SnappyError('truncated copy');
      n = (tag >>> 2) + 1;
      offset = (src[pos]! | (src[pos + 1]! << 8) | (src[pos + 2]! << 16) | (src[pos + 3]! << 24)) >>> 0;
      pos += 4;
    }
    if (offset === 0 || offset > op) throw new SnappyError(`copy offset ${offset} at output position ${op} points outside the output`);
    if (op + n > len) throw new SnappyError(`copy of ${n} bytes overflows the declared ${len} bytes`);
    // Byte by byte on purpose: a copy may overlap its own output (offset < length repeats a run).
    for (let i = 0; i < n; i++, op++) out[op] = out[op - offset]!;
  }
  if (op !== len) throw new SnappyError(`produced ${op} bytes, the preamble declares ${len}`);
  return out;
}

import { crc32cSimple, mask } from '../fixtures/bundle-writer.js';

/** Lets fuzzed checkpoint `.index` tables get past their block checksums, to reach the parsing behind them. */

const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

function varintAt(b: Uint8Array, pos: number, end: number): [number, number] | null {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10 && pos < end; i++) {
    const x = b[pos++]!;
    v += (x & 0x7f) * mul;
    if (!(x & 0x80)) return [v, pos];
    mul *= 128;
  }
  return null;
}

/**
 * Recomputes the trailer checksum of the index block and of every data block it points to
 * (as far as the damaged bytes still describe them); anything unreadable is left as it is.
 */
export function repairTableChecksums(src: Uint8Array): Uint8Array {
  const b = src.slice();
  if (b.length < 48) return b;
  const footer = b.length - 48;
  const seal = (off: number, size: number) => {
    if (off + size + 5 > footer) return false;
    const crc = mask(crc32cSimple(b.subarray(off, off + size + 1)));
    b.set([crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, (crc >>> 24) & 0xff], off + size + 1);
    return true;
  };
  let p: [number, number] | null = varintAt(b, footer, footer + 40);
  if (!p) return b;
  p = varintAt(b, p[1], footer + 40);
  if (!p) return b;
  const io = varintAt(b, p[1], footer + 40);
  if (!io) return b;
  const is = varintAt(b, io[1], footer + 40);
  if (!is || !seal(io[0], is[0]) || b[io[0] + is[0]] !== 0) return b;
  // Index block entries (uncompressed): shared, non-shared, value length, key bytes, BlockHandle.
  const block = b.subarray(io[0], io[0] + is[0]);
  if (block.length < 4) return b;
  const end = block.length - 4 - 4 * u32(block, block.length - 4);
  let pos = 0;
  while (pos >= 0 && pos < end) {
    const s = varintAt(block, pos, end);
    const n = s && varintAt(block, s[1], end);
    const v = n && varintAt(block, n[1], end);
    if (!v) break;
    const valueAt = v[1] + n[0];
    const off = varintAt(block, valueAt, valueAt + v[0]);
    const size = off && varintAt(block, off[1], valueAt + v[0]);
    if (size) seal(off[0], size[0]);
    pos = valueAt + v[0];
  }
  return b;
}

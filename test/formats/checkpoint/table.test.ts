import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../src/core/errors.js';
import { crc32c, crc32cExtend, maskCrc, unmaskCrc } from '../../../src/formats/checkpoint/crc32c.js';
import { SnappyError, snappyUncompress } from '../../../src/formats/checkpoint/snappy.js';
import { readTable } from '../../../src/formats/checkpoint/table.js';
import { buildTable, crc32cSimple, mask } from '../../fixtures/bundle-writer.js';

const enc = new TextEncoder();

describe('crc32c', () => {
  it('matches the CRC-32C check value and a byte-at-a-time implementation', () => {
    expect(crc32c(enc.encode('123456789'))).toBe(0xe3069283);
    // RFC 3720 B.4 vector: 32 zero bytes.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    const data = Uint8Array.from({ length: 1037 }, (_, i) => (i * 131 + 7) & 0xff);
    expect(crc32c(data)).toBe(crc32cSimple(data));
    // Extending in pieces (odd split, so the 8-byte loop starts unaligned) equals one pass.
    expect(crc32cExtend(crc32c(data.subarray(0, 13)), data.subarray(13))).toBe(crc32cSimple(data));
  });

  it('masks as TF does and unmasks back', () => {
    expect(maskCrc(0)).toBe(0xa282ead8);
    for (const c of [0, 1, 0x12345678, 0xffffffff, 0xe3069283]) {
      expect(maskCrc(c)).toBe(mask(c));
      expect(unmaskCrc(maskCrc(c))).toBe(c);
    }
  });
});

describe('snappy', () => {
  it('decompresses a hand-built stream of literal and copy elements', () => {
    const lit = (s: string) => [(s.length - 1) << 2, ...enc.encode(s)];
    const stream = Uint8Array.from([
      25, // uncompressed length (varint)
      ...lit('abcd'),
      // copy, 1-byte offset: length 4 + 4 = 8 in bits 2..4, offset 4 -> "abcdabcd"
      (4 << 2) | 1, 4,
      ...lit('XYZ'),
      // copy, 2-byte offset: length 5, offset 1 -> overlapping run "ZZZZZ"
      ((5 - 1) << 2) | 2, 1, 0,
      // copy, 4-byte offset: length 4, offset 15 -> bytes 5..8 of the output: "bcda"
      ((4 - 1) << 2) | 3, 15, 0, 0, 0,
      ...lit('!'),
    ]);
    const plain = 'abcd' + 'abcdabcd' + 'XYZ' + 'ZZZZZ';
    const expected = plain + plain.slice(plain.length - 15, plain.length - 15 + 4) + '!';
    expect(expected.length).toBe(25);
    expect(new TextDecoder().decode(snappyUncompress(stream, 1 << 20))).toBe(expected);
  });

  it('reads long literals whose length follows the tag', () => {
    const text = enc.encode('x'.repeat(100) + 'y'.repeat(300));
    // tag 60<<2: length-1 in one byte; tag 61<<2: in two bytes.
    const stream = Uint8Array.from([0x90, 0x03, 60 << 2, 99, ...text.subarray(0, 100), 61 << 2, 43, 1, ...text.subarray(100)]);
    expect(Array.from(snappyUncompress(stream, 1 << 20))).toEqual(Array.from(text));
  });

  it('refuses offsets before the start, overflows and short output', () => {
    expect(() => snappyUncompress(Uint8Array.from([4, (4 << 2) | 1, 1]), 100)).toThrow(SnappyError);
    expect(() => snappyUncompress(Uint8Array.from([2, 0 << 2, 65, 2 << 2, 1, 2, 3]), 100)).toThrow(/overflows/);
    expect(() => snappyUncompress(Uint8Array.from([5, 0, 65]), 100)).toThrow(/produced 1 bytes/);
    expect(() => snappyUncompress(Uint8Array.from([0xff, 0xff, 0xff, 0x7f]), 1000)).toThrow(/over the limit/);
  });
});

describe('table', () => {
  const entries = Array.from({ length: 40 }, (_, i) => ({
    key: enc.encode(`layer_${String(i).padStart(3, '0')}/kernel`),
    value: enc.encode(`v${i}`.repeat(i % 5)),
  }));

  it('iterates every pair of a table in key order (shared prefixes, restart points every 16 keys)', () => {
    const shuffled = entries.slice().reverse();
    const got = readTable(buildTable(shuffled), 't.index');
    expect(got.map((e) => new TextDecoder().decode(e.key))).toEqual(entries.map((e) => new TextDecoder().decode(e.key)));
    expect(got.map((e) => Array.from(e.value))).toEqual(entries.map((e) => Array.from(e.value)));
  });

  it('reads snappy-compressed blocks', () => {
    const got = readTable(buildTable(entries, { snappy: true }), 't.index');
    expect(got.length).toBe(40);
    expect(new TextDecoder().decode(got[39]!.value)).toBe('v39'.repeat(4));
  });

  it('reads an empty table', () => {
    expect(readTable(buildTable([]), 'e.index')).toEqual([]);
  });

  it('names the file for bad magic, bad block checksum and truncation', () => {
    const good = buildTable(entries);
    const badMagic = good.slice();
    badMagic[badMagic.length - 1] ^= 1;
    expect(() => readTable(badMagic, 'm.index')).toThrow(FormatError);
    expect(() => readTable(badMagic, 'm.index')).toThrow(/m\.index: bad table magic/);
    const badCrc = good.slice();
    badCrc[5] ^= 0x40; // inside the data block's first key
    expect(() => readTable(badCrc, 'c.index')).toThrow(/c\.index: data block at offset 0 fails its checksum/);
    expect(() => readTable(good.subarray(0, good.length - 1), 't.index')).toThrow(/t\.index: bad table magic/);
    expect(() => readTable(good.subarray(0, 20), 't.index')).toThrow(/t\.index: file has 20 bytes/);
    // Footer intact but the blocks it points to cut away.
    const cut = new Uint8Array([...good.subarray(0, 10), ...good.subarray(good.length - 48)]);
    expect(() => readTable(cut, 'x.index')).toThrow(/x\.index: .*runs past the data end/);
  });
});

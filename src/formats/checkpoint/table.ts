import { FormatError } from '../../core/errors.js';
import { crc32cExtend, unmaskCrc } from './crc32c.js';
import { SnappyError, snappyUncompress } from './snappy.js';

/**
 * The immutable sorted table (LevelDB's SSTable, as TensorFlow's tsl/lib/io/table keeps it)
 * that a checkpoint's `.index` file is. Layout: data blocks, a metaindex block, an index block
 * (key -> BlockHandle of each data block), and a 48-byte footer. Every block is followed by a
 * 5-byte trailer: compression type and the masked crc32c of the block bytes plus that type byte.
 */

export interface TableEntry {
  key: Uint8Array;
  value: Uint8Array;
}

const FOOTER_LENGTH = 48;
const TRAILER_LENGTH = 5;
/** 0xdb4775248b80fb57 as little-endian bytes. */
const MAGIC = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
/** Snappy blocks hold index entries; nothing TF writes comes close, so larger means corruption. */
const MAX_BLOCK_BYTES = 1 << 30;

interface Handle {
  offset: number;
  size: number;
}

class Cursor {
  constructor(readonly bytes: Uint8Array, public pos: number, readonly end: number, private readonly what: () => string) {}

  varint(max64 = false): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < (max64 ? 10 : 5); i++) {
      if (this.pos >= this.end) throw new FormatError(`${this.what()}: truncated varint`);
      const b = this.bytes[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) {
        if (!Number.isSafeInteger(v)) throw new FormatError(`${this.what()}: varint ${v} is too large`);
        return v;
      }
      mul *= 128;
    }
    throw new FormatError(`${this.what()}: malformed varint (too long)`);
  }
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Printable form of a key for messages: tensor names are text, slice keys are binary. */
export function keyForMessage(key: Uint8Array): string {
  let s = '';
  for (const b of key) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return s;
}

/** Reads every key/value pair of a table, in key order. Any inconsistency is a FormatError naming `file`. */
export function readTable(bytes: Uint8Array, file: string): TableEntry[] {
  const fail = (msg: string): never => {
    throw new FormatError(`${file}: ${msg} (corrupt or truncated checkpoint index?)`, { file });
  };
  if (bytes.length < FOOTER_LENGTH) fail(`file has ${bytes.length} bytes, shorter than the ${FOOTER_LENGTH}-byte table footer`);
  const footerStart = bytes.length - FOOTER_LENGTH;
  for (let i = 0; i < 8; i++) {
    if (bytes[footerStart + 40 + i] !== MAGIC[i]) {
      const found = Array.from(bytes.subarray(bytes.length - 8), (b) => b.toString(16).padStart(2, '0')).join('');
      fail(`bad table magic number: expected 57fb808b247547db in the last 8 bytes, found ${found}; not a TensorFlow checkpoint .index file`);
    }
  }
  const fc = new Cursor(bytes, footerStart, footerStart + 40, () => `${file}: table footer`);
  const metaindex: Handle = { offset: fc.varint(true), size: fc.varint(true) };
  const index: Handle = { offset: fc.varint(true), size: fc.varint(true) };
  void metaindex; // filter/meta blocks carry nothing a reader of TF bundles needs

  const readBlock = (h: Handle, what: string): Uint8Array => {
    if (h.offset + h.size + TRAILER_LENGTH > footerStart) {
      fail(`${what} block at offset ${h.offset} with ${h.size} bytes (+${TRAILER_LENGTH} trailer) runs past the data end at ${footerStart}`);
    }
    const end = h.offset + h.size;
    const type = bytes[end]!;
    const stored = unmaskCrc(u32(bytes, end + 1));
    const actual = crc32cExtend(0, bytes.subarray(h.offset, end + 1));
    if (stored !== actual) {
      fail(`${what} block at offset ${h.offset} fails its checksum (stored crc32c ${stored.toString(16)}, computed ${actual.toString(16)})`);
    }
    const raw = bytes.subarray(h.offset, end);
    if (type === 0) return raw;
    if (type === 1) {
      try {
        return snappyUncompress(raw, MAX_BLOCK_BYTES);
      } catch (e) {
        if (e instanceof SnappyError) fail(`${what} block at offset ${h.offset}: bad snappy data: ${e.message}`);
        throw e;
      }
    }
    return fail(`${what} block at offset ${h.offset} has compression type ${type}; only 0 (none) and 1 (snappy) exist`);
  };

  const parseBlock = (block: Uint8Array, what: string, sink: (key: Uint8Array, value: Uint8Array) => void): void => {
    if (block.length < 4) fail(`${what} block has ${block.length} bytes, too short for its restart count`);
    const numRestarts = u32(block, block.length - 4);
    const dataEnd = block.length - 4 - 4 * numRestarts;
    if (numRestarts > (block.length - 4) / 4 || dataEnd < 0) fail(`${what} block declares ${numRestarts} restart points, more than its ${block.length} bytes hold`);
    const c = new Cursor(block, 0, dataEnd, () => `${file}: ${what} block`);
    let key = new Uint8Array(0);
    while (c.pos < dataEnd) {
      const shared = c.varint();
      const nonShared = c.varint();
      const valueLength = c.varint();
      if (shared > key.length) fail(`${what} block entry shares ${shared} key bytes with a previous key of ${key.length} bytes`);
      if (c.pos + nonShared + valueLength > dataEnd) fail(`${what} block entry at ${c.pos} runs past the block's entries`);
      const next = new Uint8Array(shared + nonShared);
      next.set(key.subarray(0, shared));
      next.set(block.subarray(c.pos, c.pos + nonShared), shared);
      c.pos += nonShared;
      const value = block.subarray(c.pos, c.pos + valueLength);
      c.pos += valueLength;
      key = next;
      sink(key, value);
    }
  };

  const entries: TableEntry[] = [];
  let prev: Uint8Array | null = null;
  const indexBlock = readBlock(index, 'index');
  parseBlock(indexBlock, 'index', (_k, v) => {
    const hc = new Cursor(v, 0, v.length, () => `${file}: index entry`);
    const h: Handle = { offset: hc.varint(true), size: hc.varint(true) };
    parseBlock(readBlock(h, 'data'), `data (offset ${h.offset})`, (key, value) => {
      // Keys are strictly increasing in a valid table; a violation means corrupted bytes.
      if (prev && compareBytes(prev, key) >= 0) fail(`key '${keyForMessage(key)}' is not after the previous key '${keyForMessage(prev)}'`);
      prev = key;
      entries.push({ key, value });
    });
  });
  return entries;
}

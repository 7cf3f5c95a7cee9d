import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import type { DType } from '../../core/dtype.js';
import { TF_DTYPE_ENUM, dtypeSize } from '../../core/dtype.js';
import { FormatError, errorMessage } from '../../core/errors.js';
import { suggest } from '../../core/names.js';
import type { HostData, HostTensor } from '../../core/tensor.js';
import { checkTensorBudget, numElements, shapeToString } from '../../core/tensor.js';
import { tfType } from '../../proto/index.js';
import { bfloat16ToFloat, dtypeFromEnum, halfToFloat, toNum } from '../tensor-proto.js';
import { crc32cExtend, maskCrc, unmaskCrc } from './crc32c.js';
import { Checksums } from './checksums.js';
import { keyForMessage, readTable } from './table.js';

/**
 * TensorFlow's tensor bundle (checkpoint format V2): `<prefix>.index` is a table mapping tensor
 * names to BundleEntryProto (dtype, shape, shard, offset, size, masked crc32c), the entry ""
 * holds the BundleHeaderProto; values live in `<prefix>.data-SSSSS-of-NNNNN` shards.
 * Mirrors tensorflow/core/util/tensor_bundle/tensor_bundle.cc; no TensorFlow needed.
 */

export interface BundleTensorInfo {
  name: string;
  /** A DType, or TF's enum name for types tf-parity cannot decode (listing still works). */
  dtype: string;
  shape: number[];
  /** Bytes the value occupies in the data shards (all slices together for sliced variables). */
  bytes: number;
  /** Stored as slices of a partitioned variable (assembled on read). */
  sliced?: boolean;
}

/** One extent of a TensorSliceProto; length undefined means "the whole dimension". */
export interface SliceExtent {
  start: number;
  length?: number;
}

interface Entry {
  name: string;
  dtypeEnum: number;
  shape: number[];
  shardId: number;
  offset: number;
  size: number;
  crc32c: number;
  slices: SliceExtent[][];
}

export interface Bundle {
  /** Path prefix: `<prefix>.index`, `<prefix>.data-*`. */
  readonly prefix: string;
  readonly indexFile: string;
  readonly numShards: number;
  /** Every tensor (slice entries of partitioned variables folded into their variable), in key order. */
  list(): BundleTensorInfo[];
  names(): string[];
  has(name: string): boolean;
  /** Listing entry of one tensor (FormatError when absent). */
  info(name: string): BundleTensorInfo;
  /** The full value of a tensor; partitioned variables are assembled from their slices. */
  read(name: string): HostTensor;
  /** Part of a tensor (TF1 partitioned variables restore `w/part_1` as a slice of `w`). */
  readSlice(name: string, slice: SliceExtent[]): HostTensor;
  /** Path of a data shard. */
  dataFile(shardId: number): string;
  /**
   * Waits for the checksums of the big tensors read so far (checked on a thread while reading
   * goes on: see checksums.ts); throws the first that failed. Loaders await it before any value is used.
   */
  settle(): Promise<void>;
}

const HEADER_KEY = '';

/** Turns any of: prefix, .index, .meta, .data-*, a folder with a `checkpoint` file, a SavedModel folder, into the bundle prefix. */
export function resolveCheckpointPrefix(path: string): string {
  return locateCheckpoint(path).prefix;
}

/**
 * The checkpoint prefix a path names (see resolveCheckpointPrefix), with a note when it is not
 * where the folder's `checkpoint` state file points: training writes absolute paths of its own
 * machine, or a prefix that was not copied along; then the one checkpoint beside it (the
 * folder's only .meta, else its only .index) is read instead, as a user copying the folder means.
 */
export function locateCheckpoint(path: string): { prefix: string; note?: string } {
  const stripped = path.replace(/\.(index|meta)$/, '').replace(/\.data-\d{5}-of-\d{5}$/, '');
  if (stripped !== path) return { prefix: stripped };
  if (existsSync(path) && statSync(path).isDirectory()) {
    const stateFile = join(path, 'checkpoint');
    if (existsSync(stateFile)) {
      const named = prefixFromStateFile(stateFile, path);
      if (existsSync(named + '.index') || existsSync(named + '.meta')) return { prefix: named };
      const beside = onlyCheckpointIn(path);
      if (beside) return { prefix: beside, note: `${stateFile} names ${named}, which does not exist; read ${beside} beside it instead` };
      return { prefix: named };
    }
    const sm = join(path, 'variables', 'variables');
    if (existsSync(sm + '.index')) return { prefix: sm };
    const indexes = readdirSync(path).filter((f) => f.endsWith('.index'));
    if (indexes.length === 1) return { prefix: join(path, indexes[0]!.slice(0, -'.index'.length)) };
    const metas = readdirSync(path).filter((f) => f.endsWith('.meta'));
    // A graph that needs no variables may come without any .index.
    if (indexes.length === 0 && metas.length === 1) return { prefix: join(path, metas[0]!.slice(0, -'.meta'.length)) };
    if (indexes.length === 0) throw new FormatError(`${path}: folder holds no checkpoint (no 'checkpoint' file and no .index or .meta file)`, { file: path });
    throw new FormatError(
      `${path}: folder holds ${indexes.length} checkpoints (${indexes.slice(0, 5).join(', ')}${indexes.length > 5 ? ', …' : ''}) and no 'checkpoint' file naming the latest; pass one prefix`,
      { file: path },
    );
  }
  return { prefix: path };
}

/** The prefix of the one checkpoint in a folder: its only .meta, else its only .index. */
function onlyCheckpointIn(dir: string): string | undefined {
  const files = readdirSync(dir);
  for (const ext of ['.meta', '.index']) {
    const hits = files.filter((f) => f.endsWith(ext));
    if (hits.length === 1) return join(dir, hits[0]!.slice(0, -ext.length));
  }
  return undefined;
}

/** Parses the text CheckpointState file TF's Saver writes next to checkpoints. */
function prefixFromStateFile(stateFile: string, dir: string): string {
  const text = readFileSync(stateFile, 'utf8');
  const m = /^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"/m.exec(text);
  if (!m) throw new FormatError(`${stateFile}: no model_checkpoint_path: "..." line; not a TensorFlow checkpoint state file`, { file: stateFile });
  const p = unescapeC(m[1]!);
  if (!isAbsolute(p)) return join(dir, p);
  // Absolute paths point where training ran; after copying the folder only the base name is right.
  if (existsSync(p + '.index')) return p;
  return join(dir, basename(p));
}

function unescapeC(s: string): string {
  return s.replace(/\\([0-7]{1,3}|x[0-9a-fA-F]{2}|.)/g, (_all, e: string) => {
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e] ?? e;
  });
}

const utf8 = new TextDecoder('utf-8');
const utf8Enc = new TextEncoder();

/** Table keys are bytes; a Map keyed by their latin1 spelling holds them losslessly. */
function binaryKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

type Msg = Record<string, unknown>;

function has(m: Msg, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(m, k) && m[k] !== undefined && m[k] !== null;
}

export function openBundle(prefixOrPath: string): Bundle {
  const prefix = resolveCheckpointPrefix(prefixOrPath);
  const indexFile = prefix + '.index';
  if (!existsSync(indexFile)) {
    const v1 = existsSync(prefix) && statSync(prefix).isFile();
    throw new FormatError(
      v1
        ? `${prefix}: a single-file checkpoint (TF's V1 format) is not supported; re-save it with tf.train.Saver(write_version=V2) or tf.train.Checkpoint`
        : `${prefixOrPath}: no checkpoint index ${indexFile} (expected a prefix with .index and .data-* files)`,
      { file: indexFile },
    );
  }
  return new BundleReader(prefix, indexFile);
}

class BundleReader implements Bundle {
  readonly numShards: number;
  private readonly entries = new Map<string, Entry>();
  private readonly order: string[] = [];
  private readonly checksums = new Checksums();

  constructor(readonly prefix: string, readonly indexFile: string) {
    const file = indexFile;
    const table = readTable(new Uint8Array(readFileSync(file)), file);
    if (table.length === 0 || table[0]!.key.length !== 0) {
      throw new FormatError(`${file}: the first entry is not the bundle header (key ""); not a TensorFlow V2 checkpoint index`, { file });
    }
    let header: Msg;
    try {
      header = tfType('BundleHeaderProto').decode(table[0]!.value) as unknown as Msg;
    } catch (e) {
      throw new FormatError(`${file}: the bundle header does not parse (${errorMessage(e)})`, { file, cause: e });
    }
    if (header.endianness === 1) {
      throw new FormatError(`${file}: the checkpoint was written on a big-endian machine; tf-parity reads little-endian bundles only`, { file });
    }
    const version = (header.version as Msg | undefined) ?? {};
    const minConsumer = toNum(version.min_consumer ?? 0);
    if (minConsumer > 1) {
      throw new FormatError(`${file}: the bundle needs a reader of version ${minConsumer} or newer (tf-parity reads version 1)`, { file });
    }
    this.numShards = toNum(header.num_shards ?? 0);
    if (this.numShards < 1 && table.length > 1) throw new FormatError(`${file}: the bundle header declares ${this.numShards} data shards`, { file });
    const T = tfType('BundleEntryProto');
    for (const { key, value } of table.slice(1)) {
      const name = key[0] === 0 ? keyForMessage(key) : utf8.decode(key);
      let m: Msg;
      try {
        m = T.decode(value) as unknown as Msg;
      } catch (e) {
        throw new FormatError(`${file}: the entry of '${name}' does not parse (${errorMessage(e)})`, { file, node: name, cause: e });
      }
      const w = { file, node: name };
      const dims = ((m.shape as Msg | undefined)?.dim as Msg[] | undefined) ?? [];
      const shape = dims.map((d) => toNum(d.size, w));
      if (shape.some((d) => d < 0)) throw new FormatError(`${file}: tensor '${name}' has an invalid shape ${shapeToString(shape)}`, w);
      const entry: Entry = {
        name,
        dtypeEnum: toNum(m.dtype ?? 0, w),
        shape,
        shardId: toNum(m.shard_id ?? 0, w),
        offset: toNum(m.offset ?? 0, w),
        size: toNum(m.size ?? 0, w),
        crc32c: (m.crc32c as number | undefined) ?? 0,
        slices: ((m.slices as Msg[] | undefined) ?? []).map((s) =>
          ((s.extent as Msg[] | undefined) ?? []).map((e) => ({
            start: toNum(e.start ?? 0, w),
            ...(has(e, 'length') ? { length: toNum(e.length, w) } : {}),
          })),
        ),
      };
      if (entry.offset < 0 || entry.size < 0) {
        throw new FormatError(`${file}: tensor '${name}' declares ${entry.offset < 0 ? `offset ${entry.offset}` : `size ${entry.size}`} in its data shard; offsets and sizes cannot be negative`, w);
      }
      const k = binaryKey(key);
      this.entries.set(k, entry);
      // Slice entries (keys from EncodeTensorNameSlice start with a 0 byte) belong to their variable.
      if (key[0] !== 0) this.order.push(k);
    }
  }

  settle(): Promise<void> {
    return this.checksums.settle();
  }

  dataFile(shardId: number): string {
    return `${this.prefix}.data-${String(shardId).padStart(5, '0')}-of-${String(this.numShards).padStart(5, '0')}`;
  }

  names(): string[] {
    return this.order.map((k) => this.entries.get(k)!.name);
  }

  has(name: string): boolean {
    const k = binaryKey(utf8Enc.encode(name));
    return name !== HEADER_KEY && k.charCodeAt(0) !== 0 && this.entries.has(k);
  }

  list(): BundleTensorInfo[] {
    return this.order.map((k) => this.describe(this.entries.get(k)!));
  }

  info(name: string): BundleTensorInfo {
    return this.describe(this.entry(name));
  }

  private describe(e: Entry): BundleTensorInfo {
    const dtype = TF_DTYPE_ENUM[e.dtypeEnum > 100 ? e.dtypeEnum - 100 : e.dtypeEnum] ?? `DT_ENUM_${e.dtypeEnum}`;
    if (!e.slices.length) return { name: e.name, dtype, shape: e.shape, bytes: e.size };
    let bytes = 0;
    for (const s of e.slices) bytes += this.entries.get(binaryKey(encodeTensorNameSlice(e.name, s)))?.size ?? 0;
    return { name: e.name, dtype, shape: e.shape, bytes, sliced: true };
  }

  private entry(name: string): Entry {
    const k = binaryKey(utf8Enc.encode(name));
    // Slice entries are reachable only through their variable, the header not at all.
    const e = name === HEADER_KEY || k.charCodeAt(0) === 0 ? undefined : this.entries.get(k);
    if (!e) {
      const names = this.names();
      throw new FormatError(
        `${this.indexFile}: no tensor '${name}' in the checkpoint${suggest(name, names)} (it holds ${names.length} tensors${
          names.length ? `: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}` : ''
        })`,
        { file: this.indexFile, node: name },
      );
    }
    return e;
  }

  read(name: string): HostTensor {
    const e = this.entry(name);
    if (!e.slices.length) return this.readEntry(e, name);
    return this.assemble(e, name);
  }

  readSlice(name: string, slice: SliceExtent[]): HostTensor {
    const e = this.entry(name);
    const region = sliceRegion(slice, e.shape, `${this.indexFile}: slice of '${name}'`);
    const full = this.read(name);
    if (region.lengths.every((l, i) => l === e.shape[i])) return full;
    const per = e.dtypeEnum === 8 || e.dtypeEnum === 18 ? 2 : 1;
    const out = allocLike(full, region.lengths);
    copyRegion(full.data, full.shape, region.starts, out.data, out.shape, region.lengths.map(() => 0), region.lengths, per);
    return out;
  }

  private dtypeOf(e: Entry, varName: string): DType {
    const dtype = dtypeFromEnum(e.dtypeEnum, { file: this.indexFile, node: varName });
    if (dtype === 'resource' || dtype === 'variant') {
      throw new FormatError(`${this.indexFile}: tensor '${varName}' holds ${dtype} values, which tf-parity cannot decode`, { file: this.indexFile, node: varName });
    }
    return dtype;
  }

  /**
   * Checks one stored entry against what its bytes can hold (budget, declared size, shard, the
   * shard file's length) before anything is allocated for it; returns its dtype and shard path.
   */
  private checkEntry(e: Entry, varName: string): { dtype: DType; path: string } {
    const dtype = this.dtypeOf(e, varName);
    const what = { file: this.indexFile, node: varName };
    const n = numElements(e.shape);
    checkTensorBudget(e.shape, dtype === 'string' ? 8 : dtypeSize(dtype), what);
    if (dtype !== 'string' && e.size !== n * dtypeSize(dtype)) {
      throw new FormatError(
        `${this.indexFile}: tensor '${varName}' (${dtype}${shapeToString(e.shape)}) declares ${e.size} bytes of data, expected ${n * dtypeSize(dtype)}`,
        what,
      );
    }
    // Each string takes at least its one-byte length, and the lengths a 4-byte checksum.
    if (dtype === 'string' && n > 0 && e.size < n + 4) {
      throw new FormatError(`${this.indexFile}: string tensor '${varName}' (${shapeToString(e.shape)}) declares ${e.size} bytes of data, too few for ${n} strings`, what);
    }
    if (e.shardId < 0 || e.shardId >= this.numShards) {
      throw new FormatError(`${this.indexFile}: tensor '${varName}' is in shard ${e.shardId}, but the bundle has ${this.numShards} shard(s)`, what);
    }
    const path = this.dataFile(e.shardId);
    checkRange(path, e.offset, e.size, varName, this.indexFile);
    return { dtype, path };
  }

  /** Reads the bytes of one stored entry (a whole tensor, or one slice of a partitioned variable). */
  private readEntry(e: Entry, varName: string): HostTensor {
    const { dtype, path } = this.checkEntry(e, varName);
    const n = numElements(e.shape);
    const bytes = readRange(path, e.offset, e.size, varName, this.indexFile);
    if (dtype === 'string') return { dtype, shape: e.shape, data: decodeStrings(bytes, n, e, varName, path) };
    if (e.size > 0) {
      this.checksums.check(
        bytes,
        e.crc32c,
        (got) =>
          new FormatError(
            `${path}: data of tensor '${varName}' fails its checksum (crc32c ${got.toString(16)} (masked), the index ${this.indexFile} says ${e.crc32c.toString(16)}); the data file is corrupt or belongs to another checkpoint`,
            { file: path, node: varName },
          ),
      );
    }
    return { dtype, shape: e.shape, data: typedFromBytes(dtype, bytes, n) };
  }

  private assemble(e: Entry, name: string): HostTensor {
    const dtype = this.dtypeOf(e, name);
    const what = { file: this.indexFile, node: name };
    checkTensorBudget(e.shape, dtype === 'string' ? 8 : dtypeSize(dtype), what);
    const n = numElements(e.shape);
    const per = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
    // Every slice is checked against the bytes present before the variable is allocated:
    // an index declaring a huge variable with a few small slices allocates nothing.
    const parts = e.slices.map((s) => {
      const region = sliceRegion(s, e.shape, `${this.indexFile}: tensor '${name}'`);
      const key = encodeTensorNameSlice(name, s);
      const se = this.entries.get(binaryKey(key));
      const label = `${name} (slice ${sliceString(s, e.shape)})`;
      if (!se) {
        throw new FormatError(`${this.indexFile}: partitioned variable '${name}' lists slice ${sliceString(s, e.shape)}, but its entry (key '${keyForMessage(key)}') is missing`, what);
      }
      if (se.shape.length !== region.lengths.length || se.shape.some((d, i) => d !== region.lengths[i])) {
        throw new FormatError(`${this.indexFile}: slice ${sliceString(s, e.shape)} of '${name}' is stored with shape ${shapeToString(se.shape)}, expected ${shapeToString(region.lengths)}`, what);
      }
      if (se.dtypeEnum !== e.dtypeEnum) throw new FormatError(`${this.indexFile}: slice ${sliceString(s, e.shape)} of '${name}' has another dtype than the variable`, what);
      this.checkEntry(se, label);
      return { region, se, label };
    });
    const held = parts.reduce((a, p) => a + numElements(p.region.lengths), 0);
    if (held < n) {
      throw new FormatError(`${this.indexFile}: the ${e.slices.length} slices of partitioned variable '${name}' (${dtype}${shapeToString(e.shape)}) hold ${held} of its ${n} elements`, what);
    }
    const out = allocLike({ dtype, shape: e.shape, data: new Uint8Array(0) }, e.shape);
    const covered = new Uint8Array(n);
    let total = 0;
    for (const { region, se, label } of parts) {
      const part = this.readEntry(se, label);
      copyRegion(part.data, part.shape, region.lengths.map(() => 0), out.data, e.shape, region.starts, region.lengths, per, covered);
      total += numElements(region.lengths);
    }
    const missing = covered.reduce((a, c) => a + (c ? 0 : 1), 0);
    if (missing > 0 || total !== n) {
      throw new FormatError(
        `${this.indexFile}: the ${e.slices.length} slices of partitioned variable '${name}' ${missing > 0 ? `leave ${missing} of its ${n} elements unset` : 'overlap'}`,
        what,
      );
    }
    return out;
  }
}

/** Checks that a data shard exists and holds [offset, offset+size). */
function checkRange(path: string, offset: number, size: number, varName: string, indexFile: string): void {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new FormatError(`${path}: data shard of tensor '${varName}' is missing (the index ${indexFile} places it there)`, { file: path, node: varName });
  }
  const fileSize = statSync(path).size;
  if (offset + size > fileSize) {
    throw new FormatError(
      `${path}: tensor '${varName}' needs bytes ${offset}..${offset + size} but the data shard has only ${fileSize} bytes (truncated file?)`,
      { file: path, node: varName },
    );
  }
}

/** Reads [offset, offset+size) of a data shard, checking the shard exists and is long enough. */
function readRange(path: string, offset: number, size: number, varName: string, indexFile: string): Uint8Array {
  if (!existsSync(path)) {
    throw new FormatError(`${path}: data shard of tensor '${varName}' is missing (the index ${indexFile} places it there)`, { file: path, node: varName });
  }
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    if (offset + size > fileSize) {
      throw new FormatError(
        `${path}: tensor '${varName}' needs bytes ${offset}..${offset + size} but the data shard has only ${fileSize} bytes (truncated file?)`,
        { file: path, node: varName },
      );
    }
    // A fresh buffer per tensor: aligned for typed-array views, nothing shared with a pool; big
    // ones in shared memory, so that their checksum is computed on a thread (checksums.ts).
    const out = new Uint8Array(Checksums.wantsShared(size) ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    let done = 0;
    while (done < size) {
      const got = readSync(fd, out, done, Math.min(size - done, 1 << 30), offset + done);
      if (got <= 0) throw new FormatError(`${path}: short read for tensor '${varName}'`, { file: path, node: varName });
      done += got;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/**
 * String tensors: varint64 lengths, a 4-byte masked crc32c of the lengths (each taken as a
 * little-endian uint32, or uint64 past 2^32), then the bytes. The entry's crc32c covers the
 * lengths (same convention), the raw checksum bytes and the string bytes.
 */
function decodeStrings(bytes: Uint8Array, n: number, e: Entry, varName: string, path: string): Uint8Array[] {
  const fail = (msg: string): never => {
    throw new FormatError(`${path}: string tensor '${varName}': ${msg}`, { file: path, node: varName });
  };
  if (n > 0 && bytes.length === 0) fail(`${n} strings declared but no data`);
  let pos = 0;
  const lengths: number[] = [];
  let crc = 0;
  const scratch = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < n; i++) {
    let v = 0;
    let mul = 1;
    for (let k = 0; ; k++) {
      if (pos >= bytes.length || k >= 10) fail(`truncated or malformed length of element ${i}`);
      const b = bytes[pos++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) break;
    }
    lengths.push(v);
    if (v <= 0xffffffff) {
      scratch.setUint32(0, v, true);
      crc = crc32cExtend(crc, new Uint8Array(scratch.buffer, 0, 4));
    } else {
      scratch.setBigUint64(0, BigInt(v), true);
      crc = crc32cExtend(crc, new Uint8Array(scratch.buffer, 0, 8));
    }
  }
  if (n === 0) return [];
  if (pos + 4 > bytes.length) fail('truncated before the length checksum');
  const rawCheck = bytes.subarray(pos, pos + 4);
  const lengthCheck = (rawCheck[0]! | (rawCheck[1]! << 8) | (rawCheck[2]! << 16) | (rawCheck[3]! << 24)) >>> 0;
  if (unmaskCrc(lengthCheck) !== crc) fail(`the checksum of the string lengths does not match (file corrupt)`);
  crc = crc32cExtend(crc, rawCheck);
  pos += 4;
  const total = lengths.reduce((a, b) => a + b, 0);
  if (pos + total !== bytes.length) fail(`lengths add up to ${pos + total} bytes, the entry declares ${bytes.length}`);
  const out: Uint8Array[] = [];
  for (const len of lengths) {
    out.push(bytes.slice(pos, pos + len));
    pos += len;
  }
  crc = crc32cExtend(crc, bytes.subarray(pos - total, pos));
  if (maskCrc(crc) !== e.crc32c) fail(`data fails its checksum (the data file is corrupt or belongs to another checkpoint)`);
  return out;
}

function typedFromBytes(dtype: DType, bytes: Uint8Array, n: number): HostData {
  const buf = bytes.buffer as ArrayBuffer;
  const off = bytes.byteOffset;
  switch (dtype) {
    case 'float32': return new Float32Array(buf, off, n);
    case 'float64': return new Float64Array(buf, off, n);
    case 'int8': return new Int8Array(buf, off, n);
    case 'int16': return new Int16Array(buf, off, n);
    case 'int32': return new Int32Array(buf, off, n);
    case 'int64': return new BigInt64Array(buf, off, n);
    case 'uint8': return new Uint8Array(buf, off, n);
    case 'uint16': return new Uint16Array(buf, off, n);
    case 'uint32': return new Uint32Array(buf, off, n);
    case 'uint64': return new BigUint64Array(buf, off, n);
    case 'bool': return Uint8Array.from(bytes, (b) => (b ? 1 : 0));
    case 'complex64': return new Float32Array(buf, off, 2 * n);
    case 'complex128': return new Float64Array(buf, off, 2 * n);
    case 'float16':
    case 'bfloat16': {
      const dv = new DataView(buf, off, 2 * n);
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = dtype === 'float16' ? halfToFloat(dv.getUint16(2 * i, true)) : bfloat16ToFloat(dv.getUint16(2 * i, true));
      return f;
    }
    default:
      throw new Error(`typedFromBytes: ${dtype}`);
  }
}

/** A zero-filled tensor of `shape` with the same dtype (and so the same HostData kind) as `like`. */
function allocLike(like: HostTensor, shape: number[]): HostTensor {
  const n = numElements(shape);
  const d = like.dtype;
  let data: HostData;
  switch (d) {
    case 'float32': case 'float16': case 'bfloat16': data = new Float32Array(n); break;
    case 'float64': data = new Float64Array(n); break;
    case 'int8': data = new Int8Array(n); break;
    case 'int16': data = new Int16Array(n); break;
    case 'int32': data = new Int32Array(n); break;
    case 'int64': data = new BigInt64Array(n); break;
    case 'uint8': case 'bool': data = new Uint8Array(n); break;
    case 'uint16': data = new Uint16Array(n); break;
    case 'uint32': data = new Uint32Array(n); break;
    case 'uint64': data = new BigUint64Array(n); break;
    case 'complex64': data = new Float32Array(2 * n); break;
    case 'complex128': data = new Float64Array(2 * n); break;
    case 'string': data = Array.from({ length: n }, () => new Uint8Array(0)); break;
    default: throw new Error(`allocLike: ${d}`);
  }
  return { dtype: d, shape: shape.slice(), data };
}

/** starts/lengths of a slice within `shape`; an extent without length spans its whole dimension. */
export function sliceRegion(slice: SliceExtent[], shape: number[], what: string): { starts: number[]; lengths: number[] } {
  if (slice.length !== shape.length) throw new FormatError(`${what}: slice has ${slice.length} extents for a tensor of rank ${shape.length}`);
  const starts: number[] = [];
  const lengths: number[] = [];
  slice.forEach((x, i) => {
    const len = x.length ?? shape[i]! - x.start;
    if (x.start < 0 || len < 0 || x.start + len > shape[i]!) {
      throw new FormatError(`${what}: slice ${sliceString(slice, shape)} is outside the shape ${shapeToString(shape)}`);
    }
    starts.push(x.start);
    lengths.push(len);
  });
  return { starts, lengths };
}

/** TF's TensorSlice::DebugString form: `start,length:-:…` (`-` is a full dimension). */
export function sliceString(slice: SliceExtent[], _shape?: number[]): string {
  return slice.map((x) => (x.length === undefined ? '-' : `${x.start},${x.length}`)).join(':');
}

type Indexable = { [i: number]: unknown; length: number };

/**
 * Copies the box `region` (per element `per` values: complex numbers are pairs) from `src`
 * at `srcStart` to `dst` at `dstStart`, both row-major. Marks written elements in `covered`.
 */
function copyRegion(
  src: HostData, srcShape: number[], srcStart: number[],
  dst: HostData, dstShape: number[], dstStart: number[],
  region: number[], per: number, covered?: Uint8Array,
): void {
  const rank = region.length;
  if (numElements(region) === 0) return;
  const stride = (shape: number[]) => {
    const s = new Array<number>(rank).fill(1);
    for (let i = rank - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
    return s;
  };
  const ss = stride(srcShape);
  const ds = stride(dstShape);
  const inner = rank ? region[rank - 1]! : 1;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  const s = src as unknown as Indexable;
  const d = dst as unknown as Indexable;
  for (;;) {
    let so = 0;
    let dof = 0;
    for (let i = 0; i < rank; i++) {
      const k = i < rank - 1 ? idx[i]! : 0;
      so += (srcStart[i]! + k) * ss[i]!;
      dof += (dstStart[i]! + k) * ds[i]!;
    }
    for (let j = 0; j < inner; j++) {
      for (let p = 0; p < per; p++) d[(dof + j) * per + p] = s[(so + j) * per + p];
      if (covered) covered[dof + j] = 1;
    }
    let i = rank - 2;
    for (; i >= 0; i--) {
      idx[i]!++;
      if (idx[i]! < region[i]!) break;
      idx[i] = 0;
    }
    if (i < 0) return;
  }
}

// ---- checkpoint::EncodeTensorNameSlice (tensorflow/core/util/saved_tensor_slice_util.cc) ----
// Keys of slices: OrderedCode of (0, name, rank, start0, length0, ...), length -1 for a full extent.

function writeNumIncreasing(out: number[], v: number): void {
  const bytes: number[] = [];
  let x = BigInt(v);
  while (x > 0n) {
    bytes.unshift(Number(x & 0xffn));
    x >>= 8n;
  }
  out.push(bytes.length, ...bytes);
}

function writeString(out: number[], s: Uint8Array): void {
  for (const b of s) {
    if (b === 0x00) out.push(0x00, 0xff);
    else if (b === 0xff) out.push(0xff, 0x00);
    else out.push(b);
  }
  out.push(0x00, 0x01);
}

/** Header bits of the first two bytes per encoded length (OrderedCode's kLengthToHeaderBits). */
const LENGTH_TO_HEADER: [number, number][] = [
  [0, 0], [0x80, 0], [0xc0, 0], [0xe0, 0], [0xf0, 0], [0xf8, 0], [0xfc, 0], [0xfe, 0], [0xff, 0], [0xff, 0x80], [0xff, 0xc0],
];

function writeSignedNumIncreasing(out: number[], v: number): void {
  const val = BigInt(v);
  const x = val < 0n ? ~val : val;
  if (x < 64n) {
    out.push((0x80 ^ Number(BigInt.asUintN(8, val))) & 0xff);
    return;
  }
  // n bytes hold 7n-1 value bits: the sign bit, the unary length and a delimiter take the rest.
  const len = Math.floor(x.toString(2).length / 7) + 1;
  const buf: number[] = [];
  const u = BigInt.asUintN(64, val);
  const sign = val < 0n ? 0xff : 0;
  buf.push(sign, sign);
  for (let i = 7; i >= 0; i--) buf.push(Number((u >> BigInt(8 * i)) & 0xffn));
  const begin = buf.slice(10 - len);
  begin[0]! ^= LENGTH_TO_HEADER[len]![0];
  begin[1]! ^= LENGTH_TO_HEADER[len]![1];
  out.push(...begin);
}

/** The table key TF stores one slice of a partitioned variable under. */
export function encodeTensorNameSlice(name: string, slice: SliceExtent[]): Uint8Array {
  const out: number[] = [];
  writeNumIncreasing(out, 0);
  writeString(out, utf8Enc.encode(name));
  writeNumIncreasing(out, slice.length);
  for (const x of slice) {
    writeSignedNumIncreasing(out, x.start);
    writeSignedNumIncreasing(out, x.length ?? -1);
  }
  return Uint8Array.from(out);
}

/** Parses TF's slice spec strings ("-", "0,5:-", as in RestoreV2's shape_and_slices after the shape). */
export function parseSliceSpec(spec: string, rank: number, what: string): SliceExtent[] {
  const parts = spec.split(':');
  if (parts.length !== rank) throw new FormatError(`${what}: slice spec '${spec}' has ${parts.length} dimensions, the tensor ${rank}`);
  return parts.map((p) => {
    if (p === '-') return { start: 0 };
    const m = /^(\d+),(\d+)$/.exec(p);
    if (!m) throw new FormatError(`${what}: malformed slice spec '${spec}' (expected start,length or - per dimension)`);
    return { start: Number(m[1]), length: Number(m[2]) };
  });
}

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../../src/core/errors.js';
import type { HostTensor } from '../../../src/core/tensor.js';
import { encodeTensorNameSlice, openBundle, resolveCheckpointPrefix } from '../../../src/formats/checkpoint/bundle.js';
import { listCheckpointTensors } from '../../../src/formats/checkpoint/index.js';
import { THREAD_BYTES } from '../../../src/formats/checkpoint/checksums.js';
import { loadSavedModelGraph } from '../../../src/formats/checkpoint/savedmodel.js';
import { A } from '../../../src/graph/attrs.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { metaGraphBytes, savedModelBytes } from '../../fixtures/savedmodel-writer.js';
import { host } from '../../../src/graph/builder.js';
import { buildTable, encodeEntry, encodeHeader, sliceKey, writeBundle, writeBundleStreamed } from '../../fixtures/bundle-writer.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'parity-ckpt-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const enc = new TextEncoder();
const str = (...s: string[]): HostTensor => ({ dtype: 'string', shape: [s.length], data: s.map((x) => enc.encode(x)) });

/** One tensor per dtype, values exactly representable in it (half types included). */
function everyDtype(): { name: string; tensor: HostTensor }[] {
  return [
    { name: 'f32', tensor: host('float32', [2, 2], [1.5, -2.25, 3e-38, Infinity]) },
    { name: 'f64', tensor: host('float64', [3], [Math.PI, -1e300, 5e-324]) },
    { name: 'f16', tensor: host('float16', [4], [1, -2.5, 65504, 2 ** -24]) },
    { name: 'bf16', tensor: host('bfloat16', [3], [1, -3.5, 2 ** 100]) },
    { name: 'i8', tensor: host('int8', [3], [-128, 0, 127]) },
    { name: 'i16', tensor: host('int16', [2], [-32768, 32767]) },
    { name: 'i32', tensor: host('int32', [2, 1], [-2147483648, 2147483647]) },
    { name: 'i64', tensor: { dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 62n + 1n]) } },
    { name: 'u8', tensor: host('uint8', [2], [0, 255]) },
    { name: 'u16', tensor: host('uint16', [2], [1, 65535]) },
    { name: 'u32', tensor: host('uint32', [2], [0, 4294967295]) },
    { name: 'u64', tensor: { dtype: 'uint64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) } },
    { name: 'flags', tensor: host('bool', [3], [true, false, true]) },
    { name: 'c64', tensor: { dtype: 'complex64', shape: [2], data: Float32Array.from([1, -1, 0.5, 2]) } },
    { name: 'c128', tensor: { dtype: 'complex128', shape: [1], data: Float64Array.from([Math.E, -Math.PI]) } },
    { name: 'words', tensor: str('', 'hello', 'naïve ✓', 'x'.repeat(300)) },
    { name: 'scalar', tensor: host('float32', [], [42]) },
    { name: 'empty', tensor: host('float32', [0, 3], []) },
    { name: 'scope/inner/v', tensor: host('int32', [1], [7]) },
  ];
}

function plain(t: HostTensor): unknown[] {
  if (t.dtype === 'string') return (t.data as Uint8Array[]).map((b) => Array.from(b));
  return Array.from(t.data as ArrayLike<number | bigint>);
}

describe('openBundle', () => {
  it('round-trips every dtype (and more keys than one restart interval) with values and shapes intact', () => {
    const dir = tmp();
    const tensors = everyDtype();
    writeBundle(join(dir, 'model.ckpt'), tensors, { alignment: 8 });
    const b = openBundle(join(dir, 'model.ckpt'));
    expect(b.numShards).toBe(1);
    const sortedNames = tensors.map((t) => t.name).sort();
    expect(b.names()).toEqual(sortedNames);
    for (const { name, tensor } of tensors) {
      const got = b.read(name);
      expect(got.dtype, name).toBe(tensor.dtype);
      expect(got.shape, name).toEqual(tensor.shape);
      expect(plain(got), name).toEqual(plain(tensor));
    }
    const info = b.list().find((t) => t.name === 'f16')!;
    expect(info).toEqual({ name: 'f16', dtype: 'float16', shape: [4], bytes: 8 });
    expect(b.list().find((t) => t.name === 'words')!.bytes).toBe(1 + 1 + 1 + 2 + 4 + 5 + 10 + 300);
  });

  it('reads a bundle spread over several shards', () => {
    const dir = tmp();
    const { data } = writeBundle(
      join(dir, 'ckpt'),
      [
        { name: 'a', tensor: host('float32', [2], [1, 2]), shard: 0 },
        { name: 'b', tensor: host('float32', [3], [3, 4, 5]), shard: 2 },
        { name: 'c', tensor: host('int32', [1], [6]), shard: 1 },
        { name: 'd', tensor: host('float64', [2], [7, 8]), shard: 2 },
      ],
      { numShards: 3 },
    );
    expect(data.map((p) => p.slice(dir.length + 1))).toEqual(['ckpt.data-00000-of-00003', 'ckpt.data-00001-of-00003', 'ckpt.data-00002-of-00003']);
    const b = openBundle(join(dir, 'ckpt.index'));
    expect(plain(b.read('b'))).toEqual([3, 4, 5]);
    expect(plain(b.read('d'))).toEqual([7, 8]);
    expect(plain(b.read('c'))).toEqual([6]);
    expect(listCheckpointTensors(join(dir, 'ckpt'))).toEqual([
      { name: 'a', dtype: 'float32', shape: [2], bytes: 8 },
      { name: 'b', dtype: 'float32', shape: [3], bytes: 12 },
      { name: 'c', dtype: 'int32', shape: [1], bytes: 4 },
      { name: 'd', dtype: 'float64', shape: [2], bytes: 16 },
    ]);
  });

  it('reads an index whose data block is snappy-compressed', () => {
    const dir = tmp();
    writeBundle(join(dir, 'm'), everyDtype().slice(0, 5), { snappy: true });
    expect(plain(openBundle(join(dir, 'm')).read('i8'))).toEqual([-128, 0, 127]);
  });

  it('encodes slice keys as TF does (OrderedCode), checked against hand-computed bytes', () => {
    // 0 | "w" + \0\1 | rank 2 | start 100 (2 bytes: 0xc0 0x64), length 100 | start 0 (0x80), full (-1 -> 0x7f)
    expect(Array.from(encodeTensorNameSlice('w', [{ start: 100, length: 100 }, { start: 0 }]))).toEqual([0, 0x77, 0, 1, 1, 2, 0xc0, 0x64, 0xc0, 0x64, 0x80, 0x7f]);
    for (const s of [[{ start: 0, length: 5 }], [{ start: 3 }, { start: 70000, length: 12345678 }], [{ start: -5, length: 63 }]]) {
      expect(Array.from(encodeTensorNameSlice('a/b\u0000c', s))).toEqual(Array.from(sliceKey('a/b\u0000c', s)));
    }
  });

  it('assembles partitioned variables from their slices (and reads parts of them)', () => {
    const dir = tmp();
    const full = Array.from({ length: 200 * 3 }, (_, i) => i * 0.5);
    const rows = (a: number, b: number) => full.slice(a * 3, b * 3);
    writeBundle(join(dir, 'p'), [{ name: 'other', tensor: host('int32', [1], [1]) }], {
      numShards: 2,
      sliced: [
        {
          name: 'emb',
          dtype: 'float32',
          fullShape: [200, 3],
          parts: [
            { slice: [{ start: 0, length: 120 }, { start: 0 }], tensor: host('float32', [120, 3], rows(0, 120)) },
            { slice: [{ start: 120, length: 80 }, { start: 0 }], tensor: host('float32', [80, 3], rows(120, 200)), shard: 1 },
          ],
        },
        {
          name: 'grid',
          dtype: 'int32',
          fullShape: [2, 4],
          parts: [
            { slice: [{ start: 0 }, { start: 0, length: 1 }], tensor: host('int32', [2, 1], [0, 4]) },
            { slice: [{ start: 0 }, { start: 1, length: 3 }], tensor: host('int32', [2, 3], [1, 2, 3, 5, 6, 7]) },
          ],
        },
      ],
    });
    const b = openBundle(join(dir, 'p'));
    expect(b.names()).toEqual(['emb', 'grid', 'other']);
    const emb = b.read('emb');
    expect(emb.shape).toEqual([200, 3]);
    expect(plain(emb)).toEqual(full);
    expect(b.list().find((t) => t.name === 'emb')).toEqual({ name: 'emb', dtype: 'float32', shape: [200, 3], bytes: 2400, sliced: true });
    expect(plain(b.read('grid'))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const part = b.readSlice('grid', [{ start: 1, length: 1 }, { start: 1, length: 2 }]);
    expect(part.shape).toEqual([1, 2]);
    expect(plain(part)).toEqual([5, 6]);
  });

  it('refuses partitioned variables whose slices leave holes', () => {
    const dir = tmp();
    writeBundle(join(dir, 'h'), [], {
      sliced: [{ name: 'v', dtype: 'float32', fullShape: [4], parts: [{ slice: [{ start: 0, length: 2 }], tensor: host('float32', [2], [1, 2]) }] }],
    });
    // Slices that overlap by as much as they leave out: the holes are found after assembly.
    writeBundle(join(dir, 'o'), [], {
      sliced: [{
        name: 'v', dtype: 'float32', fullShape: [4],
        parts: [{ slice: [{ start: 0, length: 2 }], tensor: host('float32', [2], [1, 2]) }, { slice: [{ start: 1, length: 2 }], tensor: host('float32', [2], [3, 4]) }],
      }],
    });
    expect(() => openBundle(join(dir, 'o')).read('v')).toThrow(/partitioned variable 'v' leave 1 of its 4 elements unset/);
  });

  it('refuses a partitioned variable whose slices hold too few elements before allocating it', () => {
    const dir = tmp();
    // 2^28 float32 (1 GiB, under the memory budget) declared, 2 elements stored.
    writeBundle(join(dir, 'big'), [], {
      sliced: [{ name: 'v', dtype: 'float32', fullShape: [2 ** 28], parts: [{ slice: [{ start: 0, length: 2 }], tensor: host('float32', [2], [1, 2]) }] }],
    });
    expect(() => openBundle(join(dir, 'big')).read('v')).toThrow(/the 1 slices of partitioned variable 'v' \(float32\[268435456\]\) hold 2 of its 268435456 elements/);
  });

  it('refuses negative offsets and sizes, and string tensors with fewer bytes than strings', () => {
    const dir = tmp();
    const prefix = join(dir, 'neg');
    writeFileSync(prefix + '.data-00000-of-00001', new Uint8Array(64));
    const index = (e: Parameters<typeof encodeEntry>[0]) =>
      writeFileSync(prefix + '.index', buildTable([{ key: new Uint8Array(0), value: Uint8Array.from(encodeHeader(1)) }, { key: enc.encode('w'), value: Uint8Array.from(encodeEntry(e)) }]));
    index({ dtype: 1, shape: [1], shardId: 0, offset: -2, size: 4, crc: 0 });
    expect(() => openBundle(prefix)).toThrow(/tensor 'w' declares offset -2 in its data shard; offsets and sizes cannot be negative/);
    index({ dtype: 7, shape: [1000], shardId: 0, offset: 0, size: 64, crc: 0 });
    expect(() => openBundle(prefix).read('w')).toThrow(/string tensor 'w' \(\[1000\]\) declares 64 bytes of data, too few for 1000 strings/);
  });

  it('resolves .index, .data-*, .meta, prefixes and folders with a checkpoint file', () => {
    const dir = tmp();
    const prefix = join(dir, 'model.ckpt-100');
    writeBundle(prefix, [{ name: 'x', tensor: host('float32', [1], [1]) }]);
    for (const p of [prefix, prefix + '.index', prefix + '.meta', prefix + '.data-00000-of-00001']) expect(resolveCheckpointPrefix(p)).toBe(prefix);
    writeFileSync(join(dir, 'checkpoint'), 'model_checkpoint_path: "model.ckpt-100"\nall_model_checkpoint_paths: "model.ckpt-50"\n');
    expect(resolveCheckpointPrefix(dir)).toBe(prefix);
    // Absolute paths from the training machine fall back to the same base name in this folder.
    writeFileSync(join(dir, 'checkpoint'), 'model_checkpoint_path: "/somewhere/else/model.ckpt-100"\n');
    expect(openBundle(dir).prefix).toBe(prefix);
    const sm = tmp();
    mkdirSync(join(sm, 'variables'));
    writeBundle(join(sm, 'variables', 'variables'), [{ name: 'x', tensor: host('float32', [1], [1]) }]);
    expect(openBundle(sm).names()).toEqual(['x']);
    expect(() => openBundle(join(dir, 'nothing'))).toThrow(/no checkpoint index .*nothing\.index/);
  });
});

describe('openBundle errors', () => {
  const setup = () => {
    const dir = tmp();
    const prefix = join(dir, 'm');
    const files = writeBundle(prefix, [
      { name: 'dense/bias', tensor: host('float32', [2], [5, 6]) },
      { name: 'dense/kernel', tensor: host('float32', [2, 2], [1, 2, 3, 4]) },
      { name: 'names', tensor: str('ab', 'c') },
    ]);
    return { dir, prefix, ...files };
  };

  it('names the data file and the variable when the data checksum fails', () => {
    const { prefix, data } = setup();
    const bytes = readFileSync(data[0]!);
    bytes[17] ^= 1; // inside dense/kernel (written after dense/bias: bytes 8..23)
    writeFileSync(data[0]!, bytes);
    const b = openBundle(prefix);
    expect(plain(b.read('dense/bias'))).toEqual([5, 6]);
    const err = (() => {
      try {
        b.read('dense/kernel');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).message).toMatch(/m\.data-00000-of-00001: data of tensor 'dense\/kernel' fails its checksum/);
    expect((err as FormatError).node).toBe('dense/kernel');
  });

  it('checks string tensors (length checksum and data checksum)', () => {
    const { prefix, data } = setup();
    const bytes = readFileSync(data[0]!);
    bytes[bytes.length - 1] ^= 1; // last string byte
    writeFileSync(data[0]!, bytes);
    expect(() => openBundle(prefix).read('names')).toThrow(/string tensor 'names': data fails its checksum/);
    bytes[bytes.length - 1] ^= 1;
    bytes[bytes.length - 5] ^= 1; // inside the length checksum
    writeFileSync(data[0]!, bytes);
    expect(() => openBundle(prefix).read('names')).toThrow(/string tensor 'names': the checksum of the string lengths/);
  });

  it('names the missing shard and the variable', () => {
    const { prefix, data } = setup();
    rmSync(data[0]!);
    expect(() => openBundle(prefix).read('dense/bias')).toThrow(/m\.data-00000-of-00001: data shard of tensor 'dense\/bias' is missing/);
  });

  it('names the shard when it is shorter than an entry says', () => {
    const { prefix, data } = setup();
    writeFileSync(data[0]!, readFileSync(data[0]!).subarray(0, 10));
    expect(() => openBundle(prefix).read('dense/kernel')).toThrow(/tensor 'dense\/kernel' needs bytes 8\.\.24 but the data shard has only 10 bytes/);
  });

  it('names the index file for corrupt magic, block checksum and truncation', () => {
    const { prefix, index } = setup();
    const good = readFileSync(index);
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.from(good).map((b, i) => (i === good.length - 3 ? b ^ 0xff : b)), /bad table magic/],
      [Uint8Array.from(good).map((b, i) => (i === 12 ? b ^ 0x10 : b)), /fails its checksum/],
      [good.subarray(0, good.length - 20), /bad table magic/],
      [good.subarray(0, 30), /shorter than the 48-byte table footer/],
    ];
    for (const [bytes, re] of cases) {
      writeFileSync(index, bytes);
      const err = (() => {
        try {
          openBundle(prefix);
        } catch (e) {
          return e as FormatError;
        }
      })();
      expect(err).toBeInstanceOf(FormatError);
      expect(err!.message).toMatch(re);
      expect(err!.message.startsWith(index)).toBe(true);
      expect(err!.file).toBe(index);
    }
  });

  it('refuses big-endian bundles, sizes that disagree with the shape, and unknown names clearly', () => {
    const dir = tmp();
    writeBundle(join(dir, 'be'), [{ name: 'x', tensor: host('float32', [1], [1]) }], { bigEndian: true });
    expect(() => openBundle(join(dir, 'be'))).toThrow(/big-endian/);
    const prefix = join(dir, 'bad');
    writeFileSync(prefix + '.data-00000-of-00001', new Uint8Array(64));
    writeFileSync(
      prefix + '.index',
      buildTable([
        { key: new Uint8Array(0), value: Uint8Array.from(encodeHeader(1)) },
        { key: enc.encode('w'), value: Uint8Array.from(encodeEntry({ dtype: 1, shape: [3], shardId: 0, offset: 0, size: 8, crc: 0 })) },
      ]),
    );
    const b = openBundle(prefix);
    expect(() => b.read('w')).toThrow(/tensor 'w' \(float32\[3\]\) declares 8 bytes of data, expected 12/);
    expect(() => b.read('ww')).toThrow(/no tensor 'ww' in the checkpoint \(did you mean 'w'\?\)/);
    expect(existsSync(prefix + '.index')).toBe(true);
  });

  it('checks declared shapes against the memory budget before reading', () => {
    const dir = tmp();
    const prefix = join(dir, 'huge');
    writeFileSync(prefix + '.data-00000-of-00001', new Uint8Array(4));
    writeFileSync(
      prefix + '.index',
      buildTable([
        { key: new Uint8Array(0), value: Uint8Array.from(encodeHeader(1)) },
        { key: enc.encode('w'), value: Uint8Array.from(encodeEntry({ dtype: 1, shape: [1 << 20, 1 << 20], shardId: 0, offset: 0, size: 4, crc: 0 })) },
      ]),
    );
    expect(() => openBundle(prefix).read('w')).toThrow(/over the budget/);
  });
});

// bench/big-variables.ts writes multi-GB bundles chunk by chunk: the same bytes as the whole-array writer.
describe('the streaming bundle writer', () => {
  it('writes, chunk by chunk, the bundle the whole-array writer writes', () => {
    const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * (i + 1));
    const a = values(3 * 5, 1);
    const b = values(7, 2);
    const d = tmp();
    const streamed = writeBundleStreamed(join(d, 's', 'v'), [
      { name: 'layer/kernel', shape: [3, 5], fill: (out, start) => out.set(a.subarray(start, start + out.length)) },
      { name: 'layer/bias', shape: [7], fill: (out, start) => out.set(b.subarray(start, start + out.length)) },
    ], { chunkElements: 4 });
    const whole = writeBundle(join(d, 'w', 'v'), [
      { name: 'layer/kernel', tensor: { dtype: 'float32', shape: [3, 5], data: a } },
      { name: 'layer/bias', tensor: { dtype: 'float32', shape: [7], data: b } },
    ]);
    expect(streamed.bytes).toBe(4 * (15 + 7));
    expect(readFileSync(streamed.data[0]!)).toEqual(readFileSync(whole.data[0]!));
    expect(readFileSync(streamed.index)).toEqual(readFileSync(whole.index));
    const bundle = openBundle(join(d, 's', 'v'));
    expect(Array.from(bundle.read('layer/kernel').data as Float32Array)).toEqual(Array.from(a));
    expect(bundle.read('layer/bias').shape).toEqual([7]);
  });
});

// Tensors of 8 MB and more are checked on a thread while reading goes on (checksums.ts); a
// loader settles the checks before any value is used, with the same one-line error.
describe('checksums of big tensors', () => {
  const n = THREAD_BYTES / 4 + 3;
  const fill = (out: Float32Array, start: number) => {
    for (let i = 0; i < out.length; i++) out[i] = ((start + i) % 1000) / 1000 - 0.5;
  };
  function bigSavedModel(): { dir: string; data: string } {
    const dir = tmp();
    const g = new GraphBuilder();
    const x = g.placeholder('x', 'float32', [1, n]);
    g.op('VariableV2', 'w', [], { dtype: A.dtype('float32'), shape: A.shape([1, n]), container: A.str(''), shared_name: A.str('') });
    g.op('Mul', 'y', [x, 'w'], { T: A.dtype('float32') });
    const info = (name: string) => ({ name, dtype: 1, tensor_shape: { dim: [{ size: 1 }, { size: n }] } });
    writeFileSync(join(dir, 'saved_model.pb'), savedModelBytes([metaGraphBytes(g.build(['y']), { meta_info_def: { tags: ['serve'] }, signature_def: { serving_default: { inputs: { x: info('x:0') }, outputs: { y: info('y:0') } } } })]));
    const { data } = writeBundleStreamed(join(dir, 'variables', 'variables'), [{ name: 'w', shape: [1, n], fill }], { chunkElements: 1 << 20 });
    return { dir, data: data[0]! };
  }

  it('reads a big tensor whose checksum is checked on the thread', async () => {
    const { dir } = bigSavedModel();
    const graph = await loadSavedModelGraph(dir);
    const w = graph.nodes.find((m) => m.name === 'w')!;
    expect(w.op).toBe('Const');
    const value = w.attrs.value as { type: 'tensor'; value: HostTensor };
    const data = value.value.data as Float32Array;
    expect(data.length).toBe(n);
    expect([data[0], data[999], data[1000], data[n - 1]]).toEqual([-0.5, Math.fround(0.499), -0.5, Math.fround(((n - 1) % 1000) / 1000 - 0.5)]);
  });

  it('a big tensor whose data is corrupt fails the load in one line naming the file and tensor', async () => {
    const { dir, data } = bigSavedModel();
    const bytes = readFileSync(data);
    bytes[THREAD_BYTES - 7] ^= 0x40;
    writeFileSync(data, bytes);
    await expect(loadSavedModelGraph(dir)).rejects.toThrow(/variables\.data-00000-of-00001: data of tensor 'w' fails its checksum \(crc32c [0-9a-f]+ \(masked\), the index .*variables\.index says [0-9a-f]+\); the data file is corrupt/);
  });
});

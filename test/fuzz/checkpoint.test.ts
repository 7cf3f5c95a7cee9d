import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listSignatures, loadCheckpointGraph, loadSavedModelGraph, openBundle } from '../../src/formats/checkpoint/index.js';
import { describeModel } from '../../src/formats/describe.js';
import { graphStats } from '../../src/formats/index.js';
import type { Graph } from '../../src/graph/ir.js';
import { Interpreter, findUnsupportedOps } from '../../src/interpreter/interpreter.js';
import { tfType } from '../../src/proto/index.js';
import type { EntrySpec } from '../fixtures/bundle-writer.js';
import { DTYPE_ENUM, buildTable, crc32cSimple, encodeEntry, encodeHeader, mask, sliceKey, stringBytes, tensorBytes, writeBundle } from '../fixtures/bundle-writer.js';
import type { HostTensor } from '../../src/core/tensor.js';
import { A, GraphBuilder, host } from '../fixtures/graph.js';
import { metaGraphBytes, savedModelBytes } from '../fixtures/savedmodel-writer.js';
import { tf2FunctionModel } from '../fixtures/savedmodels.js';
import { fuzzReader } from './harness.js';
import { repairTableChecksums } from './table-checksums.js';

/**
 * The checkpoint readers fed seeded mutations (see harness.ts): the tensor bundle (`.index`
 * table + `.data` shard), a SavedModel's saved_model.pb, a TF1 `.meta` MetaGraphDef.
 * Table blocks and tensor data carry crc32c checksums, so most raw mutations stop at the first
 * check; every other damaged `.index` has its block checksums recomputed after the damage, so
 * the block, entry and header parsing behind the checks is reached too.
 */

const d = mkdtempSync(join(tmpdir(), 'parity-fuzz-ckpt-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));
const outcomes: Record<string, { ok: number; parityErrors: number }> = {};

/** A bundle with what the reader decodes: float, int64, bool, float16 and string tensors, a partitioned variable. */
function sampleBundle(prefix: string, snappy: boolean): void {
  const enc = new TextEncoder();
  writeBundle(prefix, [
    { name: 'dense/kernel', tensor: host('float32', [2, 3], [1, 2, 3, 4, 5, 6]) },
    { name: 'dense/bias', tensor: host('float32', [3], [0.5, -1, 2]) },
    { name: 'global_step', tensor: { dtype: 'int64', shape: [], data: BigInt64Array.from([42n]) } },
    { name: 'mask', tensor: { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) } },
    { name: 'half', tensor: host('float16', [2], [0.5, -2]) },
    { name: 'vocab', tensor: { dtype: 'string', shape: [2], data: [enc.encode('a'), enc.encode('bc')] } },
  ], {
    snappy,
    sliced: [{
      name: 'emb', dtype: 'float32', fullShape: [3, 2],
      parts: [
        { slice: [{ start: 0, length: 2 }, { start: 0 }], tensor: host('float32', [2, 2], [1, 2, 3, 4]) },
        { slice: [{ start: 2, length: 1 }, { start: 0 }], tensor: host('float32', [1, 2], [5, 6]) },
      ],
    }],
  });
}

const INTERESTING = [0, 1, 2, 3, 5, 7, 8, 19, 24, -1, -2, 100, 255, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 40, 2 ** 53 - 1, 1e9, 4e9, 2 ** 62];

/**
 * Writes a bundle whose entries are damaged by `instr` (triples: entry, field, value index), with
 * a valid table around them: dtype, shape dims, shard, offset, size, crc, slice extents, slice
 * lists and the header's shard count take unusual values.
 */
function structuredBundle(prefix: string, instr: Uint8Array): void {
  const enc = new TextEncoder();
  const tensors: { key: Uint8Array; tensor: HostTensor }[] = [
    { key: enc.encode('dense/kernel'), tensor: host('float32', [2, 3], [1, 2, 3, 4, 5, 6]) },
    { key: enc.encode('global_step'), tensor: { dtype: 'int64', shape: [], data: BigInt64Array.from([42n]) } },
    { key: enc.encode('mask'), tensor: { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) } },
    { key: enc.encode('half'), tensor: host('float16', [2], [0.5, -2]) },
    { key: enc.encode('vocab'), tensor: { dtype: 'string', shape: [2], data: [enc.encode('a'), enc.encode('bc')] } },
    { key: sliceKey('emb', [{ start: 0, length: 2 }, { start: 0 }]), tensor: host('float32', [2, 2], [1, 2, 3, 4]) },
    { key: sliceKey('emb', [{ start: 2, length: 1 }, { start: 0 }]), tensor: host('float32', [1, 2], [5, 6]) },
  ];
  const data: number[] = [];
  const specs: { key: Uint8Array; e: EntrySpec }[] = tensors.map(({ key, tensor }) => {
    const { bytes, crc } = tensor.dtype === 'string' ? stringBytes(tensor.data as Uint8Array[]) : (() => {
      const b = tensorBytes(tensor);
      return { bytes: b, crc: mask(crc32cSimple(b)) };
    })();
    const e: EntrySpec = { dtype: DTYPE_ENUM[tensor.dtype]!, shape: tensor.shape.slice(), shardId: 0, offset: data.length, size: bytes.length, crc };
    data.push(...bytes);
    return { key, e };
  });
  specs.push({ key: enc.encode('emb'), e: { dtype: 1, shape: [3, 2], shardId: 0, offset: 0, size: 0, crc: 0, slices: [[{ start: 0, length: 2 }, { start: 0 }], [{ start: 2, length: 1 }, { start: 0 }]] } });
  let numShards = 1;
  for (let i = 0; i + 2 < instr.length + 2 && i < instr.length; i += 3) {
    const e = specs[instr[i]! % specs.length]!.e;
    const field = (instr[i + 1] ?? 0) % 10;
    const raw = instr[i + 2] ?? 0;
    const v = INTERESTING[raw % INTERESTING.length]!;
    const j = raw >> 4;
    if (field === 0) e.dtype = v;
    else if (field === 1) {
      if (e.shape.length) e.shape[j % e.shape.length] = v;
      else e.shape.push(v);
    } else if (field === 2) {
      if (raw & 1) e.shape.pop();
      else e.shape.push(v);
    } else if (field === 3) e.shardId = v;
    else if (field === 4) e.offset = v;
    else if (field === 5) e.size = v;
    else if (field === 6) e.crc = v >>> 0;
    else if (field === 7) {
      const sl = (e.slices ??= []);
      if (!sl.length) sl.push([{ start: 0 }]);
      const ext = sl[j % sl.length]!;
      const x = ext[j % Math.max(1, ext.length)] ?? (ext[0] = { start: 0 });
      if (raw & 1) x.start = v;
      else x.length = v;
    } else if (field === 8) {
      if (raw & 1) e.slices = (e.slices ?? []).slice(0, -1);
      else (e.slices ??= []).push(Array.from({ length: Math.max(1, e.shape.length) }, () => ({ start: 0, length: v })));
    } else numShards = v;
  }
  const entries = [
    { key: new Uint8Array(0), value: Uint8Array.from(encodeHeader(numShards)) },
    ...specs.map(({ key, e }) => ({ key, value: Uint8Array.from(encodeEntry(e)) })),
  ];
  // Two entries under one key would not be a table TF writes; keep the first.
  const seen = new Set<string>();
  const unique = entries.filter((x) => {
    const k = Buffer.from(x.key).toString('latin1');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  writeFileSync(prefix + '.index', buildTable(unique));
  writeFileSync(prefix + '.data-00000-of-00001', Uint8Array.from(data));
}

function readWholeBundle(prefix: string): void {
  const b = openBundle(prefix);
  b.list();
  for (const name of b.names()) b.read(name);
}

describe('fuzz: checkpoint readers', () => {
  it('tensor bundle (.index table + .data shard)', async () => {
    const samples: Uint8Array[] = [];
    for (const snappy of [false, true]) {
      const src = join(d, `bundle-src-${snappy}`);
      sampleBundle(join(src, 'ck'), snappy);
      samples.push(new Uint8Array(readFileSync(join(src, 'ck.index'))));
    }
    const data = new Uint8Array(readFileSync(join(d, 'bundle-src-false', 'ck.data-00000-of-00001')));
    samples.push(data);
    const work = join(d, 'bundle');
    mkdirSync(work, { recursive: true });
    const prefix = join(work, 'ck');
    // Cases rotate: a damaged .index as is, a damaged .index with its block checksums repaired,
    // a damaged .data shard under a valid .index. The corpus holds the input bytes only, so a
    // saved input replays in all three roles.
    let k = 0;
    outcomes.bundle = await fuzzReader('checkpoint-bundle', samples, (bytes) => {
      const role = k++ % 3;
      writeFileSync(prefix + '.index', role === 2 ? samples[0]! : role === 1 ? repairTableChecksums(bytes) : bytes);
      writeFileSync(prefix + '.data-00000-of-00001', role === 2 ? bytes : data);
      readWholeBundle(prefix);
    });
    expect(outcomes.bundle.parityErrors).toBeGreaterThan(0);
  }, 180_000);

  it('tensor bundle entries (structure-aware: damaged BundleEntryProto fields in a well-formed table)', async () => {
    const prefix = join(d, 'structured', 'ck');
    mkdirSync(join(d, 'structured'), { recursive: true });
    // Inputs are instruction bytes (entry, field, value): mutating them damages fields, not framing.
    const samples = [Uint8Array.from([0, 1, 3]), Uint8Array.from([5, 7, 2, 1, 4, 0]), Uint8Array.from([2, 5, 9, 3, 3, 1, 6, 8, 2])];
    outcomes.bundleEntries = await fuzzReader('checkpoint-bundle-entries', samples, (bytes) => {
      structuredBundle(prefix, bytes);
      readWholeBundle(prefix);
      openBundle(prefix).readSlice('emb', [{ start: 1, length: 2 }, { start: 0 }]);
    });
    expect(outcomes.bundleEntries.ok).toBeGreaterThan(0);
    expect(outcomes.bundleEntries.parityErrors).toBeGreaterThan(0);
  }, 180_000);

  it('saved_model.pb (SavedModel / MetaGraphDef)', async () => {
    const tf2 = join(d, 'sm-tf2');
    tf2FunctionModel(tf2);
    // A TF1-style SavedModel too: VariableV2 read by name, a Saver, no object graph.
    const tf1 = join(d, 'sm-tf1');
    const samples = [new Uint8Array(readFileSync(join(tf2, 'saved_model.pb'))), savedModelBytes([metaGraphBytes(tf1Graph(), { meta_info_def: { tags: ['serve'] }, signature_def: tf1Sig })])];
    writeBundle(join(tf1, 'variables', 'variables'), [{ name: 'w', tensor: host('float32', [2], [3, -4]) }]);
    const work = join(d, 'sm');
    mkdirSync(work, { recursive: true });
    // Each input is read against both variable folders (the TF2 and the TF1 checkpoint).
    let k = 0;
    outcomes.savedModel = await fuzzReader('saved-model', samples, async (bytes) => {
      const vars = k++ % 2 === 0 ? tf2 : tf1;
      rmSync(join(work, 'variables'), { recursive: true, force: true });
      mkdirSync(join(work, 'variables'));
      for (const f of ['variables.index', 'variables.data-00000-of-00001']) writeFileSync(join(work, 'variables', f), readFileSync(join(vars, 'variables', f)));
      writeFileSync(join(work, 'saved_model.pb'), bytes);
      listSignatures(work);
      // What inspect reads: the same file described where a run would refuse it.
      await describeModel(work);
      exercise(await loadSavedModelGraph(work));
    });
    expect(outcomes.savedModel.ok).toBeGreaterThan(0);
  }, 180_000);

  it('TF1 checkpoint .meta (MetaGraphDef) with its bundle', async () => {
    const prefix = join(d, 'meta', 'ck');
    writeBundle(prefix, [{ name: 'w', tensor: host('float32', [2], [3, -4]) }]);
    const sample = metaGraphBytes(tf1Graph(), { meta_info_def: { tags: ['serve'] }, saver_def: { restore_op_name: 'save/restore_all', version: 2 } });
    outcomes.meta = await fuzzReader('checkpoint-meta', [sample], async (bytes) => {
      writeFileSync(prefix + '.meta', bytes);
      await describeModel(prefix);
      exercise(await loadCheckpointGraph(prefix));
    });
    expect(outcomes.meta.ok).toBeGreaterThan(0);
  }, 180_000);

  it('saved_model.pb and .meta fields (structure-aware: damaged fields in well-formed protobuf)', async () => {
    const tf2 = join(d, 'sm-fields-tf2');
    tf2FunctionModel(tf2);
    const work = join(d, 'sm-fields');
    mkdirSync(join(work, 'variables'), { recursive: true });
    for (const f of ['variables.index', 'variables.data-00000-of-00001']) writeFileSync(join(work, 'variables', f), readFileSync(join(tf2, 'variables', f)));
    const SM = tfType('SavedModel');
    const base = SM.toObject(SM.decode(readFileSync(join(tf2, 'saved_model.pb'))), { longs: String, enums: Number, bytes: Array, defaults: false });
    const metaPrefix = join(d, 'meta-fields', 'ck');
    writeBundle(metaPrefix, [{ name: 'w', tensor: host('float32', [2], [3, -4]) }]);
    const MG = tfType('MetaGraphDef');
    const metaBase = MG.toObject(MG.decode(metaGraphBytes(tf1Graph(), { saver_def: { restore_op_name: 'save/restore_all', version: 2 } })), { longs: String, enums: Number, bytes: Array, defaults: false });
    // Inputs are instruction bytes (op, target, target, value); even cases damage the TF2
    // SavedModel, odd cases the TF1 .meta.
    const samples = [Uint8Array.from([0, 0, 5, 3]), Uint8Array.from([2, 0, 40, 1, 1, 0, 77, 9]), Uint8Array.from([3, 1, 2, 3, 0, 0, 200, 17])];
    let k = 0;
    outcomes.savedModelFields = await fuzzReader('saved-model-fields', samples, async (bytes) => {
      if (k++ % 2 === 0) {
        writeFileSync(join(work, 'saved_model.pb'), SM.encode(SM.fromObject(damage(base, bytes))).finish());
        listSignatures(work);
        await describeModel(work);
        exercise(await loadSavedModelGraph(work), true);
      } else {
        writeFileSync(metaPrefix + '.meta', MG.encode(MG.fromObject(damage(metaBase, bytes))).finish());
        await describeModel(metaPrefix);
        exercise(await loadCheckpointGraph(metaPrefix), true);
      }
    });
    expect(outcomes.savedModelFields.ok).toBeGreaterThan(0);
    expect(outcomes.savedModelFields.parityErrors).toBeGreaterThan(0);
  }, 240_000);

  it('writes the outcome table', () => {
    console.log('checkpoint fuzz outcomes (read fine / refused with ParityError):', JSON.stringify(outcomes));
  });
});

/** What the CLI does next with a loaded graph: statistics, the unsupported-op check, planning a run. */
function exercise(g: Graph, plan = false): void {
  graphStats(g);
  findUnsupportedOps(g);
  if (plan) new Interpreter(g).dispose();
}

const NAMES = ['', 'x', 'x:99', '^nowhere', 'a:b:c:d', 'kernel_handle', 'unique_handle', 'serving_default_x:0', 'StatefulPartitionedCall', '__inference_scale_9', '__inference_signature_wrapper_5', 'w', 'save/restore_all', 'VarHandleOp', 'ReadVariableOp', 'StatefulPartitionedCall:7', 'dense/kernel', '..'];

/**
 * A copy of a decoded message with fields damaged by `instr` (4-byte instructions: op, two bytes
 * picking a leaf or list, a value): leaves set to unusual numbers, enum values or names (other
 * nodes, functions, missing ones), list elements removed or duplicated.
 */
function damage(msg: Record<string, unknown>, instr: Uint8Array): Record<string, unknown> {
  const root = structuredClone(msg) as Record<string, unknown>;
  for (let i = 0; i < instr.length; i += 4) {
    const leaves: { holder: Record<string | number, unknown>; key: string | number }[] = [];
    const lists: unknown[][] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) {
        // Byte arrays (bytes fields) are leaves of their own: only their length is damaged.
        if (v.length && typeof v[0] === 'number' && v.length > 8) return;
        lists.push(v);
        v.forEach((x, j) => (x !== null && typeof x === 'object' ? walk(x) : leaves.push({ holder: v as unknown as Record<number, unknown>, key: j })));
      } else if (v !== null && typeof v === 'object') {
        for (const [key, x] of Object.entries(v)) (x !== null && typeof x === 'object' ? walk(x) : leaves.push({ holder: v as Record<string, unknown>, key }));
      }
    };
    walk(root);
    const op = instr[i]! % 4;
    const target = ((instr[i + 1] ?? 0) << 8) | (instr[i + 2] ?? 0);
    const raw = instr[i + 3] ?? 0;
    if (op < 2 && leaves.length) {
      const { holder, key } = leaves[target % leaves.length]!;
      const old = holder[key];
      if (typeof old === 'number') holder[key] = INTERESTING[raw % INTERESTING.length]! | 0;
      else if (typeof old === 'boolean') holder[key] = !old;
      else if (typeof old === 'string' && /^-?\d+$/.test(old)) holder[key] = String(INTERESTING[raw % INTERESTING.length]);
      else holder[key] = NAMES[raw % NAMES.length];
    } else if (lists.length) {
      const list = lists[target % lists.length]!;
      if (!list.length) continue;
      const j = raw % list.length;
      if (op === 2) list.splice(j, 1);
      else list.push(structuredClone(list[j]));
    }
  }
  return root;
}

function tf1Graph(): Graph {
  const g = new GraphBuilder();
  g.placeholder('x', 'float32', [-1, 2]);
  g.op('VariableV2', 'w', [], { dtype: A.dtype('float32'), shape: A.shape([2]) });
  g.op('Identity', 'w/read', ['w'], { T: A.dtype('float32') });
  g.op('Mul', 'y', ['x', 'w/read'], { T: A.dtype('float32') });
  return g.build([]);
}

const tf1Sig = {
  predict: {
    inputs: { in: { name: 'x:0', dtype: 1, tensor_shape: { dim: [{ size: -1 }, { size: 2 }] } } },
    outputs: { out: { name: 'y:0', dtype: 1 } },
  },
};

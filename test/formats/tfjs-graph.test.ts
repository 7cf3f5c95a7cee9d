import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/core/errors.js';
import type { HostTensor } from '../../src/core/tensor.js';
import { graphStats, loadGraph } from '../../src/formats/index.js';
import { readTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import type { Graph } from '../../src/graph/ir.js';
import { runGraph } from '../fixtures/graph.js';

type J = Record<string, unknown>;
const b64 = (s: string) => Buffer.from(s).toString('base64');

function valueOf(g: Graph, name: string): HostTensor {
  const n = g.nodes.find((x) => x.name === name) ?? [...g.functions.values()].flatMap((f) => f.nodes).find((x) => x.name === name);
  const v = n?.attrs.value;
  if (v?.type !== 'tensor') throw new Error(`${name} has no tensor value`);
  return v.value;
}
const vals = (h: HostTensor) => Array.from(h.data as ArrayLike<number>);

/** Weight bytes of group 0, written by hand (little-endian), in manifest order. */
const GROUP0 = [
  ...[0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0], // w: float32 [1.5, -2]
  ...[0, 2, 255], // q: uint8, min -1, scale 0.5 -> [-1, 0, 126.5]
  ...[0x01, 0x00, 0x03, 0x00], // qi: uint16 -> int32, min 10, scale 0.25 -> round(10.25), round(10.75)
  ...[0x00, 0x3c, 0x00, 0xc0], // h: float16 -> [1, -2]
  ...[2, 0, 0, 0, 104, 105, 0, 0, 0, 0], // s: strings 'hi', ''
  ...[0, 1, 7], // b: bool -> [0, 1, 1]
  ...[0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0], // c: complex64 (1, -2.5)
  ...[0x07, 0x00, 0x00, 0x00], // k: int32 7 (a function-body constant)
];
/** Group 1 starts its offsets again at 0 in its own shard. */
const GROUP1 = [0x00, 0x00, 0x80, 0xbf]; // v: float32 -1

function modelJson(): J {
  const constNode = (name: string, dtype: string) => ({ name, op: 'Const', attr: { value: { tensor: { dtype, tensorShape: {} } }, dtype: { type: dtype } } });
  return {
    format: 'graph-model',
    generatedBy: 'hand',
    convertedBy: 'hand',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '2' }] } } } },
        constNode('w', 'DT_FLOAT'),
        constNode('q', 'DT_FLOAT'),
        constNode('qi', 'DT_INT32'),
        constNode('h', 'DT_FLOAT'),
        constNode('s', 'DT_STRING'),
        constNode('b', 'DT_BOOL'),
        constNode('c', 'DT_COMPLEX64'),
        constNode('v', 'DT_FLOAT'),
        { name: 'inline', op: 'Const', attr: { value: { tensor: { dtype: 'DT_INT32', tensorShape: { dim: [{ size: '3' }] }, intVal: [4, 5] } }, dtype: { type: 'DT_INT32' } } },
        { name: 'inline64', op: 'Const', attr: { value: { tensor: { dtype: 'DT_INT64', tensorShape: {}, int64Val: ['9007199254740993'] } } } },
        { name: 'packed', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '1' }] }, tensorContent: Buffer.from([0, 0, 0x80, 0x3f]).toString('base64') } } } },
        {
          name: 'y',
          op: 'Identity',
          input: ['x'],
          attr: {
            T: { type: 'DT_FLOAT' },
            k: { i: '3' },
            ks: { list: { i: ['1', '-2'], type: ['DT_FLOAT', 'DT_INT32'] } },
            pad: { s: b64('SAME') },
            sh: { shape: { dim: [{ size: '-1' }, { size: '4' }] } },
            u: { shape: { unknownRank: true } },
            eps: { f: 0.5 },
            inf: { f: 'Infinity' },
            flag: { b: true },
            fn: { func: { name: 'f', attr: { T: { type: 'DT_FLOAT' } } } },
            empty: { list: {} },
          },
        },
        { name: 'z', op: 'IdentityN', input: ['x', 'w', '^v'], attr: { T: { list: { type: ['DT_FLOAT', 'DT_FLOAT'] } } } },
      ],
      library: {
        function: [
          {
            signature: { name: 'f', inputArg: [{ name: 'a', type: 'DT_FLOAT' }], outputArg: [{ name: 'r', typeAttr: 'T' }] },
            nodeDef: [constNode('k', 'DT_INT32'), { name: 'm', op: 'Identity', input: ['a'] }],
            ret: { r: 'm:output:0' },
          },
        ],
      },
      versions: { producer: 1234 },
    },
    weightsManifest: [
      {
        paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
        weights: [
          { name: 'w', shape: [2], dtype: 'float32' },
          { name: 'q', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.5 } },
          { name: 'qi', shape: [2], dtype: 'int32', quantization: { dtype: 'uint16', min: 10, scale: 0.25 } },
          { name: 'h', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 's', shape: [2], dtype: 'string' },
          { name: 'b', shape: [3], dtype: 'bool' },
          { name: 'c', shape: [1], dtype: 'complex64' },
          { name: 'k', shape: [], dtype: 'int32' },
        ],
      },
      { paths: ['group2-shard1of1.bin'], weights: [{ name: 'v', shape: [1], dtype: 'float32' }] },
    ],
    signature: {
      inputs: { 'x:0': { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '1' }, { size: '2' }] } } },
      outputs: { out: { name: 'z:1', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '2' }] } } },
    },
  };
}

/** Writes the model; group 0 is split at an odd byte so later weights sit unaligned. */
function writeModel(json: J = modelJson(), g0 = GROUP0, split = 7): string {
  const d = mkdtempSync(join(tmpdir(), 'parity-tfjs-'));
  writeFileSync(join(d, 'model.json'), JSON.stringify(json));
  writeFileSync(join(d, 'group1-shard1of2.bin'), Uint8Array.from(g0.slice(0, split)));
  writeFileSync(join(d, 'group1-shard2of2.bin'), Uint8Array.from(g0.slice(split)));
  writeFileSync(join(d, 'group2-shard1of1.bin'), Uint8Array.from(GROUP1));
  return d;
}

describe('tfjs graph model (model.json + shards written here)', () => {
  it('weights from concatenated shards, per-group offsets, every dtype and quantization', async () => {
    const g = await readTfjsGraphModel(writeModel());
    expect(g.source.format).toBe('tfjs-graph');
    expect(vals(valueOf(g, 'w'))).toEqual([1.5, -2]);
    expect(vals(valueOf(g, 'q'))).toEqual([-1, 0, 126.5]);
    expect([valueOf(g, 'qi').dtype, vals(valueOf(g, 'qi'))]).toEqual(['int32', [10, 11]]);
    expect([valueOf(g, 'h').dtype, vals(valueOf(g, 'h'))]).toEqual(['float32', [1, -2]]);
    expect((valueOf(g, 's').data as Uint8Array[]).map((x) => Array.from(x))).toEqual([[104, 105], []]);
    expect(vals(valueOf(g, 'b'))).toEqual([0, 1, 1]);
    expect([valueOf(g, 'c').dtype, valueOf(g, 'c').shape, vals(valueOf(g, 'c'))]).toEqual(['complex64', [1], [1, -2.5]]);
    expect([valueOf(g, 'k').shape, vals(valueOf(g, 'k'))]).toEqual([[], [7]]);
    expect(vals(valueOf(g, 'v'))).toEqual([-1]);
    // constants kept inline in the JSON (repeat-last rule, int64, tensor_content)
    expect(vals(valueOf(g, 'inline'))).toEqual([4, 5, 5]);
    expect(Array.from(valueOf(g, 'inline64').data as BigInt64Array)).toEqual([9007199254740993n]);
    expect(vals(valueOf(g, 'packed'))).toEqual([1]);
  });

  it('attrs in JSON form decode like their binary counterparts; functions, signature, producer', async () => {
    const g = await readTfjsGraphModel(writeModel());
    const y = g.nodes.find((n) => n.name === 'y')!.attrs;
    expect(y.T).toEqual({ type: 'dtype', value: 'float32' });
    expect(y.k).toEqual({ type: 'int', value: 3 });
    expect(y.ks).toMatchObject({ type: 'list', ints: [1, -2], dtypes: ['float32', 'int32'] });
    expect(y.pad).toMatchObject({ type: 'string', value: 'SAME' });
    expect(y.sh).toEqual({ type: 'shape', value: [-1, 4] });
    expect(y.u).toEqual({ type: 'shape', value: null });
    expect(y.eps).toEqual({ type: 'float', value: 0.5 });
    expect(y.inf).toEqual({ type: 'float', value: Infinity });
    expect(y.flag).toEqual({ type: 'bool', value: true });
    expect(y.fn).toEqual({ type: 'func', value: { name: 'f', attrs: { T: { type: 'dtype', value: 'float32' } } } });
    expect(y.empty).toMatchObject({ type: 'list', ints: [] });
    const f = g.functions.get('f')!;
    expect(f.inputArgs).toEqual([{ name: 'a', dtype: 'float32' }]);
    expect(f.outputArgs).toEqual([{ name: 'r', typeAttr: 'T' }]);
    expect(f.ret).toEqual({ r: 'm:output:0' });
    expect(g.producer).toBe(1234);
    // The signature's shape is more specific than the Placeholder's; its outputs name tensors.
    expect(g.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [1, 2] }]);
    expect(g.outputs).toEqual(['z:1']);
    expect(g.signatures?.serving_default?.outputs.out).toEqual({ name: 'z:1', dtype: 'float32', shape: [2] });
    const x = tf.tensor2d([[3, 4]]);
    const r = await runGraph(g, { x }, ['y', 'z', 'z:1']);
    x.dispose();
    expect(r.get('y')!.values).toEqual([3, 4]);
    expect(r.get('z:1')!.values).toEqual([1.5, -2]);
    expect(graphStats(g).nodes).toBe(14);
  });

  it('loadGraph accepts the folder or the model.json; without a signature, inputs are Placeholders', async () => {
    const d = writeModel();
    expect((await loadGraph(d)).nodes.length).toBe(14);
    const json = modelJson();
    delete json.signature;
    const g = await loadGraph(join(writeModel(json), 'model.json'));
    expect(g.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 2] }]);
    expect(g.outputs).toEqual(['y', 'z']);
  });
});

describe('tfjs graph model errors are FormatErrors naming the weight and file', () => {
  const err = async (p: string): Promise<Error> => {
    try {
      await readTfjsGraphModel(p);
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      return e as Error;
    }
    throw new Error('no error');
  };
  it('missing shard', async () => {
    const d = writeModel();
    const json = modelJson();
    (json.weightsManifest as J[])[1]!.paths = ['gone.bin'];
    writeFileSync(join(d, 'model.json'), JSON.stringify(json));
    const e = await err(d);
    expect(e.message).toMatch(/model.json: weight shard 'gone.bin' of group 1 \(weights 'v'\) is missing; expected at .*gone.bin$/);
  });
  it('short shard', async () => {
    const d = writeModel(modelJson(), GROUP0.slice(0, GROUP0.length - 2));
    const e = await err(d);
    expect(e.message).toMatch(/model.json: weight 'k' needs bytes 40\.\.44 of shards 'group1-shard1of2.bin' \+ 'group1-shard2of2.bin', which hold 42 bytes/);
    const d2 = writeModel(modelJson(), GROUP0.slice(0, 20));
    expect((await err(d2)).message).toMatch(/weight 's' needs bytes 19\.\.23 /);
  });
  it('a weight for a node that does not exist, a constant without a weight', async () => {
    const json = modelJson();
    ((json.weightsManifest as J[])[1]!.weights as J[])[0]!.name = 'nobody';
    const e = await err(writeModel(json));
    expect(e.message).toMatch(/constant 'v' has no weight in weightsManifest and no inline values/);
    const json2 = modelJson();
    ((json2.weightsManifest as J[])[1]!.weights as J[]).push({ name: 'ghost', shape: [0], dtype: 'float32' });
    expect((await err(writeModel(json2))).message).toMatch(/model.json: weight 'ghost' \(in shard 'group2-shard1of1.bin'\) belongs to no node of the graph/);
  });
  it('bad manifest entries, not a graph model, not JSON, missing file', async () => {
    const json = modelJson();
    ((json.weightsManifest as J[])[0]!.weights as J[])[1]!.quantization = { dtype: 'uint8' };
    expect((await err(writeModel(json))).message).toMatch(/weightsManifest entry 1 \('q'\) is uint8-quantized but lacks a finite min and scale/);
    const json2 = modelJson();
    ((json2.weightsManifest as J[])[0]!.weights as J[])[0]!.dtype = 'float64';
    expect((await err(writeModel(json2))).message).toMatch(/entry 0 \('w'\) has dtype "float64"/);
    const d = mkdtempSync(join(tmpdir(), 'parity-tfjs-'));
    writeFileSync(join(d, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential' } }));
    expect((await err(d)).message).toMatch(/not a TensorFlow.js graph model .*format is 'layers-model'/);
    writeFileSync(join(d, 'model.json'), '{"modelTopology": ');
    expect((await err(d)).message).toMatch(/model.json: not a valid model.json/);
    writeFileSync(join(d, 'model.json'), JSON.stringify({ modelTopology: { node: [{ name: 'a', op: 'Identity', input: ['missing'] }] } }));
    expect((await err(d)).message).toMatch(/node 'a' reads 'missing', which is not a node/);
    writeFileSync(join(d, 'model.json'), JSON.stringify({ modelTopology: { node: [{ name: 'a', op: 'X', attr: { s: { s: '%%%' } } }] } }));
    expect((await err(d)).message).toMatch(/model.json: /);
    expect((await err(join(d, 'nope.json'))).message).toMatch(/nope.json: file not found/);
  });
});

const MODELS = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');

/** IEEE half -> float, written again here so the test does not check the code against itself. */
function half(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const s = h >> 15 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

/** Byte offset of each weight in its group, from the manifest alone. */
function offsets(json: J): Map<string, { offset: number; spec: J; bin: string }> {
  const out = new Map<string, { offset: number; spec: J; bin: string }>();
  for (const g of json.weightsManifest as J[]) {
    let off = 0;
    for (const w of g.weights as J[]) {
      const n = (w.shape as number[]).reduce((a, b) => a * b, 1);
      const q = w.quantization as J | undefined;
      const per = q ? ({ uint8: 1, uint16: 2, float16: 2 } as Record<string, number>)[q.dtype as string]! : 4;
      out.set(w.name as string, { offset: off, spec: w, bin: (g.paths as string[])[0]! });
      off += n * per;
    }
  }
  return out;
}

describe.skipIf(!existsSync(MODELS))('published tfjs graph models (@vladmandic/human)', () => {
  it('blazeface: 257 nodes, every weight on its Const with the manifest shape and the .bin values', async () => {
    const file = join(MODELS, 'blazeface.json');
    const g = await readTfjsGraphModel(file);
    expect(g.nodes.length).toBe(257);
    const json = JSON.parse(readFileSync(file, 'utf8')) as J;
    const bin = readFileSync(join(MODELS, 'blazeface.bin'));
    const offs = offsets(json);
    expect(offs.size).toBe(112);
    for (const [name, { offset, spec }] of offs) {
      const node = g.nodes.find((n) => n.name === name)!;
      expect(node.op).toBe('Const');
      const t = valueOf(g, name);
      expect(t.shape).toEqual(spec.shape);
      const first = spec.dtype === 'int32' ? bin.readInt32LE(offset) : bin.readFloatLE(offset);
      if (t.data.length) expect((t.data as Float32Array)[0]).toBe(first);
    }
    expect(g.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: [1, 256, 256, 3] }]);
  });

  it('movenet-lightning: float16 weights widen to the values the .bin bit patterns hold', async () => {
    const file = join(MODELS, 'movenet-lightning.json');
    const g = await readTfjsGraphModel(file);
    expect(g.nodes.length).toBe(331);
    const json = JSON.parse(readFileSync(file, 'utf8')) as J;
    const bin = readFileSync(join(MODELS, 'movenet-lightning.bin'));
    let checked = 0;
    for (const [name, { offset, spec }] of offsets(json)) {
      if ((spec.quantization as J | undefined)?.dtype !== 'float16') continue;
      const t = valueOf(g, name);
      const d = t.data as Float32Array;
      expect(t.dtype).toBe('float32');
      for (let i = 0; i < d.length; i += Math.max(1, Math.floor(d.length / 7))) {
        expect(d[i]).toBe(half(bin.readUInt16LE(offset + 2 * i)));
        expect(Math.abs(d[i]!)).toBeLessThanOrEqual(65504);
      }
      checked++;
    }
    expect(checked).toBe(149);
  });

  it('handtrack: uint8-quantized weights decode to q * scale + min', async () => {
    const file = join(MODELS, 'handtrack.json');
    const g = await readTfjsGraphModel(file);
    expect(g.nodes.length).toBe(1185);
    const json = JSON.parse(readFileSync(file, 'utf8')) as J;
    const bin = readFileSync(join(MODELS, 'handtrack.bin'));
    const quantized = [...offsets(json)].filter(([, o]) => (o.spec.quantization as J | undefined)?.dtype === 'uint8');
    expect(quantized.length).toBe(272);
    for (const [name, { offset, spec }] of [quantized[0]!, quantized[100]!, quantized[271]!]) {
      const q = spec.quantization as { min: number; scale: number };
      const d = valueOf(g, name).data as Float32Array;
      expect(valueOf(g, name).shape).toEqual(spec.shape);
      expect(d.length).toBeGreaterThan(0);
      for (const i of new Set([0, Math.min(1, d.length - 1), d.length - 1])) expect(d[i]).toBe(Math.fround(bin[offset + i]! * q.scale + q.min));
    }
    expect(g.inputs).toEqual([{ name: 'input_tensor', dtype: 'uint8', shape: [1, 320, 320, 3] }]);
    expect(g.outputs).toHaveLength(8);
  });
});

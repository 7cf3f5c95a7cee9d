import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, InputError, LimitError } from '../../src/core/errors.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import { generateFeeds, inferIntRanges, loadFeeds } from '../../src/inputs/generate.js';
import { readNpy, writeNpy } from '../../src/inputs/npy.js';
import { readNpz, writeNpzFile } from '../../src/inputs/npz.js';
import { loadInputSpecFile, parseInputArg, parseShapeArg } from '../../src/inputs/spec.js';
import type { HostTensor } from '../../src/core/tensor.js';

const FIX = join(import.meta.dirname, '../fixtures/npy');
const npy = (f: string) => readNpy(new Uint8Array(readFileSync(join(FIX, f))), f);
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('.npy / .npz', () => {
  it('reads numpy-written files (values set in test/fixtures/gen/npy_fixtures.py)', () => {
    expect(npy('f4.npy')).toMatchObject({ dtype: 'float32', shape: [2, 3] });
    expect(Array.from(npy('f4.npy').data as Float32Array)).toEqual([1.5, -2, 3.25, 0, Math.fround(1e-3), -7]);
    expect(Array.from(npy('f8_be.npy').data as Float64Array)).toEqual([1, -0.5, 2 ** 40]);
    expect(Array.from(npy('i8.npy').data as BigInt64Array)).toEqual([9007199254740993n, -3n]);
    expect(Array.from(npy('f2.npy').data as Float32Array)).toEqual([1, -2, 0.5, 65504]);
    expect(npy('f2.npy').dtype).toBe('float16');
    expect(Array.from(npy('b1.npy').data as Uint8Array)).toEqual([1, 0, 1]);
    expect(npy('u2_scalar.npy')).toMatchObject({ dtype: 'uint16', shape: [] });
    expect(Array.from(npy('u2_scalar.npy').data as Uint16Array)).toEqual([513]);
    const z = readNpz(new Uint8Array(readFileSync(join(FIX, 'feeds.npz'))), 'feeds.npz');
    expect([...z.keys()].sort()).toEqual(['ids', 'x']);
    expect(Array.from(z.get('ids')!.data as Int32Array)).toEqual([3, 1]);
  });

  it('round-trips every dtype', () => {
    const cases: HostTensor[] = [
      host('float32', [2, 2], [1, -2, 3.5, 0]), host('float64', [2], [0.1, -1e300]), host('int8', [2], [-128, 127]),
      host('int16', [1], [-30000]), host('int32', [2], [2 ** 31 - 1, -(2 ** 31)]), host('int64', [2], [2n ** 62n, -1n] as unknown as number[]),
      host('uint8', [1], [255]), host('uint16', [1], [65535]), host('uint32', [1], [4294967295]), host('bool', [3], [true, false, true]),
      host('float16', [2], [1, -0.5]), { dtype: 'uint64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
      { dtype: 'complex64', shape: [1], data: Float32Array.from([1, -2]) }, host('float32', [], [3]), host('float32', [0, 3], []),
    ];
    for (const h of cases) {
      const r = readNpy(writeNpy(h), 'rt.npy');
      expect(r.dtype).toBe(h.dtype);
      expect(r.shape).toEqual(h.shape);
      expect(Array.from(r.data as ArrayLike<number>)).toEqual(Array.from(h.data as ArrayLike<number>));
    }
  });

  it('refuses Fortran order, truncation, huge declared shapes and garbage with clear errors', () => {
    expect(() => npy('fortran.npy')).toThrow(/Fortran-order arrays are not supported/);
    const good = writeNpy(host('float32', [4], [1, 2, 3, 4]));
    expect(() => readNpy(good.subarray(0, good.length - 3), 'cut.npy')).toThrow(/cut.npy: array of shape \[4\] <f4 needs 16 bytes, file has 13/);
    const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
    const huge = latin1("\x93NUMPY\x01\x00" + '  ' + "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }\n");
    new DataView(huge.buffer).setUint16(8, huge.length - 10, true);
    expect(() => readNpy(huge, 'huge.npy')).toThrow(LimitError);
    expect(() => readNpy(Uint8Array.from([1, 2, 3]), 'junk.npy')).toThrow(FormatError);
    const obj = latin1("\x93NUMPY\x01\x00  {'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n");
    new DataView(obj.buffer).setUint16(8, obj.length - 10, true);
    expect(() => readNpy(obj, 'obj.npy')).toThrow(/unsupported dtype '\|O'/);
  });

  it.skipIf(!hasNumpy)('numpy loads what we write, with TF tensor names as keys', () => {
    const d = mkdtempSync(join(tmpdir(), 'npz-'));
    const f = join(d, 'acts.npz');
    writeNpzFile(f, [['conv1/Relu:1', host('float32', [2], [1.5, -1])], ['x', host('int64', [1], [7])]]);
    const out = execFileSync('python3', ['-c', `import numpy as np; z = np.load(${JSON.stringify(f)}); print(sorted(z.files)); print(z['conv1/Relu:1'].tolist(), z['x'].dtype)`]).toString();
    expect(out).toContain("['conv1/Relu:1', 'x']");
    expect(out).toContain('[1.5, -1.0] int64');
  });
});

describe('seeded inputs', () => {
  const specs = [
    { name: 'x', dtype: 'float32' as const, shape: [-1, 4] },
    { name: 'ids', dtype: 'int32' as const, shape: [1, 3] },
    { name: 'mask', dtype: 'bool' as const, shape: [2] },
  ];
  it('is reproducible, per input, and pinned for seed 7', () => {
    const a = generateFeeds(specs, { seed: 7 });
    const b = generateFeeds(specs, { seed: 7 });
    const c = generateFeeds(specs, { seed: 8 });
    expect(a.get('x')!.shape).toEqual([1, 4]);
    expect(Array.from(a.get('x')!.data as Float32Array)).toEqual(Array.from(b.get('x')!.data as Float32Array));
    expect(Array.from(a.get('x')!.data as Float32Array)).not.toEqual(Array.from(c.get('x')!.data as Float32Array));
    // Dropping an input does not change the others.
    const only = generateFeeds([specs[0]!], { seed: 7 });
    expect(Array.from(only.get('x')!.data as Float32Array)).toEqual(Array.from(a.get('x')!.data as Float32Array));
    // Pinned: a change in the generator (or in seedrandom) must be noticed.
    expect(Array.from(a.get('x')!.data as Float32Array).map((v) => v.toFixed(6))).toMatchSnapshot();
  });

  it('distributions stay in range with the right moments', () => {
    const big = { name: 'v', dtype: 'float32' as const, shape: [20000] };
    const n = generateFeeds([big], { seed: 1, overrides: [{ name: 'v', dist: { kind: 'normal', mean: 2, std: 3 } }] }).get('v')!.data as Float32Array;
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    const std = Math.sqrt(n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length);
    expect(Math.abs(mean - 2)).toBeLessThan(0.1);
    expect(Math.abs(std - 3)).toBeLessThan(0.1);
    const u = generateFeeds([big], { seed: 1 }).get('v')!.data as Float32Array;
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(1);
    const ints = generateFeeds([{ name: 'i', dtype: 'int32', shape: [5000] }], { seed: 1, overrides: [{ name: 'i', dist: { kind: 'int', low: 3, high: 6 } }] }).get('i')!.data as Int32Array;
    expect(new Set(ints)).toEqual(new Set([3, 4, 5]));
    const m = generateFeeds(specs, { seed: 2 }).get('mask')!.data as Uint8Array;
    expect(Array.from(m).every((v) => v === 0 || v === 1)).toBe(true);
  });

  it('names the flag to use for unknown dims, mismatched shapes and typos', () => {
    expect(() => generateFeeds([{ name: 'img', dtype: 'float32', shape: [1, -1, -1, 3] }], { seed: 0 })).toThrow(/--shape img:1xNxNx3/);
    expect(() => generateFeeds([{ name: 'img', dtype: 'float32', shape: [1, 4] }], { seed: 0, overrides: [{ name: 'img', shape: [1, 5] }] })).toThrow(/declared \[1,4\] but --shape gives \[1,5\]/);
    expect(() => generateFeeds(specs, { seed: 0, overrides: [{ name: 'idz', dist: { kind: 'int', low: 0, high: 2 } }] })).toThrow(/'idz' is not an input of the model \(did you mean 'ids'\?\)/);
  });

  it('parses CLI specs and spec files', () => {
    expect(parseShapeArg('input_1:1x224x224x3,b:0:2')).toEqual([{ name: 'input_1', shape: [1, 224, 224, 3] }, { name: 'b', shape: [2] }]);
    expect(parseInputArg('x=normal(0, 0.5)')).toEqual({ name: 'x', dist: { kind: 'normal', mean: 0, std: 0.5 } });
    expect(parseInputArg('ids:0=int(0,100)')).toEqual({ name: 'ids', dist: { kind: 'int', low: 0, high: 100 } });
    expect(() => parseInputArg('x=gauss(0,1)')).toThrow(/unknown distribution 'gauss'/);
    expect(() => parseInputArg('x=uniform(1,0)')).toThrow(/lo < hi/);
    expect(() => parseShapeArg('x:1xAx3')).toThrow(/dimension 'A'/);
    const d = mkdtempSync(join(tmpdir(), 'spec-'));
    const f = join(d, 's.yaml');
    writeFileSync(f, 'x:\n  shape: [1, 4]\n  dist: normal(0,1)\nids:\n  dist: { kind: int, low: 0, high: 9 }\n');
    expect(loadInputSpecFile(f)).toEqual([
      { name: 'x', shape: [1, 4], dist: { kind: 'normal', mean: 0, std: 1 } },
      { name: 'ids', dist: { kind: 'int', low: 0, high: 9 } },
    ]);
    writeFileSync(f, 'x:\n  shap: [1]\n');
    expect(() => loadInputSpecFile(f)).toThrow(/input 'x': unknown key 'shap'/);
  });

  it('loads given feeds and checks them against the inputs', () => {
    const feeds = loadFeeds(join(FIX, 'feeds.npz'), [{ name: 'x', dtype: 'float32', shape: [-1, 4] }, { name: 'ids', dtype: 'int32', shape: [1, 2] }]);
    expect(Array.from(feeds.get('x')!.data as Float32Array)).toEqual([0, 1, 2, 3]);
    expect(() => loadFeeds(join(FIX, 'feeds.npz'), [{ name: 'x', dtype: 'float32', shape: [1, 5] }, { name: 'ids', dtype: 'int32', shape: [1, 2] }])).toThrow(InputError);
  });

  it('infers valid index ranges for integer inputs used by Gather and OneHot', () => {
    const g = new GraphBuilder();
    g.placeholder('tokens', 'int32', [1, 5]);
    g.placeholder('label', 'int32', [1]);
    g.const('emb', host('float32', [30, 2], new Array(60).fill(0)));
    g.const('axis', host('int32', [], [0]));
    g.op('Identity', 'tok', ['tokens']);
    g.op('GatherV2', 'lookup', ['emb', 'tok', 'axis']);
    g.const('depth', host('int32', [], [7]));
    g.const('on', host('float32', [], [1]));
    g.const('off', host('float32', [], [0]));
    g.op('OneHot', 'oh', ['label', 'depth', 'on', 'off'], { axis: A.int(-1) });
    const r = inferIntRanges(g.build(['lookup', 'oh']));
    expect(r.get('tokens')).toEqual({ low: 0, high: 30 });
    expect(r.get('label')).toEqual({ low: 0, high: 7 });
    const feeds = generateFeeds(g.build([]).inputs, { seed: 3, intRanges: r });
    expect(Array.from(feeds.get('tokens')!.data as Int32Array).every((v) => v >= 0 && v < 30)).toBe(true);
  });
});

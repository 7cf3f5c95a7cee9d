import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, InputError, LimitError } from '../../src/core/errors.js';
import type { HostTensor } from '../../src/core/tensor.js';
import { host } from '../../src/graph/builder.js';
import { readNpy, writeNpy } from '../../src/inputs/npy.js';
import { readNpz, readNpzFile, writeNpz, writeNpzFile } from '../../src/inputs/npz.js';

/** Fixtures written by numpy: test/fixtures/gen/npy_fixtures.py (values repeated here as literals). */
const FIX = join(import.meta.dirname, '../fixtures/npy');
const load = (f: string) => readNpy(new Uint8Array(readFileSync(join(FIX, f))), f);
const values = (h: HostTensor) => Array.from(h.data as ArrayLike<number | bigint>);
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A v1.0 .npy with a hand-written header (no padding rules) followed by `data`. */
function rawNpy(header: string, data: Uint8Array = new Uint8Array(0), version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const h = latin1(header + '\n');
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) new DataView(out.buffer).setUint16(8, h.length, true);
  else new DataView(out.buffer).setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(data, pre + h.length);
  return out;
}

const EXPECTED: Record<string, { dtype: string; values: (number | bigint)[] }> = {
  f2: { dtype: 'float16', values: [1, -2, 0.5, 65504, 2 ** -24, -0] },
  f4: { dtype: 'float32', values: [1.5, -2, 3.25, 0, Math.fround(1e-3), -7] },
  f8: { dtype: 'float64', values: [1, -0.5, 2 ** 40, 0.1, -1e300, 5e-324] },
  i1: { dtype: 'int8', values: [-128, 127, 0, -1, 5, 6] },
  i2: { dtype: 'int16', values: [-32768, 32767, 0, -1, 300, 6] },
  i4: { dtype: 'int32', values: [-2147483648, 2147483647, 0, -1, 70000, 6] },
  i8: { dtype: 'int64', values: [9007199254740993n, -3n, -9223372036854775808n, 9223372036854775807n, 0n, 6n] },
  u1: { dtype: 'uint8', values: [0, 255, 1, 2, 3, 4] },
  u2: { dtype: 'uint16', values: [0, 65535, 1, 2, 3, 4] },
  u4: { dtype: 'uint32', values: [0, 4294967295, 1, 2, 3, 4] },
  u8: { dtype: 'uint64', values: [0n, 18446744073709551615n, 1n, 2n, 3n, 4n] },
};

/** One tensor of every dtype the writer handles, including 0-d and empty. */
function allDtypes(): HostTensor[] {
  return [
    host('float32', [2, 2], [1, -2, 3.5, 0]), host('float64', [2], [0.1, -1e300]), host('float16', [3], [1, -0.5, 65504]),
    host('int8', [2], [-128, 127]), host('int16', [1], [-30000]), host('int32', [2], [2 ** 31 - 1, -(2 ** 31)]),
    { dtype: 'int64', shape: [3], data: BigInt64Array.from([2n ** 62n, -1n, -(2n ** 63n)]) }, host('uint8', [1], [255]),
    host('uint16', [1], [65535]), host('uint32', [1], [4294967295]), { dtype: 'uint64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
    host('bool', [3], [true, false, true]), { dtype: 'complex64', shape: [1], data: Float32Array.from([1, -2]) },
    { dtype: 'complex128', shape: [2], data: Float64Array.from([1, -2, 0.1, 3]) },
    { dtype: 'string', shape: [2], data: [new TextEncoder().encode('héllo'), new Uint8Array([0xff, 1])] },
    host('float32', [], [3]), host('float32', [0, 3], []),
  ];
}

describe('readNpy on numpy-written files', () => {
  for (const [code, want] of Object.entries(EXPECTED)) {
    for (const order of ['le', 'be']) {
      const f = `${code}_${order}.npy`;
      if (!existsSync(join(FIX, f))) continue;
      it(f, () => {
        const h = load(f);
        expect(h.dtype).toBe(want.dtype);
        expect(h.shape).toEqual([2, 3]);
        expect(values(h)).toEqual(want.values);
      });
    }
  }

  it('keeps -0 in float16', () => {
    expect(Object.is(values(load('f2_be.npy'))[5], -0)).toBe(true);
  });

  it('bool, complex, 0-d, empty, strings, format versions 2.0 and 3.0', () => {
    expect(load('b1.npy')).toMatchObject({ dtype: 'bool', shape: [3] });
    expect(values(load('b1.npy'))).toEqual([1, 0, 1]);
    expect(load('c8_le.npy')).toMatchObject({ dtype: 'complex64', shape: [2] });
    expect(values(load('c8_le.npy'))).toEqual([1, 2, -3.5, -0.25]);
    expect(load('c16_be.npy').dtype).toBe('complex128');
    expect(values(load('c16_be.npy'))).toEqual([1, 2, -3.5, -0.25]);
    expect(load('u2_scalar.npy')).toMatchObject({ dtype: 'uint16', shape: [] });
    expect(values(load('u2_scalar.npy'))).toEqual([513]);
    expect(load('f4_empty.npy')).toMatchObject({ dtype: 'float32', shape: [0, 3] });
    expect(values(load('f4_empty.npy'))).toEqual([]);
    const dec = (h: HostTensor) => (h.data as Uint8Array[]).map((b) => new TextDecoder().decode(b));
    expect(load('unicode.npy')).toMatchObject({ dtype: 'string', shape: [4] });
    expect(dec(load('unicode.npy'))).toEqual(['héllo', 'a', '', '日本']);
    expect(dec(load('bytes.npy'))).toEqual(['ab', 'c']);
    for (const v of ['v2.npy', 'v3.npy']) {
      expect(load(v)).toMatchObject({ dtype: 'int32', shape: [3, 2] });
      expect(values(load(v))).toEqual([0, 1, 2, 3, 4, 5]);
    }
  });

  it('archives from np.savez and np.savez_compressed, TF names as keys', () => {
    const z = readNpz(new Uint8Array(readFileSync(join(FIX, 'feeds.npz'))), 'feeds.npz');
    expect([...z.keys()].sort()).toEqual(['ids', 'x']);
    expect(z.get('x')).toMatchObject({ dtype: 'float32', shape: [1, 4] });
    expect(values(z.get('x')!)).toEqual([0, 1, 2, 3]);
    expect(values(z.get('ids')!)).toEqual([3, 1]);
    const c = readNpzFile(join(FIX, 'compressed.npz'));
    expect([...c.keys()].sort()).toEqual(['conv1/Relu:1', 'ids:0']);
    expect(values(c.get('conv1/Relu:1')!)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(values(c.get('ids:0')!)).toEqual([7n, 8n]);
  });
});

describe('readNpy refuses bad files with clear errors', () => {
  it('Fortran order (but not when the layout equals C order)', () => {
    expect(() => load('fortran.npy')).toThrow(FormatError);
    expect(() => load('fortran.npy')).toThrow(/fortran\.npy: array of shape \[2,3\] is stored in Fortran \(column-major\) order.*np\.ascontiguousarray/);
    const oneD = rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", new Uint8Array(Float32Array.from([1, 2]).buffer));
    expect(values(readNpy(oneD, 'oned.npy'))).toEqual([1, 2]);
  });

  it('object, structured, datetime and void dtypes', () => {
    expect(() => load('object.npy')).toThrow(/object\.npy: dtype '\|O' is not supported \(object arrays need pickle/);
    expect(() => readNpy(rawNpy("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }"), 's.npy')).toThrow(/s\.npy: structured \(record\) arrays are not supported/);
    expect(() => readNpy(rawNpy("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,), }"), 'd.npy')).toThrow(/d\.npy: dtype '<M8\[ns\]' is not supported/);
    expect(() => readNpy(rawNpy("{'descr': '<V2', 'fortran_order': False, 'shape': (1,), }"), 'v.npy')).toThrow(/void/);
    expect(() => readNpy(rawNpy("{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }"), 'ld.npy')).toThrow(/extended precision/);
  });

  it('truncated data and headers name the file, array, expected and found sizes', () => {
    const good = writeNpy(host('float32', [4], [1, 2, 3, 4]));
    expect(() => readNpy(good.subarray(0, good.length - 3), 'cut.npy')).toThrow(/^cut\.npy: array of shape \[4\] and dtype '<f4' needs 16 data bytes, the file has 13/);
    expect(() => readNpy(good.subarray(0, good.length - 3), 'acts.npz', { array: 'conv1/Relu' })).toThrow(/^acts\.npz: array 'conv1\/Relu': array of shape \[4\]/);
    expect(() => readNpy(good.subarray(0, 40), 'h.npy')).toThrow(/h\.npy: truncated \.npy header/);
    expect(() => readNpy(Uint8Array.from([1, 2, 3]), 'junk.npy')).toThrow(/junk\.npy: not a \.npy file/);
    const v9 = good.slice();
    v9[6] = 9;
    expect(() => readNpy(v9, 'v9.npy')).toThrow(/unsupported \.npy format version 9\.0/);
  });

  it('a huge declared shape in a tiny file fails before allocation', () => {
    const huge = rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }");
    expect(() => readNpy(huge, 'huge.npy')).toThrow(LimitError);
    expect(() => readNpy(huge, 'huge.npy')).toThrow(/huge\.npy/);
    // Under the budget, but more than the file holds: a FormatError, not an allocation.
    const big = rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000,), }");
    expect(() => readNpy(big, 'big.npy')).toThrow(/needs 800000000 data bytes, the file has 0/);
    expect(() => readNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"), 'x.npy')).toThrow(FormatError);
  });

  it('parses the header as a literal, never as code', () => {
    const bad = [
      "{'descr': __import__('os').system('echo hi'), 'fortran_order': False, 'shape': (1,), }",
      "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing",
      "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
      "{'descr': '<f4', 'fortran_order': False}",
      '[1, 2]',
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + '('.repeat(100),
    ];
    for (const h of bad) expect(() => readNpy(rawNpy(h, new Uint8Array(64)), 'h.npy'), h).toThrow(FormatError);
    // What numpy or Python 2 may also write: double quotes, no trailing comma, long ints.
    const ok = rawNpy('{"descr": "<i2", "fortran_order": False, "shape": (2L, 1)}', new Uint8Array(Int16Array.from([5, -6]).buffer), 2);
    expect(readNpy(ok, 'ok.npy')).toMatchObject({ dtype: 'int16', shape: [2, 1] });
    expect(values(readNpy(ok, 'ok.npy'))).toEqual([5, -6]);
  });
});

describe('writeNpy', () => {

  it('round-trips every dtype, with 64-byte aligned data', () => {
    for (const h of allDtypes()) {
      const bytes = writeNpy(h);
      const hlen = new DataView(bytes.buffer).getUint16(8, true);
      expect((10 + hlen) % 64).toBe(0);
      const r = readNpy(bytes, 'rt.npy');
      expect(r.dtype, h.dtype).toBe(h.dtype);
      expect(r.shape).toEqual(h.shape);
      expect(r.data).toEqual(h.data);
    }
  });

  it('writes bfloat16 as float32 and rounds float16 half to even (bit patterns by hand)', () => {
    const bf = readNpy(writeNpy(host('bfloat16', [2], [1.5, -2])), 'bf.npy');
    expect(bf).toMatchObject({ dtype: 'float32', shape: [2] });
    const vals = [1, -2, 65504, 65520, 2 ** -24, 0.1, 1 / 3, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
    const want = [0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0001, 0x2e66, 0x3555, 0x0000, 0x0002, 0x3c00, 0x3c02];
    const bytes = writeNpy({ dtype: 'float16', shape: [vals.length], data: Float32Array.from(vals) });
    const bits = new Uint16Array(bytes.slice(bytes.length - 2 * vals.length).buffer);
    expect(Array.from(bits, (b) => b.toString(16))).toEqual(want.map((b) => b.toString(16)));
  });

  it('refuses data that does not fit the shape', () => {
    expect(() => writeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) }, 'w')).toThrow(/array 'w': shape \[3\] \(float32\) needs 3 values, found 2/);
    expect(() => writeNpy({ dtype: 'resource', shape: [], data: new Uint8Array(0) })).toThrow(InputError);
  });
});

describe('.npz', () => {
  it('round-trips names with / and :, stored and compressed', () => {
    const arrays: [string, HostTensor][] = [['conv1/Relu:1', host('float32', [2], [1.5, -1])], ['ids', host('int32', [3], [1, 2, 3])]];
    for (const compress of [false, true]) {
      const z = readNpz(writeNpz(arrays, { compress }), 'rt.npz');
      expect([...z.keys()]).toEqual(['conv1/Relu:1', 'ids']);
      expect(values(z.get('conv1/Relu:1')!)).toEqual([1.5, -1]);
    }
    expect(writeNpz(arrays)).toEqual(writeNpz(arrays));
  });

  it('refuses names it could not read back', () => {
    const t = host('float32', [1], [1]);
    expect(() => writeNpz([['a', t], ['a', t]])).toThrow(/two arrays are named 'a'/);
    expect(() => writeNpz([['../etc', t]])).toThrow(/array name '\.\.\/etc' cannot be an \.npz key/);
    expect(() => writeNpz([['/abs', t]])).toThrow(InputError);
    expect(() => writeNpz([['dir/', t]])).toThrow(/ends with '\/'/);
    expect(() => writeNpz([['', t]])).toThrow(/non-empty name/);
  });

  it('writes files atomically and reports unwritable paths', () => {
    const d = mkdtempSync(join(tmpdir(), 'npz-'));
    writeNpzFile(join(d, 'a.npz'), new Map([['x', host('float32', [1], [2])]]));
    expect(readdirSync(d)).toEqual(['a.npz']);
    // Under a file: no folder can be made there.
    expect(() => writeNpzFile(join(d, 'a.npz', 'b.npz'), [['x', host('float32', [1], [2])]])).toThrow(/a\.npz\/b\.npz cannot be written/);
    expect(readdirSync(d)).toEqual(['a.npz']);
    // A folder that does not exist yet is made.
    writeNpzFile(join(d, 'new', 'c.npz'), [['x', host('float32', [1], [2])]]);
    expect(readdirSync(join(d, 'new'))).toEqual(['c.npz']);
    expect(() => readNpzFile(join(d, 'nope.npz'))).toThrow(/nope\.npz cannot be read/);
  });

  it.skipIf(!hasNumpy)('numpy loads what we write (every dtype, TF names as keys)', () => {
    const d = mkdtempSync(join(tmpdir(), 'npz-'));
    const named: [string, HostTensor][] = allDtypes().map((h, i) => [`layer${i}/out:${i}`, h]);
    for (const compress of [false, true]) {
      const f = join(d, `acts${compress ? 'c' : ''}.npz`);
      writeNpzFile(f, named, { compress });
      const py = `
import json, sys, numpy as np
z = np.load(sys.argv[1])
out = {}
for k in z.files:
    a = z[k]
    v = a.tolist() if a.dtype.kind not in 'cSU' else ([[c.real, c.imag] for c in a.ravel().tolist()] if a.dtype.kind == 'c' else [x.decode('latin1') if isinstance(x, bytes) else x for x in a.ravel().tolist()])
    out[k] = [a.dtype.str, list(a.shape), str(v)]
print(json.dumps(out))`;
      const got = JSON.parse(execFileSync('python3', ['-c', py, f]).toString()) as Record<string, [string, number[], string]>;
      expect(got['layer0/out:0']).toEqual(['<f4', [2, 2], '[[1.0, -2.0], [3.5, 0.0]]']);
      expect(got['layer1/out:1']).toEqual(['<f8', [2], '[0.1, -1e+300]']);
      expect(got['layer2/out:2']).toEqual(['<f2', [3], '[1.0, -0.5, 65504.0]']);
      expect(got['layer6/out:6']).toEqual(['<i8', [3], '[4611686018427387904, -1, -9223372036854775808]']);
      expect(got['layer10/out:10']).toEqual(['<u8', [1], '[18446744073709551615]']);
      expect(got['layer11/out:11']).toEqual(['|b1', [3], '[True, False, True]']);
      expect(got['layer13/out:13']).toEqual(['<c16', [2], '[[1.0, -2.0], [0.1, 3.0]]']);
      expect(got['layer14/out:14']).toEqual(['|S6', [2], `['hÃ©llo', 'ÿ\\x01']`]);
      expect(got['layer15/out:15']).toEqual(['<f4', [], '3.0']);
      expect(got['layer16/out:16']).toEqual(['<f4', [0, 3], '[]']);
      expect(Object.keys(got)).toHaveLength(named.length);
    }
  });

});

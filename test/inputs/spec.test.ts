import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, InputError } from '../../src/core/errors.js';
import { loadInputSpecFile, parseInputArg, parseShapeArg } from '../../src/inputs/spec.js';

describe('--shape', () => {
  it('accepts node and tensor names, several inputs, scalars', () => {
    expect(parseShapeArg('input:1x224x224x3')).toEqual([{ name: 'input', shape: [1, 224, 224, 3] }]);
    expect(parseShapeArg('input_1:0:1x3, b:2 ,c:scalar')).toEqual([
      { name: 'input_1', shape: [1, 3] },
      { name: 'b', shape: [2] },
      { name: 'c', shape: [] },
    ]);
    expect(parseShapeArg('scope/x:1:4X2')).toEqual([{ name: 'scope/x:1', shape: [4, 2] }]);
  });

  it('rejects what it cannot read, naming the part', () => {
    expect(() => parseShapeArg('x:1xAx3')).toThrow(/--shape 'x:1xAx3': dimension 'A' is not a non-negative integer/);
    expect(() => parseShapeArg('x:1x-1')).toThrow(/dimension '-1'/);
    expect(() => parseShapeArg('1x224')).toThrow(/expected NAME:DIMS/);
    expect(() => parseShapeArg(':1x2')).toThrow(InputError);
    expect(() => parseShapeArg('')).toThrow(InputError);
  });
});

describe('--input', () => {
  it('parses every distribution', () => {
    expect(parseInputArg('x=normal(0, 0.5)')).toEqual({ name: 'x', dist: { kind: 'normal', mean: 0, std: 0.5 } });
    expect(parseInputArg('x=uniform(-1,1)')).toEqual({ name: 'x', dist: { kind: 'uniform', low: -1, high: 1 } });
    expect(parseInputArg('x=constant(0.5)')).toEqual({ name: 'x', dist: { kind: 'constant', value: 0.5 } });
    expect(parseInputArg('x=2.5')).toEqual({ name: 'x', dist: { kind: 'constant', value: 2.5 } });
    expect(parseInputArg('ids:0=int(0,1e3)')).toEqual({ name: 'ids', dist: { kind: 'int', low: 0, high: 1000 } });
    expect(parseInputArg('mask=bool(0.5)')).toEqual({ name: 'mask', dist: { kind: 'bool', p: 0.5 } });
    expect(parseInputArg('x=file(data/a,b (1).npy)')).toEqual({ name: 'x', file: 'data/a,b (1).npy' });
    expect(parseInputArg("x=file('q.npy')")).toEqual({ name: 'x', file: 'q.npy' });
  });

  it('rejects bad strings with the reason', () => {
    const bad: [string, RegExp][] = [
      ['x=gauss(0,1)', /unknown distribution 'gauss'/],
      ['x=uniform(1,0)', /needs lo < hi, got uniform\(1,0\)/],
      ['x=uniform(0)', /uniform\(lo,hi\) takes 2 argument\(s\), got 1/],
      ['x=normal(0,-1)', /std >= 0/],
      ['x=normal(0,abc)', /std 'abc' is not a finite number/],
      ['x=int(0.5,3)', /needs integers/],
      ['x=bool(2)', /0 <= p <= 1/],
      ['x=file()', /file\(\) needs a path/],
      ['x=normal(0,1', /expected uniform\(lo,hi\)/],
      ['normal(0,1)', /expected NAME=DIST/],
      [':0=normal(0,1)', /name is empty/],
    ];
    for (const [s, re] of bad) {
      expect(() => parseInputArg(s), s).toThrow(InputError);
      expect(() => parseInputArg(s), s).toThrow(re);
    }
  });
});

describe('--input-spec files', () => {
  const d = mkdtempSync(join(tmpdir(), 'spec-'));
  const file = (name: string, text: string) => {
    const f = join(d, name);
    writeFileSync(f, text);
    return f;
  };

  it('reads YAML mappings and JSON lists with all fields', () => {
    const y = file('s.yaml', 'x:0:\n  shape: [1, 4]\n  dist: normal(0,1)\nids:\n  dtype: int64\n  dist: { kind: int, low: 0, high: 9 }\nimg:\n  file: data/img.npy\nm:\n  dist: file(m.npy)\n');
    expect(loadInputSpecFile(y)).toEqual([
      { name: 'x', shape: [1, 4], dist: { kind: 'normal', mean: 0, std: 1 } },
      { name: 'ids', dtype: 'int64', dist: { kind: 'int', low: 0, high: 9 } },
      { name: 'img', file: join(d, 'data/img.npy') },
      { name: 'm', file: join(d, 'm.npy') },
    ]);
    const j = file('s.json', JSON.stringify([{ name: 'x', dist: { kind: 'uniform', low: -2, high: 2 } }, { name: 'mask', dist: 'bool(0.1)', shape: [] }]));
    expect(loadInputSpecFile(j)).toEqual([
      { name: 'x', dist: { kind: 'uniform', low: -2, high: 2 } },
      { name: 'mask', shape: [], dist: { kind: 'bool', p: 0.1 } },
    ]);
  });

  it('names the file and the key of every mistake', () => {
    const bad: [string, RegExp][] = [
      ['x:\n  shap: [1]\n', /b0\.yaml: input 'x': unknown key 'shap'/],
      ['x:\n  shape: [1, -1]\n', /b1\.yaml: input 'x': 'shape' must be a list of non-negative integers, got \[1,-1\]/],
      ['x:\n  dtype: float128\n', /b2\.yaml: input 'x': unknown dtype "float128"/],
      ['x:\n  dist: {kind: normal, mean: 0}\n', /b3\.yaml: input 'x': 'dist' of kind normal needs a number 'std'/],
      ['x:\n  dist: {kind: normal, mean: 0, std: 1, low: 2}\n', /b4\.yaml: input 'x': 'dist' of kind normal has no field 'low'/],
      ['x:\n  dist: {kind: gamma}\n', /b5\.yaml: input 'x': 'dist' needs 'kind'/],
      ['x:\n  dist: uniform(3,1)\n', /b6\.yaml: input 'x': uniform\(lo,hi\) needs lo < hi/],
      ['- shape: [1]\n', /b7\.yaml: item 0: missing 'name'/],
      ['- name: x\n- name: x:0\n', /b8\.yaml: item 1: input 'x' is specified twice/],
      ['x: 3\n', /b9\.yaml: input 'x': must be a mapping/],
      ['x:\n  file: a.npy\n  dist: normal(0,1)\n', /b10\.yaml: input 'x': give either 'file' or 'dist'/],
      ['x: [1\n', /b11\.yaml: not valid YAML\/JSON/],
      ['', /b12\.yaml: expected a list of input specs/],
      ['x:\n  dist: {kind: int, low: 0, high: 2.5}\n', /b13\.yaml: input 'x': int\(lo,hi\) needs integers/],
    ];
    bad.forEach(([text, re], i) => {
      const f = file(`b${i}.yaml`, text);
      expect(() => loadInputSpecFile(f), text).toThrow(FormatError);
      expect(() => loadInputSpecFile(f), text).toThrow(re);
    });
    expect(() => loadInputSpecFile(join(d, 'absent.yaml'))).toThrow(/absent\.yaml cannot be read/);
  });
});

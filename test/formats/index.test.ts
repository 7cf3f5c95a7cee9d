import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { detectOriginal, graphStats, loadGraph } from '../../src/formats/index.js';
import { GraphBuilder, host } from '../fixtures/graph.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'parity-detect-'));
}

function graph() {
  const g = new GraphBuilder();
  g.placeholder('x', 'float32', [-1, 3]);
  g.placeholder('n', 'int32', null);
  g.const('w', host('float32', [2, 3], [1, 2, 3, 4, 5, 6]));
  g.const('h', host('float16', [2], [1, 2]));
  g.const('i', host('int32', [4], [1, 2, 3, 4]));
  g.op('Identity', 'a', ['x']);
  g.op('Identity', 'b', ['a']);
  g.op('IdentityN', 'c', ['b', 'w']);
  return g.build(['c']);
}

describe('format detection', () => {
  it('by extension, by folder contents, by file contents', () => {
    const d = tmp();
    const f = (name: string, body: string | Uint8Array = 'x') => {
      writeFileSync(join(d, name), body);
      return join(d, name);
    };
    expect(detectOriginal(f('m.pb'))).toBe('pb');
    expect(detectOriginal(f('m.pbtxt'))).toBe('pbtxt');
    expect(detectOriginal(f('m.txt'))).toBe('pbtxt');
    expect(detectOriginal(f('model.json', '{}'))).toBe('tfjs-graph');
    expect(detectOriginal(f('model.ckpt.meta'))).toBe('checkpoint');
    expect(detectOriginal(f('model.ckpt.index'))).toBe('checkpoint');
    // a checkpoint prefix: the files exist with suffixes only
    expect(detectOriginal(join(d, 'model.ckpt'))).toBe('checkpoint');
    expect(detectOriginal(f('graph.bin', '# comment\nnode { name: "a" op: "NoOp" }'))).toBe('pbtxt');
    expect(detectOriginal(f('graph.dat', Uint8Array.from([0x0a, 0x02, 0x0a, 0x00])))).toBe('pb');

    const sm = join(d, 'sm');
    mkdirSync(sm);
    writeFileSync(join(sm, 'saved_model.pb'), '');
    expect(detectOriginal(sm)).toBe('saved-model');
    expect(detectOriginal(join(sm, 'saved_model.pb'))).toBe('saved-model');
    const tj = join(d, 'tj');
    mkdirSync(tj);
    writeFileSync(join(tj, 'model.json'), '{}');
    expect(detectOriginal(tj)).toBe('tfjs-graph');
    const ck = join(d, 'ck');
    mkdirSync(ck);
    writeFileSync(join(ck, 'checkpoint'), 'model_checkpoint_path: "m"');
    expect(detectOriginal(ck)).toBe('checkpoint');
  });

  it('unknown or missing paths are InputErrors listing what is accepted', () => {
    const d = tmp();
    mkdirSync(join(d, 'empty'));
    expect(() => detectOriginal(join(d, 'empty'))).toThrow(InputError);
    expect(() => detectOriginal(join(d, 'empty'))).toThrow(/folder holds no model tf-parity can read \(expected \.pb \(binary GraphDef\), \.pbtxt .*model\.json .*SavedModel .*checkpoint/);
    expect(() => detectOriginal(join(d, 'nothing.pb'))).toThrow(/nothing.pb does not exist/);
  });

  it('loadGraph reads a .pb found by extension', async () => {
    const d = tmp();
    writeFileSync(join(d, 'g.pb'), encodeGraphDef(graph()));
    const g = await loadGraph(join(d, 'g.pb'));
    expect(g.nodes.map((n) => n.name)).toEqual(['x', 'n', 'w', 'h', 'i', 'a', 'b', 'c']);
  });
});

describe('graphStats', () => {
  it('node count, op histogram (most used first), float parameters, inputs with -1 for unknown dims', () => {
    const s = graphStats(graph());
    expect(s.nodes).toBe(8);
    expect(s.ops).toEqual([['Const', 3], ['Identity', 2], ['Placeholder', 2], ['IdentityN', 1]]);
    // float32 [2,3] + float16 [2]; int32 constants are not parameters
    expect(s.parameters).toBe(8);
    expect(s.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 3] }, { name: 'n', dtype: 'int32', shape: null }]);
    expect(s.outputs).toEqual(['c']);
    expect(s.functions).toBe(0);
  });
  it('counts float variables resolved from a checkpoint', () => {
    const g = graph();
    g.variables = new Map([['v', host('float32', [10, 10], new Array(100).fill(0))], ['step', host('int64', [], [0])]]);
    expect(graphStats(g).parameters).toBe(108);
  });
});

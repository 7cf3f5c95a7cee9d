import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/core/tensor.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { loadGraph } from '../../src/formats/index.js';
import { generateFeeds, loadFeeds } from '../../src/inputs/generate.js';
import { writeNpz } from '../../src/inputs/npz.js';
import { parseInputArg } from '../../src/inputs/spec.js';
import { A, GraphBuilder, host, runHost } from '../fixtures/graph.js';

/** String tensors (TF strings are bytes): Add concatenates, Identity/ConcatV2/Reshape move them. */

const enc = new TextEncoder();
const str = (shape: number[], v: (string | number[])[]): HostTensor => ({ dtype: 'string', shape, data: v.map((s) => (typeof s === 'string' ? enc.encode(s) : Uint8Array.from(s))) });
const text = (h: HostTensor) => (h.data as Uint8Array[]).map((b) => new TextDecoder().decode(b));

const run = async (...args: Parameters<typeof runHost>) => (await runHost(...args)).res;

/** The shape of ML.NET's primitive_input_test: two string placeholders of unknown shape, `string_merge = Add(input1, input2)`. */
function stringMerge(): ReturnType<GraphBuilder['build']> {
  const g = new GraphBuilder();
  g.placeholder('input1', 'string', null);
  g.placeholder('input2', 'string', null);
  g.op('Add', 'string_merge', ['input1', 'input2'], { T: A.dtype('string') });
  return g.build(['string_merge']);
}

describe('string tensors', () => {
  it("Add concatenates, element by element with broadcasting, as TF's Add on strings", async () => {
    const g = readGraphDef(encodeGraphDef(stringMerge()), 'primitive.pb');
    const one = await run(g, { input1: str([1], ['a']), input2: str([1], ['b']) });
    expect(one.get('string_merge')!).toEqual(str([1], ['ab']));
    const bc = await run(g, { input1: str([2, 1], ['x', 'yy']), input2: str([3], ['1', '2', '']) });
    expect(bc.get('string_merge')!.shape).toEqual([2, 3]);
    expect(text(bc.get('string_merge')!)).toEqual(['x1', 'x2', 'x', 'yy1', 'yy2', 'yy']);
    // Bytes that are not UTF-8 stay the bytes they were.
    const raw = await run(g, { input1: str([1], [[0xff, 0x00]]), input2: str([], [[0xfe]]) });
    expect(Array.from((raw.get('string_merge')!.data as Uint8Array[])[0]!)).toEqual([0xff, 0x00, 0xfe]);
  });

  it('Identity, Reshape and ConcatV2 move strings unchanged', async () => {
    const g = new GraphBuilder();
    g.placeholder('a', 'string', [2]);
    g.placeholder('b', 'string', [1]);
    g.const('suffix', str([], ['!']));
    g.op('Identity', 'ia', ['a'], { T: A.dtype('string') });
    g.op('ConcatV2', 'cat', ['ia', 'b', g.const('axis', host('int32', [], [0]))], { T: A.dtype('string'), N: A.int(2) });
    g.op('Reshape', 'r', ['cat', g.const('shape', host('int32', [2], [3, 1]))], { T: A.dtype('string') });
    g.op('Add', 'loud', ['r', 'suffix'], { T: A.dtype('string') });
    const res = await run(readGraphDef(encodeGraphDef(g.build(['loud'])), 's.pb'), { a: str([2], ['p', 'q']), b: str([1], ['ré']) });
    expect(res.get('cat')!).toEqual(str([3], ['p', 'q', 'ré']));
    expect(res.get('loud')!).toEqual(str([3, 1], ['p!', 'q!', 'ré!']));
  });

  it('Add refuses a string and a number, naming the node', async () => {
    const g = new GraphBuilder();
    g.placeholder('s', 'string', [1]);
    g.const('n', host('float32', [1], [1]));
    g.op('Add', 'bad', ['s', 'n'], { T: A.dtype('string') });
    await expect(run(g.build(['bad']), { s: str([1], ['a']) })).rejects.toThrow(/node 'bad' \(Add\)/);
  });

  it('string feeds: --input as JSON, and string arrays in an .npz', () => {
    const specs = [{ name: 'input1', dtype: 'string' as const, shape: null }, { name: 'ids', dtype: 'int32' as const, shape: [-1, 2] }];
    const feeds = generateFeeds(specs, { seed: 0, overrides: [parseInputArg('input1=[["a","b"],["c","d"]]'), parseInputArg('ids=[[1,2]]')] });
    expect(feeds.get('input1')!).toEqual(str([2, 2], ['a', 'b', 'c', 'd']));
    expect(feeds.get('ids')!).toEqual(host('int32', [1, 2], [1, 2]));
    expect(generateFeeds(specs.slice(0, 1), { seed: 0, overrides: [parseInputArg('input1="solo"')] }).get('input1')!).toEqual(str([], ['solo']));
    expect(() => parseInputArg('x=[["a"],["b","c"]]')).toThrow(/not rectangular/);
    expect(() => parseInputArg('x=["a",1]')).toThrow(/all strings, all booleans or all numbers/);
    expect(() => generateFeeds(specs.slice(1), { seed: 0, overrides: [parseInputArg('ids=[["a","b"]]')] })).toThrow(/declares int32 but the array is string/);
    const dir = mkdtempSync(join(tmpdir(), 'strings-'));
    const path = join(dir, 'feeds.npz');
    writeFileSync(path, writeNpz(new Map([['input1', str([1], ['hello'])]])));
    expect(loadFeeds(path, specs.slice(0, 1)).get('input1')!).toEqual(str([1], ['hello']));
  });
});

const PRIMITIVE = '/work/shared/models/tf-real/public/mlnet-primitive_input_test';

describe.skipIf(!existsSync(PRIMITIVE))('mlnet-primitive_input_test (real TF1 SavedModel)', () => {
  it('string_merge of "a" and "b" is "ab"', async () => {
    const graph = await loadGraph(PRIMITIVE);
    const res = await run(graph, { input1: str([1], ['a']), input2: str([1], ['b']) }, ['string_merge']);
    expect(res.get('string_merge')!).toEqual(str([1], ['ab']));
  });
});

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cnnGraph } from '../../cases/gen/cnn.js';
import { kerasCnn } from '../../cases/gen/keras-cnn.js';
import { cnnOnnx } from '../../cases/gen/onnx-cnn.js';
import { encodeGraphDef, graphToPbtxt } from '../../src/formats/graphdef-writer.js';
import { describeModel } from '../../src/formats/describe.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { readGraphDefText } from '../../src/formats/pbtxt.js';
import { readTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { writeTfjsGraphModel } from '../../src/formats/tfjs-graph-writer.js';
import { host } from '../../src/graph/builder.js';
import { readNpy, writeNpy } from '../../src/inputs/npy.js';
import { readNpz, writeNpz } from '../../src/inputs/npz.js';
import { readZip, writeZip } from '../../src/formats/zip.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { loadOnnxRunner } from '../../src/runners/onnx/index.js';
import { FUZZ_RUNS, fuzzReader } from './harness.js';

/**
 * Every reader, fed seeded mutations of valid files: a result or a ParityError, never another
 * exception, never a hang. PARITY_FUZZ_RUNS sets the number of cases per reader (default 2000).
 */
const d = mkdtempSync(join(tmpdir(), 'parity-fuzz-'));
const outcomes: Record<string, { ok: number; parityErrors: number }> = {};

describe('fuzz: model and data readers', () => {
  it('binary GraphDef (.pb)', async () => {
    const samples = [encodeGraphDef(cnnGraph()), encodeGraphDef(cnnGraph(undefined, 'dw1-padding'))];
    // What inspect reads too: the same bytes described (structure only when a dtype is not computed in).
    const pbFile = join(d, 'fuzz.pb');
    outcomes.pb = await fuzzReader('pb', samples, async (b) => {
      writeFileSync(pbFile, b);
      await describeModel(pbFile);
      return readGraphDef(b, 'fuzz.pb');
    });
    expect(outcomes.pb.parityErrors).toBeGreaterThan(0);
  }, 120_000);

  it('text GraphDef (.pbtxt)', async () => {
    const samples = [new TextEncoder().encode(graphToPbtxt(cnnGraph()))];
    outcomes.pbtxt = await fuzzReader('pbtxt', samples, (b) => readGraphDefText(new TextDecoder().decode(b), 'fuzz.pbtxt'));
  }, 120_000);

  it('tfjs graph model (model.json + shard)', async () => {
    const src = join(d, 'tfjs-src');
    writeTfjsGraphModel(cnnGraph(), src);
    const json = readFileSync(join(src, 'model.json'));
    const shard = readFileSync(join(src, 'group1-shard1of1.bin'));
    const work = join(d, 'tfjs');
    mkdirSync(work, { recursive: true });
    // Half the cases damage model.json, half the weights shard.
    let k = 0;
    outcomes['tfjs-graph'] = await fuzzReader('tfjs-graph', [new Uint8Array(json), new Uint8Array(shard)], async (b) => {
      const jsonCase = k++ % 2 === 0;
      writeFileSync(join(work, 'model.json'), jsonCase ? b : json);
      writeFileSync(join(work, 'group1-shard1of1.bin'), jsonCase ? shard : b);
      return readTfjsGraphModel(join(work, 'model.json'));
    });
  }, 120_000);

  it('.npy and .npz', async () => {
    const npys = [writeNpy(host('float32', [2, 3], [1, 2, 3, 4, 5, 6])), writeNpy(host('int64', [2], [1, -1])), writeNpy(host('bool', [3], [true, false, true]))];
    outcomes.npy = await fuzzReader('npy', npys, (b) => readNpy(b, 'fuzz.npy'));
    const npz = writeNpz([['a/b:1', host('float32', [2], [1, 2])], ['ids', host('int32', [3], [1, 2, 3])]]);
    outcomes.npz = await fuzzReader('npz', [npz, writeNpz([['x', host('float16', [2], [1, 2])]], { compress: true })], (b) => readNpz(b, 'fuzz.npz'));
  }, 120_000);

  it('.onnx', async () => {
    const file = join(d, 'fuzz.onnx');
    outcomes.onnx = await fuzzReader('onnx', [cnnOnnx()], async (b) => {
      writeFileSync(file, b);
      const r = await loadOnnxRunner(file);
      r.inputs();
      r.dispose();
    });
  }, 120_000);

  it('.keras (zip + HDF5 weights)', async () => {
    const file = join(d, 'fuzz.keras');
    // A stored (not deflated) copy too, so mutations reach the HDF5 bytes themselves.
    const deflated = await kerasCnn();
    const stored = writeZip([...readZip(deflated, 'k.keras')], false);
    outcomes.keras = await fuzzReader(
      'keras',
      [deflated, stored],
      async (b) => {
        writeFileSync(file, b);
        const r = await loadKerasRunner(file);
        r.dispose();
      },
      7,
      FUZZ_RUNS,
    );
  }, 300_000);

  it('writes the outcome table', () => {
    writeFileSync(join(d, 'outcomes.json'), JSON.stringify(outcomes, null, 2));
    console.log('fuzz outcomes (read fine / refused with ParityError):', JSON.stringify(outcomes));
  });
});

describe('nesting limits', () => {
  it('a GraphDef nesting function attributes 3,000 deep is refused, not a stack overflow', () => {
    const varint = (n: number) => {
      const o: number[] = [];
      while (n > 127) {
        o.push((n & 127) | 128);
        n >>>= 7;
      }
      o.push(n);
      return Buffer.from(o);
    };
    // Built with Buffer.concat: spreading number arrays 3,000 levels deep took minutes on a loaded machine.
    const ld = (field: number, ...parts: Buffer[]) => {
      const body = Buffer.concat(parts);
      return Buffer.concat([Buffer.from([(field << 3) | 2]), varint(body.length), body]);
    };
    const enc = (s: string) => Buffer.from(s);
    let value = Buffer.alloc(0);
    for (let i = 0; i < 3000; i++) value = ld(10, ld(1, enc('f')), ld(2, ld(1, enc('k')), ld(2, value)));
    const node = Buffer.concat([ld(1, enc('a')), ld(2, enc('X')), ld(5, ld(1, enc('k')), ld(2, value))]);
    expect(() => readGraphDef(Uint8Array.from(ld(1, node)), 'deep.pb')).toThrow(/deep\.pb: .*max depth exceeded/);
    const text = 'node { name: "a" op: "X" attr { key: "k" value { ' + 'func { name: "f" attr { key: "k" value { '.repeat(300) + '} } }'.repeat(300) + ' } } }';
    expect(() => readGraphDefText(text, 'deep.pbtxt')).toThrow(/deep\.pbtxt:1:\d+: messages nested deeper than 100 levels/);
  });
});

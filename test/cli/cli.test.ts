import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { cnnGraph } from '../../cases/gen/cnn.js';
import { A } from '../../src/graph/attrs.js';
import { METRICS } from '../../src/compare/metrics.js';
import { encodeGraphDef, graphToPbtxt } from '../../src/formats/graphdef-writer.js';
import { readTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { readNpzFile } from '../../src/inputs/npz.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import { ELEM, encodeModel } from '../fixtures/onnx-writer.js';
import { TF1Graph, doubleLoop } from '../fixtures/tf1-loops.js';
import { writeSavedModel } from '../fixtures/savedmodel-writer.js';

/**
 * The `parity` command as users run it: built CLI (dist/) in a child process, exit codes,
 * one-line errors naming the file/node, outputs written.
 */
const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/parity.js');
const d = mkdtempSync(join(tmpdir(), 'parity-cli-'));

function parity(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: d, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) {
    const b = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
  }
  writeFileSync(join(d, 'cnn.pb'), encodeGraphDef(cnnGraph()));
  writeFileSync(join(d, 'cnn.pbtxt'), graphToPbtxt(cnnGraph()));
}, 120_000);

describe('parity CLI', () => {
  it('inspect prints inputs, outputs, ops, parameters and unsupported ops', () => {
    const r = parity('inspect', 'cnn.pb');
    expect(r.code).toBe(0);
    expect(r.out).toContain('x  float32[?,8,8,3]');
    expect(r.out).toContain('probs/Softmax');
    expect(r.out).toMatch(/818 parameters/);
    expect(r.out).toContain('every op is executable');
    const g = cnnGraph();
    g.nodes.push({ name: 'weird1', op: 'FrobnicateV2', inputs: ['x'], attrs: {} }, { name: 'weird2', op: 'FrobnicateV2', inputs: ['weird1'], attrs: { T: A.dtype('float32') } });
    writeFileSync(join(d, 'odd.pb'), encodeGraphDef(g));
    const u = parity('inspect', 'odd.pb');
    expect(u.code).toBe(0);
    // Not one of TensorFlow's ops: said to come from a library the graph was built with (issue 22 item 10).
    expect(u.out).toContain('FrobnicateV2 (not a TensorFlow op: registered by a library the graph was built with): weird1, weird2');
  });

  it('inspect shows a candidate (Keras, ONNX) by what its runner reads: inputs and outputs', () => {
    const k = parity('inspect', join(ROOT, 'cases/models/cnn.keras'));
    expect(k.err).toBe('');
    expect(k.code).toBe(0);
    expect(k.out).toContain('(keras)\ninputs:\n  x  float32[?,8,8,3]\noutputs:\n  probs\n');
    const o = parity('inspect', join(ROOT, 'cases/models/cnn.onnx'), '--json');
    expect(o.code).toBe(0);
    expect(JSON.parse(o.out)).toEqual({ kind: 'onnx', inputs: [{ name: 'input', dtype: 'float32', shape: [1, 3, 8, 8] }], outputs: ['output'], warnings: [] });
  });

  it('inspect lists TF1 while loops, nested ones under the loop they run in', () => {
    writeFileSync(join(d, 'nested.pb'), encodeGraphDef(doubleLoop(3, 2).build(['result'])));
    const r = parity('inspect', 'nested.pb');
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      ['TF1 while loops (2):', '  while/while_context: 2 loop variables, 1 invariant, 2 exits', '    while/while/while_context: 2 loop variables, 2 invariants, 2 exits'].join('\n'),
    );
    expect(r.out).toContain('every op is executable');
    // The inner loop's unused Exit (its counter) is a sink of the GraphDef, not an output.
    expect(r.out).toMatch(/outputs:\n  result\n  count\nops:/);
    const j = JSON.parse(parity('inspect', 'nested.pb', '--json').out) as { loops: { frame: string; outerFrames: string[] }[] };
    expect(j.loops.map((l) => [l.frame, l.outerFrames])).toEqual([['while/while_context', []], ['while/while/while_context', ['while/while_context']]]);
  });

  it('inspect and run a TF1 tf.cond inside a TF1 loop: executable, untaken branches not recorded', () => {
    // acc = 1; for i in range(3): acc = acc * 2 if i % 2 == 0 else acc  =>  4
    const t = new TF1Graph();
    const int = (v: number) => host('int32', [], [v]);
    const [, accOut] = t.whileLoop(
      'while',
      [t.const('Const', int(0)), t.const('Const', host('float32', [], [1]))],
      ([i]) => t.op('Less', 'Less', [i!, t.const('Less/y', int(3))]),
      ([i, acc]) => {
        const even = t.op('Equal', 'Equal', [t.op('FloorMod', 'FloorMod', [i!, t.const('FloorMod/y', int(2))]), t.const('Equal/y', int(0))]);
        const [a] = t.cond('cond', even, () => [t.op('Mul', 'mul', [acc!, t.const('mul/y', host('float32', [], [2]))])], () => [acc!]);
        return [t.op('AddV2', 'add', [i!, t.const('add/y', int(1))]), a!];
      },
    );
    t.op('Identity', 'acc', [accOut!]);
    writeFileSync(join(d, 'cond.pb'), encodeGraphDef(t.build(['acc'])));
    const r = parity('inspect', 'cond.pb');
    expect(r.code).toBe(0);
    expect(r.out).toContain('every op is executable');
    expect(r.out).toMatch(/outputs:\n  while\/Exit\n  acc\nops:/);
    const run = parity('run', 'cond.pb', '--save-activations', 'cond.npz', '-q');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^acc: float32\[\] /m);
    const acts = readNpzFile(join(d, 'cond.npz'));
    expect(Array.from(acts.get('acc')!.data as Float32Array)).toEqual([4]);
    const body = (k: number, n: string) => `while/while_context/body@iter${k}/${n}`;
    expect(acts.has(body(0, 'while/cond/mul'))).toBe(true);
    expect(acts.has(body(1, 'while/cond/mul'))).toBe(false);
    expect(acts.has(body(2, 'while/cond/mul'))).toBe(true);
  });

  it('run saves every activation and the inputs as .npz', () => {
    const r = parity('run', 'cnn.pb', '--seed', '7', '--save-activations', 'acts.npz', '--save-inputs', 'feeds.npz', '-q');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^probs\/Softmax: float32\[1,10\]/m);
    const acts = readNpzFile(join(d, 'acts.npz'));
    expect(acts.has('conv1/Conv2D')).toBe(true);
    expect(acts.has('bn1/FusedBatchNormV3:1')).toBe(true);
    expect(acts.get('probs/Softmax')!.shape).toEqual([1, 10]);
    const rec = parity('run', 'cnn.pbtxt', '--inputs', 'feeds.npz', '--record', 'pool1/MaxPool', '--save-activations', 'one.npz', '-q');
    expect(rec.code).toBe(0);
    const one = readNpzFile(join(d, 'one.npz'));
    expect([...one.keys()]).toEqual(['pool1/MaxPool']);
    expect(Array.from(one.get('pool1/MaxPool')!.data as Float32Array)).toEqual(Array.from(acts.get('pool1/MaxPool')!.data as Float32Array));
  });

  it("run names a SavedModel's outputs by their signature keys, not by the nodes that compute them", () => {
    // As TF2 writes it: the signature's outputs are StatefulPartitionedCall_5:0 and :1 of an IdentityN.
    const g = new GraphBuilder();
    const x = g.placeholder('serving_default_x', 'float32', [-1]);
    const two = g.const('two', host('float32', [], [2]));
    const y = g.op('Mul', 'mul', [x, two], { T: A.dtype('float32') });
    g.op('IdentityN', 'StatefulPartitionedCall_5', [y, x], { T: A.list({ dtypes: ['float32', 'float32'] }) });
    const info = (name: string) => ({ name, dtype: 1, tensor_shape: { dim: [{ size: -1 }] } });
    writeSavedModel(join(d, 'keys_sm'), g.build([]), {
      meta_info_def: { tags: ['serve'] },
      signature_def: {
        serving_default: { inputs: { x: info('serving_default_x:0') }, outputs: { y: info('StatefulPartitionedCall_5:0'), x_again: info('StatefulPartitionedCall_5:1') }, method_name: 'tensorflow/serving/predict' },
      },
    });
    const r = parity('run', 'keys_sm', '--shape', 'x:3', '--input', 'x=constant(1.5)', '-q');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe('y: float32[3] min 3 max 3 first [3, 3, 3]\nx_again: float32[3] min 1.5 max 1.5 first [1.5, 1.5, 1.5]\n');
  });

  it('run prints an output of 196,608 elements (its range was a spread of every value, past the stack)', () => {
    const g = new GraphBuilder();
    const x = g.placeholder('x', 'float32', [1, 256, 256, 3]);
    const big = g.op('Relu', 'big', [x], { T: A.dtype('float32') });
    writeFileSync(join(d, 'big.pb'), encodeGraphDef(g.build([big])));
    const r = parity('run', 'big.pb', '--input', 'x=uniform(-1,1)', '-q');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^big: float32\[1,256,256,3\] min 0 max 0\.99\d* first \[/m);
  });

  // About 20 processes, one per case: more than the default minute on a loaded machine.
  it('bad input: one line naming the file or node, exit code 2, no stack trace', () => {
    const pb = readFileSync(join(d, 'cnn.pb'));
    writeFileSync(join(d, 'trunc.pb'), pb.subarray(0, 1000));
    writeFileSync(join(d, 'garbage.pb'), Buffer.from('this is not a protobuf at all \x00\xff\xfe', 'latin1'));
    writeFileSync(join(d, 'syntax.pbtxt'), 'node {\n  name: "a"\n  op: "Const"\n  attr { key: "dtype" value { type: DT_FLOAT }\n');
    const g = cnnGraph();
    g.nodes.push({ name: 'weird', op: 'FrobnicateV2', inputs: ['probs/Softmax'], attrs: {} });
    g.outputs = ['weird'];
    writeFileSync(join(d, 'unknown-op.pb'), encodeGraphDef(g));
    writeFileSync(
      join(d, 'bad-reshape.onnx'),
      encodeModel({
        nodes: [{ op: 'Reshape', name: 'reshape_it', inputs: ['x', 'shape'], outputs: ['y'] }],
        inputs: [{ name: 'x', elem: ELEM.float, shape: [6] }, { name: 'shape', elem: ELEM.int64, shape: [1] }],
        outputs: [{ name: 'y', elem: ELEM.float, shape: [4] }],
      }),
    );
    const cases: [string[], RegExp][] = [
      [['run', 'trunc.pb'], /trunc\.pb: /],
      [['run', 'garbage.pb'], /garbage\.pb: /],
      [['run', 'syntax.pbtxt'], /syntax\.pbtxt:5:1: /],
      [['run', 'unknown-op.pb'], /unknown-op\.pb: 1 op type\(s\) cannot be executed.*\n\s+FrobnicateV2 \(not a TensorFlow op: registered by a library the graph was built with\): weird/],
      [['run', 'cnn.pb', '--input', 'X=normal(0,1)'], /'X' is not an input of the model \(did you mean 'x'\?\)/],
      // A --shape other than the declared one runs (TF's C API lets the ops decide), with a warning naming both shapes; here the conv refuses it.
      [['run', 'cnn.pb', '--shape', 'x:1x8x8x4', '-q'], /^parity: warning: input 'x' is declared \[\?,8,8,3\] but is fed \[1,8,8,4\]: running it as fed .*\nparity: error: node 'conv1\/Conv2D' \(Conv2D\): input has 4 channels, which is not a multiple of the filter's in-depth 3/],
      [['run', 'missing.pb'], /missing\.pb does not exist/],
      // onnxruntime's own log of the failure (in colour, with C++ source locations) is not printed: one line.
      [['run', 'bad-reshape.onnx', '--input', 'shape=constant(4)', '-q'], /^parity: error: bad-reshape\.onnx: onnxruntime failed to run the model: .*Name:'reshape_it' Status Message: input_shape_size == requested_shape_size was false\. The input tensor cannot be reshaped[^\n]*\n$/],
      [['compare', 'cnn.pb'], /^parity: error: missing required argument 'candidate' \(see 'parity compare --help'\)\n$/],
      [['run', 'cnn.pb', '--frobnicate'], /^parity: error: unknown option '--frobnicate' \(see 'parity run --help'\)\n$/],
      // A negative value is taken as the option's value, and refused by its parser.
      [['compare', 'cnn.pb', 'cnn.pb', '--rtol', '-1'], /^parity: error: --rtol expects a non-negative number, got '-1'\n$/],
      [['compare', 'cnn.pb', 'cnn.pb', '--atol', 'logits:'], /--atol 'logits:': expected NAME:VALUE/],
      [['compare', 'cnn.pb', 'cnn.pb', '--rtol', ''], /--rtol expects a non-negative number, got ''/],
      [['compare', 'cnn.pb', 'cnn.pb', '--topk', '0'], /--topk expects a positive integer/],
      [['compare', 'cnn.pb', 'cnn.pb', '--error-scale', 'rms'], /^parity: error: option '--error-scale <how>' argument 'rms' is invalid\. Allowed choices are tensor, element\./],
      [['compare', 'cnn.pb', 'cnn.pb', '--fail-on', 'layer'], /^parity: error: option '--fail-on <what>' argument 'layer' is invalid\. Allowed choices are layers, outputs, all\./],
      // Before the models run: nothing on stdout, no progress.
      [['compare', 'cnn.pb', 'cnn.pb', '--json', '.'], /^parity: error: \. cannot be written: it is a directory \(give a file name\)\n$/],
    ];
    for (const [args, re] of cases) {
      const r = parity(...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err, args.join(' ')).toMatch(re);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    // A report that cannot be written leaves no temp file beside it.
    expect(readdirSync(d).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 180_000);

  it('help is generated from the option definitions; metric names come from the registry; --version', () => {
    const top = parity('--help');
    expect(top.code).toBe(0);
    for (const c of ['inspect', 'run', 'compare', 'align', 'export-inputs', 'suite', 'merge-reports']) expect(top.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    const h = parity('compare', '--help');
    expect(h.code).toBe(0);
    expect(h.err).toBe('');
    expect(h.out).toMatch(/^Usage: parity compare \[options\] <original> <candidate>/);
    for (const flag of ['--atol <x|name:x>', '--check <threshold>', '--iterations <n>', '--no-own-error', '--seed <n>', '--json <file>', '-q, --quiet']) expect(h.out).toContain(flag);
    // Every metric of the registry, and no other word, after 'metrics:'.
    const listed = /metrics:\s*([a-z_,\s]+?)\s*\n\s*--/.exec(h.out)![1]!.split(/,\s*/);
    expect(listed).toEqual(Object.keys(METRICS));
    const v = parity('--version');
    expect(v.code).toBe(0);
    expect(v.out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it("writes a report into folders that do not exist yet (the README's --html reports/cnn.html in a fresh clone)", () => {
    const r = parity('compare', 'cnn.pb', 'cnn.pbtxt', '--html', 'new/reports/cnn.html', '--json', 'new/json/r.json', '-q');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(d, 'new/reports/cnn.html'), 'utf8')).toMatch(/^<!doctype html>/i);
    expect(JSON.parse(readFileSync(join(d, 'new/json/r.json'), 'utf8')).verdict).toBe('equivalent');
    const s = parity('run', 'cnn.pb', '--save-activations', 'new/acts/a.npz', '-q');
    expect(s.code).toBe(0);
    expect(readNpzFile(join(d, 'new/acts/a.npz')).has('probs/Softmax')).toBe(true);
  });

  it('compare exit codes, JSON validated against the committed schema, JUnit and Markdown', () => {
    writeFileSync(join(d, 'buggy.pb'), encodeGraphDef(cnnGraph(undefined, 'bn1-epsilon')));
    const ok = parity('compare', 'cnn.pb', 'cnn.pbtxt', '--json', 'ok.json', '-q');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^EQUIVALENT/);
    const bad = parity('compare', 'cnn.pb', 'buggy.pb', '--json', 'bad.json', '--junit', 'bad.xml', '--markdown', 'bad.md', '--html', 'bad.html', '-q');
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('First divergence:');
    expect(bad.out).toContain('bn1/FusedBatchNormV3');
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schema/result.schema.json'), 'utf8')));
    for (const f of ['ok.json', 'bad.json']) {
      const doc = JSON.parse(readFileSync(join(d, f), 'utf8'));
      expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    }
    expect(JSON.parse(readFileSync(join(d, 'bad.json'), 'utf8')).verdict).toBe('not-equivalent');
    const junit = readFileSync(join(d, 'bad.xml'), 'utf8');
    expect(junit).toMatch(/<testcase [^>]*name="output probs\/Softmax ~ probs\/Softmax"[^>]*>\s*<failure/);
    expect(junit).toMatch(/name="first-divergence bn1\/FusedBatchNormV3 ~ bn1\/FusedBatchNormV3"/);
    expect(readFileSync(join(d, 'bad.md'), 'utf8')).toMatch(/\*\*First divergence:\*\* `bn1\/FusedBatchNormV3`/);
    const align = parity('align', 'cnn.pb', 'buggy.pb', '-o', 'map.json');
    expect(align.code).toBe(0);
    const map = JSON.parse(readFileSync(join(d, 'map.json'), 'utf8'));
    expect(map.pairs.length).toBeGreaterThan(5);
    const withMap = parity('compare', 'cnn.pb', 'buggy.pb', '--map', 'map.json', '--names-only', '-q');
    expect(withMap.code).toBe(1);
  });

  it("issue 23 failure 1 end to end: the tfjs signature lists the heads c, a, b, the port returns a, b, c (torch's output_0..2), one head's dense weight reshaped: exit 1 naming that output, every output paired; the frozen .pb of the same graph says the same", async () => {
    const heads = join(ROOT, 'test/fixtures/handport-failures/heads');
    const S = 'StatefulPartitionedCall/model/';
    writeFileSync(join(d, 'heads.pb'), encodeGraphDef(await readTfjsGraphModel(join(heads, 'model.json'))));
    for (const original of [join(heads, 'model.json'), 'heads.pb']) {
      const bad = parity('compare', original, join(heads, 'head-dense-reshape-unnamed.onnx'), '--seed', '1', '--json', 'heads.json', '-q');
      expect(bad.code, bad.out + bad.err).toBe(1);
      expect(bad.out).toMatch(/^NOT EQUIVALENT/);
      expect(bad.out).toContain(`(3 outputs)`);
      expect(bad.out).toContain(`the output '${S}head_b/Softmax' (Softmax) ~ 'output_1' (Softmax) fails`);
      expect(bad.out).toMatch(new RegExp(`FAIL #\\d+ ${S}head_b/Softmax \\(Softmax\\) ~ output_1 `));
      expect(bad.out).not.toContain('Outputs in no pair');
      const doc = JSON.parse(readFileSync(join(d, 'heads.json'), 'utf8'));
      // Each head with its own: the order alone would pair head_c (first in the signature) with output_0.
      const pairOf = (name: string) => doc.pairs[doc.outputs.find((o: { side: string; name: string }) => o.side === 'candidate' && o.name === name).pair];
      expect(pairOf('output_0').reference).toBe(`${S}head_a/Softmax`);
      expect(pairOf('output_1').reference).toBe(`${S}head_b/Softmax`);
      expect(pairOf('output_2').reference).toBe(`${S}head_c/Softmax`);
      expect(doc.outputs.every((o: { pair?: number }) => o.pair !== undefined)).toBe(true);
      expect(doc.pairs[doc.rootCause].reference).toBe(`${S}head_b/BiasAdd`);
      const ok = parity('compare', original, join(heads, 'correct-unnamed.onnx'), '--seed', '1', '-q');
      expect(ok.code, ok.out).toBe(0);
    }
  });

  it('the same command twice gives identical JSON apart from timestamps and timings', () => {
    const strip = (f: string) => {
      const j = JSON.parse(readFileSync(join(d, f), 'utf8'));
      delete j.run.startedAt;
      delete j.run.timings;
      return JSON.stringify(j);
    };
    parity('compare', 'cnn.pb', 'buggy.pb', '--json', 'a.json', '--iterations', '2', '-q');
    parity('compare', 'cnn.pb', 'buggy.pb', '--json', 'b.json', '--iterations', '2', '-q');
    expect(strip('a.json')).toBe(strip('b.json'));
  });
});

// A training checkpoint's inferred outputs can go past what its frozen copy kept (ML.NET's cifar
// model: sink `add_1` = logits + bias, frozen at `Output`): `compare --outputs` cuts the original there.
describe('compare --outputs', () => {
  it('an original output the candidate lacks fails; cut at the shared output, the pair is equivalent', () => {
    const two = () => {
      const g = new GraphBuilder();
      const x = g.placeholder('x', 'float32', [1, 3]);
      const w = g.const('w', host('float32', [3, 2], [1, -2, 0.5, 3, -1, 4]));
      const out = g.op('MatMul', 'Output', [x, w], { T: A.dtype('float32'), transpose_a: A.bool(false), transpose_b: A.bool(false) });
      return { g, out };
    };
    const full = two();
    full.g.const('b', host('float32', [2], [0.25, -0.75]));
    full.g.op('AddV2', 'add_1', [full.out, 'b'], { T: A.dtype('float32') });
    writeFileSync(join(d, 'sinks.pb'), encodeGraphDef(full.g.build(['add_1'])));
    const cut = two();
    writeFileSync(join(d, 'frozen-at-output.pb'), encodeGraphDef(cut.g.build(['Output'])));
    const whole = parity('compare', join(d, 'sinks.pb'), join(d, 'frozen-at-output.pb'), '-q');
    expect(whole.code).toBe(1);
    expect(whole.out).toMatch(/the reference's output 'add_1' \[1,2\] is in no pair/);
    const r = parity('compare', join(d, 'sinks.pb'), join(d, 'frozen-at-output.pb'), '--outputs', 'Output', '-q');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^EQUIVALENT/m);
    expect(r.out).toMatch(/pass #\d+ Output \(MatMul\) ~ Output \(MatMul\) max_abs 0/);
  });
});

/**
 * Big models: time and peak RSS of `parity run` and `parity compare` (against a copy with one
 * layer's weights scaled by 1.001), printed per weight byte and against a bare `node` process that
 * only reads the weights' file into memory, each in a fresh process, side by side:
 *  - dense134: a frozen graph of 134 M parameters (8 dense layers of 4096x4096: a 512 MiB .pb);
 *  - resnet50: a ResNet-50-like frozen graph (25.5 M parameters: the bottleneck stages 3-4-6-3,
 *    convolutions with biases as frozen graphs fold batch norms, a 2048x1000 dense head; 224x224
 *    input);
 *  - resnet50-savedmodel: the same network as a TF1-style SavedModel whose weights are
 *    VariableV2 nodes restored from variables/variables.* (a bundle written chunk by chunk).
 * The models are made here, by this code (into a temp folder). Run:
 *   npm run build && node dist/bench/big.js [--base OTHER/bin/parity.js] [--reps N] [--only a,b]
 * With --base, another build (e.g. main's, built in a copy of it) runs each case beside this one,
 * in turn, so that before/after figures come from the same minutes of the same machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32cExtend } from '../src/formats/checkpoint/crc32c.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';
import { A } from '../src/graph/attrs.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { StreamedTensor } from '../test/fixtures/bundle-writer.js';
import { writeBundleStreamed } from '../test/fixtures/bundle-writer.js';
import { metaGraphBytes, savedModelBytes } from '../test/fixtures/savedmodel-writer.js';

const BIN = join(fileURLToPath(import.meta.url), '..', '..', '..', 'bin', 'parity.js');
const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const BASE = arg('--base');
const REPS = Number(arg('--reps') ?? 2);
const ONLY = arg('--only')?.split(',');
const builds: [string, string][] = BASE ? [['base', BASE], ['this', BIN]] : [['this', BIN]];
const f32 = A.dtype('float32');

/** Seeded uniform values in [-k, k): element i of tensor `seed`, addressed by position (chunks fill independently). */
function uniform(seed: number, k: number) {
  return (out: Float32Array, start: number) => {
    for (let i = 0; i < out.length; i++) {
      let s = Math.imul((start + i) ^ Math.imul(seed + 1, 0x9e3779b1), 0x85ebca6b);
      s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35);
      s ^= s >>> 16;
      out[i] = ((s >>> 0) / 2 ** 32 * 2 - 1) * k;
    }
  };
}

/**
 * Where a generated model's weights go: Const nodes holding them (a frozen graph), or VariableV2
 * nodes read through Identity whose values are written to a bundle (a TF1 SavedModel).
 */
interface Weights {
  /** The node reading weight `name` of `shape`, uniform in [-k, k). */
  param(name: string, shape: number[], k: number): string;
}

function constWeights(g: GraphBuilder): Weights {
  let seed = 0;
  return {
    param(name, shape, k) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      uniform(seed++, k)(data, 0);
      return g.const(name, { dtype: 'float32', shape, data });
    },
  };
}

function variableWeights(g: GraphBuilder, tensors: StreamedTensor[]): Weights {
  let seed = 0;
  return {
    param(name, shape, k) {
      g.op('VariableV2', name, [], { dtype: f32, shape: A.shape(shape), container: A.str(''), shared_name: A.str('') });
      tensors.push({ name, shape, fill: uniform(seed++, k) });
      return g.op('Identity', `${name}/read`, [name], { T: f32 });
    },
  };
}

/** A chain of dense layers (MatMul + BiasAdd + Relu), the 4th layer's kernel scaled by `scale`. */
function denseChain(g: GraphBuilder, w: Weights, layers: number, width: number, scale = 1): string {
  let x = g.placeholder('x', 'float32', [1, width]);
  const k = Math.sqrt(3 / width);
  for (let l = 0; l < layers; l++) {
    const wn = w.param(`dense_${l}/kernel`, [width, width], k * (l === 3 ? scale : 1));
    const bn = w.param(`dense_${l}/bias`, [width], 0.1);
    const m = g.op('MatMul', `dense_${l}/MatMul`, [x, wn], { T: f32, transpose_a: A.bool(false), transpose_b: A.bool(false) });
    const a = g.op('BiasAdd', `dense_${l}/BiasAdd`, [m, bn], { T: f32 });
    x = g.op('Relu', `dense_${l}/Relu`, [a], { T: f32 });
  }
  return x;
}

/**
 * ResNet-50's shape (conv1 7x7/2, max pool, bottleneck stages of 3, 4, 6, 3 blocks of widths 64
 * to 512 with 4x expansion and a projection shortcut at each stage's first block, global mean,
 * 2048x1000 dense head): 25.5 M parameters. Convolutions carry biases (batch norms folded, as in
 * frozen graphs). Weights uniform with variance 1/fan-in, so activations stay O(1) through the
 * residual adds. `scale` multiplies one convolution's kernel (stage 3's first 3x3).
 */
function resnet50(g: GraphBuilder, w: Weights, scale = 1): string {
  const conv = (name: string, x: string, kh: number, cin: number, cout: number, stride: number, relu: boolean, s = 1) => {
    const kern = w.param(`${name}/kernel`, [kh, kh, cin, cout], Math.sqrt(3 / (kh * kh * cin)) * s);
    const bias = w.param(`${name}/bias`, [cout], 0.05);
    const c = g.op('Conv2D', `${name}/Conv2D`, [x, kern], {
      T: f32, strides: A.ints([1, stride, stride, 1]), padding: A.str('SAME'), data_format: A.str('NHWC'), dilations: A.ints([1, 1, 1, 1]), use_cudnn_on_gpu: A.bool(true),
    });
    const b = g.op('BiasAdd', `${name}/BiasAdd`, [c, bias], { T: f32, data_format: A.str('NHWC') });
    return relu ? g.op('Relu', `${name}/Relu`, [b], { T: f32 }) : b;
  };
  let x = g.placeholder('x', 'float32', [1, 224, 224, 3]);
  x = conv('conv1', x, 7, 3, 64, 2, true);
  x = g.op('MaxPool', 'pool1', [x], { T: f32, ksize: A.ints([1, 3, 3, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  let cin = 64;
  for (const [stage, blocks, width] of [[2, 3, 64], [3, 4, 128], [4, 6, 256], [5, 3, 512]] as const) {
    for (let b = 0; b < blocks; b++) {
      const name = `conv${stage}_block${b + 1}`;
      const stride = b === 0 && stage > 2 ? 2 : 1;
      const short = b === 0 ? conv(`${name}/0`, x, 1, cin, 4 * width, stride, false) : x;
      let y = conv(`${name}/1`, x, 1, cin, width, stride, true);
      y = conv(`${name}/2`, y, 3, width, width, 1, true, stage === 3 && b === 0 ? scale : 1);
      y = conv(`${name}/3`, y, 1, width, 4 * width, 1, false);
      x = g.op('Relu', `${name}/out`, [g.op('AddV2', `${name}/add`, [short, y], { T: f32 })], { T: f32 });
      cin = 4 * width;
    }
  }
  const axes = g.const('avg_pool/axes', { dtype: 'int32', shape: [2], data: Int32Array.of(1, 2) });
  x = g.op('Mean', 'avg_pool', [x, axes], { T: f32, Tidx: A.dtype('int32'), keep_dims: A.bool(false) });
  const kern = w.param('predictions/kernel', [2048, 1000], Math.sqrt(3 / 2048));
  const bias = w.param('predictions/bias', [1000], 0.05);
  const logits = g.op('BiasAdd', 'predictions/BiasAdd', [g.op('MatMul', 'predictions/MatMul', [x, kern], { T: f32, transpose_a: A.bool(false), transpose_b: A.bool(false) }), bias], { T: f32 });
  return g.op('Softmax', 'predictions/Softmax', [logits], { T: f32 });
}

/** A frozen graph of `net`; returns the weight bytes (the .pb's size). */
function writeFrozen(path: string, net: (g: GraphBuilder, w: Weights) => string): number {
  const g = new GraphBuilder();
  const y = net(g, constWeights(g));
  writeFileSync(path, encodeGraphDef(g.build([y])));
  return statSync(path).size;
}

/** A TF1 SavedModel of `net` (signature serving_default: x -> y); returns the data shard and its bytes. */
function writeSavedModel(dir: string, net: (g: GraphBuilder, w: Weights) => string): { data: string; bytes: number } {
  mkdirSync(dir, { recursive: true });
  const g = new GraphBuilder();
  const tensors: StreamedTensor[] = [];
  const out = net(g, variableWeights(g, tensors));
  g.op('Identity', 'y', [out], { T: f32 });
  const x = g.build([]).inputs[0]!;
  const info = (name: string, shape: number[]) => ({ name, dtype: 1, tensor_shape: { dim: shape.map((size) => ({ size })) } });
  const meta = {
    meta_info_def: { tags: ['serve'] },
    signature_def: { serving_default: { inputs: { x: info('x:0', x.shape!) }, outputs: { y: info('y:0', [1, -1]) }, method_name: 'tensorflow/serving/predict' } },
  };
  writeFileSync(join(dir, 'saved_model.pb'), savedModelBytes([metaGraphBytes(g.build(['y']), meta)]));
  const { data, bytes } = writeBundleStreamed(join(dir, 'variables', 'variables'), tensors, { crc: crc32cExtend });
  return { data: data[0]!, bytes };
}

interface Measure {
  seconds: number;
  rssMb: number;
}

/** Wall time and peak RSS of a fresh process (GNU time). */
function measure(args: string[]): Measure {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(' ')}: exit ${r.status}: ${r.stderr.slice(-500)}`);
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { seconds, rssMb: kb / 1024 };
}

interface Case {
  name: string;
  what: string;
  /** The model, a copy with one layer scaled by 1.001, the file holding the weights. */
  ref: string;
  cand: string;
  weights: string;
  weightMb: number;
}

const d = mkdtempSync(join(tmpdir(), 'parity-big-'));
const make: Record<string, () => Case> = {
  dense134: () => {
    const ref = join(d, 'dense134.pb');
    const weightMb = writeFrozen(ref, (g, w) => denseChain(g, w, 8, 4096)) / 2 ** 20;
    writeFrozen(join(d, 'dense134-scaled.pb'), (g, w) => denseChain(g, w, 8, 4096, 1.001));
    return { name: 'dense134', what: '8 x 4096x4096 dense layers, frozen graph', ref, cand: join(d, 'dense134-scaled.pb'), weights: ref, weightMb };
  },
  resnet50: () => {
    const ref = join(d, 'resnet50.pb');
    const weightMb = writeFrozen(ref, (g, w) => resnet50(g, w)) / 2 ** 20;
    writeFrozen(join(d, 'resnet50-scaled.pb'), (g, w) => resnet50(g, w, 1.001));
    return { name: 'resnet50', what: 'ResNet-50-like conv net, frozen graph', ref, cand: join(d, 'resnet50-scaled.pb'), weights: ref, weightMb };
  },
  'resnet50-savedmodel': () => {
    const ref = join(d, 'resnet50-sm');
    const { data, bytes } = writeSavedModel(ref, (g, w) => resnet50(g, w));
    writeSavedModel(join(d, 'resnet50-sm-scaled'), (g, w) => resnet50(g, w, 1.001));
    return { name: 'resnet50-savedmodel', what: 'the same as a TF1 SavedModel with a variables bundle', ref, cand: join(d, 'resnet50-sm-scaled'), weights: data, weightMb: bytes / 2 ** 20 };
  },
};

const reader = join(d, 'read.mjs');
writeFileSync(reader, `import { readFileSync } from 'node:fs'; const b = readFileSync(process.argv[2]); let s = 0; for (let i = 0; i < b.length; i += 4096) s += b[i]; console.log(s);\n`);
console.log(`models in ${d}; builds: ${builds.map(([b, bin]) => `${b} = ${bin}`).join(', ')}`);
for (const name of ONLY ?? Object.keys(make)) {
  const c = make[name]!();
  const rows: [string, Measure, number][] = [];
  for (let rep = 0; rep < REPS; rep++) {
    rows.push(['bare node reading the weights file', measure([reader, c.weights]), c.weightMb]);
    for (const [b, bin] of builds) rows.push([`parity run (${b})`, measure([bin, 'run', c.ref]), c.weightMb]);
    for (const [b, bin] of builds) rows.push([`parity compare (${b})`, measure([bin, 'compare', c.ref, c.cand]), 2 * c.weightMb]);
  }
  console.log(`\n${c.name}: ${c.what}, ${c.weightMb.toFixed(0)} MiB of weights`);
  console.log('| process | wall | peak RSS | RSS / weight bytes | target |');
  console.log('|---|---|---|---|---|');
  for (const [label, m, w] of rows) {
    const target = label.startsWith('parity run') ? `<= ${(1.5 * w + 200).toFixed(0)} MB` : label.startsWith('parity compare') ? `<= ${(1.5 * w + 300).toFixed(0)} MB` : '';
    console.log(`| ${label} | ${m.seconds.toFixed(2)} s | ${m.rssMb.toFixed(0)} MB | ${(m.rssMb / w).toFixed(2)}x | ${target} |`);
  }
  const best = (label: string) => Math.min(...rows.filter((r) => r[0] === label).map((r) => r[1].seconds));
  const bare = best('bare node reading the weights file');
  for (const [b] of builds) console.log(`${c.name}: parity run (${b}) / bare read: ${(best(`parity run (${b})`) / bare).toFixed(1)}x (target <= 3x)`);
}

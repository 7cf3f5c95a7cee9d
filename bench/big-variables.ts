/**
 * Models past protobuf's 2 GB limit arrive as SavedModels whose variables live in a tensor
 * bundle. This bench writes one (a chain of dense layers whose kernels total ~2.5 GB by default,
 * TF1-style VariableV2 nodes restored by name, the bundle written chunk by chunk so that making
 * it needs little memory), then measures `parity run` on it against a bare `node` that reads the
 * data shard, each in a fresh process, printing time and peak RSS per weight byte.
 * The model is made here, by this code (into a temp folder, removed afterwards unless --keep). Run:
 *   npm run build && node dist/bench/big-variables.js [GB=2.5] [--compare] [--keep]
 * (--compare adds `parity compare` of the model against itself: both models' weights in memory.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32cExtend } from '../src/formats/checkpoint/crc32c.js';
import { A } from '../src/graph/attrs.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { StreamedTensor } from '../test/fixtures/bundle-writer.js';
import { writeBundleStreamed } from '../test/fixtures/bundle-writer.js';
import { metaGraphBytes, savedModelBytes } from '../test/fixtures/savedmodel-writer.js';

const BIN = join(fileURLToPath(import.meta.url), '..', '..', '..', 'bin', 'parity.js');
const f32 = A.dtype('float32');

/** Seeded uniform values in [-k, k): element i of tensor `seed` (position-addressed, so chunks can be filled independently). */
function fillUniform(seed: number, k: number) {
  return (out: Float32Array, start: number) => {
    for (let i = 0; i < out.length; i++) {
      let s = Math.imul((start + i) ^ Math.imul(seed, 0x9e3779b1), 0x85ebca6b);
      s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35);
      s ^= s >>> 16;
      out[i] = ((s >>> 0) / 2 ** 32 * 2 - 1) * k;
    }
  };
}

/**
 * A TF1-style SavedModel: x [1, width] -> `layers` x (MatMul with a VariableV2 kernel, BiasAdd,
 * Relu) -> y; kernels and biases in variables/variables.*; signature serving_default x -> y.
 */
export function writeDenseSavedModel(dir: string, layers: number, width: number): { weightBytes: number; dataFile: string } {
  const g = new GraphBuilder();
  let x = g.placeholder('x', 'float32', [1, width]);
  const tensors: StreamedTensor[] = [];
  const k = Math.sqrt(3 / width);
  for (let l = 0; l < layers; l++) {
    for (const [v, shape] of [['kernel', [width, width]], ['bias', [width]]] as const) {
      const name = `dense_${l}/${v}`;
      g.op('VariableV2', name, [], { dtype: f32, shape: A.shape([...shape]), container: A.str(''), shared_name: A.str('') });
      g.op('Identity', `${name}/read`, [name], { T: f32 });
      tensors.push({ name, shape: [...shape], fill: fillUniform(2 * l + (v === 'bias' ? 1 : 0), v === 'bias' ? 0.1 : k) });
    }
    const m = g.op('MatMul', `dense_${l}/MatMul`, [x, `dense_${l}/kernel/read`], { T: f32, transpose_a: A.bool(false), transpose_b: A.bool(false) });
    const a = g.op('BiasAdd', `dense_${l}/BiasAdd`, [m, `dense_${l}/bias/read`], { T: f32 });
    x = g.op('Relu', `dense_${l}/Relu`, [a], { T: f32 });
  }
  g.op('Identity', 'y', [x], { T: f32 });
  const info = (name: string) => ({ name, dtype: 1, tensor_shape: { dim: [{ size: 1 }, { size: width }] } });
  const meta = {
    meta_info_def: { tags: ['serve'] },
    signature_def: { serving_default: { inputs: { x: info('x:0') }, outputs: { y: info('y:0') }, method_name: 'tensorflow/serving/predict' } },
  };
  writeFileSync(join(dir, 'saved_model.pb'), savedModelBytes([metaGraphBytes(g.build(['y']), meta)]));
  const { bytes, data } = writeBundleStreamed(join(dir, 'variables', 'variables'), tensors, { crc: crc32cExtend });
  return { weightBytes: bytes, dataFile: data[0]! };
}

interface Measure {
  seconds: number;
  rssMb: number;
  status: number | null;
  tail: string;
}

/** Wall time and peak RSS of a fresh process (GNU time). */
function measure(args: string[]): Measure {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  const lines = r.stderr.trim().split('\n');
  const kb = Number(lines.pop());
  return { seconds, rssMb: kb / 1024, status: r.status, tail: lines.slice(-2).join(' ').slice(-300) };
}

function main(): void {
  const gb = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 2.5);
  const keep = process.argv.includes('--keep');
  const withCompare = process.argv.includes('--compare');
  const width = 8192;
  const layers = Math.max(1, Math.ceil((gb * 1e9) / (4 * width * width)));
  const d = mkdtempSync(join(tmpdir(), 'parity-bigvars-'));
  const t0 = performance.now();
  const { weightBytes, dataFile } = writeDenseSavedModel(d, layers, width);
  const weightMb = weightBytes / 2 ** 20;
  console.log(`SavedModel: ${layers} dense layers of ${width}x${width}, variables ${(weightBytes / 1e9).toFixed(2)} GB (written in ${((performance.now() - t0) / 1000).toFixed(1)} s to ${d})`);
  const reader = join(d, 'read.mjs');
  writeFileSync(
    reader,
    // Kept in memory as it is read (64 MB pieces), as a run must hold the weights.
    `import { openSync, readSync } from 'node:fs'; const fd = openSync(process.argv[2], 'r'); const kept = []; let s = 0, n;\n` +
      `for (;;) { const b = new Uint8Array(1 << 26); n = readSync(fd, b, 0, b.length, null); if (n <= 0) break; kept.push(b); for (let i = 0; i < n; i += 4096) s += b[i]; } console.log(s, kept.length);\n`,
  );
  const rows: [string, Measure][] = [];
  for (let rep = 0; rep < 2; rep++) {
    rows.push(['bare node reading the data shard into memory', measure([reader, dataFile])]);
    rows.push(['parity run', measure([BIN, 'run', d])]);
    // The model against itself: both in memory at once (its verdict is EQUIVALENT, exit 0).
    if (withCompare) rows.push(['parity compare (the model against itself)', measure([BIN, 'compare', d, d])]);
  }
  console.log('| process | exit | wall | peak RSS | RSS / weight bytes | target |');
  console.log('|---|---|---|---|---|---|');
  for (const [label, m] of rows) {
    const w = label.startsWith('parity compare') ? 2 * weightMb : weightMb;
    const target = label === 'parity run' ? `<= ${(1.5 * w + 200).toFixed(0)} MB` : label.startsWith('parity compare') ? `<= ${(1.5 * w + 300).toFixed(0)} MB` : '';
    console.log(`| ${label} | ${m.status} | ${m.seconds.toFixed(2)} s | ${m.rssMb.toFixed(0)} MB | ${(m.rssMb / w).toFixed(2)}x | ${target} |`);
  }
  for (const [label, m] of rows) if (m.status !== 0) console.log(`${label} exit ${m.status}: ${m.tail}`);
  const bare = Math.min(...rows.filter((r) => r[0].startsWith('bare')).map((r) => r[1].seconds));
  const run = Math.min(...rows.filter((r) => r[0] === 'parity run').map((r) => r[1].seconds));
  console.log(`parity run / bare read: ${(run / bare).toFixed(1)}x (target <= 3x)`);
  if (!keep) rmSync(d, { recursive: true, force: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

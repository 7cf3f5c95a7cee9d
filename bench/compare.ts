/**
 * parity compare vs the two bare inference runs, side by side in one process; metrics throughput;
 * peak RSS. Run: npm run build && node dist/bench/compare.js
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { cnnGraph } from '../cases/gen/cnn.js';
import { cnnOnnx } from '../cases/gen/onnx-cnn.js';
import { initBackend } from '../src/backend/index.js';
import { computeMetrics } from '../src/compare/metrics.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';
import { compare, loadModel } from '../src/index.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function bare(path: string, feeds: Map<string, tf.Tensor>): Promise<number> {
  const m = await loadModel(path);
  const t0 = performance.now();
  for await (const a of m.runner.run(feeds, { record: m.runner.outputs() })) {
    await a.tensor.data();
    a.tensor.dispose();
  }
  const ms = performance.now() - t0;
  m.runner.dispose();
  return ms;
}

async function main(): Promise<void> {
  await initBackend();
  const d = mkdtempSync(join(tmpdir(), 'bench-compare-'));
  // A real model compared with its own tfjs graph conversion (blazeface, 257 nodes), and the
  // small CNN vs its ONNX conversion.
  const blaze = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models', 'blazeface.json');
  await report('blazeface (tfjs graph vs itself)', blaze, blaze, new Map([['input', tf.randomUniform([1, 256, 256, 3], 0, 1, 'float32', 1)]]), new Map([['input', tf.randomUniform([1, 256, 256, 3], 0, 1, 'float32', 1)]]));
  writeFileSync(join(d, 'cnn.pb'), encodeGraphDef(cnnGraph()));
  writeFileSync(join(d, 'cnn.onnx'), cnnOnnx());
  const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 1);
  await report('example CNN (.pb vs .onnx)', join(d, 'cnn.pb'), join(d, 'cnn.onnx'), new Map([['x', x]]), new Map([['input', tf.transpose(x, [0, 3, 1, 2])]]));
  metricsThroughput();
}

async function report(label: string, refPath: string, candPath: string, refFeeds: Map<string, tf.Tensor>, candFeeds: Map<string, tf.Tensor>): Promise<void> {
  const reps = 8;
  const c: number[] = [];
  const b: number[] = [];
  let peakCompare = 0;
  let peakBare = 0;
  for (let i = 0; i < reps + 2; i++) {
    const r0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const tb = (await bare(refPath, refFeeds)) + (await bare(candPath, candFeeds));
    void t0;
    peakBare = Math.max(peakBare, process.memoryUsage().rss - r0);
    const r1 = process.memoryUsage().rss;
    const t1 = performance.now();
    await compare(refPath, candPath, { seed: i, ownError: false });
    const tc = performance.now() - t1;
    peakCompare = Math.max(peakCompare, process.memoryUsage().rss - r1);
    if (i >= 2) {
      b.push(tb);
      c.push(tc);
    }
  }
  console.log(`${label}`);
  console.log(`compare (load + both runs + align + metrics, no own error): median ${median(c).toFixed(1)} ms`);
  console.log(`bare runs (load + reference + candidate, outputs only):     median ${median(b).toFixed(1)} ms`);
  console.log(`ratio compare / bare: ${(median(c) / median(b)).toFixed(2)}x (target <= 1.5x)`);
  console.log(`RSS growth during one run: compare ${(peakCompare / 1e6).toFixed(1)} MB, bare ${(peakBare / 1e6).toFixed(1)} MB`);
}

function metricsThroughput(): void {
  // Metrics throughput on large float32 tensors, one core.
  const n = 16 * 1024 * 1024;
  const ref = new Float32Array(n).map((_, i) => Math.sin(i));
  const cand = ref.map((v, i) => v + (i % 7 === 0 ? 1e-6 : 0));
  computeMetrics(ref, cand, { atol: 1e-5, rtol: 1e-5 });
  const t2 = performance.now();
  const rounds = 5;
  for (let i = 0; i < rounds; i++) computeMetrics(ref, cand, { atol: 1e-5, rtol: 1e-5 });
  const s = (performance.now() - t2) / 1000;
  const gb = (rounds * n * 4 * 2) / 1e9;
  console.log(`metrics: ${(gb / s).toFixed(2)} GB/s of float32 read (both tensors), ${((rounds * n) / s / 1e6).toFixed(0)} M element pairs/s per core (target >= 1 GB/s)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

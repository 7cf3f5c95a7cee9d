/**
 * parity compare vs the two bare inference runs of the same models, side by side in one process
 * (interleaved repetitions, medians); peak RSS of a fresh process doing one or the other; metrics
 * throughput. Run: npm run build && node dist/bench/compare.js
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cnnGraph } from '../cases/gen/cnn.js';
import { cnnOnnx } from '../cases/gen/onnx-cnn.js';
import { onnxPortOfGraph } from '../cases/gen/onnx-port.js';
import { renamedTfjsCopy } from '../cases/gen/renamed.js';
import { readTfjsGraphModel } from '../src/formats/tfjs-graph.js';
import { initBackend } from '../src/backend/index.js';
import { MetricsPool } from '../src/compare/simd/pool.js';
import { computeMetrics } from '../src/compare/metrics.js';
import type { Result } from '../src/compare/result.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';
import { compare, loadModel } from '../src/index.js';
import { generateFeeds } from '../src/inputs/generate.js';
import { hostToTf } from '../src/backend/convert.js';

const MODELS = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Bare inference: load, then run on the same seeded feeds a comparison uses, outputs only. */
async function bare(path: string, seed: number): Promise<number> {
  const m = await loadModel(path);
  const t0 = performance.now();
  const host = generateFeeds(m.runner.inputs(), { seed });
  const feeds = new Map([...host].map(([k, v]) => [k, hostToTf(v, k)]));
  const tFeeds = performance.now() - t0;
  for await (const a of m.runner.run(feeds, { record: m.runner.outputs() })) {
    await a.tensor.data();
    a.tensor.dispose();
  }
  for (const t of feeds.values()) t.dispose();
  m.runner.dispose();
  return tFeeds;
}

interface Case {
  label: string;
  ref: string;
  cand: string;
  /** Environment for the comparison (e.g. PARITY_HOLD_BYTES). */
  env?: Record<string, string>;
}

async function timeCase(c: Case, reps: number): Promise<void> {
  const cmp: number[] = [];
  const b: number[] = [];
  const parts: Result['run']['timings'][] = [];
  let feedMs = 0;
  // The first repetitions warm the JIT (loading and comparing are mostly JavaScript): not counted.
  const warm = 4;
  for (let i = 0; i < reps + warm; i++) {
    const runBare = async () => {
      const t0 = performance.now();
      const f1 = await bare(c.ref, i);
      const f2 = await bare(c.cand, i);
      // The bare runs make their own inputs only to feed the model; that is not inference.
      return { tb: performance.now() - t0 - f1 - f2, f1 };
    };
    const runCompare = async () => {
      Object.assign(process.env, c.env ?? {});
      try {
        const t1 = performance.now();
        const r = await compare(c.ref, c.cand, { seed: i, ownError: false });
        return { r, tc: performance.now() - t1 };
      } finally {
        for (const k of Object.keys(c.env ?? {})) delete process.env[k];
      }
    };
    // Each goes first in turn: what runs first finds the other's caches and heap.
    let b0: { tb: number; f1: number };
    let c0: { r: Result; tc: number };
    if (i % 2) {
      c0 = await runCompare();
      b0 = await runBare();
    } else {
      b0 = await runBare();
      c0 = await runCompare();
    }
    const { tb, f1 } = b0;
    const { r, tc } = c0;
    if (r.verdict === 'error') throw new Error(`${c.label}: ${r.summary}`);
    if (i >= warm) {
      b.push(tb);
      cmp.push(tc);
      parts.push(r.run.timings);
      feedMs += f1;
    }
  }
  const p = (k: keyof Result['run']['timings']) => median(parts.map((x) => x[k] as number)).toFixed(1);
  console.log(`${c.label}`);
  console.log(`  compare (load, inputs, both runs, alignment, metrics; no own error): median ${median(cmp).toFixed(1)} ms`);
  console.log(`    of which: reference run ${p('referenceMs')} ms, candidate run ${p('candidateMs')} ms, alignment and the rest ${p('compareMs')} ms; seeded inputs ~${(feedMs / cmp.length).toFixed(1)} ms`);
  console.log(`  bare runs (load + reference + candidate, outputs only):        median ${median(b).toFixed(1)} ms`);
  // Each repetition's compare over the bare runs next to it: slow spells of a shared machine
  // (the bare runs alone vary by a third here) hit both of a repetition's runs.
  const ratios = cmp.map((x, i) => x / b[i]!).sort((x, y) => x - y);
  const q = (f: number) => ratios[Math.min(ratios.length - 1, Math.floor(f * ratios.length))]!.toFixed(2);
  console.log(`  ratio compare / bare: ${(median(cmp) / median(b)).toFixed(2)}x of the medians; per repetition median ${median(ratios).toFixed(2)}x, 10th-90th percentile ${q(0.1)}-${q(0.9)}x (target <= 1.5x)`);
}

/** Peak RSS of a fresh process doing the bare runs, and of one doing the comparison (3 times each). */
function peakRss(c: Case): void {
  const self = fileURLToPath(import.meta.url);
  const run = (mode: string) => Number(execFileSync(process.execPath, [self, '--child', mode, c.ref, c.cand], { encoding: 'utf8', env: { ...process.env, ...(c.env ?? {}) } }).trim());
  const b = run('bare');
  const cm = run('compare');
  console.log(`  peak RSS of a fresh process: compare ${(cm / 1024).toFixed(0)} MB, bare runs ${(b / 1024).toFixed(0)} MB: ${(cm / b).toFixed(2)}x (target <= 2x)`);
}

async function child(mode: string, ref: string, cand: string): Promise<void> {
  await initBackend();
  for (let i = 0; i < 3; i++) {
    if (mode === 'bare') {
      await bare(ref, i);
      await bare(cand, i);
    } else await compare(ref, cand, { seed: i, ownError: false });
  }
  await MetricsPool.shutdown();
  console.log(process.resourceUsage().maxRSS);
}

function metricsThroughput(): void {
  // Metrics throughput on large float32 tensors, one core (host arrays: includes the copy into the kernel's memory).
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

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
  await initBackend();
  const d = mkdtempSync(join(tmpdir(), 'bench-compare-'));
  writeFileSync(join(d, 'cnn.pb'), encodeGraphDef(cnnGraph()));
  writeFileSync(join(d, 'cnn.onnx'), cnnOnnx());
  const blaze = join(MODELS, 'blazeface.json');
  const blazeGraph = await readTfjsGraphModel(blaze);
  const cases: Case[] = [
    { label: 'blazeface vs itself (257 nodes, 17 M compared elements; names pair everything)', ref: blaze, cand: blaze },
    { label: 'faceres vs itself (283 nodes)', ref: join(MODELS, 'faceres.json'), cand: join(MODELS, 'faceres.json') },
    { label: 'movenet-lightning vs itself', ref: join(MODELS, 'movenet-lightning.json'), cand: join(MODELS, 'movenet-lightning.json') },
    { label: 'blazeface vs a copy with every node renamed (numeric alignment; pairs guessed while both run)', ref: blaze, cand: renamedTfjsCopy(blaze, d) },
    {
      label: 'blazeface vs the renamed copy, PARITY_GUESS=0 (nothing guessed: every activation held until alignment)',
      ref: blaze,
      cand: join(d, 'renamed.json'),
      env: { PARITY_GUESS: '0' },
    },
    {
      label: 'blazeface vs the renamed copy, PARITY_HOLD_BYTES=0 (samples held; both run again to measure)',
      ref: blaze,
      cand: join(d, 'renamed.json'),
      env: { PARITY_HOLD_BYTES: '0' },
    },
    {
      label: 'faceres vs a copy with every node renamed (numeric alignment on a larger model)',
      ref: join(MODELS, 'faceres.json'),
      cand: renamedTfjsCopy(join(MODELS, 'faceres.json'), mkdirSync(join(d, 'faceres'), { recursive: true }) ?? join(d, 'faceres')),
    },
    {
      label: 'blazeface vs its NCHW ONNX port (onnxruntime; numeric alignment through transposes; values equal to rounding, not bitwise)',
      ref: blaze,
      cand: ((f) => (writeFileSync(f, onnxPortOfGraph(blazeGraph)), f))(join(d, 'blazeface-port.onnx')),
    },
    { label: 'example CNN, .pb vs its ONNX conversion (tiny: fixed costs dominate)', ref: join(d, 'cnn.pb'), cand: join(d, 'cnn.onnx') },
  ];
  // node dist/bench/compare.js [word]: only the cases whose label contains it.
  const only = process.argv[2];
  for (const c of cases.filter((x) => !only || x.label.includes(only))) {
    await timeCase(c, Number(process.env.BENCH_REPS) || (c.label.startsWith('example') ? 30 : c.label.startsWith('blazeface') ? 20 : 8));
    peakRss(c);
  }
  if (!only) metricsThroughput();
  await MetricsPool.shutdown();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

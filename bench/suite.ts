/**
 * Suite throughput: a 50-case suite of small models (the example CNN against its Keras, ONNX
 * and tfjs conversions) run by `runSuite` with a fresh process per case started when the case
 * starts ("cold", as before) and with warm worker processes, at --jobs 1 and 2, side by side in
 * one run. Prints the wall time, the time per case, and the per-case overhead: the time a case
 * costs the suite beyond its comparison (process start, module load, backend initialisation,
 * reports). Run: npm run build && node dist/bench/suite.js [CASES]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCaseModels } from '../cases/gen/generate.js';
import type { SuiteResult } from '../harness/suite.js';
import { runSuite } from '../harness/suite.js';

const N = Number(process.argv[2] ?? 50);
const d = mkdtempSync(join(tmpdir(), 'parity-bench-suite-'));
await generateCaseModels(join(d, 'models'));
mkdirSync(join(d, 'suite'));
const candidates = ['cnn.keras', 'cnn.onnx', 'cnn-tfjs/model.json'];
for (let i = 0; i < N; i++) {
  const cand = candidates[i % candidates.length]!;
  writeFileSync(join(d, 'suite', `case-${String(i).padStart(3, '0')}.yaml`), `original: ../models/cnn.pb\ncandidate: ../models/${cand}\nexpect: equivalent\nseed: ${i}\n`);
}

interface Row {
  label: string;
  wallS: number;
  perCaseS: number;
  compareS: number;
  overheadS: number;
}

async function time(label: string, jobs: number, warm: boolean): Promise<Row> {
  const t0 = performance.now();
  const r: SuiteResult = await runSuite(join(d, 'suite'), { out: join(d, `out-${jobs}-${warm}`), progress: 'none', jobs, warm });
  const wallS = (performance.now() - t0) / 1000;
  if (r.counts.pass !== N) throw new Error(`${label}: ${r.counts.pass} of ${N} cases passed`);
  const compareS = r.cases.reduce((s, c) => s + (c.compareMs ?? 0), 0) / 1000 / N;
  // Per case, what the suite spent beyond the comparisons it ran (jobs at once share the wall).
  const perCaseS = wallS / N;
  return { label, wallS, perCaseS, compareS, overheadS: (wallS * jobs) / N - compareS };
}

const rows: Row[] = [];
// Interleaved, so that a change in the machine's load hits every configuration alike.
for (const [label, jobs, warm] of [
  ['--jobs 1, a fresh process per case (before)', 1, false],
  ['--jobs 1, warm worker processes', 1, true],
  ['--jobs 2, a fresh process per case', 2, false],
  ['--jobs 2, warm worker processes (default here)', 2, true],
] as const) {
  rows.push(await time(label, jobs, warm));
}
console.log(`suite of ${N} small cases (example CNN vs Keras/ONNX/tfjs), ${d}`);
console.log('| configuration | wall | per case | of which comparing | overhead per case (x jobs) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.label} | ${r.wallS.toFixed(1)} s | ${r.perCaseS.toFixed(2)} s | ${r.compareS.toFixed(2)} s | ${r.overheadS.toFixed(2)} s |`);
const [cold1, warm1, , warm2] = rows;
console.log(`warm/cold at --jobs 1: ${(warm1!.wallS / cold1!.wallS).toFixed(2)}x; --jobs 2/--jobs 1 (warm): ${(warm2!.wallS / warm1!.wallS).toFixed(2)}x; target overhead <= 0.30 s per case`);

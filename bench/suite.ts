/**
 * Suite throughput: a suite of small cases (the example CNN against its Keras, ONNX and tfjs
 * conversions) run by `runSuite` in several configurations, interleaved round by round so that a
 * change in the machine's load hits each alike: a fresh process per case started when the case
 * starts ("cold"), warm worker processes without and with warm-up comparisons (harness/warmup.ts),
 * more than one process started ahead, at --jobs 1 and 2.
 *
 * Per configuration (median over rounds, [min-max] beside it): the wall time, the time per case,
 * the time inside comparisons, the per-case overhead (what the suite spent per case beyond its
 * comparison: process start, module load, backend initialisation, reports; jobs at once share
 * the wall, so it is wall x jobs / cases - comparing), and the CPU time the case processes took
 * per case (Linux: the children's times in /proc/self/stat), which a loaded machine changes far
 * less than wall times. Run: npm run build && node dist/bench/suite.js [CASES] [ROUNDS] [more]
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCaseModels } from '../cases/gen/generate.js';
import type { SuiteOptions, SuiteResult } from '../harness/suite.js';
import { runSuite } from '../harness/suite.js';

const N = Number(process.argv[2] ?? 50);
const ROUNDS = Number(process.argv[3] ?? 1);
const d = mkdtempSync(join(tmpdir(), 'parity-bench-suite-'));
await generateCaseModels(join(d, 'models'));
mkdirSync(join(d, 'suite'));
const candidates = ['cnn.keras', 'cnn.onnx', 'cnn-tfjs/model.json'];
for (let i = 0; i < N; i++) {
  const cand = candidates[i % candidates.length]!;
  writeFileSync(join(d, 'suite', `case-${String(i).padStart(3, '0')}.yaml`), `original: ../models/cnn.pb\ncandidate: ../models/${cand}\nexpect: equivalent\nseed: ${i}\n`);
}

/** CPU seconds of this process's ended children (user + system), or NaN off Linux. */
function childrenCpuS(): number {
  try {
    // Fields after the parenthesised command: state is field 3; cutime, cstime are 16, 17.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return NaN;
  }
}

interface Config {
  label: string;
  jobs: number;
  opts: Pick<SuiteOptions, 'warm' | 'warmup' | 'spares'>;
  /** Environment of the case processes (the engine's switches, src/compare/engine.ts). */
  env?: Record<string, string>;
}

interface Row {
  wallS: number;
  perCaseS: number;
  compareS: number;
  overheadS: number;
  cpuS: number;
}

const cores = availableParallelism();
/** With `more` as the third argument: the variants measured and not kept (two processes ahead, no metrics thread). */
const MORE = process.argv[4] === 'more';
const configs: Config[] = [
  { label: '--jobs 1, a fresh process per case', jobs: 1, opts: { warm: false } },
  { label: '--jobs 1, warm processes, no warm-up (before)', jobs: 1, opts: { warm: true, warmup: false } },
  { label: '--jobs 1, warm processes with warm-up', jobs: 1, opts: { warm: true } },
  { label: '--jobs 2, warm processes, no warm-up (before)', jobs: 2, opts: { warm: true, warmup: false } },
  { label: '--jobs 2, warm processes with warm-up', jobs: 2, opts: { warm: true } },
  ...(MORE
    ? [
        { label: '--jobs 1, warm with warm-up, 2 started ahead', jobs: 1, opts: { warm: true, spares: 2 } },
        { label: '--jobs 2, warm-up, metric pass on the main thread', jobs: 2, opts: { warm: true }, env: { PARITY_METRICS_THREAD: '0' } },
      ]
    : []),
];

async function time(c: Config, round: number): Promise<Row> {
  const saved = Object.fromEntries(Object.keys(c.env ?? {}).map((k) => [k, process.env[k]]));
  Object.assign(process.env, c.env);
  const cpu0 = childrenCpuS();
  const t0 = performance.now();
  const r: SuiteResult = await runSuite(join(d, 'suite'), { out: join(d, `out-${round}-${configs.indexOf(c)}`), progress: 'none', jobs: c.jobs, ...c.opts });
  const wallS = (performance.now() - t0) / 1000;
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (r.counts.pass !== N) throw new Error(`${c.label}: ${r.counts.pass} of ${N} cases passed`);
  const compareS = r.cases.reduce((s, o) => s + (o.compareMs ?? 0), 0) / 1000 / N;
  return { wallS, perCaseS: wallS / N, compareS, overheadS: (wallS * c.jobs) / N - compareS, cpuS: (childrenCpuS() - cpu0) / N };
}

const rows: Row[][] = configs.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [k, c] of configs.entries()) rows[k]!.push(await time(c, round));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const cell = (xs: number[], digits: number, unit = ' s') => {
  const m = `${median(xs).toFixed(digits)}${unit}`;
  return xs.length > 1 ? `${m} [${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}]` : m;
};
console.log(`suite of ${N} small cases (example CNN vs Keras/ONNX/tfjs), ${ROUNDS} round(s) interleaved, ${cores} cores; median [min-max]; ${d}`);
console.log('| configuration | wall | per case | of which comparing | overhead per case (x jobs) | worker CPU per case |');
console.log('|---|---|---|---|---|---|');
for (const [k, c] of configs.entries()) {
  const rs = rows[k]!;
  console.log(`| ${c.label} | ${cell(rs.map((r) => r.wallS), 1)} | ${cell(rs.map((r) => r.perCaseS), 2)} | ${cell(rs.map((r) => r.compareS), 2)} | ${cell(rs.map((r) => r.overheadS), 2)} | ${cell(rs.map((r) => r.cpuS), 2)} |`);
}
// Ratios within each round (the same load), then their median and spread.
const ratio = (a: number, b: number) => cell(rows[a]!.map((r, i) => r.wallS / rows[b]![i]!.wallS), 2, 'x');
console.log(`wall, same round: warm-up/no warm-up at --jobs 1 ${ratio(2, 1)}; warm-up/cold at --jobs 1 ${ratio(2, 0)}; --jobs 2/--jobs 1 with warm-up ${ratio(4, 2)}; target overhead <= 0.30 s per case`);
if (MORE) console.log(`wall, same round: 2 ahead/1 ahead ${ratio(5, 2)}; --jobs 2 without/with the metrics thread ${ratio(6, 4)}`);

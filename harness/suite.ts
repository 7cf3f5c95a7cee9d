import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import type { Result } from '../src/compare/result.js';
import { FormatError, InputError, ParityError } from '../src/core/errors.js';
import { writeAtomic } from '../src/report/index.js';
import { VERSION } from '../src/version.js';
import type { CaseSpec } from './case.js';
import { findCases, readCase } from './case.js';
import type { HistoryEntry, Trend } from './history.js';
import { appendHistory, readHistory, trendFor } from './history.js';
import { reviveNonFinite, stringifyFinite } from './json.js';
import type { CaseModels } from './pool.js';
import { WorkerPool } from './pool.js';
import { caseMemoryMb } from './budget.js';
import { schedule } from './schedule.js';
import { suiteHtml, suiteJunit } from './suite-report.js';

export type CaseStatus = 'pass' | 'fail' | 'error' | 'interrupted';

export interface CaseOutcome {
  name: string;
  /** Case file, relative to the suite root. */
  file: string;
  status: CaseStatus;
  expected: string;
  verdict?: Result['verdict'];
  message: string;
  durationMs: number;
  /** Of durationMs, the time inside the comparison; the rest is the case's overhead. */
  compareMs?: number;
  firstDivergence?: string;
  /** Worst output metrics. */
  metrics?: { max_abs: number; mean_abs: number; cosine: number; sqnr: number };
  /** Per-case report folder, relative to the suite output folder. */
  reportDir?: string;
  /** sha256 of each model's files (the Result's), to tell runs of changed models apart in the history. */
  models?: { reference: string; candidate: string };
  /** The runners' warnings (Result facts), each prefixed with its model's side. */
  warnings?: string[];
}

export interface SuiteResult {
  schemaVersion: 1;
  tool: { name: 'tf-parity'; version: string };
  run: string;
  startedAt: string;
  finishedAt: string;
  suite: string;
  shard?: { index: number; count: number };
  cases: CaseOutcome[];
  counts: Record<CaseStatus, number>;
  trends?: Trend[];
  interrupted?: boolean;
}

export interface SuiteOptions {
  out: string;
  shard?: { index: number; count: number };
  history?: string;
  historyWindow?: number;
  regressionFactor?: number;
  backend?: string;
  memoryMb?: number;
  /** 'bar' on a terminal, 'lines' in CI, 'none' in tests. */
  progress?: 'bar' | 'lines' | 'none';
  /** Overrides every case's timeout (seconds). */
  timeoutSec?: number;
  /** Called with the process-level abort hook so SIGINT can be wired by the CLI. */
  signal?: AbortSignal;
  /** Cases run at once, each in its own process (default: the number of cores). */
  jobs?: number;
  /**
   * Memory the running cases may take together (MB; default 80% of the machine's): a case whose
   * estimate does not fit waits for others to end instead of running out of memory beside them.
   * One case always runs, whatever its estimate.
   */
  memoryBudgetMb?: number;
  /** Start each case's process before the case (default true); false: a fresh start per case. */
  warm?: boolean;
  /** Tuning, for bench/suite.ts: processes kept started ahead (default 1); warm-up comparisons in them (default true). */
  spares?: number;
  warmup?: boolean;
}

/**
 * Parses `2/5` into a 1-based shard. `auto` reads the index and count from the CI system's
 * environment (see shardFromEnv); `auto/N` gives the count where the system does not (a
 * Kubernetes Indexed Job has only its index).
 */
export function parseShard(s: string, env: NodeJS.ProcessEnv = process.env): { index: number; count: number } {
  const auto = /^auto(?:\/(\d+))?$/.exec(s.trim());
  if (auto) return shardFromEnv(env, auto[1] !== undefined ? Number(auto[1]) : undefined);
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) throw new InputError(`--shard expects I/N like 2/5, auto or auto/N, got '${s}'`);
  return checkShard(Number(m[1]), Number(m[2]), `--shard ${s}`);
}

function checkShard(index: number, count: number, what: string): { index: number; count: number } {
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 1 || index > count) {
    throw new InputError(`${what}: I must be between 1 and N (shard ${index} of ${count})`);
  }
  return { index, count };
}

/**
 * The CI systems `--shard auto` knows, each as (index variable, its base, count variable):
 * tf-parity's own pair first (what the README's GitHub Actions job sets from
 * `strategy.job-index` and `strategy.job-total`, and what any other system can set), then
 * GitLab's `parallel:`, Buildkite's `parallelism:` and a Kubernetes Indexed Job.
 */
export const SHARD_ENVIRONMENTS = [
  { system: 'tf-parity (GitHub Actions: strategy.job-index/job-total)', index: 'PARITY_SHARD_INDEX', base: 0, count: 'PARITY_SHARD_COUNT' },
  { system: 'GitLab CI', index: 'CI_NODE_INDEX', base: 1, count: 'CI_NODE_TOTAL' },
  { system: 'Buildkite', index: 'BUILDKITE_PARALLEL_JOB', base: 0, count: 'BUILDKITE_PARALLEL_JOB_COUNT' },
  { system: 'Kubernetes Indexed Job', index: 'JOB_COMPLETION_INDEX', base: 0, count: undefined },
] as const;

/** The shard this job is, from the environment of the CI system running it. */
export function shardFromEnv(env: NodeJS.ProcessEnv, count?: number): { index: number; count: number } {
  const int = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v.trim())) throw new InputError(`--shard auto: ${name}='${v}' is not a whole number`);
    return Number(v);
  };
  for (const e of SHARD_ENVIRONMENTS) {
    const index = int(e.index);
    if (index === undefined) continue;
    const n = count ?? (e.count ? int(e.count) : undefined) ?? int('PARITY_SHARD_COUNT');
    if (n === undefined) throw new InputError(`--shard auto: ${e.index} is set (${e.system}) but no shard count is: give it as --shard auto/N`);
    return checkShard(index - e.base + 1, n, `--shard auto (${e.index}=${index}, count ${n})`);
  }
  throw new InputError(`--shard auto: no shard index in the environment (${SHARD_ENVIRONMENTS.map((e) => e.index).join(', ')}); give --shard I/N`);
}

/**
 * Deterministic shard membership by a hash of the case's relative path: stable when cases are
 * added or removed elsewhere, and the same on every machine.
 */
export function inShard(relPath: string, shard: { index: number; count: number } | undefined): boolean {
  if (!shard || shard.count === 1) return true;
  const h = createHash('sha256').update(relPath.split('\\').join('/')).digest();
  return (h.readUInt32BE(0) % shard.count) + 1 === shard.index;
}

function worstOutputMetrics(r: Result): CaseOutcome['metrics'] {
  const outs = r.pairs.filter((p) => p.isOutput);
  const ps = outs.length ? outs : r.pairs;
  if (!ps.length) return undefined;
  const fin = (x: number | string) => (typeof x === 'number' ? x : x === 'Infinity' ? Infinity : x === '-Infinity' ? -Infinity : NaN);
  return {
    max_abs: Math.max(...ps.map((p) => fin(p.metrics.max_abs))),
    mean_abs: Math.max(...ps.map((p) => fin(p.metrics.mean_abs))),
    cosine: Math.min(...ps.map((p) => fin(p.metrics.cosine))),
    sqnr: Math.min(...ps.map((p) => fin(p.metrics.sqnr))),
  };
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n').filter(Boolean);
  const err = lines.find((l) => /^(Error|TypeError|RangeError|FATAL|.*heap out of memory)/.test(l));
  return (err ?? lines[lines.length - 1] ?? '').slice(0, 500);
}

async function runCase(spec: CaseSpec, root: string, opts: SuiteOptions, pool: WorkerPool, next: readonly CaseModels[]): Promise<CaseOutcome> {
  const rel = relative(root, spec.file) || basename(spec.file);
  const dirName = rel.replace(/\.ya?ml$/i, '').replace(/[^A-Za-z0-9._-]+/g, '_');
  const out = join(opts.out, 'cases', dirName);
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();
  const res = await pool.run(spec.file, out, opts.timeoutSec ?? spec.timeoutSec, next);
  const durationMs = performance.now() - t0;
  const base = { name: spec.name, file: rel, expected: spec.expect, durationMs, ...(res.compareMs !== undefined ? { compareMs: res.compareMs } : {}), reportDir: relative(opts.out, out) };
  if (res.interrupted) return { ...base, status: 'interrupted', message: 'interrupted (Ctrl-C) while running' };
  if (res.timedOut) return { ...base, status: 'error', message: `timed out after ${opts.timeoutSec ?? spec.timeoutSec} s` };
  const resultFile = join(out, 'result.json');
  if (res.code !== 0 || !existsSync(resultFile)) {
    const oom = /heap out of memory|Allocation failed|ERR_MEMORY|ENOMEM/i.test(res.stderr) || res.signal === 'SIGABRT' || res.code === 134;
    const why = oom ? 'ran out of memory' : res.code === 2 ? 'input error' : 'crashed';
    return { ...base, status: 'error', message: `${why}: ${lastLine(res.stderr) || `exit code ${res.code ?? res.signal}`}` };
  }
  const r = JSON.parse(readFileSync(resultFile, 'utf8')) as Result;
  const fd = r.firstDivergence !== undefined ? r.pairs[r.firstDivergence] : undefined;
  const metrics = worstOutputMetrics(r);
  const status: CaseStatus = r.verdict === 'error' ? 'error' : r.verdict === spec.expect ? 'pass' : 'fail';
  const message =
    status === 'pass'
      ? r.verdict === 'equivalent'
        ? 'equivalent as expected'
        : `not equivalent as expected${fd ? ` (first divergence ${fd.reference} ~ ${fd.candidate})` : ''}`
      : status === 'error'
        ? r.error?.message ?? r.summary
        : `expected ${spec.expect}, got ${r.verdict}: ${r.summary}`;
  const models = r.reference.sha256 || r.candidate.sha256 ? { models: { reference: r.reference.sha256, candidate: r.candidate.sha256 } } : {};
  const warnings = (['reference', 'candidate'] as const).flatMap((k) => (r[k].warnings ?? []).map((w) => `${k}: ${w}`));
  return { ...base, status, verdict: r.verdict, message, ...(fd ? { firstDivergence: `${fd.reference} ~ ${fd.candidate}` } : {}), ...(metrics ? { metrics } : {}), ...models, ...(warnings.length ? { warnings } : {}) };
}

function progressLine(opts: SuiteOptions, i: number, n: number, o: CaseOutcome | undefined, name: string): void {
  if (opts.progress === 'none') return;
  if (opts.progress === 'bar') {
    const w = 24;
    const done = Math.round((w * i) / Math.max(1, n));
    process.stderr.write(`\r\x1b[2K[${'#'.repeat(done)}${'-'.repeat(w - done)}] ${i}/${n} ${o ? `${o.status} ${o.name}` : `running ${name}`}`);
    if (i === n && o) process.stderr.write('\n');
    return;
  }
  if (o) process.stderr.write(`[${i}/${n}] ${o.status.toUpperCase().padEnd(11)} ${o.name} (${(o.durationMs / 1000).toFixed(1)} s) ${o.status === 'pass' ? '' : o.message}\n`);
}

/** Runs every case of a suite (each in its own process) and writes index.html, junit.xml and results.json. */
export async function runSuite(suitePath: string, opts: SuiteOptions): Promise<SuiteResult> {
  const root = resolve(suitePath);
  const files = findCases(root);
  if (!files.length) throw new InputError(`suite ${suitePath} has no case files (*.yaml)`, { file: suitePath });
  const rootDir = existsSync(root) && files.length === 1 && files[0] === root ? resolve(root, '..') : root;
  const selected = files.filter((f) => inShard(relative(rootDir, f), opts.shard));
  mkdirSync(opts.out, { recursive: true });
  const startedAt = new Date().toISOString();
  const runId = `${startedAt}-${process.pid}`;
  const history = opts.history ? readHistory(opts.history) : [];
  const newEntries: HistoryEntry[] = [];
  // Cases finish in any order; they are reported, and written to the history, in case order.
  const done: (CaseOutcome | undefined)[] = new Array(selected.length);
  let reported = 0;
  const report = (final = false) => {
    for (; reported < selected.length && (done[reported] || final); reported++) {
      const o = done[reported];
      if (!o) continue;
      progressLine(opts, reported + 1, selected.length, o, o.name);
      if (opts.history && o.status !== 'interrupted') {
        // Appended per case, so an interrupted suite still leaves a valid history of what ran.
        const entry: HistoryEntry = { run: runId, time: new Date().toISOString(), case: o.file, status: o.status, ...(o.verdict ? { verdict: o.verdict } : {}), ...(o.metrics ? { metrics: o.metrics } : {}), ...(o.models ? { models: o.models } : {}) };
        appendHistory(opts.history, [entry]);
        newEntries.push(entry);
      }
    }
  };
  const jobs = Math.max(1, opts.jobs ?? availableParallelism());
  const budgetMb = opts.memoryBudgetMb ?? Math.floor((totalmem() / 2 ** 20) * 0.8);
  const pool = new WorkerPool({
    ...(opts.backend ? { backend: opts.backend } : {}),
    ...(opts.memoryMb ? { memoryMb: opts.memoryMb } : {}),
    warm: opts.warm !== false,
    ...(opts.spares !== undefined ? { spares: opts.spares } : {}),
    ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  // Every case file read first: a worker started ahead is told what its case will load.
  const specs = selected.map((file): CaseSpec | Error => {
    try {
      return readCase(file);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  });
  const valid = specs.filter((s): s is CaseSpec => !(s instanceof Error));
  const order = new Map(valid.map((s, k) => [s, k]));
  let started = 0;
  try {
    await schedule(
      selected.length,
      (i) => {
        const spec = specs[i]!;
        if (spec instanceof Error) {
          done[i] = { name: basename(selected[i]!), file: relative(rootDir, selected[i]!), status: 'error', expected: '?', message: spec instanceof ParityError ? spec.message : String(spec), durationMs: 0 };
          report();
          return undefined;
        }
        return {
          needMb: caseMemoryMb(spec, opts.memoryMb),
          run: async () => {
            if (started++ === 0 || opts.progress === 'bar') progressLine(opts, reported, selected.length, undefined, spec.name);
            done[i] = await runCase(spec, rootDir, opts, pool, valid.slice(order.get(spec)! + 1, order.get(spec)! + 1 + Math.max(1, opts.spares ?? 1)));
            report();
          },
        };
      },
      { jobs, budgetMb, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    // Past an interrupt, what did finish is still reported.
    report(true);
  } finally {
    await pool.close();
  }
  const outcomes = done.filter((o): o is CaseOutcome => o !== undefined);
  const interrupted = outcomes.some((o) => o.status === 'interrupted') || (opts.signal?.aborted ?? false);
  const counts: Record<CaseStatus, number> = { pass: 0, fail: 0, error: 0, interrupted: 0 };
  for (const o of outcomes) counts[o.status]++;
  const result: SuiteResult = {
    schemaVersion: 1,
    tool: { name: 'tf-parity', version: VERSION },
    run: runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    suite: suitePath,
    ...(opts.shard ? { shard: opts.shard } : {}),
    cases: outcomes,
    counts,
    ...(interrupted ? { interrupted: true } : {}),
  };
  if (opts.history) {
    result.trends = newEntries.map((e) => trendFor(e.case, history, e, { window: opts.historyWindow ?? 5, factor: opts.regressionFactor ?? 2 }));
  }
  writeSuiteReports(result, opts.out);
  return result;
}

export function writeSuiteReports(result: SuiteResult, out: string): void {
  mkdirSync(out, { recursive: true });
  writeAtomic(join(out, 'results.json'), stringifyFinite(result, 2) + '\n');
  writeAtomic(join(out, 'junit.xml'), suiteJunit(result));
  writeAtomic(join(out, 'index.html'), suiteHtml(result));
}

/** Exit code of a suite: 0 all pass, 1 any fail or error, 130 interrupted. */
export function suiteExitCode(r: SuiteResult): number {
  if (r.interrupted) return 130;
  return r.counts.fail + r.counts.error > 0 ? 1 : 0;
}

/** Merges shard results (results.json files or folders holding one) into one suite result. */
export function mergeSuiteResults(paths: string[], out?: string): SuiteResult {
  if (!paths.length) throw new InputError('merge-reports needs at least one results.json or shard output folder');
  const parts: SuiteResult[] = paths.map((p) => {
    const f = existsSync(join(p, 'results.json')) ? join(p, 'results.json') : p;
    const shardDir = resolve(f, '..');
    let r: SuiteResult;
    try {
      r = JSON.parse(readFileSync(f, 'utf8'), reviveNonFinite) as SuiteResult;
    } catch (e) {
      throw new FormatError(`${f}: not a suite results.json (${(e as Error).message})`, { file: f });
    }
    if (r.schemaVersion !== 1 || !Array.isArray(r.cases)) throw new FormatError(`${f}: not a tf-parity suite results.json`, { file: f });
    // Per-case reports stay where the shard wrote them; links are made relative to the merged output.
    if (out) for (const c of r.cases) if (c.reportDir) c.reportDir = relative(resolve(out), join(shardDir, c.reportDir));
    return r;
  });
  const byFile = new Map<string, CaseOutcome>();
  for (const p of parts) {
    for (const c of p.cases) {
      if (byFile.has(c.file)) throw new InputError(`case ${c.file} appears in more than one shard; were the shards run with the same N?`);
      byFile.set(c.file, c);
    }
  }
  const cases = [...byFile.values()].sort((a, b) => a.file.localeCompare(b.file));
  const counts: Record<CaseStatus, number> = { pass: 0, fail: 0, error: 0, interrupted: 0 };
  for (const o of cases) counts[o.status]++;
  const trends = parts.flatMap((p) => p.trends ?? []).sort((a, b) => a.case.localeCompare(b.case));
  return {
    schemaVersion: 1,
    tool: { name: 'tf-parity', version: VERSION },
    run: parts.map((p) => p.run).sort()[0]!,
    startedAt: parts.map((p) => p.startedAt).sort()[0]!,
    finishedAt: parts.map((p) => p.finishedAt).sort().reverse()[0]!,
    suite: parts[0]!.suite,
    cases,
    counts,
    ...(trends.length ? { trends } : {}),
    ...(parts.some((p) => p.interrupted) ? { interrupted: true } : {}),
  };
}

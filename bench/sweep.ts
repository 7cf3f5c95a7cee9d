/**
 * The verdict sweep: `compare` on every hand port of the corpus (test/fixtures/gen/handports.py:
 * four real models of @vladmandic/human ported by hand to PyTorch, correct, equivalent-but-different
 * and with one planted bug each) and on the existing fault-injection cases (the example CNN as
 * tfjs graph, renamed tfjs graph and ONNX candidates, and its torch exports), then the confusion
 * table: false alarms on equivalent candidates, missed faults, root cause in the planted layer.
 *
 * Also the small fixtures with the shape of each failure of issue 23 (test/fixtures/handport-failures).
 *
 * Run: npx tsx bench/sweep.ts [--json FILE] [--pairs FILE] [--only MODEL,...] [--corpus DIR] [--options JSON] [--no-faults]
 *   or: npm run build && node dist/bench/sweep.js
 * The corpus is written to .tmp/handports (gitignored: ~25 MB). When its manifest is missing the
 * sweep runs the generator with Debian's python3 (python3-torch, python3-onnx); without them the
 * hand ports are skipped and said so. `--options '{"failOn":"all"}'` passes compare options.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FAULT_LAYER, cnnGraph, type CnnFault } from '../cases/gen/cnn.js';
import { cnnOnnx } from '../cases/gen/onnx-cnn.js';
import type { Result } from '../src/compare/result.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';
import { writeTfjsGraphModel } from '../src/formats/tfjs-graph-writer.js';
import { compare, type CompareOptions } from '../src/index.js';

/** The repository root: the nearest folder up with a package.json (bench/ from tsx, dist/bench/ from node). */
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('bench/sweep: no package.json above ' + fileURLToPath(import.meta.url));
    d = up;
  }
  return d;
}

const ROOT = repoRoot();

/** One comparison the sweep makes and what a right tool says of it. */
export interface SweepCase {
  suite: string;
  model: string;
  variant: string;
  original: string;
  candidate: string;
  expected: 'equivalent' | 'not-equivalent';
  /** The reference node the planted bug is in (the root cause a right tool names). */
  planted: string | null;
  /**
   * How the planted layer is matched: the exact reference node, its first scope (the CNN's
   * FAULT_LAYER), or a layer prefix (any node of the layer: 'StatefulPartitionedCall/model/conv2d_1/').
   */
  match: 'node' | 'scope' | 'prefix';
  options: CompareOptions;
  what: string;
  /**
   * The bug leaves a layer out (a ReLU): a root cause just after it that names it among the
   * reference's computations nothing pairs with ("if the conversion lacks it") is right. For any
   * other bug that list is no diagnosis (issue 23, item 3).
   */
  lacksOk: boolean;
}

/**
 * 'root cause right (lacks it)': the root cause is the layer after the planted one and names the
 * planted layer among the reference's computations nothing pairs with (a left-out ReLU).
 */
export type Outcome = 'ok' | 'false alarm' | 'missed' | 'root cause right' | 'root cause right (lacks it)' | 'root cause wrong' | 'no root cause' | 'error';

export interface SweepRow extends SweepCase {
  verdict: string;
  rootCause: string | null;
  rootCauseConfidence: number | null;
  firstDivergence: string | null;
  /** Pairs in which a model output takes part (blazeface has four outputs). */
  outputPairs: number;
  /** Whatever the verdict: the layer-level root cause is the planted layer (or names it as lacking). */
  plantedNamed: boolean;
  outcome: Outcome;
  ms: number;
  error?: string;
}

interface ManifestVariant {
  model: string;
  variant: string;
  original: string;
  candidate: string;
  inputShape: number[];
  expected: 'equivalent' | 'not-equivalent';
  planted: string | null;
  what: string;
}

function python(): string {
  return process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/** The hand-port corpus, generated when its manifest is missing and PyTorch is there. */
function handPortCases(corpus: string, log: (s: string) => void): SweepCase[] {
  const manifest = join(corpus, 'manifest.json');
  if (!existsSync(manifest)) {
    const py = python();
    const probe = spawnSync(py, ['-c', 'import torch, onnx'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      log(`hand ports skipped: ${manifest} is missing and ${py} has no torch/onnx (apt-get install python3-torch python3-onnx)`);
      return [];
    }
    log(`generating the hand-port corpus into ${corpus} (test/fixtures/gen/handports.py) ...`);
    execFileSync(py, [join(ROOT, 'test/fixtures/gen/handports.py'), corpus], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as { variants: ManifestVariant[] };
  return m.variants.map((v) => {
    const original = join(ROOT, v.original);
    const input = (JSON.parse(readFileSync(original, 'utf8')) as { modelTopology: { node: { name: string; op: string }[] } }).modelTopology.node.find((n) => n.op === 'Placeholder')!.name;
    return {
      suite: 'hand port',
      model: v.model,
      variant: v.variant,
      original,
      candidate: join(corpus, v.candidate),
      expected: v.expected,
      planted: v.planted,
      match: 'node' as const,
      options: { seed: 1, shapes: { [input]: v.inputShape } },
      what: v.what,
      lacksOk: v.variant === 'missing-activation',
    };
  });
}

/** The fault-injection cases of test/compare/fault-injection.test.ts, written to a temp folder. */
function faultInjectionCases(): SweepCase[] {
  const dir = mkdtempSync(join(tmpdir(), 'parity-sweep-'));
  const original = join(dir, 'cnn.pb');
  writeFileSync(original, encodeGraphDef(cnnGraph()));
  const faults: CnnFault[] = ['none', ...(Object.keys(FAULT_LAYER) as Exclude<CnnFault, 'none'>[])];
  const cases: SweepCase[] = [];
  const add = (suite: string, variant: string, candidate: string, fault: CnnFault | 'flatten' | 'bn-eps', planted: string | null, match: 'node' | 'scope') =>
    cases.push({
      suite,
      model: 'cnn',
      variant,
      original,
      candidate,
      expected: fault === 'none' ? 'equivalent' : 'not-equivalent',
      planted,
      match,
      options: { seed: 5, inputs: ['x=normal(0,1)'] },
      what: suite,
      lacksOk: fault === 'dw1-activation',
    });
  for (const fault of faults) {
    const planted = fault === 'none' ? null : FAULT_LAYER[fault];
    add('fault injection: tfjs graph', fault, writeTfjsGraphModel(cnnGraph(undefined, fault), join(dir, `${fault}-tfjs`)), fault, planted, 'scope');
    const onnx = join(dir, `${fault}.onnx`);
    writeFileSync(onnx, cnnOnnx(undefined, fault));
    add('fault injection: onnx', fault, onnx, fault, planted, 'scope');
  }
  const torch = join(ROOT, 'test/fixtures/torch-cnn');
  add('fault injection: torch export', 'correct', join(torch, 'cnn.onnx'), 'none', null, 'scope');
  add('fault injection: torch export', 'flatten-nchw', join(torch, 'cnn-flatten-bug.onnx'), 'flatten', 'flatten', 'scope');
  add('fault injection: torch export', 'bn-eps', join(torch, 'cnn-bn-eps.onnx'), 'bn-eps', 'bn1', 'scope');
  return cases;
}

/** The small fixtures with the shape of issue 23's failures (test/fixtures/handport-failures/README.md). */
function failureShapeCases(): SweepCase[] {
  const dir = join(ROOT, 'test/fixtures/handport-failures');
  const S = 'StatefulPartitionedCall/model/';
  const table: [string, string, string | null][] = [
    ['heads', 'correct', null], ['heads', 'correct-unnamed', null],
    ['heads', 'head-dense-reshape', 'head_b/'], ['heads', 'head-dense-reshape-unnamed', 'head_b/'],
    ['shapes', 'correct', null], ['shapes', 'pool-padding', 'max_pooling2d/'], ['shapes', 'conv-padding', 'conv2d_1/'],
    ['chain', 'correct', null], ['chain', 'conv-hw-swap', 'conv2d_1/'], ['chain', 'bn-eps', 'batch_normalization/'],
    ['branches', 'correct', null], ['branches', 'convtranspose-shift', 'conv2d_transpose/'], ['branches', 'head-reshape-nchw', 'reshape_box_16/'],
    // The liveness misses' shape: a fault behind a softmax that saturates, paired by shape from the bug on.
    ['saturate', 'correct', null], ['saturate', 'bn-eps', 'batch_normalization_1/'], ['saturate', 'conv-hw-swap', 'conv2d_1/'],
    // The Keras-style rebuild (tfjs-layers, face/<variant>/model.json); dw-symmetric-pad's fault is dw2's padding.
    ['face', 'correct', null], ['face', 'bn-folded', null], ['face', 'bn-eps', 'batch_normalization_1/'], ['face', 'dw-hw-swap', 'depthwise_conv2d/'], ['face', 'dw-symmetric-pad', 'depthwise_conv2d_1/'],
  ];
  return table.map(([model, variant, planted]) => ({
    suite: 'failure shapes',
    model,
    variant,
    original: join(dir, model, 'model.json'),
    candidate: model === 'face' ? join(dir, model, variant, 'model.json') : join(dir, model, `${variant}.onnx`),
    expected: planted ? ('not-equivalent' as const) : ('equivalent' as const),
    planted: planted ? S + planted : null,
    match: 'prefix' as const,
    options: { seed: 1 },
    what: 'test/fixtures/handport-failures',
    lacksOk: false,
  }));
}

function outcomeOf(c: SweepCase, r: Result): Omit<SweepRow, keyof SweepCase | 'ms'> {
  // Where the shapes part, when that is the root cause (issue 23: no pair before it fails for sure).
  const sp = r.shapesPart?.isRootCause ? r.shapesPart : undefined;
  const rc = sp ? { reference: sp.reference, confidence: 1, unpairedBefore: undefined as string[] | undefined } : r.rootCause !== undefined ? r.pairs[r.rootCause] : undefined;
  const fd = r.firstDivergence !== undefined ? r.pairs[r.firstDivergence] : undefined;
  const base = {
    verdict: r.verdict,
    rootCause: rc?.reference ?? null,
    rootCauseConfidence: rc?.confidence ?? null,
    firstDivergence: fd?.reference ?? null,
    outputPairs: r.pairs.filter((p) => p.isOutput).length,
  };
  const is = (name: string) => (c.match === 'node' ? name === c.planted : c.match === 'prefix' ? name.startsWith(c.planted!) : name.split('/')[0] === c.planted);
  const lacks = c.lacksOk && !!rc && !is(rc.reference) && (rc.unpairedBefore ?? []).some(is);
  const plantedNamed = !!rc && (is(rc.reference) || lacks);
  if (r.verdict === 'error') return { ...base, plantedNamed, outcome: 'error', error: r.error?.message };
  if (c.expected === 'equivalent') return { ...base, plantedNamed, outcome: r.verdict === 'equivalent' ? 'ok' : 'false alarm' };
  if (r.verdict !== 'not-equivalent') return { ...base, plantedNamed, outcome: 'missed' };
  if (!rc) return { ...base, plantedNamed, outcome: 'no root cause' };
  return { ...base, plantedNamed, outcome: is(rc.reference) ? 'root cause right' : lacks ? 'root cause right (lacks it)' : 'root cause wrong' };
}

export async function sweep(cases: SweepCase[], extra: CompareOptions, log: (s: string) => void, onResult?: (c: SweepCase, r: Result) => void): Promise<SweepRow[]> {
  const rows: SweepRow[] = [];
  for (const c of cases) {
    const t0 = performance.now();
    let row: SweepRow;
    try {
      const r = await compare(c.original, c.candidate, { ...c.options, ...extra });
      onResult?.(c, r);
      row = { ...c, ...outcomeOf(c, r), ms: performance.now() - t0 };
    } catch (e) {
      row = { ...c, verdict: 'threw', rootCause: null, rootCauseConfidence: null, firstDivergence: null, outputPairs: 0, plantedNamed: false, outcome: 'error', error: e instanceof Error ? e.message : String(e), ms: performance.now() - t0 };
    }
    rows.push(row);
    log(`${row.suite} | ${row.model} | ${row.variant}: ${row.verdict}${row.rootCause ? ` (root cause ${short(row.rootCause)})` : ''} -> ${row.outcome}${row.error ? ` [${row.error}]` : ''}`);
  }
  return rows;
}

function short(name: string): string {
  return name.replace(/^StatefulPartitionedCall\/[^/]+\//, '');
}

/** The confusion table, by variant and in total, as Markdown. */
export function confusionTable(rows: SweepRow[]): string {
  const lines = [
    '| suite | model | variant | expected | verdict | output pairs | planted | root cause (confidence) | outcome |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const rc = r.rootCause ? `${short(r.rootCause)}${r.rootCauseConfidence !== null ? ` (${r.rootCauseConfidence.toFixed(2)})` : ''}` : '-';
    const outcome = r.outcome === 'ok' || r.outcome.startsWith('root cause right') ? r.outcome : `**${r.outcome}**${r.outcome === 'missed' && r.plantedNamed ? ' (its root cause names the planted layer)' : ''}`;
    lines.push(`| ${r.suite} | ${r.model} | ${r.variant} | ${r.expected} | ${r.verdict} | ${r.outputPairs} | ${r.planted ? short(r.planted) : '-'} | ${rc} | ${outcome}${r.error ? ` (${r.error.slice(0, 120)})` : ''} |`);
  }
  const n = (rs: SweepRow[], o: Outcome) => rs.filter((r) => r.outcome === o).length;
  lines.push(
    '',
    '| totals | cases | false alarms | missed faults | root cause right | of which "lacks it" | root cause wrong | no root cause | planted layer named, any verdict | errors |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const suite of [...new Set(rows.map((r) => r.suite)), 'all']) {
    const rs = suite === 'all' ? rows : rows.filter((r) => r.suite === suite);
    const e = rs.filter((r) => r.expected === 'equivalent');
    const f = rs.filter((r) => r.expected === 'not-equivalent');
    lines.push(`| ${suite} | ${rs.length} (${e.length} equivalent, ${f.length} faults) | ${n(e, 'false alarm')} / ${e.length} | ${n(f, 'missed')} / ${f.length} | ${n(f, 'root cause right') + n(f, 'root cause right (lacks it)')} / ${f.length} | ${n(f, 'root cause right (lacks it)')} | ${n(f, 'root cause wrong')} | ${n(f, 'no root cause')} | ${f.filter((r) => r.plantedNamed).length} / ${f.length} | ${n(rs, 'error')} |`);
  }
  return lines.join('\n');
}

/**
 * One pair of one case, with what the verdict rule reads (`--pairs FILE`): the error against the
 * reference's scale (max|ref|, RMS) for the pair and its own error. The verdict's defaults
 * (README, "How the verdict is decided") were read off these rows.
 */
export interface PairRow {
  model: string;
  variant: string;
  expected: SweepCase['expected'];
  reference: string;
  strategy: string;
  confidence: number;
  isOutput: boolean;
  pass: boolean;
  /** max|ref| and the reference's RMS. */
  refMaxAbs: number;
  refRms: number;
  max_abs: number;
  rmse: number;
  cosine: number;
  own?: { max_abs: number; rmse: number; cosine: number; pass: boolean };
}

function pairRowsOf(c: SweepCase, r: Result): PairRow[] {
  return r.pairs.map((p) => {
    const s = p.referenceStats;
    return {
      model: c.model,
      variant: c.variant,
      expected: c.expected,
      reference: p.reference,
      strategy: p.strategy,
      confidence: p.confidence,
      isOutput: p.isOutput,
      pass: p.pass,
      refMaxAbs: Math.max(Math.abs(s.min), Math.abs(s.max)),
      refRms: Math.sqrt(s.mean * s.mean + s.std * s.std),
      max_abs: p.metrics.max_abs,
      rmse: p.metrics.rmse,
      cosine: p.metrics.cosine,
      ...(p.own ? { own: { max_abs: p.own.metrics.max_abs, rmse: p.own.metrics.rmse, cosine: p.own.metrics.cosine, pass: p.own.pass } } : {}),
    };
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { json: { type: 'string' }, pairs: { type: 'string' }, only: { type: 'string' }, corpus: { type: 'string' }, options: { type: 'string' }, 'no-faults': { type: 'boolean' } },
  });
  const log = (s: string) => process.stderr.write(s + '\n');
  const corpus = resolve(values.corpus ?? join(ROOT, '.tmp', 'handports'));
  const only = values.only ? new Set(values.only.split(',')) : null;
  let cases = [...handPortCases(corpus, log), ...failureShapeCases(), ...(values['no-faults'] ? [] : faultInjectionCases())];
  if (only) cases = cases.filter((c) => only.has(c.model));
  const extra = values.options ? (JSON.parse(values.options) as CompareOptions) : {};
  const pairRows: PairRow[] = [];
  const rows = await sweep(cases, extra, log, values.pairs ? (c, r) => pairRows.push(...pairRowsOf(c, r)) : undefined);
  if (values.pairs) writeFileSync(values.pairs, JSON.stringify(pairRows));
  process.stdout.write(confusionTable(rows) + '\n');
  if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 1));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`sweep: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}

import { checkWritable, writeFileAtomic } from '../../core/write.js';
import type { Alignment } from '../../compare/align/index.js';
import { readAlignmentFile } from '../../compare/align/index.js';
import { compareRunners } from '../../compare/pipeline.js';
import type { Check } from '../../compare/metrics.js';
import { parseCheck } from '../../compare/metrics.js';
import type { Result, Tolerance } from '../../compare/result.js';
import { InputError } from '../../core/errors.js';
import { consoleReport } from '../../report/console.js';
import { writeReports } from '../../report/index.js';
import { loadModel } from '../../runners/index.js';
import type { Command } from '../main.js';
import type { ParsedValues } from '../common.js';
import { MetricsPool } from '../../compare/simd/pool.js';
import { RUN_OPTIONS, RUN_OPTIONS_USAGE, feedsMaker, hashPath, intOption, log, loopActivationsOption, numberOption, parse, setupBackend } from '../common.js';

const usage = `usage: parity compare ORIGINAL CANDIDATE [options]

Runs ORIGINAL (frozen .pb/.pbtxt, checkpoint, SavedModel, tfjs graph model) in the reference
interpreter and CANDIDATE (.keras, .h5, tfjs model.json, .onnx, .npz of activations, or a graph)
on the same seeded inputs, pairs their layers, and reports whether they are equivalent, where
they first diverge, and how much of that error is the layer's own.
Exit code: 0 equivalent, 1 not equivalent, 2 usage or input error.

  --atol X | --atol NAME:X   absolute tolerance, global or for one tensor (default 1e-4)
  --rtol X | --rtol NAME:X   relative tolerance, global or for one tensor (default 1e-4)
  --check 'cosine>=0.999'    extra threshold on a metric, optionally 'NAME:metric>=v' (repeatable);
                             metrics: max_abs max_rel mean_abs rmse cosine sqnr allclose topk_agree
  --iterations N             run N times with seeds seed..seed+N-1, keep the worst (default 1)
  --map MAP.json             alignment map (from 'parity align', possibly hand-edited)
  --names-only               pair by names and map only, no numeric alignment
  --fail-on layers|outputs|all  what decides the verdict (default layers: the outputs and the own
                             error of every layer paired by map, name or values; outputs: the outputs only)
  --error-scale tensor|element  what rtol multiplies: the tensor's max|ref| (default) or each
                             element's |ref| (numpy allclose)
  --topk K                   also compute top-K agreement on the outputs
  --nan-differ               a NaN in both at the same place counts as a mismatch
  --no-own-error             skip re-running failing candidate layers on the reference's inputs
  --json FILE  --html FILE  --junit FILE  --markdown FILE   write reports
${RUN_OPTIONS_USAGE}`;

export const COMPARE_OPTIONS = {
  ...RUN_OPTIONS,
  atol: { type: 'string', multiple: true },
  rtol: { type: 'string', multiple: true },
  check: { type: 'string', multiple: true },
  iterations: { type: 'string' },
  map: { type: 'string' },
  'names-only': { type: 'boolean' },
  'fail-on': { type: 'string' },
  'error-scale': { type: 'string' },
  topk: { type: 'string' },
  'nan-differ': { type: 'boolean' },
  'no-own-error': { type: 'boolean' },
  json: { type: 'string' },
  html: { type: 'string' },
  junit: { type: 'string' },
  markdown: { type: 'string' },
} as const;

/** Global and per-tensor tolerances from repeated --atol/--rtol flags. */
export function parseTolerances(values: ParsedValues): { tolerance: Tolerance; perTensor: Record<string, Tolerance> } {
  const tolerance: Tolerance = { atol: 1e-4, rtol: 1e-4 };
  const perTensor: Record<string, Tolerance> = {};
  for (const key of ['atol', 'rtol'] as const) {
    for (const s of (values[key] as string[] | undefined) ?? []) {
      const i = s.lastIndexOf(':');
      const name = i > 0 ? s.slice(0, i) : undefined;
      if (name && s.slice(i + 1).trim() === '') throw new InputError(`--${key} '${s}': expected NAME:VALUE (e.g. --${key} logits:1e-3) or a value for every tensor`);
      const v = numberOption(i > 0 ? s.slice(i + 1) : s, key, 0);
      if (name) perTensor[name] = { ...(perTensor[name] ?? {}), [key]: v } as Tolerance;
      else tolerance[key] = v;
    }
  }
  for (const t of Object.values(perTensor)) {
    t.atol ??= tolerance.atol;
    t.rtol ??= tolerance.rtol;
  }
  return { tolerance, perTensor };
}

function topkOption(v: unknown): number {
  const k = intOption(v, 'topk', 0);
  if (v !== undefined && k < 1) throw new InputError(`--topk expects a positive integer (K of top-K agreement), got '${String(v)}'`);
  return k;
}

export interface CompareCliOptions {
  map?: Alignment;
}

/** The whole compare job for the CLI and suites: load, compare, write reports. */
export async function runCompare(original: string, candidatePath: string, values: ParsedValues): Promise<Result> {
  await setupBackend(values);
  // The metrics thread takes tens of milliseconds to start: start it while the models load.
  MetricsPool.get();
  const seed = intOption(values.seed, 'seed', 0);
  const iterations = intOption(values.iterations, 'iterations', 1);
  if (iterations < 1) throw new InputError('--iterations must be at least 1');
  const { tolerance, perTensor } = parseTolerances(values);
  const checks: Check[] = ((values.check as string[] | undefined) ?? []).map(parseCheck);
  const failOn = (values['fail-on'] as string | undefined) ?? 'layers';
  if (failOn !== 'layers' && failOn !== 'outputs' && failOn !== 'all') throw new InputError(`--fail-on expects layers, outputs or all, got '${failOn}'`);
  const errorScale = (values['error-scale'] as string | undefined) ?? 'tensor';
  if (errorScale !== 'tensor' && errorScale !== 'element') throw new InputError(`--error-scale expects tensor or element, got '${errorScale}'`);
  const map = values.map ? readAlignmentFile(values.map as string) : undefined;
  log(values, `parity: loading ${original}`);
  const loopActivations = loopActivationsOption(values);
  const ref = await loadModel(original, { signature: values.signature as string | undefined, ...(loopActivations ? { loopActivations } : {}) });
  try {
    // The seeded inputs are drawn on the metrics thread while the candidate loads.
    const feeds = feedsMaker(values, ref.runner.inputs(), ref.graph);
    feeds.prefetch(seed);
    log(values, `parity: loading ${candidatePath}`);
    const cand = await loadModel(candidatePath, { referenceInputs: ref.runner.inputs().map((s) => s.name), ...(loopActivations ? { loopActivations } : {}) });
    try {
      // Large files are hashed (streamed) while the models run; the Result gets the digests after.
      const hashing = Promise.all([hashPath(original, ref.runner.files?.()), hashPath(candidatePath, cand.runner.files?.())]);
      hashing.catch(() => {});
      const result = await compareRunners(ref.runner, cand.runner, {
        seed,
        iterations,
        tolerance,
        perTensor,
        checks,
        map,
        namesOnly: !!values['names-only'],
        nanEqual: !values['nan-differ'],
        topk: topkOption(values.topk),
        ownError: !values['no-own-error'],
        failOn,
        errorScale,
        feeds,
        referenceFacts: { path: original, kind: ref.kind, sha256: '', bytes: 0 },
        candidateFacts: { path: candidatePath, kind: cand.kind, sha256: '', bytes: 0 },
        graph: ref.graph ? ref.graph.nodes.map((n) => ({ name: n.name, op: n.op, inputs: n.inputs })) : undefined,
        onProgress: (m) => log(values, `parity: ${m}`),
      });
      const [rh, ch] = await hashing;
      Object.assign(result.reference, rh);
      Object.assign(result.candidate, ch);
      return result;
    } finally {
      cand.runner.dispose();
    }
  } finally {
    ref.runner.dispose();
  }
}

export const command: Command = {
  summary: 'compare an original TF model with its conversion, layer by layer',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, COMPARE_OPTIONS, { min: 2, max: 2, usage });
    const targets = {
      json: values.json as string | undefined,
      html: values.html as string | undefined,
      junit: values.junit as string | undefined,
      markdown: values.markdown as string | undefined,
    };
    for (const t of Object.values(targets)) if (t) checkWritable(t);
    const result = await runCompare(positionals[0]!, positionals[1]!, values);
    process.stdout.write(consoleReport(result, { color: process.stdout.isTTY }));
    await writeReports(result, targets);
    return result.verdict === 'equivalent' ? 0 : result.verdict === 'not-equivalent' ? 1 : 2;
  },
};

export function writeJson(path: string, obj: unknown): void {
  writeFileAtomic(path, JSON.stringify(obj, null, 2) + '\n');
}

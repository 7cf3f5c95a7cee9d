import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FormatError, InputError, errorMessage } from '../src/core/errors.js';
import type { CompareOptions } from '../src/api/compare.js';

/**
 * A case: one comparison with its expected verdict, described in a small YAML file.
 *
 *   name: cnn-keras                  # default: the file name without extension
 *   original: models/cnn.pb          # paths are relative to the case file
 *   candidate: models/cnn.keras
 *   expect: equivalent               # or not-equivalent (a known bug kept as a regression test)
 *   seed: 0
 *   iterations: 1
 *   inputs:                          # optional
 *     shapes: { x: [1, 8, 8, 3] }
 *     specs: ["x=normal(0,1)"]
 *     file: feeds.npz
 *   tolerance: { atol: 1e-4, rtol: 1e-4 }
 *   per_tensor: { "probs/Softmax": { atol: 1e-5 } }
 *   checks: ["cosine>=0.999"]
 *   map: map.json
 *   fail_on: layers                  # default; or outputs, all (src/compare/stages/decide.ts)
 *   timeout: 120                     # seconds, default 600
 */
export interface CaseSpec {
  name: string;
  file: string;
  original: string;
  candidate: string;
  expect: 'equivalent' | 'not-equivalent';
  seed: number;
  iterations: number;
  shapes: Record<string, number[]>;
  specs: string[];
  feeds?: string;
  tolerance: { atol?: number; rtol?: number };
  perTensor: Record<string, { atol?: number; rtol?: number }>;
  checks: string[];
  map?: string;
  failOn: 'layers' | 'outputs' | 'all';
  timeoutSec: number;
  /** Test hook: what the worker does instead of comparing ('crash', 'hang'). Not documented for users. */
  simulate?: 'crash' | 'hang' | 'oom';
}

const KEYS = new Set(['name', 'original', 'candidate', 'expect', 'seed', 'iterations', 'inputs', 'tolerance', 'per_tensor', 'checks', 'map', 'fail_on', 'timeout', 'simulate', 'description']);

function fail(file: string, msg: string): never {
  throw new FormatError(`${file}: ${msg}`, { file });
}

function num(file: string, key: string, v: unknown, opts: { int?: boolean; min?: number } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min)) {
    fail(file, `'${key}' must be ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, found ${JSON.stringify(v)}`);
  }
  return v;
}

function tol(file: string, key: string, v: unknown): { atol?: number; rtol?: number } {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(file, `'${key}' must be a mapping like {atol: 1e-4, rtol: 1e-4}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'atol' && k !== 'rtol') fail(file, `'${key}.${k}' is not a tolerance (atol, rtol)`);
  return {
    ...(o.atol !== undefined ? { atol: num(file, `${key}.atol`, o.atol, { min: 0 }) } : {}),
    ...(o.rtol !== undefined ? { rtol: num(file, `${key}.rtol`, o.rtol, { min: 0 }) } : {}),
  };
}

/** Reads and validates one case file; every problem is an error naming the file and the key. */
export function readCase(file: string): CaseSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`case ${file} cannot be read: ${errorMessage(e)}`, { file });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, prettyErrors: true, logLevel: 'error' });
  } catch (e) {
    fail(file, `invalid YAML: ${errorMessage(e).split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) fail(file, 'a case is a YAML mapping with at least original and candidate');
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) fail(file, `unknown key '${k}' (known: ${[...KEYS].filter((x) => x !== 'simulate').join(', ')})`);
  const dir = dirname(file);
  const path = (key: string, v: unknown): string => {
    if (typeof v !== 'string' || !v) fail(file, `'${key}' must be a path (relative to the case file)`);
    return resolve(dir, v);
  };
  const original = path('original', o.original);
  const candidate = path('candidate', o.candidate);
  const expect = o.expect ?? 'equivalent';
  if (expect !== 'equivalent' && expect !== 'not-equivalent') fail(file, `'expect' must be equivalent or not-equivalent, found ${JSON.stringify(expect)}`);
  const inputs = (o.inputs ?? {}) as Record<string, unknown>;
  if (typeof inputs !== 'object' || Array.isArray(inputs)) fail(file, `'inputs' must be a mapping with shapes, specs and/or file`);
  for (const k of Object.keys(inputs)) if (!['shapes', 'specs', 'file'].includes(k)) fail(file, `unknown key 'inputs.${k}' (known: shapes, specs, file)`);
  const shapes: Record<string, number[]> = {};
  if (inputs.shapes !== undefined) {
    if (!inputs.shapes || typeof inputs.shapes !== 'object' || Array.isArray(inputs.shapes)) fail(file, `'inputs.shapes' must map input names to shapes`);
    for (const [k, v] of Object.entries(inputs.shapes as Record<string, unknown>)) {
      if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d) && d >= 0)) fail(file, `'inputs.shapes.${k}' must be a list of non-negative integers`);
      shapes[k] = v as number[];
    }
  }
  const specs = inputs.specs ?? [];
  if (!Array.isArray(specs) || !specs.every((s) => typeof s === 'string')) fail(file, `'inputs.specs' must be a list of strings like "x=normal(0,1)"`);
  const checks = o.checks ?? [];
  if (!Array.isArray(checks) || !checks.every((s) => typeof s === 'string')) fail(file, `'checks' must be a list of strings like "cosine>=0.999"`);
  const perTensor: Record<string, { atol?: number; rtol?: number }> = {};
  if (o.per_tensor !== undefined) {
    if (!o.per_tensor || typeof o.per_tensor !== 'object' || Array.isArray(o.per_tensor)) fail(file, `'per_tensor' must map tensor names to tolerances`);
    for (const [k, v] of Object.entries(o.per_tensor as Record<string, unknown>)) perTensor[k] = tol(file, `per_tensor.${k}`, v);
  }
  const failOn = o.fail_on ?? 'layers';
  if (failOn !== 'layers' && failOn !== 'outputs' && failOn !== 'all') fail(file, `'fail_on' must be layers, outputs or all`);
  const simulate = o.simulate;
  if (simulate !== undefined && simulate !== 'crash' && simulate !== 'hang' && simulate !== 'oom') fail(file, `'simulate' must be crash, hang or oom`);
  if (o.name !== undefined && (typeof o.name !== 'string' || !o.name)) fail(file, `'name' must be a non-empty string`);
  return {
    name: (o.name as string | undefined) ?? basename(file, extname(file)),
    file,
    original,
    candidate,
    expect,
    seed: o.seed === undefined ? 0 : num(file, 'seed', o.seed, { int: true }),
    iterations: o.iterations === undefined ? 1 : num(file, 'iterations', o.iterations, { int: true, min: 1 }),
    shapes,
    specs: specs as string[],
    ...(inputs.file !== undefined ? { feeds: path('inputs.file', inputs.file) } : {}),
    tolerance: o.tolerance === undefined ? {} : tol(file, 'tolerance', o.tolerance),
    perTensor,
    checks: checks as string[],
    ...(o.map !== undefined ? { map: path('map', o.map) } : {}),
    failOn,
    timeoutSec: o.timeout === undefined ? 600 : num(file, 'timeout', o.timeout, { min: 0.1 }),
    ...(simulate ? { simulate } : {}),
  };
}

/** Case files of a suite: a folder (recursively, *.yaml/*.yml, sorted) or one file. */
export function findCases(path: string): string[] {
  if (!existsSync(path)) throw new InputError(`suite ${path} does not exist`, { file: path });
  if (!statSync(path).isDirectory()) return [resolve(path)];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        if (e !== 'node_modules' && !e.startsWith('.')) walk(p);
      } else if (/\.ya?ml$/i.test(e)) out.push(resolve(p));
    }
  };
  walk(path);
  return out.sort((a, b) => relative(path, a).localeCompare(relative(path, b)));
}

/** The options of the programmatic compare() that a case stands for. */
export function caseOptions(c: CaseSpec): CompareOptions {
  return {
    seed: c.seed,
    iterations: c.iterations,
    ...c.tolerance,
    perTensor: c.perTensor,
    checks: c.checks,
    shapes: c.shapes,
    inputs: c.specs,
    ...(c.feeds ? { feeds: c.feeds } : {}),
    ...(c.map ? { map: c.map } : {}),
    failOn: c.failOn,
  };
}

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { DType } from '../core/dtype.js';
import { FormatError, InputError } from '../core/errors.js';

/** How one input is generated (or loaded). Unset fields come from the model's declaration. */
export type Distribution =
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'constant'; value: number }
  | { kind: 'int'; low: number; high: number }
  | { kind: 'bool'; p: number };

export interface InputSpec {
  name: string;
  dtype?: DType;
  shape?: number[];
  dist?: Distribution;
  /** A .npy file to load instead of generating. */
  file?: string;
}

function num(s: string, what: string): number {
  const v = Number(s.trim());
  if (s.trim() === '' || !Number.isFinite(v)) throw new InputError(`${what}: '${s}' is not a number`);
  return v;
}

/** `normal(0,1)`, `uniform(-1,1)`, `constant(0.5)`, `int(0,1000)`, `bool(0.5)`, `file(x.npy)`. */
export function parseDistribution(s: string, what: string): { dist?: Distribution; file?: string } {
  const m = /^\s*([a-z]+)\s*\((.*)\)\s*$/.exec(s);
  if (!m) throw new InputError(`${what}: expected uniform(lo,hi), normal(mean,std), constant(v), int(lo,hi), bool(p) or file(path), got '${s}'`);
  const [, kind, argStr] = m;
  if (kind === 'file') {
    if (!argStr!.trim()) throw new InputError(`${what}: file() needs a path`);
    return { file: argStr!.trim() };
  }
  const args = argStr!.split(',').map((a) => a.trim()).filter((a) => a !== '');
  const need = (n: number) => {
    if (args.length !== n) throw new InputError(`${what}: ${kind}() takes ${n} argument(s), got ${args.length}`);
  };
  switch (kind) {
    case 'uniform': {
      need(2);
      const [low, high] = [num(args[0]!, what), num(args[1]!, what)];
      if (!(low < high)) throw new InputError(`${what}: uniform(lo,hi) needs lo < hi`);
      return { dist: { kind, low, high } };
    }
    case 'normal': {
      need(2);
      const [mean, std] = [num(args[0]!, what), num(args[1]!, what)];
      if (!(std >= 0)) throw new InputError(`${what}: normal(mean,std) needs std >= 0`);
      return { dist: { kind, mean, std } };
    }
    case 'constant':
      need(1);
      return { dist: { kind, value: num(args[0]!, what) } };
    case 'int': {
      need(2);
      const [low, high] = [num(args[0]!, what), num(args[1]!, what)];
      if (!Number.isInteger(low) || !Number.isInteger(high) || !(low < high)) throw new InputError(`${what}: int(lo,hi) needs integers lo < hi (hi exclusive)`);
      return { dist: { kind, low, high } };
    }
    case 'bool': {
      need(1);
      const p = num(args[0]!, what);
      if (p < 0 || p > 1) throw new InputError(`${what}: bool(p) needs 0 <= p <= 1`);
      return { dist: { kind, p } };
    }
    default:
      throw new InputError(`${what}: unknown distribution '${kind}' (uniform, normal, constant, int, bool, file)`);
  }
}

function normName(n: string): string {
  return n.endsWith(':0') ? n.slice(0, -2) : n;
}

/** `--shape input:1x224x224x3` (several comma separated, or `input:0:1x3`). */
export function parseShapeArg(s: string): InputSpec[] {
  return s.split(',').filter(Boolean).map((part) => {
    const i = part.lastIndexOf(':');
    if (i <= 0) throw new InputError(`--shape '${part}': expected NAME:DIMS like input_1:1x224x224x3`);
    const name = normName(part.slice(0, i));
    const dims = part.slice(i + 1);
    if (dims === '' || dims === 'scalar') return { name, shape: [] };
    const shape = dims.split(/[x×]/).map((d) => {
      if (!/^\d+$/.test(d)) throw new InputError(`--shape '${part}': dimension '${d}' is not a non-negative integer`);
      return Number(d);
    });
    return { name, shape };
  });
}

/** `--input 'x=normal(0,1)'`. */
export function parseInputArg(s: string): InputSpec {
  const i = s.indexOf('=');
  if (i <= 0) throw new InputError(`--input '${s}': expected NAME=DIST like x=normal(0,1)`);
  const name = normName(s.slice(0, i).trim());
  return { name, ...parseDistribution(s.slice(i + 1), `--input '${s}'`) };
}

const DTYPES = new Set(['float32', 'float16', 'float64', 'bfloat16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool']);

/**
 * A JSON or YAML spec file: a list of specs, or a mapping name -> spec. A spec has any of
 * `shape: [1, 3]`, `dtype: float32`, `dist: "normal(0,1)"` (or `{kind: normal, mean, std}`),
 * `file: x.npy` (relative to the spec file).
 */
export function loadInputSpecFile(path: string): InputSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`input spec ${path} cannot be read: ${(e as Error).message}`, { file: path });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { logLevel: 'silent' });
  } catch (e) {
    throw new FormatError(`${path}: invalid YAML/JSON: ${(e as Error).message.split('\n')[0]}`, { file: path });
  }
  const items: [string | undefined, unknown][] = Array.isArray(doc)
    ? doc.map((d) => [undefined, d])
    : doc && typeof doc === 'object'
      ? Object.entries(doc as Record<string, unknown>)
      : [];
  if (!items.length) throw new FormatError(`${path}: expected a list of input specs or a mapping from input name to spec`, { file: path });
  return items.map(([key, raw], idx) => {
    const where = `${path}: ${key !== undefined ? `input '${key}'` : `item ${idx}`}`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new FormatError(`${where} must be a mapping`, { file: path });
    const o = raw as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['name', 'shape', 'dtype', 'dist', 'file'].includes(k)) throw new FormatError(`${where}: unknown key '${k}' (name, shape, dtype, dist, file)`, { file: path });
    const name = normName(String(o.name ?? key ?? ''));
    if (!name) throw new FormatError(`${where}: missing 'name'`, { file: path });
    const spec: InputSpec = { name };
    if (o.shape !== undefined) {
      if (!Array.isArray(o.shape) || !o.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new FormatError(`${where}: 'shape' must be a list of non-negative integers`, { file: path });
      spec.shape = o.shape as number[];
    }
    if (o.dtype !== undefined) {
      if (typeof o.dtype !== 'string' || !DTYPES.has(o.dtype)) throw new FormatError(`${where}: unknown dtype ${JSON.stringify(o.dtype)}`, { file: path });
      spec.dtype = o.dtype as DType;
    }
    if (o.dist !== undefined) {
      if (typeof o.dist === 'string') Object.assign(spec, parseDistribution(o.dist, where));
      else if (o.dist && typeof o.dist === 'object') {
        const d = o.dist as Record<string, unknown>;
        const args = d.kind === 'uniform' || d.kind === 'int' ? [d.low, d.high] : d.kind === 'normal' ? [d.mean, d.std] : d.kind === 'constant' ? [d.value] : d.kind === 'bool' ? [d.p] : [];
        Object.assign(spec, parseDistribution(`${String(d.kind)}(${args.join(',')})`, where));
      } else throw new FormatError(`${where}: 'dist' must be a string like "normal(0,1)" or a mapping`, { file: path });
    }
    if (o.file !== undefined) spec.file = resolve(dirname(path), String(o.file));
    return spec;
  });
}

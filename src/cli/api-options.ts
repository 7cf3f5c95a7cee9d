import type { ParsedValues } from './common.js';

/** Options of the programmatic `compare()` and of suite cases, mapped onto the CLI's options. */
export interface CompareOptions {
  seed?: number;
  iterations?: number;
  atol?: number;
  rtol?: number;
  /** Per-tensor tolerances: `{ 'logits': { atol: 1e-3 } }`. */
  perTensor?: Record<string, { atol?: number; rtol?: number }>;
  /** Extra metric thresholds, e.g. `['cosine>=0.999']`. */
  checks?: string[];
  /** Concrete shapes for inputs with unknown dims: `{ x: [1, 224, 224, 3] }`. */
  shapes?: Record<string, number[]>;
  /** Per-input distributions in the CLI's syntax: `['x=normal(0,1)', 'ids=int(0,100)']`. */
  inputs?: string[];
  /** A .npz of feeds to use instead of generated inputs. */
  feeds?: string;
  /** Alignment map file. */
  map?: string;
  namesOnly?: boolean;
  /** What decides the verdict: 'layers' (default), 'outputs' or 'all' (src/compare/stages/decide.ts). */
  failOn?: 'layers' | 'outputs' | 'all';
  /** What rtol multiplies: 'tensor' (default, max|ref|) or 'element' (each |ref|, numpy allclose). */
  errorScale?: 'tensor' | 'element';
  ownError?: boolean;
  backend?: 'wasm' | 'cpu' | 'tensorflow';
  signature?: string;
  topk?: number;
}

/** Converts API options to the CLI's parsed option values (one code path for both). */
export function toCliValues(o: CompareOptions): ParsedValues {
  const atol: string[] = [];
  const rtol: string[] = [];
  if (o.atol !== undefined) atol.push(String(o.atol));
  if (o.rtol !== undefined) rtol.push(String(o.rtol));
  for (const [k, t] of Object.entries(o.perTensor ?? {})) {
    if (t.atol !== undefined) atol.push(`${k}:${t.atol}`);
    if (t.rtol !== undefined) rtol.push(`${k}:${t.rtol}`);
  }
  return {
    quiet: true,
    ...(o.seed !== undefined ? { seed: String(o.seed) } : {}),
    ...(o.iterations !== undefined ? { iterations: String(o.iterations) } : {}),
    ...(atol.length ? { atol } : {}),
    ...(rtol.length ? { rtol } : {}),
    ...(o.checks ? { check: o.checks } : {}),
    ...(o.shapes ? { shape: Object.entries(o.shapes).map(([k, s]) => `${k}:${s.join('x')}`) } : {}),
    ...(o.inputs ? { input: o.inputs } : {}),
    ...(o.feeds ? { inputs: o.feeds } : {}),
    ...(o.map ? { map: o.map } : {}),
    ...(o.namesOnly ? { 'names-only': true } : {}),
    ...(o.failOn ? { 'fail-on': o.failOn } : {}),
    ...(o.errorScale ? { 'error-scale': o.errorScale } : {}),
    ...(o.ownError === false ? { 'no-own-error': true } : {}),
    ...(o.backend ? { backend: o.backend } : {}),
    ...(o.signature ? { signature: o.signature } : {}),
    ...(o.topk ? { topk: String(o.topk) } : {}),
  };
}


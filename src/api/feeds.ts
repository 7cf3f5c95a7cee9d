import type { HostTensor, TensorSpec } from '../core/tensor.js';
import type { Graph } from '../graph/ir.js';
import type { InputSpec } from '../inputs/spec.js';
import { loadInputSpecFile, normalizeInputName, parseInputArg, parseShapeArg, resolveInputName } from '../inputs/spec.js';
import { describeDistribution, feedShapeWarnings, generateFeeds, inferIntRanges, loadFeeds, plannedDraws, type InputHint } from '../inputs/generate.js';
import { inferPixelInputs } from '../inputs/preamble.js';
import { arc4State } from '../inputs/kernel/arc4.js';
import { MetricsPool } from '../compare/simd/pool.js';
import { stripPort } from '../core/names.js';

/** Where a model's inputs come from: generated from the seed (with these refinements), or a file of feeds. */
export interface InputOptions {
  /** Concrete shapes for inputs with unknown dims: `{ x: [1, 224, 224, 3] }`. */
  shapes?: Record<string, number[]>;
  /** Per-input distributions: `['x=normal(0,1)', 'ids=int(0,100)']` (the CLI's --input syntax). */
  inputs?: string[];
  /** A JSON/YAML file of per-input specs (the CLI's --input-spec). */
  inputSpec?: string;
  /** A .npz of feeds to use instead of generated inputs. */
  feeds?: string;
}

/** The per-input specs from the spec file, the distributions and the shapes, in that order. */
export function inputOverrides(o: InputOptions): InputSpec[] {
  const specs: InputSpec[] = [];
  if (o.inputSpec) specs.push(...loadInputSpecFile(o.inputSpec));
  for (const s of o.inputs ?? []) specs.push(parseInputArg(s));
  for (const [name, dims] of Object.entries(o.shapes ?? {})) specs.push(...parseShapeArg(`${name}:${dims.join('x')}`));
  // Merge specs for the same input: later flags refine earlier ones.
  const merged = new Map<string, InputSpec>();
  for (const s of specs) merged.set(s.name, { ...(merged.get(s.name) ?? {}), ...s });
  return [...merged.values()];
}

/**
 * Inputs with fewer doubles to draw than this are drawn on the main thread when they are
 * needed: about 0.4 ms of drawing, against a round trip to the metrics thread (which may be
 * napping) and its spin afterwards beside the models' kernels.
 */
const THREAD_DRAWS = 16384;

/**
 * A feeds maker for seeded (or given) inputs of a model. Default draws follow what the model's
 * first operations call for: its graph decides when it has one, else its runner (`runnerHints`,
 * a Keras model's layers). For a comparison both sides get the original's. `log` hears, once,
 * each input drawn from a range other than the default, and why.
 */
export function feedsMaker(o: InputOptions, specs: TensorSpec[], graph?: Graph, runnerHints?: Map<string, InputHint>, log?: (line: string) => void) {
  const overrides = inputOverrides(o);
  const given = o.feeds;
  const intRanges = graph ? inferIntRanges(graph) : undefined;
  const hints = graph ? inferPixelInputs(graph) : runnerHints;
  const overrideOf = (s: TensorSpec) => overrides.findLast((x) => resolveInputName(x.name, specs) === normalizeInputName(s.name));
  /** The hint that decides an input's draw: none when the user, a file or an index range does. */
  const hintFor = (s: TensorSpec): InputHint | undefined => {
    const name = stripPort(s.name);
    const ov = overrideOf(s);
    return ov?.dist || ov?.file || intRanges?.has(name) ? undefined : hints?.get(name);
  };
  if (!given && log) {
    for (const s of specs) {
      const h = hintFor(s);
      const name = stripPort(s.name);
      if (h) log(`input '${name}' drawn from ${describeDistribution(h.dist)} (${h.reason}); give --input '${name}=uniform(-1,1)' for the default`);
    }
  }
  /** Doubles being drawn on the metrics thread, by seed and input (see prefetch). */
  const drawing = new Map<number, Map<string, { take(): Float64Array | null }>>();
  /**
   * One iteration's feeds, where each comes from, and `warnings`: a feed the user gave in
   * another shape than the declared one runs, and says so (the Result's run.warnings; the
   * CLI prints them).
   */
  const make = (_iteration: number, seed: number): { feeds: Map<string, HostTensor>; sources: Record<string, string>; warnings: string[] } => {
    if (given) {
      const feeds = loadFeeds(given, specs);
      return { feeds, sources: Object.fromEntries([...feeds.keys()].map((k) => [k, `file(${given})`])), warnings: feedShapeWarnings(specs, feeds) };
    }
    const jobs = drawing.get(seed);
    drawing.delete(seed);
    const feeds = generateFeeds(specs, { seed, overrides, intRanges, ...(hints ? { hints } : {}), ...(jobs ? { drawn: (name: string) => jobs.get(name)?.take() ?? undefined } : {}) });
    const sources: Record<string, string> = {};
    for (const s of specs) {
      const h = hintFor(s);
      sources[stripPort(s.name)] = h ? `${describeDistribution(h.dist)} (${h.reason})` : describeDist(overrideOf(s), s);
    }
    return { feeds, sources, warnings: feedShapeWarnings(specs, feeds) };
  };
  /**
   * Starts drawing the seeded inputs of `seed` on the metrics thread (while the candidate
   * loads, say); make() then takes the doubles it drew, or draws them itself. The same values
   * either way: the same ARC4 stream from the same state.
   */
  const prefetch = (seed: number): void => {
    const pool = given ? null : MetricsPool.get();
    if (!pool || drawing.has(seed)) return;
    const jobs = new Map<string, { take(): Float64Array | null }>();
    for (const d of plannedDraws(specs, { seed, overrides, intRanges, ...(hints ? { hints } : {}) })) {
      // A small draw is done here sooner than the thread can be asked for it.
      if (d.draws < THREAD_DRAWS) continue;
      const job = pool.drawDoubles(arc4State(d.key), d.draws);
      if (job) jobs.set(d.name, job);
    }
    drawing.set(seed, jobs);
  };
  return Object.assign(make, { prefetch });
}

function describeDist(o: InputSpec | undefined, s: TensorSpec): string {
  const d = o?.dist;
  if (o?.file) return `file(${o.file})`;
  if (o?.values) return `given ${o.values.dtype}[${o.values.shape.join(',')}]`;
  if (!d) return s.dtype === 'bool' ? 'bool(0.5)' : s.dtype.startsWith('int') || s.dtype.startsWith('uint') ? 'int(default range)' : 'uniform(-1,1)';
  return describeDistribution(d);
}



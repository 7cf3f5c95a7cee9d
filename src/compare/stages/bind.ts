import { tf } from '../../backend/tf.js';
import { share } from '../../backend/index.js';
import { hostToTf } from '../../backend/convert.js';
import { InputError } from '../../core/errors.js';
import { shapeFits } from '../../core/feeds.js';
import { stripPort as norm } from '../../core/names.js';
import type { Runner } from '../../core/runner.js';
import type { HostTensor, TensorSpec } from '../../core/tensor.js';
import type { InputFacts } from '../result.js';
import type { CompareOptions } from '../options.js';

/**
 * Stage 1, bind feeds: the seeded feeds of one iteration, as tensors for the reference and (by
 * name or position, transposed for an NCHW candidate) for the candidate.
 */

/** How one candidate input is fed from the reference's feeds. */
export interface InputBinding {
  reference: string;
  candidate: string;
  /** Transposition from the reference feed to the candidate's layout. */
  perm?: number[];
}

/** One iteration's feeds, on both sides; `dispose()` lets them go. */
export interface BoundFeeds {
  seed: number;
  refFeeds: Map<string, tf.Tensor>;
  candFeeds: Map<string, tf.Tensor>;
  /** What the Result says of the inputs. */
  inputFacts: InputFacts[];
  /** Feeds given in another shape than declared (run as fed): for the Result's run.warnings. */
  warnings: string[];
  dispose(): void;
}

/**
 * Pairs candidate inputs with reference inputs: by name, else by position; a candidate in
 * NCHW gets the reference's NHWC feed transposed.
 */
export function bindInputs(refSpecs: TensorSpec[], candSpecs: TensorSpec[], feeds: Map<string, HostTensor>): InputBinding[] {
  const refNames = refSpecs.map((s) => norm(s.name));
  const out: InputBinding[] = [];
  const used = new Set<string>();
  const byPos = candSpecs.length === refSpecs.length;
  candSpecs.forEach((c, i) => {
    const cn = norm(c.name);
    let r = refNames.find((n) => n === cn && !used.has(n));
    if (!r) r = refNames.find((n) => (n.split('/').pop() === cn.split('/').pop() || n.replace(/[:/]/g, '_') === cn.replace(/[:/]/g, '_')) && !used.has(n));
    if (!r && byPos) r = refNames[i];
    if (!r) {
      throw new InputError(
        `candidate input '${c.name}' has no counterpart among the reference inputs (${refNames.join(', ')}); name them alike or give an alignment map`,
      );
    }
    used.add(r);
    const feed = feeds.get(r);
    if (!feed) throw new InputError(`no feed for reference input '${r}'`);
    if (shapeFits(c.shape, feed.shape)) {
      out.push({ reference: r, candidate: c.name });
      return;
    }
    const rank = feed.shape.length;
    const perms = rank === 4 ? [[0, 3, 1, 2], [0, 2, 3, 1]] : rank === 5 ? [[0, 4, 1, 2, 3], [0, 2, 3, 4, 1]] : rank === 3 ? [[0, 2, 1]] : [];
    for (const p of perms) {
      const s = p.map((a) => feed.shape[a]!);
      if (shapeFits(c.shape, s)) {
        out.push({ reference: r, candidate: c.name, perm: p });
        return;
      }
    }
    throw new InputError(
      `candidate input '${c.name}' expects shape [${(c.shape ?? []).map((d) => (d < 0 ? '?' : d)).join(',')}] but reference input '${r}' is fed [${feed.shape.join(',')}]` +
        ` (no transposition fits either)`,
    );
  });
  return out;
}

/** The feeds of iteration `it` (seed + it), bound to both models' inputs. */
export function bindFeeds(reference: Runner, candidate: Runner, opts: Pick<CompareOptions, 'seed' | 'feeds'>, it: number): BoundFeeds {
  const seed = opts.seed + it;
  const { feeds, sources, warnings = [] } = opts.feeds(it, seed);
  const refSpecs = reference.inputs();
  const bindings = bindInputs(refSpecs, candidate.inputs(), feeds);
  const inputFacts = refSpecs.map((s) => {
    const f = feeds.get(norm(s.name))!;
    const b = bindings.find((x) => x.reference === norm(s.name));
    return {
      name: norm(s.name),
      ...(b && b.candidate !== norm(s.name) ? { candidateName: b.candidate } : {}),
      dtype: f?.dtype ?? s.dtype,
      shape: f?.shape ?? [],
      source: sources[norm(s.name)] ?? 'given',
      ...(b?.perm ? { candidatePerm: b.perm } : {}),
    };
  });
  const refFeeds = new Map<string, tf.Tensor>();
  const candFeeds = new Map<string, tf.Tensor>();
  const dispose = () => {
    for (const t of refFeeds.values()) t.dispose();
    for (const t of candFeeds.values()) t.dispose();
  };
  try {
    for (const [k, v] of feeds) refFeeds.set(k, hostToTf(v, `input '${k}'`));
    for (const b of bindings) {
      const t = refFeeds.get(b.reference)!;
      candFeeds.set(b.candidate, b.perm ? tf.transpose(t, b.perm) : share(t));
    }
  } catch (e) {
    dispose();
    throw e;
  }
  return { seed, refFeeds, candFeeds, inputFacts, warnings, dispose };
}

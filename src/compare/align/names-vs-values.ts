import type { SampleCache } from './similarity.js';
import { STRONG_SIMILARITY, chooseTransform } from './similarity.js';
import type { ActInfo, AlignedPair } from './types.js';
import { normaliseName } from './types.js';

/**
 * Names that values contradict. An exporter may rename layers (Keras 3 exports `dense` as
 * `dense_1`, `dense_1` as `dense_1_2`): a Keras candidate's `dense_1` is then paired by its name
 * with the reference's scope `dense_1/`, which is the candidate's `dense`. A name pair is not
 * trusted when its values do not match while one of its two sides matches, by values, a layer
 * of the other model that is not the same layer (not the same TF scope: a conversion that
 * left out conv1's ReLU has its `conv1` match `conv1/BiasAdd`, inside the scope its name points
 * at, and that name stays). Such pairs are undone, for the numeric alignment to pair by values,
 * and the Alignment says so.
 */
export interface DistrustedName {
  reference: string;
  candidate: string;
  /** The similarity of the name pair's values. */
  similarity: number;
  /** The other model's activation one of the two matches by values. */
  matches: string;
}

/** The layer an activation belongs to: its TF scope, or itself when it has none (a Keras layer). */
function layerOf(name: string): string {
  const n = normaliseName(name);
  const k = n.lastIndexOf('/');
  return k > 0 ? n.slice(0, k) : n;
}

const scorable = (a: ActInfo) => !!(a.data || a.samples);

/** The name pairs among `pairs` that values contradict (see above), and what they match instead. */
export function namesContradicted(pairs: readonly AlignedPair[], refs: ActInfo[], cands: ActInfo[], refByName: Map<string, ActInfo>, candByName: Map<string, ActInfo>, samples: SampleCache): DistrustedName[] {
  const out: DistrustedName[] = [];
  for (const p of pairs) {
    if (p.strategy !== 'name') continue;
    const r = refByName.get(normaliseName(p.reference));
    const c = candByName.get(normaliseName(p.candidate));
    if (!r || !c || !scorable(r) || !scorable(c)) continue;
    const own = chooseTransform(r, c, undefined, samples)?.sim ?? 0;
    if (own >= STRONG_SIMILARITY) continue;
    const matches =
      cands.find((c2) => c2 !== c && scorable(c2) && layerOf(c2.name) !== layerOf(c.name) && chooseTransform(r, c2, undefined, samples, true))?.name ??
      refs.find((r2) => r2 !== r && scorable(r2) && layerOf(r2.name) !== layerOf(r.name) && chooseTransform(r2, c, undefined, samples, true))?.name;
    if (matches !== undefined) out.push({ reference: p.reference, candidate: p.candidate, similarity: own, matches });
  }
  return out;
}

/** The warning an Alignment carries when names were not trusted. */
export function distrustWarning(d: readonly DistrustedName[]): string {
  const shown = d.slice(0, 4).map((x) => `'${x.candidate}' ~ '${x.reference}' (similarity ${x.similarity.toFixed(2)}; '${x.matches}' matches by values)`);
  return `names not trusted: ${d.length} pair${d.length === 1 ? '' : 's'} by name disagreed with the values (${shown.join('; ')}${d.length > 4 ? '; …' : ''}); ${d.length === 1 ? 'it was' : 'they were'} paired by values instead`;
}

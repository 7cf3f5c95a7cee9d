import { numElements } from '../../core/tensor.js';
import type { AlignedPair, ActInfo, Alignment, Strategy, Transform } from './types.js';
import { isPairable, normaliseName } from './types.js';
import { candidateTransforms, transformFits } from './transforms.js';

export function exactNameMatch(refByName: Map<string, ActInfo>, c: ActInfo): ActInfo | undefined {
  const exact = refByName.get(normaliseName(c.name));
  return exact && isPairable(exact, 'reference') && numElements(exact.shape) === numElements(c.shape) ? exact : undefined;
}

/**
 * The pairs alignment makes whatever else the candidate yields: map entries and exact names
 * (they come first and depend on nothing but the two activations). Knowing them as each
 * candidate activation arrives lets the comparison compute that pair at once and let the
 * candidate's tensor go, instead of holding every activation until the run ends.
 */
export class EarlyPairs {
  private readonly mapByCand = new Map<string, AlignedPair[]>();
  private readonly mapRefs = new Map<string, number>();
  private readonly taken = new Set<string>();

  /** `refByName`: the reference activations so far, by name without ':0' (it may grow while pairs are decided). */
  constructor(
    private readonly refByName: Map<string, ActInfo>,
    map?: Alignment,
  ) {
    for (const p of map?.pairs ?? []) {
      const k = normaliseName(p.candidate);
      this.mapByCand.set(k, [...(this.mapByCand.get(k) ?? []), p]);
      const r = normaliseName(p.reference);
      this.mapRefs.set(r, (this.mapRefs.get(r) ?? 0) + 1);
    }
  }

  /** The reference names `c` may pair with early: wait for these before calling decide(). */
  wanted(c: ActInfo): string[] {
    const mapped = this.mapByCand.get(normaliseName(c.name));
    if (mapped) return mapped.map((p) => normaliseName(p.reference));
    return isPairable(c, 'candidate') ? [normaliseName(c.name)] : [];
  }

  /** How many early pairs may read reference `name` (map entries can pair one reference with several layers). */
  partners(name: string): number {
    return this.mapRefs.get(normaliseName(name)) ?? 1;
  }

  /** The reference activations candidate `c` pairs with, and how, or [] when alignment must decide. */
  decide(c: ActInfo): { ref: ActInfo; strategy: 'map' | 'name'; transform?: Transform }[] {
    const mapped = this.mapByCand.get(normaliseName(c.name));
    if (mapped) {
      const out: { ref: ActInfo; strategy: 'map'; transform?: Transform }[] = [];
      for (const p of mapped) {
        const r = this.refByName.get(normaliseName(p.reference));
        // Unknown names and shapes that do not fit are reported by align().
        if (!r || (p.transform ? !transformFits(r, c, p.transform) : !candidateTransforms(r, c).length)) return [];
        out.push({ ref: r, strategy: 'map', ...(p.transform ? { transform: p.transform } : {}) });
      }
      return out;
    }
    if (!isPairable(c, 'candidate')) return [];
    const exact = exactNameMatch(this.refByName, c);
    if (!exact || this.mapRefs.has(normaliseName(exact.name)) || this.taken.has(exact.name)) return [];
    this.taken.add(exact.name);
    return [{ ref: exact, strategy: 'name' }];
  }
}

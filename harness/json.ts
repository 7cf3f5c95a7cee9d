/**
 * JSON for suite files (results.json, history.jsonl) that keeps non-finite numbers: a
 * bit-identical conversion has an SQNR of Infinity, a broken one a max_abs of NaN, and
 * JSON.stringify would write both as null. They are written as the strings "Infinity",
 * "-Infinity" and "NaN", as in the comparison Result (report/index.ts), and read back as numbers.
 */

/** JSON.stringify with non-finite numbers as strings. */
export function stringifyFinite(v: unknown, space?: number): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? (Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity') : x), space);
}

/** Where numbers are: the metrics of a case or history line, and a trend's series. */
const NUMERIC = new Set(['max_abs', 'mean_abs', 'cosine', 'sqnr']);
const NON_FINITE: Record<string, number> = { Infinity: Infinity, '-Infinity': -Infinity, NaN: NaN };

/** JSON.parse reviver undoing stringifyFinite for those fields (other strings stay strings). */
export function reviveNonFinite(this: unknown, key: string, v: unknown): unknown {
  if (typeof v !== 'string' || !(v in NON_FINITE)) return v;
  const inSeries = Array.isArray(this) && /^\d+$/.test(key) && (this as unknown[]).every((x) => typeof x === 'number' || (typeof x === 'string' && x in NON_FINITE));
  return NUMERIC.has(key) || inSeries ? NON_FINITE[v] : v;
}

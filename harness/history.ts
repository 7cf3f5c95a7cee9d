import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { FormatError } from '../src/core/errors.js';
import { reviveNonFinite, stringifyFinite } from './json.js';

/**
 * Run history as JSON lines: one line per case per run. Each line is written with a single
 * O_APPEND write and fsync, so concurrent or interrupted runs never leave a half line in the
 * middle; a torn last line (power loss) is skipped when reading.
 */
export interface HistoryEntry {
  run: string;
  time: string;
  case: string;
  status: string;
  verdict?: string;
  /** Worst output metrics of the run. */
  metrics?: { max_abs: number; mean_abs: number; cosine: number; sqnr: number };
  /** sha256 of each model's files in that run. */
  models?: { reference: string; candidate: string };
}

export function appendHistory(path: string, entries: HistoryEntry[]): void {
  if (!entries.length) return;
  const text = entries.map((e) => stringifyFinite(e)).join('\n') + '\n';
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readHistory(path: string): HistoryEntry[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: HistoryEntry[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const e = JSON.parse(line, reviveNonFinite) as HistoryEntry;
      if (typeof e.case !== 'string' || typeof e.run !== 'string') throw new Error('missing case/run');
      out.push(e);
    } catch {
      // Only the last line may be torn; anything else means the file is not ours.
      if (i !== lines.length - 1 && !(i === lines.length - 2 && lines[lines.length - 1] === '')) {
        throw new FormatError(`${path}:${i + 1}: not a tf-parity history line`, { file: path });
      }
    }
  });
  return out;
}

export type TrendFlag = 'regression' | 'improvement' | 'steady' | 'new';

export interface Trend {
  case: string;
  /** max_abs of the worst output, oldest first, the current run last. */
  series: number[];
  statuses: string[];
  flag: TrendFlag;
  reason?: string;
  /** Models whose files differ from the case's previous run (both runs recorded their digests). */
  changed?: ('reference' | 'candidate')[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Trend of one case: the current run against the previous `window` runs. A regression is a
 * status that got worse (pass -> fail/error) or a max_abs worse than `factor` times the median
 * of the window (and above `floor`, so noise at 1e-9 does not flag); an improvement the reverse.
 * `changed` names the models whose files differ from the previous run's: what to look at first
 * when a case regresses.
 */
export function trendFor(
  caseName: string,
  history: HistoryEntry[],
  current: HistoryEntry,
  opts: { window: number; factor: number; floor?: number },
): Trend {
  const past = history.filter((e) => e.case === caseName && e.run !== current.run).slice(-opts.window);
  const series = [...past.map((e) => e.metrics?.max_abs ?? NaN), current.metrics?.max_abs ?? NaN];
  const statuses = [...past.map((e) => e.status), current.status];
  if (!past.length) return { case: caseName, series, statuses, flag: 'new' };
  const last = past[past.length - 1]!;
  const changed = (['reference', 'candidate'] as const).filter((k) => last.models?.[k] && current.models?.[k] && last.models[k] !== current.models[k]);
  const t = trendOf(past, last, current, series, statuses, caseName, opts);
  return changed.length ? { ...t, changed } : t;
}

function trendOf(
  past: HistoryEntry[],
  last: HistoryEntry,
  current: HistoryEntry,
  series: number[],
  statuses: string[],
  caseName: string,
  opts: { window: number; factor: number; floor?: number },
): Trend {
  const floor = opts.floor ?? 1e-7;
  if (last.status === 'pass' && current.status !== 'pass') return { case: caseName, series, statuses, flag: 'regression', reason: `status ${last.status} -> ${current.status}` };
  const prev = past.map((e) => e.metrics?.max_abs).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const cur = current.metrics?.max_abs;
  if (prev.length && typeof cur === 'number') {
    const med = median(prev);
    if (!Number.isFinite(cur) || (cur > Math.max(med, floor) * opts.factor && cur > floor)) {
      return { case: caseName, series, statuses, flag: 'regression', reason: `max_abs ${cur.toExponential(2)} > ${opts.factor} x median ${med.toExponential(2)} of the last ${prev.length} run(s)` };
    }
    if (cur * opts.factor < med && med > floor) {
      return { case: caseName, series, statuses, flag: 'improvement', reason: `max_abs ${cur.toExponential(2)} < median ${med.toExponential(2)} / ${opts.factor}` };
    }
  }
  if (last.status !== 'pass' && current.status === 'pass') return { case: caseName, series, statuses, flag: 'improvement', reason: `status ${last.status} -> pass` };
  return { case: caseName, series, statuses, flag: 'steady' };
}

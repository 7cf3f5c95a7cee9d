import type { Result } from '../compare/result.js';
import { writeFileAtomic } from '../core/write.js';

export interface ReportTargets {
  json?: string;
  html?: string;
  junit?: string;
  markdown?: string;
}

/** Writes a report atomically, making its folder (core/write.ts). */
export const writeAtomic = writeFileAtomic;

/** Result as JSON with a stable key order (the Result's own). */
export function jsonReport(r: Result): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity') : v), 2) + '\n';
}

export async function writeReports(r: Result, t: ReportTargets): Promise<void> {
  if (t.json) writeAtomic(t.json, jsonReport(r));
  if (t.html) {
    const { htmlReport } = await import('./html.js');
    writeAtomic(t.html, htmlReport(r));
  }
  if (t.junit) {
    const { junitReport } = await import('./junit.js');
    writeAtomic(t.junit, junitReport(r));
  }
  if (t.markdown) {
    const { markdownReport } = await import('./markdown.js');
    writeAtomic(t.markdown, markdownReport(r));
  }
}

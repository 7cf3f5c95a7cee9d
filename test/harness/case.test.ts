import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseOptions, findCases, readCase } from '../../harness/case.js';
import type { SuiteResult } from '../../harness/suite.js';
import { inShard, mergeSuiteResults, parseShard, writeSuiteReports } from '../../harness/suite.js';
import { appendHistory, readHistory, trendFor } from '../../harness/history.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'parity-case-'));
}

describe('case files', () => {
  it('reads a full case with defaults and resolves paths against the case file', () => {
    const d = tmp();
    const f = join(d, 'a.yaml');
    writeFileSync(
      f,
      `original: m/orig.pb\ncandidate: m/cand.onnx\nexpect: not-equivalent\nseed: 7\ninputs:\n  shapes: { x: [1, 8, 8, 3] }\n  specs: ["x=normal(0,1)"]\ntolerance: { atol: 1e-3 }\nper_tensor: { "probs/Softmax": { rtol: 1e-2 } }\nchecks: ["cosine>=0.99"]\ntimeout: 30\n`,
    );
    const c = readCase(f);
    expect(c).toMatchObject({ name: 'a', original: join(d, 'm/orig.pb'), candidate: join(d, 'm/cand.onnx'), expect: 'not-equivalent', seed: 7, iterations: 1, timeoutSec: 30 });
    expect(caseOptions(c)).toMatchObject({ seed: 7, atol: 1e-3, perTensor: { 'probs/Softmax': { rtol: 1e-2 } }, shapes: { x: [1, 8, 8, 3] }, inputs: ['x=normal(0,1)'], checks: ['cosine>=0.99'] });
  });

  it('rejects bad cases with the file and key named', () => {
    const d = tmp();
    const bad = (text: string, re: RegExp) => {
      const f = join(d, `b${Math.random()}.yaml`);
      writeFileSync(f, text);
      expect(() => readCase(f)).toThrow(re);
    };
    bad('candidate: x.onnx\n', /'original' must be a path/);
    bad('original: a.pb\ncandidate: b.onnx\nexpect: maybe\n', /'expect' must be equivalent or not-equivalent/);
    bad('original: a.pb\ncandidate: b.onnx\ntolerence: {}\n', /unknown key 'tolerence'/);
    bad('original: a.pb\ncandidate: b.onnx\ntolerance: { atol: -1 }\n', /'tolerance.atol' must be a number >= 0/);
    bad('original: [unclosed\n', /\.yaml: invalid YAML/);
    bad('- a\n- b\n', /a case is a YAML mapping/);
  });

  it('finds cases recursively in a stable order', () => {
    const d = tmp();
    for (const p of ['b.yaml', 'a.yml', 'sub/c.yaml', 'notes.txt']) {
      const f = join(d, p);
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, 'x: 1\n');
    }
    expect(findCases(d).map((f) => f.slice(d.length + 1))).toEqual(['a.yml', 'b.yaml', 'sub/c.yaml']);
  });
});

describe('shards', () => {
  it('every case lands in exactly one shard', () => {
    const files = Array.from({ length: 40 }, (_, i) => `cases/case-${i}.yaml`);
    for (const n of [1, 2, 3, 5]) {
      const counts = files.map((f) => Array.from({ length: n }, (_, k) => inShard(f, { index: k + 1, count: n })).filter(Boolean).length);
      expect(counts.every((c) => c === 1)).toBe(true);
    }
    expect(() => parseShard('0/3')).toThrow(/between 1 and N/);
    expect(() => parseShard('2-3')).toThrow(/I\/N/);
  });
});

describe('history', () => {
  it('appends whole lines, skips a torn last line, flags a regression', () => {
    const f = join(tmp(), 'h.jsonl');
    const entry = (run: string, max_abs: number, status = 'pass') => ({ run, time: run, case: 'c.yaml', status, metrics: { max_abs, mean_abs: 0, cosine: 1, sqnr: 100 } });
    appendHistory(f, [entry('r1', 1e-5)]);
    appendHistory(f, [entry('r2', 1.2e-5)]);
    writeFileSync(f, readFileSync(f, 'utf8') + '{"run":"r3","ca');
    const h = readHistory(f);
    expect(h.map((e) => e.run)).toEqual(['r1', 'r2']);
    expect(trendFor('c.yaml', h, entry('r3', 5e-5), { window: 5, factor: 2 }).flag).toBe('regression');
    expect(trendFor('c.yaml', h, entry('r3', 1.1e-5), { window: 5, factor: 2 }).flag).toBe('steady');
    expect(trendFor('c.yaml', h, entry('r3', 1e-6), { window: 5, factor: 2 }).flag).toBe('improvement');
    expect(trendFor('c.yaml', h, entry('r3', 1e-5, 'fail'), { window: 5, factor: 2 }).flag).toBe('regression');
    expect(trendFor('new.yaml', h, { ...entry('r3', 1), case: 'new.yaml' }, { window: 5, factor: 2 }).flag).toBe('new');
  });

  it('keeps non-finite metrics: a bit-identical output has SQNR Infinity, a broken one a max_abs of NaN', () => {
    const f = join(tmp(), 'h.jsonl');
    appendHistory(f, [{ run: 'r1', time: 'r1', case: 'c.yaml', status: 'pass', metrics: { max_abs: 0, mean_abs: 0, cosine: 1, sqnr: Infinity } }]);
    appendHistory(f, [{ run: 'r2', time: 'r2', case: 'NaN', status: 'fail', metrics: { max_abs: NaN, mean_abs: NaN, cosine: NaN, sqnr: -Infinity } }]);
    // Written as strings (JSON has no Infinity; JSON.stringify would write null) ...
    expect(readFileSync(f, 'utf8')).toContain('"sqnr":"Infinity"');
    // ... and read back as numbers; a string that happens to spell one stays a string.
    const h = readHistory(f);
    expect(h[0]!.metrics!.sqnr).toBe(Infinity);
    expect(h[1]!.metrics!.max_abs).toBeNaN();
    expect(h[1]!.metrics!.sqnr).toBe(-Infinity);
    expect(h[1]!.case).toBe('NaN');
    // A NaN max_abs after steady runs is a regression, read from the file as from memory.
    expect(trendFor('NaN', [{ ...h[1]!, run: 'r0', status: 'pass', metrics: { max_abs: 1e-5, mean_abs: 0, cosine: 1, sqnr: 90 } }], h[1]!, { window: 5, factor: 2 }).flag).toBe('regression');
  });

  it('results.json keeps them too, through merge-reports', () => {
    const d = tmp();
    const result: SuiteResult = {
      schemaVersion: 1,
      tool: { name: 'tf-parity', version: '0' },
      run: 'r',
      startedAt: 't',
      finishedAt: 't',
      suite: 's',
      cases: [{ name: 'same', file: 'same.yaml', status: 'pass', expected: 'equivalent', verdict: 'equivalent', message: 'NaN', durationMs: 1, metrics: { max_abs: 0, mean_abs: 0, cosine: 1, sqnr: Infinity } }],
      counts: { pass: 1, fail: 0, error: 0, interrupted: 0 },
      trends: [{ case: 'same.yaml', series: [NaN, 0], statuses: ['error', 'pass'], flag: 'improvement' }],
    };
    writeSuiteReports(result, d);
    expect(readFileSync(join(d, 'results.json'), 'utf8')).toContain('"sqnr": "Infinity"');
    const back = mergeSuiteResults([d]);
    expect(back.cases[0]!.metrics!.sqnr).toBe(Infinity);
    expect(back.cases[0]!.message).toBe('NaN');
  });

  it("names the models whose files changed since the case's previous run, when both runs recorded digests", () => {
    const entry = (run: string, reference?: string, candidate?: string) => ({ run, time: run, case: 'c.yaml', status: 'pass', metrics: { max_abs: 1e-5, mean_abs: 0, cosine: 1, sqnr: 100 }, ...(reference && candidate ? { models: { reference, candidate } } : {}) });
    const h = [entry('r1', 'a', 'b'), entry('r2', 'a', 'b')];
    expect(trendFor('c.yaml', h, entry('r3', 'a', 'b'), { window: 5, factor: 2 }).changed).toBeUndefined();
    expect(trendFor('c.yaml', h, entry('r3', 'a', 'c'), { window: 5, factor: 2 })).toMatchObject({ flag: 'steady', changed: ['candidate'] });
    expect(trendFor('c.yaml', h, entry('r3', 'z', 'c'), { window: 5, factor: 2 }).changed).toEqual(['reference', 'candidate']);
    // Only the previous run counts; one without digests (an older history line) tells nothing.
    expect(trendFor('c.yaml', [...h, entry('r3')], entry('r4', 'a', 'c'), { window: 5, factor: 2 }).changed).toBeUndefined();
  });
});

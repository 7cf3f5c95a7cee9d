import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateCaseModels } from '../../cases/gen/generate.js';
import { runSuite } from '../../harness/suite.js';
import { caseKinds, warmUp, warmupCandidates, writeWarmupModels } from '../../harness/warmup.js';
import { compare } from '../../src/api/compare.js';
import { backendInfo } from '../../src/backend/index.js';
import * as reports from '../../src/report/index.js';

/**
 * Warm worker processes (started ahead, warmed up by comparisons of their own) still give each
 * case a process of its own: a case that runs out of its heap limit, crashes or hangs costs
 * that case only, and a case's Result is the one a fresh process gives.
 */
describe('warm workers isolate cases', () => {
  it('a case over its heap limit, a crash and a hang are errors of their own; the cases between them pass', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-iso-'));
    await generateCaseModels(join(d, 'models'));
    const c = (name: string, body: string) => writeFileSync(join(d, `${name}.yaml`), `original: models/cnn.pb\ncandidate: models/cnn.keras\n${body}`);
    c('a-oom', 'simulate: oom\n');
    c('b-pass', 'expect: equivalent\n');
    c('c-crash', 'simulate: crash\n');
    c('d-pass', 'expect: equivalent\n');
    c('e-hang', 'simulate: hang\ntimeout: 3\n');
    c('f-pass', 'expect: equivalent\n');
    const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('parity-warmup-')));
    // One case at a time, two processes started ahead, each warming up while it waits.
    const r = await runSuite(d, { out: join(d, 'out'), progress: 'none', jobs: 1, warm: true, spares: 2, memoryMb: 256 });
    expect(r.cases.map((o) => [o.name, o.status])).toEqual([
      ['a-oom', 'error'],
      ['b-pass', 'pass'],
      ['c-crash', 'error'],
      ['d-pass', 'pass'],
      ['e-hang', 'error'],
      ['f-pass', 'pass'],
    ]);
    const by = Object.fromEntries(r.cases.map((o) => [o.name, o]));
    expect(by['a-oom']!.message).toMatch(/^ran out of memory/);
    expect(by['c-crash']!.message).toMatch(/^crashed: .*simulated crash/);
    expect(by['e-hang']!.message).toBe('timed out after 3 s');
    // The pool removed its warm-up models.
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('parity-warmup-') && !before.has(f))).toEqual([]);
  }, 180_000);

  it("a case's Result from a warmed-up process equals a fresh process's (pairs, metrics, fallback kernels, warnings)", async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-iso-'));
    await generateCaseModels(join(d, 'models'));
    // The first case runs in a process started for it; the others in processes that warmed up.
    for (const [i, cand] of ['cnn.onnx', 'cnn.keras', 'cnn-buggy.keras', 'cnn-tfjs/model.json'].entries()) {
      writeFileSync(join(d, `case${i}.yaml`), `original: models/cnn.pb\ncandidate: models/${cand}\nseed: 7\ninputs: { specs: ["x=normal(0,1)"] }\n`);
    }
    const cold = await runSuite(d, { out: join(d, 'cold'), progress: 'none', jobs: 1, warm: false });
    const warm = await runSuite(d, { out: join(d, 'warm'), progress: 'none', jobs: 1, warm: true });
    const result = (out: string, i: number) => {
      const r = JSON.parse(readFileSync(join(d, out, 'cases', `case${i}`, 'result.json'), 'utf8'));
      // What differs between any two runs: when, and how long.
      delete r.run.startedAt;
      delete r.run.timings;
      return r;
    };
    for (let i = 0; i < 4; i++) expect(result('warm', i)).toEqual(result('cold', i));
    expect(warm.cases.map((o) => o.status)).toEqual(cold.cases.map((o) => o.status));
    expect(cold.cases.map((o) => o.verdict)).toEqual(['equivalent', 'equivalent', 'not-equivalent', 'equivalent']);
  }, 180_000);

  it('the warm-up comparisons leave nothing behind that changes the next Result', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-iso-'));
    await generateCaseModels(join(d, 'models'));
    const run = async (cand: string) => {
      const r = JSON.parse(reports.jsonReport(await compare(join(d, 'models', 'cnn.pb'), join(d, 'models', cand), { seed: 3, inputs: ['x=normal(0,1)'] })));
      delete r.run.startedAt;
      delete r.run.timings;
      return r;
    };
    const before = [await run('cnn-buggy.keras'), await run('cnn.onnx')];
    const models = await writeWarmupModels();
    try {
      // A worker told its case compares a frozen graph with a Keras file warms up on those two kinds.
      const kinds = caseKinds({ original: join(d, 'models', 'cnn.pb'), candidate: join(d, 'models', 'cnn.keras') });
      expect(kinds).toEqual(['graph', 'keras']);
      expect(warmupCandidates(kinds)).toEqual(['cnn.keras']);
      expect(warmupCandidates(['graph', 'graph'])).toEqual(['cnn-tfjs/model.json']);
      expect(caseKinds({ original: join(d, 'nope.pb'), candidate: join(d, 'models', 'cnn.onnx') })).toBeUndefined();
      expect(await warmUp(models, { compare, reports, backendInfo }, () => false, { kinds: ['onnx'] })).toBe(1);
      expect(await warmUp(models, { compare, reports, backendInfo }, () => false)).toBe(3);
      // Stopped once the case has come: no comparison at all.
      expect(await warmUp(models, { compare, reports, backendInfo }, () => true)).toBe(0);
    } finally {
      rmSync(models, { recursive: true, force: true });
    }
    expect([await run('cnn-buggy.keras'), await run('cnn.onnx')]).toEqual(before);
    expect(before[0].verdict).toBe('not-equivalent');
  }, 120_000);
});

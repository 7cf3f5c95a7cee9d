import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { readHistory } from '../../harness/history.js';
import { stringifyFinite } from '../../harness/json.js';
import type { SuiteResult } from '../../harness/suite.js';
import { mergeSuiteResults, runSuite, suiteExitCode } from '../../harness/suite.js';
import { generateCaseModels } from '../../cases/gen/generate.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { A, GraphBuilder, host } from '../fixtures/graph.js';

/** A suite in a temp folder: the example models plus cases that pass, fail, crash and hang. */
async function makeSuite(): Promise<string> {
  const d = mkdtempSync(join(tmpdir(), 'parity-suite-'));
  await generateCaseModels(join(d, 'models'));
  const c = (name: string, body: string) => writeFileSync(join(d, `${name}.yaml`), body);
  c('a-pass', 'original: models/cnn.pb\ncandidate: models/cnn.keras\nexpect: equivalent\n');
  c('b-fail', 'original: models/cnn.pb\ncandidate: models/cnn-buggy.keras\nexpect: equivalent\ninputs: { specs: ["x=normal(0,1)"] }\n');
  c('c-crash', 'original: models/cnn.pb\ncandidate: models/cnn.keras\nsimulate: crash\n');
  c('d-hang', 'original: models/cnn.pb\ncandidate: models/cnn.keras\nsimulate: hang\ntimeout: 4\n');
  c('e-onnx', 'original: models/cnn.pb\ncandidate: models/cnn.onnx\nexpect: equivalent\n');
  c('f-missing', 'original: models/nope.pb\ncandidate: models/cnn.onnx\n');
  return d;
}

describe('suites', () => {
  it('gives the right verdict per case; crashes, hangs and bad inputs are errors; the others still run', async () => {
    const d = await makeSuite();
    const out = join(d, 'out');
    const r = await runSuite(d, { out, progress: 'none' });
    // results.json is what schema/suite-results.schema.json describes.
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(import.meta.dirname, '../../schema/suite-results.schema.json'), 'utf8')));
    const written = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(validate(written), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...written, cases: [{ ...written.cases[0], status: 'ok' }] })).toBe(false);
    const by = Object.fromEntries(r.cases.map((c) => [c.name, c]));
    expect(by['a-pass']!.status).toBe('pass');
    expect(by['b-fail']!.status).toBe('fail');
    expect(by['b-fail']!.firstDivergence).toMatch(/^dw1\/Relu6 ~ dw1$/);
    expect(by['c-crash']).toMatchObject({ status: 'error' });
    expect(by['c-crash']!.message).toMatch(/crashed: .*simulated crash/);
    expect(by['d-hang']).toMatchObject({ status: 'error', message: 'timed out after 4 s' });
    expect(by['e-onnx']!.status).toBe('pass');
    expect(by['f-missing']!.status).toBe('error');
    expect(by['f-missing']!.message).toMatch(/nope.pb does not exist/);
    expect(r.counts).toEqual({ pass: 2, fail: 1, error: 3, interrupted: 0 });
    // Two cases ran at once (the default on two cores), reported in case order all the same.
    expect(r.cases.map((c) => c.name)).toEqual(['a-pass', 'b-fail', 'c-crash', 'd-hang', 'e-onnx', 'f-missing']);
    expect(by['a-pass']!.compareMs).toBeGreaterThan(0);
    expect(by['a-pass']!.compareMs).toBeLessThan(by['a-pass']!.durationMs);
    expect(suiteExitCode(r)).toBe(1);
    const junit = readFileSync(join(out, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/tests="6" failures="1" errors="3"/);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('<script type="application/json" id="data">');
    expect(readFileSync(join(out, 'cases', 'a-pass', 'report.html'), 'utf8')).toContain('tf-parity');
  }, 120_000);

  it('shards 1/3..3/3 cover every case once and merge into the unsharded result', async () => {
    const d = await makeSuite();
    for (const f of ['c-crash', 'd-hang']) writeFileSync(join(d, `${f}.yaml`), 'original: models/cnn.pb\ncandidate: models/cnn.onnx\n');
    // One case at a time, each in a fresh process, against shards of three cases at once in warm
    // processes: the same cases, in the same order, with the same results.
    const whole = await runSuite(d, { out: join(d, 'whole'), progress: 'none', jobs: 1, warm: false });
    const parts: SuiteResult[] = [];
    for (let i = 1; i <= 3; i++) parts.push(await runSuite(d, { out: join(d, `shard${i}`), shard: { index: i, count: 3 }, progress: 'none', jobs: 3 }));
    for (const p of parts) expect(p.cases.map((c) => c.file)).toEqual(p.cases.map((c) => c.file).sort());
    const files = parts.flatMap((p) => p.cases.map((c) => c.file)).sort();
    expect(files).toEqual(whole.cases.map((c) => c.file).sort());
    const merged = mergeSuiteResults([1, 2, 3].map((i) => join(d, `shard${i}`)), join(d, 'merged'));
    const key = (r: SuiteResult) => r.cases.map((c) => [c.file, c.status, c.verdict, c.metrics?.max_abs]);
    expect(key(merged)).toEqual(key(whole));
    const sqnr = (r: SuiteResult) => r.cases.map((c) => c.metrics?.sqnr);
    expect(sqnr(merged)).toEqual(sqnr(whole));
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(import.meta.dirname, '../../schema/suite-results.schema.json'), 'utf8')));
    expect(validate(JSON.parse(readFileSync(join(d, 'shard1', 'results.json'), 'utf8'))), JSON.stringify(validate.errors)).toBe(true);
    // What merge-reports writes.
    expect(validate(JSON.parse(stringifyFinite(merged))), JSON.stringify(validate.errors)).toBe(true);
    expect(merged.counts).toEqual(whole.counts);
    expect(() => mergeSuiteResults([join(d, 'shard1'), join(d, 'shard1')])).toThrow(/appears in more than one shard/);
    // Four suite runs, each writing its warm-up models and starting processes ahead: slow on a loaded machine.
  }, 300_000);

  it("a case's runner warnings reach results.json and the index: a float16 Keras conversion of a TF graph", async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-warn-'));
    // The graph the float16 fixture converts: x -> MatMul/BiasAdd/Relu (fc1) -> MatMul/BiasAdd (fc2).
    const G = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/goldens/keras_f16.json'), 'utf8')) as { weights: { shape: number[]; values: number[] }[] };
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [-1, 4]);
    const w = G.weights.map((t, i) => g.const(`w${i}`, host('float32', t.shape, t.values)));
    g.op('MatMul', 'fc1/MatMul', ['x', w[0]!], { T: A.dtype('float32') });
    g.op('BiasAdd', 'fc1/BiasAdd', ['fc1/MatMul', w[1]!], { T: A.dtype('float32') });
    g.op('Relu', 'fc1/Relu', ['fc1/BiasAdd'], { T: A.dtype('float32') });
    g.op('MatMul', 'fc2/MatMul', ['fc1/Relu', w[2]!], { T: A.dtype('float32') });
    g.op('BiasAdd', 'fc2/BiasAdd', ['fc2/MatMul', w[3]!], { T: A.dtype('float32') });
    mkdirSync(join(d, 'suite'));
    writeFileSync(join(d, 'ref.pb'), encodeGraphDef(g.build(['fc2/BiasAdd'])));
    cpSync(join(import.meta.dirname, '../fixtures/keras-f16/legacy.h5'), join(d, 'half.h5'));
    writeFileSync(join(d, 'suite', 'half.yaml'), 'original: ../ref.pb\ncandidate: ../half.h5\nexpect: equivalent\ninputs: { shapes: { x: [2, 4] } }\n');
    const r = await runSuite(join(d, 'suite'), { out: join(d, 'out'), progress: 'none' });
    expect(r.cases.map((c) => [c.status, c.verdict])).toEqual([['pass', 'equivalent']]);
    expect(r.cases[0]!.warnings).toEqual(["candidate: dtype 'float16' is computed in float32 here"]);
    expect(JSON.parse(readFileSync(join(d, 'out', 'results.json'), 'utf8')).cases[0].warnings).toEqual(r.cases[0]!.warnings);
    expect(readFileSync(join(d, 'out', 'index.html'), 'utf8')).toContain("'warnings'");
  }, 120_000);

  it('history over three runs flags a regression injected in the third', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-hist-'));
    await generateCaseModels(join(d, 'models'));
    mkdirSync(join(d, 'suite'));
    const caseFile = join(d, 'suite', 'cnn.yaml');
    writeFileSync(caseFile, 'original: ../models/cnn.pb\ncandidate: ../models/current.keras\nexpect: equivalent\n');
    const hist = join(d, 'history.jsonl');
    const results: SuiteResult[] = [];
    for (const model of ['cnn.keras', 'cnn.keras', 'cnn-buggy.keras']) {
      cpSync(join(d, 'models', model), join(d, 'models', 'current.keras'));
      results.push(await runSuite(join(d, 'suite'), { out: join(d, 'out'), history: hist, progress: 'none' }));
    }
    expect(results[0]!.trends![0]!.flag).toBe('new');
    expect(results[1]!.trends![0]!.flag).toBe('steady');
    // The same bytes copied again: no model changed. Then the buggy candidate: it did.
    expect(results[1]!.trends![0]!.changed).toBeUndefined();
    expect(results[2]!.trends![0]).toMatchObject({ flag: 'regression', changed: ['candidate'] });
    const h = readHistory(hist);
    expect(h.length).toBe(3);
    expect(h.map((e) => e.models?.candidate.length)).toEqual([64, 64, 64]);
    expect(h[0]!.models!.reference).toBe(h[2]!.models!.reference);
    expect(readFileSync(join(d, 'out', 'index.html'), 'utf8')).toContain('regression');
  }, 120_000);
});

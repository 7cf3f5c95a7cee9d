import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { feedsMaker } from '../../src/api/feeds.js';
import { compareRunners } from '../../src/compare/pipeline.js';
import type { Runner } from '../../src/core/runner.js';
import { consoleReport } from '../../src/report/console.js';
import { jsonReport } from '../../src/report/index.js';
import { markdownReport } from '../../src/report/markdown.js';
import { loadModel } from '../../src/runners/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PB = join(ROOT, 'cases/models/cnn.pb');

describe("a runner's warnings", () => {
  it('reach the Result with the model they belong to, the console and the Markdown report; the JSON stays valid', async () => {
    const ref = await loadModel(PB);
    const cand = await loadModel(PB);
    const said = ["dtype policy 'mixed_float16' is computed in float32 here", "layer 'dense' has 1 extra weight(s) in the file, ignored"];
    // The same runner, saying what it does differently from the model as saved.
    const warned: Runner = Object.assign(Object.create(cand.runner) as Runner, { warnings: said });
    try {
      const r = await compareRunners(ref.runner, warned, {
        seed: 1,
        iterations: 1,
        tolerance: { atol: 1e-5, rtol: 1e-5 },
        ownError: false,
        feeds: feedsMaker({}, ref.runner.inputs(), ref.graph),
        referenceFacts: { path: PB, kind: 'graph', sha256: '', bytes: 0 },
        candidateFacts: { path: 'cand', kind: 'graph', sha256: '', bytes: 0 },
      });
      expect(r.verdict).toBe('equivalent');
      expect(r.candidate.warnings).toEqual(said);
      expect(r.reference.warnings).toBeUndefined();
      const text = consoleReport(r);
      for (const w of said) expect(text).toContain(`warning (candidate): ${w}`);
      expect(markdownReport(r)).toContain("> ⚠️ candidate: dtype policy 'mixed_float16' is computed in float32 here");
      const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(ROOT, 'schema/result.schema.json'), 'utf8')));
      const json = JSON.parse(jsonReport(r)) as { candidate: Record<string, unknown> };
      expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
      // A warning that is not a string breaks the schema: the field is checked, not just allowed.
      expect(validate({ ...json, candidate: { ...json.candidate, warnings: [1] } })).toBe(false);
    } finally {
      ref.runner.dispose();
      cand.runner.dispose();
    }
  });
});

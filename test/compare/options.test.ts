import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { compare } from '../../src/index.js';
import { consoleReport } from '../../src/report/console.js';
import { jsonReport } from '../../src/report/index.js';
import { markdownReport } from '../../src/report/markdown.js';

const ROOT = join(import.meta.dirname, '../..');

beforeAll(async () => {
  await initBackend('wasm');
});

describe('options that apply to nothing', () => {
  it('a per-tensor tolerance or check whose name no pair has is a warning in the Result and every report', async () => {
    const r = await compare(join(ROOT, 'cases/models/cnn.pb'), join(ROOT, 'cases/models/cnn.onnx'), {
      seed: 1,
      ownError: false,
      perTensor: { 'probs/Softmax': { atol: 1e-3 }, 'prbos/Softmax': { atol: 1e-3 } },
      checks: ['fc1/BiasAdd:cosine>=0.99', 'fc9/BiasAdd:cosine>=0.99'],
    });
    // By reference name and by candidate name both count as used.
    expect(r.run.warnings).toEqual([
      "the per-tensor tolerance for 'prbos/Softmax' applied to nothing: no compared pair has that reference or candidate name",
      "the check 'fc9/BiasAdd:cosine>=0.99' applied to nothing: no compared pair has that reference or candidate name",
    ]);
    expect(consoleReport(r, { color: false })).toContain("warning: the per-tensor tolerance for 'prbos/Softmax' applied to nothing");
    expect(markdownReport(r)).toContain("the check 'fc9/BiasAdd:cosine&gt;=0.99' applied to nothing");
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(ROOT, 'schema/result.schema.json'), 'utf8')));
    expect(validate(JSON.parse(jsonReport(r))), JSON.stringify(validate.errors)).toBe(true);
    const ok = await compare(join(ROOT, 'cases/models/cnn.pb'), join(ROOT, 'cases/models/cnn.onnx'), { seed: 1, ownError: false, perTensor: { output: { atol: 1e-3 } } });
    expect(ok.run.warnings).toBeUndefined();
  });
});

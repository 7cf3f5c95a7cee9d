import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCase } from '../../harness/case.js';
import { validateAlignment } from '../../src/compare/align/index.js';
import { FormatError, UnsupportedError } from '../../src/core/errors.js';
import { readZip, writeZip } from '../../src/formats/zip.js';
import { fuzzReader, messageProblem } from './harness.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('fuzz harness', () => {
  it('a multi-line message is an other outcome, except the listing of what cannot run', () => {
    expect(messageProblem(new FormatError('a.pb: node x is bad'))).toBeUndefined();
    // Text from a file cannot break the line: control characters are escaped.
    const e = new FormatError("a.npy: dtype ' \n|b1' is not supported");
    expect(e.message).toBe("a.npy: dtype ' \\n|b1' is not supported");
    expect(messageProblem(e)).toBeUndefined();
    expect(messageProblem(new FormatError('a.pb: two\nlines', { multiline: true }))).toBe('a message over 2 lines');
    expect(messageProblem(new FormatError('   '))).toBe('an empty message');
    const list = new UnsupportedError('a.pb: 2 op type(s) cannot be executed by tf-parity yet:\n  FancyOp: a, b\n  OtherOp: c', [], { multiline: true });
    expect(messageProblem(list)).toBeUndefined();
    expect(messageProblem(new UnsupportedError('a.pb: cannot\nrun', [], { multiline: true }))).toBe('a message over 2 lines');
  });
});

describe('fuzz: small readers', () => {
  it('zip archives', async () => {
    const samples = [
      writeZip([['a.txt', enc('hello')], ['dir/b.bin', Uint8Array.from([1, 2, 3])]]),
      writeZip([['config.json', enc('{"a":1}')], ['model.weights.h5', new Uint8Array(300).fill(7)]], true),
    ];
    const r = await fuzzReader('zip', samples, (b) => readZip(b, 'fuzz.zip'));
    expect(r.parityErrors).toBeGreaterThan(0);
  });

  it('case YAML files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-case-'));
    const f = join(dir, 'c.yaml');
    const samples = [
      enc('original: a.pb\ncandidate: b.onnx\nexpect: equivalent\nseed: 3\ninputs:\n  shapes: { x: [1, 2] }\n  specs: ["x=normal(0,1)"]\ntolerance: { atol: 1e-4 }\n'),
      enc('original: a.pb\ncandidate: b.keras\nchecks: ["cosine>=0.99"]\nper_tensor: { y: { rtol: 0.1 } }\ntimeout: 5\n'),
      enc('a: &x [*x]\n'),
    ];
    await fuzzReader('case-yaml', samples, (b) => {
      writeFileSync(f, b);
      return readCase(f);
    });
  });

  it('alignment maps', async () => {
    const samples = [enc(JSON.stringify({ version: 1, pairs: [{ reference: 'a/Relu', candidate: 'a', transform: { perm: [0, 2, 3, 1] } }], unmatched: { reference: [], candidate: ['x'] } }))];
    await fuzzReader('alignment-map', samples, (b) => {
      let obj: unknown;
      try {
        obj = JSON.parse(new TextDecoder().decode(b));
      } catch (e) {
        throw new FormatError(`map.json: not valid JSON (${(e as Error).message})`);
      }
      return validateAlignment(obj, 'map.json');
    });
  });
});

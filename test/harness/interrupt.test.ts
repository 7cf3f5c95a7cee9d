import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateCaseModels } from '../../cases/gen/generate.js';
import { readHistory } from '../../harness/history.js';

/** Ctrl-C during a suite: what ran is written, the running case is marked interrupted, history stays valid. */
describe('interrupting a suite', () => {
  it('SIGINT writes the results so far, marks the running case interrupted, exits 130', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-int-'));
    await generateCaseModels(join(d, 'models'));
    writeFileSync(join(d, 'a.yaml'), 'original: models/cnn.pb\ncandidate: models/cnn.onnx\n');
    writeFileSync(join(d, 'b.yaml'), 'original: models/cnn.pb\ncandidate: models/cnn.onnx\nsimulate: hang\ntimeout: 120\n');
    writeFileSync(join(d, 'c.yaml'), 'original: models/cnn.pb\ncandidate: models/cnn.onnx\n');
    const hist = join(d, 'h.jsonl');
    const bin = join(import.meta.dirname, '../../bin/parity.js');
    const child = spawn(process.execPath, [bin, 'suite', d, '--out', join(d, 'out'), '--history', hist, '--progress', 'lines', '--jobs', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const sawB = new Promise<void>((resolve) => {
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
        // Case a has finished; b (the hanging one) is now running.
        if (/\[1\/3\] PASS/.test(err)) setTimeout(resolve, 1500);
      });
    });
    await sawB;
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    const r = JSON.parse(readFileSync(join(d, 'out', 'results.json'), 'utf8'));
    expect(r.interrupted).toBe(true);
    expect(r.cases.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([
      ['a', 'pass'],
      ['b', 'interrupted'],
    ]);
    expect(readHistory(hist).map((e) => e.case)).toEqual(['a.yaml']);
  }, 120_000);
});

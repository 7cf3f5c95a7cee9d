import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { cnn, unliftable, writePb } from './graphs.js';
import { outDir } from './support.js';

function capture() {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  return { out: () => out, err: () => err };
}

afterEach(() => vi.restoreAllMocks());

describe('parity lift (command module)', () => {
  it('lifts and proves a CNN: exit 0, model.keras, model.py, model.weights.h5, report.html, report.json', async () => {
    const out = outDir();
    const io = capture();
    const code = await main(['lift', writePb(cnn()), '-o', out, '--seeds', '2']);
    vi.restoreAllMocks();
    expect(code, io.err()).toBe(0);
    for (const f of ['model.keras', 'model.py', 'model.weights.h5', 'report.html', 'report.json']) expect(existsSync(`${out}/${f}`), f).toBe(true);
    expect(io.out()).toMatch(/lift proven equivalent/);
  });

  it('exit 2 naming every op and pattern it cannot lift, with its nodes, one line each, at once; nothing written', async () => {
    const out = `${outDir()}/never`;
    const io = capture();
    const code = await main(['lift', writePb(unliftable()), '-o', out]);
    vi.restoreAllMocks();
    expect(code).toBe(2);
    const lines = io.err().trim().split('\n');
    expect(lines[0]).toMatch(/3 node\(s\) cannot be lifted to Keras:$/);
    expect(lines).toContain('  Erf: u/erf/Erf, u/erf_1/Erf');
    expect(lines).toContain('  Cos: u/cos/Cos');
    expect(lines.length).toBe(3);
    expect(io.err()).not.toMatch(/at .*\.ts:\d+/);
    expect(existsSync(out)).toBe(false);
  });

  it('a missing -o and an unknown --outputs name are one-line errors, exit 2', async () => {
    const io = capture();
    expect(await main(['lift', writePb(cnn())])).toBe(2);
    expect(await main(['lift', writePb(cnn()), '-o', outDir(), '--outputs', 'model/dense/Softmaxx'])).toBe(2);
    vi.restoreAllMocks();
    expect(io.err()).toMatch(/required option '-o, --out <dir>' not specified/);
    expect(io.err()).toMatch(/--outputs names 'model\/dense\/Softmaxx', which is not a node of the graph/);
  });
});

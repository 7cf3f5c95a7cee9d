import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { FormatError, InputError } from '../../src/core/errors.js';
import type { Activation, Runner } from '../../src/core/runner.js';
import { host } from '../../src/graph/builder.js';
import { writeNpzFile } from '../../src/inputs/npz.js';
import { loadActivationsRunner, pythonSnippet } from '../../src/runners/activations.js';

const dir = mkdtempSync(join(tmpdir(), 'parity-acts-'));

async function collect(r: Runner, feeds: Map<string, tf.Tensor>): Promise<{ name: string; type: string; data: number[]; shape: number[] }[]> {
  const out: { name: string; type: string; data: number[]; shape: number[] }[] = [];
  for await (const a of r.run(feeds) as AsyncIterable<Activation>) {
    out.push({ name: a.name, type: a.type, data: Array.from(a.tensor.dataSync()), shape: a.tensor.shape.slice() });
    a.tensor.dispose();
  }
  return out;
}

const X = [0.5, -1.25, 2, 3.5, -0.75, 1];

function dump(name: string, x = X): string {
  const f = join(dir, name);
  // Deliberately not alphabetical, so an order taken from sorting would show.
  writeNpzFile(f, [
    ['x', host('float32', [1, 6], x)],
    ['zeta/conv', host('float32', [1, 3], [1, 2, 3])],
    ['alpha:1', host('float64', [2], [0.25, -4])],
    ['mid', host('int64', [2], [7n, -9n])],
    ['dense', host('float32', [1, 2], [0.1, 0.9])],
  ]);
  return f;
}

describe('activations runner (.npz computed elsewhere)', () => {
  it('yields the entries in file order, without the recorded inputs, and checks them against the feeds', async () => {
    const r = await loadActivationsRunner(dump('a.npz'), ['x:0']);
    expect(r.kind).toBe('activations');
    expect(r.inputs()).toEqual([{ name: 'x', dtype: 'float32', shape: [1, 6] }]);
    expect(r.outputs()).toEqual(['dense']);
    const x = tf.tensor(X, [1, 6]);
    const got = await collect(r, new Map([['x', x]]));
    x.dispose();
    expect(got.map((a) => a.name)).toEqual(['zeta/conv', 'alpha:1', 'mid', 'dense']);
    expect(got.map((a) => a.type)).toEqual(['recorded', 'recorded', 'recorded', 'recorded']);
    expect(got[1]!.data).toEqual([0.25, -4]);
    expect(got[2]!.data).toEqual([7, -9]);
    expect(got[3]!.shape).toEqual([1, 2]);
  });

  it('recorded inputs that differ from the feeds are an InputError: computed on other inputs', async () => {
    const f = dump('other.npz', X.map((v, i) => (i === 4 ? v + 1e-3 : v)));
    const r = await loadActivationsRunner(f, ['x']);
    const x = tf.tensor(X, [1, 6]);
    const err = (await collect(r, new Map([['x', x]])).catch((e: unknown) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain(f);
    expect(err.message).toMatch(/recorded input 'x' differs.*element 4.*computed on other inputs/);
    // Another shape is refused too.
    const y = tf.tensor([X], [1, 1, 6]);
    await expect(collect(r, new Map([['x', y]]))).rejects.toThrow(/: input 'x' expects shape \[1,6\], the feed has shape \[1,1,6\]; the activations were computed on other inputs/);
    x.dispose();
    y.dispose();
  });

  it('a feed whose name matches an entry is checked even when no input names were given', async () => {
    const r = await loadActivationsRunner(dump('b.npz'));
    expect(r.inputs()).toEqual([]);
    const near = tf.tensor(X.map((v) => v * (1 + 2e-7)), [1, 6]);
    expect((await collect(r, new Map([['x:0', near]]))).map((a) => a.name)).toEqual(['zeta/conv', 'alpha:1', 'mid', 'dense']);
    near.dispose();
    const far = tf.tensor(X.map((v) => v + 1e-4), [1, 6]);
    await expect(collect(r, new Map([['x:0', far]]))).rejects.toThrow(InputError);
    far.dispose();
  });

  it('warns when the file records none of the original\'s inputs: nothing can show they are this comparison\'s', async () => {
    expect((await loadActivationsRunner(dump('c.npz'), ['x:0'])).warnings).toEqual([]);
    const f = join(dir, 'no-inputs.npz');
    writeNpzFile(f, [['dense', host('float32', [1, 2], [0.1, 0.9])]]);
    const r = await loadActivationsRunner(f, ['x:0', 'y']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/records none of the original's inputs \(x, y\).*cannot check.*parity export-inputs/);
    // No input names to look for (the API without a reference): nothing to warn of.
    expect((await loadActivationsRunner(f)).warnings).toEqual([]);
  });

  it('an empty archive, or one holding only inputs, is a FormatError naming it', async () => {
    const empty = join(dir, 'empty.npz');
    writeNpzFile(empty, []);
    await expect(loadActivationsRunner(empty)).rejects.toThrow(FormatError);
    const only = join(dir, 'only.npz');
    writeNpzFile(only, [['x', host('float32', [1], [1])]]);
    await expect(loadActivationsRunner(only, ['x'])).rejects.toThrow(new RegExp(`${only}.*no layer outputs`));
  });
});

function hasPython(mod: string): boolean {
  const r = spawnSync('python3', ['-c', `import ${mod}`], { encoding: 'utf8' });
  return r.status === 0;
}
const pythonNumpy = hasPython('numpy');

describe('pythonSnippet (parity export-inputs --script)', () => {
  const odd = "it's \"odd\"\\dir";

  it('embeds the paths as Python string literals', () => {
    const s = pythonSnippet({ inputsNpz: `${odd}/feeds.npz`, modelPath: 'm.keras', outNpz: 'acts.npz' });
    expect(s).toContain(`INPUTS = ${JSON.stringify(`${odd}/feeds.npz`)}`);
    expect(s).toContain('keras.models.load_model(MODEL, compile=False)');
    expect(s).toContain('np.savez(OUT, **arrays)');
  });

  // The script's plumbing, run for real against a stand-in `keras` module (no Keras here): input
  // matching by name, InputLayer and shared layers skipped, one array per layer in layer order,
  // the feeds saved under their own names; then read back by the activations runner.
  it.skipIf(!pythonNumpy)('runs against a stand-in keras and writes what the activations runner reads', async () => {
    const work = mkdtempSync(join(dir, 'py-'));
    mkdirSync(join(work, 'keras'));
    writeFileSync(
      join(work, 'keras', '__init__.py'),
      `import numpy as np
class _T:
    def __init__(self, name, fn):
        self.name, self.fn = name, fn
class layers:
    class InputLayer:
        def __init__(self, name):
            self.name = name
class _Layer:
    def __init__(self, name, fn):
        self.name, self.output = name, _T(name + "/out", fn)
class _Shared:
    name = "shared"
    @property
    def output(self):
        raise ValueError("layer shared has multiple inbound nodes")
class _Loaded:
    inputs = [_T("x:0", None), _T("ids", None)]
    layers = [layers.InputLayer("x"), layers.InputLayer("ids"), _Layer("double", lambda x, ids: 2 * x), _Shared(), _Layer("shifted", lambda x, ids: 2 * x + ids.sum())]
class models:
    @staticmethod
    def load_model(path, compile=True):
        assert compile is False and path.endswith("m.keras"), (path, compile)
        return _Loaded()
class Model:
    def __init__(self, inputs, outputs):
        self.outputs = outputs
    def predict(self, args, verbose=0):
        x, ids = args
        assert x.shape == (1, 6) and ids.shape == (3,), (x.shape, ids.shape)
        return [o.fn(x, ids) for o in self.outputs]
`,
    );
    const feeds = join(work, `${odd.replace(/[\\/]/g, '_')}.npz`);
    // Feeds in the other order than the model's inputs, so positional matching would swap them.
    writeNpzFile(feeds, [['ids', host('int32', [3], [1, 2, 3])], ['x', host('float32', [1, 6], X)]]);
    const out = join(work, 'acts.npz');
    const script = pythonSnippet({ inputsNpz: feeds, modelPath: join(work, 'm.keras'), outNpz: out });
    writeFileSync(join(work, 'run.py'), script);
    const r = spawnSync('python3', ['run.py'], { cwd: work, encoding: 'utf8', env: { ...process.env, PYTHONPATH: work } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('skipped layer shared');
    const acts = await loadActivationsRunner(out, ['ids', 'x']);
    expect(acts.inputs().map((s) => s.name).sort()).toEqual(['ids', 'x']);
    const x = tf.tensor(X, [1, 6]);
    const ids = tf.tensor([1, 2, 3], [3], 'int32');
    const got = await collect(acts, new Map([['x', x], ['ids', ids]]));
    x.dispose();
    ids.dispose();
    expect(got.map((a) => a.name)).toEqual(['double', 'shifted']);
    expect(got[0]!.data).toEqual(X.map((v) => 2 * v));
    expect(got[1]!.data).toEqual(X.map((v) => 2 * v + 6));
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { InputError } from '../../src/core/errors.js';
import { checkFeeds } from '../../src/core/feeds.js';
import type { Runner } from '../../src/core/runner.js';
import { host } from '../../src/graph/builder.js';
import { writeNpzFile } from '../../src/inputs/npz.js';
import { loadActivationsRunner } from '../../src/runners/activations.js';
import { loadModel } from '../../src/runners/index.js';

/**
 * One feed check (src/core/feeds.ts) for every runner kind: a missing feed and (except for a
 * graph, which runs a feed of another shape as TF's C API does, with a warning) a feed of the
 * wrong shape are one-line InputErrors naming the file and the input, worded the same.
 */
const CASES = join(import.meta.dirname, '..', '..', 'cases', 'models');

async function firstActivation(r: Runner, feeds: Map<string, tf.Tensor>): Promise<void> {
  for await (const a of r.run(feeds)) {
    a.tensor.dispose();
    break;
  }
}

async function refusal(r: Runner, feeds: Map<string, tf.Tensor>): Promise<InputError> {
  const e = await firstActivation(r, feeds).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InputError);
  return e as InputError;
}

describe('checkFeeds', () => {
  it('returns each input its feed (with or without :0), else one line naming the file and input', () => {
    const a = tf.zeros([2, 3]);
    const feeds = new Map([['a:0', a]]);
    expect(checkFeeds('m.pb', [{ name: 'a', shape: [-1, 3] }], feeds)).toEqual([a]);
    expect(checkFeeds('m.pb', [{ name: 'a', shape: [null, 3] }], feeds)).toEqual([a]);
    expect(checkFeeds('m.pb', [{ name: 'a', shape: null }], feeds)).toEqual([a]);
    expect(() => checkFeeds('m.pb', [{ name: 'b', shape: [2] }], feeds)).toThrow("m.pb: no feed for input 'b' (feeds given: a:0)");
    expect(() => checkFeeds('m.pb', [{ name: 'a', shape: [2, 4] }], feeds)).toThrow("m.pb: input 'a' expects shape [2,4], the feed has shape [2,3]");
    expect(() => checkFeeds('m.pb', [{ name: 'a', shape: [2] }], feeds, 'do this')).toThrow("m.pb: input 'a' expects shape [2], the feed has shape [2,3]; do this");
    a.dispose();
  });

  const kinds: [string, () => Promise<Runner>][] = [
    ['reference (frozen graph)', async () => (await loadModel(join(CASES, 'cnn.pb'))).runner],
    ['keras', async () => (await loadModel(join(CASES, 'cnn.keras'))).runner],
    ['tfjs graph', async () => (await loadModel(join(CASES, 'cnn-tfjs', 'model.json'))).runner],
    ['onnx', async () => (await loadModel(join(CASES, 'cnn.onnx'))).runner],
    [
      'activations (.npz)',
      async () => {
        const f = join(mkdtempSync(join(tmpdir(), 'feeds-')), 'acts.npz');
        writeNpzFile(f, [
          ['input', host('float32', [1, 4], [1, 2, 3, 4])],
          ['dense', host('float32', [1, 2], [0.5, 0.5])],
        ]);
        return loadActivationsRunner(f, ['input']);
      },
    ],
  ];
  for (const [kind, load] of kinds) {
    it(`${kind}: the same wording for a missing feed and a feed of the wrong shape`, async () => {
      const r = await load();
      const [spec] = r.inputs();
      const name = spec!.name.replace(/:0$/, '');
      
      const none = await refusal(r, new Map());
      expect(none.message).toMatch(new RegExp(`^${escape(r.source)}: no feed for input '${escape(spec!.name)}' \\(feeds given: none\\)$`));
      // A graph runs a feed of another shape than declared, as TF's C API does (feedsMaker warns).
      if (r.kind === 'reference') return;
      const wrong = tf.zeros([1, 1, 1, 1, 1]);
      const bad = await refusal(r, new Map([[name, wrong]]));
      expect(bad.message).toMatch(new RegExp(`^${escape(r.source)}: input '${escape(name)}' expects shape \\[[?,0-9]+\\], the feed has shape \\[1,1,1,1,1\\]`));
      expect(bad.message).not.toContain('\n');
      wrong.dispose();
    });
  }
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

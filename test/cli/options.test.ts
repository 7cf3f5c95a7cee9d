import { describe, expect, it } from 'vitest';
import { compare } from '../../src/api/compare.js';
import { InputError } from '../../src/core/errors.js';
import { program } from '../../src/cli/main.js';
import type { CompareFlags } from '../../src/cli/options.js';
import { compareOptionsOf } from '../../src/cli/options.js';

/** The options of one command as commander parses them (its action is not run). */
function flags(command: string, argv: string[]): CompareFlags {
  const cmd = program().commands.find((c) => c.name() === command)!;
  const { unknown } = cmd.parseOptions(argv);
  expect(unknown).toEqual([]);
  return cmd.opts<CompareFlags>();
}

describe('CLI flags onto the API options', () => {
  it('compare: typed values, repeated and per-tensor tolerances, inputs, negated booleans', () => {
    const o = compareOptionsOf(
      flags('compare', [
        '--atol', '1e-3', '--atol', 'logits:1e-2', '--rtol', 'logits:0', '--rtol', '5e-4',
        '--check', 'cosine>=0.999', '--check', 'logits:max_abs<=1e-3',
        '--seed', '-3', '--iterations', '2', '--topk', '5',
        '--shape', 'x:1x8x8x3', '--shape', 'mask:', '--input', 'x=normal(0,1)', '--input', 'ids=int(0,9)', '--inputs', 'f.npz',
        '--fail-on', 'all', '--no-own-error', '--nan-differ', '--names-only', '--backend', 'cpu', '--loop-activations', 'last', '-q',
      ]),
    );
    const { onProgress, ...rest } = o;
    expect(typeof onProgress).toBe('function');
    expect(rest).toEqual({
      atol: 1e-3,
      rtol: 5e-4,
      perTensor: { logits: { atol: 1e-2, rtol: 0 } },
      checks: ['cosine>=0.999', 'logits:max_abs<=1e-3'],
      seed: -3,
      iterations: 2,
      topk: 5,
      shapes: { x: [1, 8, 8, 3], mask: [] },
      inputs: ['x=normal(0,1)', 'ids=int(0,9)'],
      feeds: 'f.npz',
      failOn: 'all',
      ownError: false,
      nanEqual: false,
      namesOnly: true,
      backend: 'cpu',
      loopActivations: 'last',
    });
  });

  it('compare: the defaults are those of the API', () => {
    const { onProgress: _, ...rest } = compareOptionsOf(flags('compare', []));
    expect(rest).toEqual({ perTensor: {}, checks: [], seed: 0, iterations: 1, failOn: 'outputs', ownError: true, nanEqual: true, namesOnly: false });
  });
});

describe('the API validates its options before it reads a file', () => {
  it('refuses bad values with an InputError naming the option', async () => {
    const bad: [Parameters<typeof compare>[2], RegExp][] = [
      [{ iterations: 0 }, /^iterations expects an integer of at least 1, got 0$/],
      [{ seed: 0.5 }, /^seed expects an integer, got 0.5$/],
      [{ topk: 0 }, /^topk expects an integer of at least 1, got 0$/],
      [{ atol: -1 }, /^atol expects a non-negative number, got -1$/],
      [{ perTensor: { logits: { rtol: Number.NaN } } }, /^rtol of logits expects a non-negative number, got NaN$/],
      [{ failOn: 'some' as 'all' }, /^failOn expects outputs or all, got 'some'$/],
      [{ backend: 'gpu' as 'cpu' }, /^backend expects wasm, cpu or tensorflow, got 'gpu'$/],
      [{ checks: ['cosin>=0.9'] }, /unknown metric 'cosin'/],
    ];
    for (const [options, re] of bad) {
      const e = await compare('missing.pb', 'missing.keras', options).then(() => undefined, (x: unknown) => x);
      expect(e, JSON.stringify(options)).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(re);
    }
  });
});

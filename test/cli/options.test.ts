import { describe, expect, it, vi } from 'vitest';
import { compare } from '../../src/api/compare.js';
import { InputError } from '../../src/core/errors.js';
import { main, program } from '../../src/cli/main.js';
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
      errorScale: 'tensor',
      ownError: false,
      nanEqual: false,
      namesOnly: true,
      backend: 'cpu',
      loopActivations: 'last',
    });
  });

  it('compare: the defaults are those of the API', () => {
    const { onProgress: _, ...rest } = compareOptionsOf(flags('compare', []));
    expect(rest).toEqual({ perTensor: {}, checks: [], seed: 0, iterations: 1, failOn: 'layers', errorScale: 'tensor', ownError: true, nanEqual: true, namesOnly: false });
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
      [{ failOn: 'some' as 'all' }, /^failOn expects layers, outputs or all, got 'some'$/],
      [{ errorScale: 'rms' as 'tensor' }, /^errorScale expects tensor or element, got 'rms'$/],
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

/** The CLI in this process: its exit code and what it wrote. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('usage errors: one line, exit 2, before any model is read', () => {
  it('commander\'s errors (with its "did you mean") and the option parsers\' errors', async () => {
    const cases: [string[], RegExp][] = [
      [['compare', 'cnn.pb', 'cnn.pb', 'extra.pb'], /^parity: error: too many arguments for 'compare'\. Expected 2 arguments but got 3\. \(see 'parity compare --help'\)\n$/],
      // commander's "Did you mean" (on a line of its own) joins the error's one line.
      [['comapre', 'cnn.pb', 'cnn.pb'], /^parity: error: unknown command 'comapre'; did you mean compare\? \(see 'parity --help'\)\n$/],
      [['compare', 'cnn.pb', 'cnn.pb', '--atoll', '1e-3'], /^parity: error: unknown option '--atoll'; did you mean --atol\? \(see 'parity compare --help'\)\n$/],
      [['compare', 'cnn.pb', 'cnn.pb', '--fail-on', 'some'], /^parity: error: option '--fail-on <what>' argument 'some' is invalid\. Allowed choices are layers, outputs, all\. \(see 'parity compare --help'\)\n$/],
      [['align', 'cnn.pb', 'cnn.pb'], /^parity: error: required option '-o, --output <map\.json>' not specified/],
      [['compare', 'cnn.pb', 'cnn.pb', '--iterations', '0'], /^parity: error: --iterations expects a positive integer, got '0'\n$/],
      [['compare', 'cnn.pb', 'cnn.pb', '--seed', '1.5'], /^parity: error: --seed expects an integer, got '1\.5'\n$/],
      [['compare', 'cnn.pb', 'cnn.pb', '--check', 'cosin>=0.9'], /^parity: error: --check 'cosin>=0\.9': unknown metric 'cosin'/],
      [[], /^Usage: parity \[options\] \[command\]/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err, args.join(' ')).toMatch(re);
      expect(r.out).toBe('');
    }
  });
});

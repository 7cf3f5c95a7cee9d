import { InputError, listing } from '../../core/errors.js';
import { parseShapeArg } from '../../inputs/spec.js';
import { lift } from '../../lift/index.js';
import { consoleReport } from '../../report/console.js';
import type { Command } from '../main.js';
import { intOption, numberOption, parse } from '../common.js';

const usage = `usage: parity lift ORIGINAL -o OUT/ [--shape NAME:1x224x224x3] [--signature NAME] [--outputs a,b] [--name NAME]

Turns a TensorFlow graph (frozen .pb/.pbtxt, TF1 checkpoint with .meta, SavedModel, tfjs graph
model) into a Keras 3 model, recognised by op patterns, and proves it equivalent:
  OUT/model.keras          Keras 3 file (stock layers, keras.ops where no layer fits)
  OUT/model.py             readable Python building the same model; loads OUT/model.weights.h5
  OUT/report.html, .json   the proof: compare --fail-on all over several seeds
  -o, --out DIR            output folder (required)
  --shape NAME:DIMS        concrete shape for an input with unknown dims (repeatable)
  --signature NAME         SavedModel signature (default serving_default)
  --outputs a,b            lift up to these tensors instead of the graph's outputs
  --name NAME              Keras model name
  --seeds N                seeded input draws in the proof (default 3)
  --atol X, --rtol X       proof tolerances (compare's defaults otherwise)
  --no-proof               write the model without proving it
Exit 0 lifted and proven; 1 lifted but not equivalent; 2 cannot lift (every op or pattern
that cannot be expressed is listed, one line each) or bad input.`;

export const command: Command = {
  summary: 'turn a TF graph into a Keras 3 model (.keras + model.py), with proof',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      out: { type: 'string', short: 'o' },
      shape: { type: 'string', multiple: true },
      signature: { type: 'string' },
      outputs: { type: 'string' },
      name: { type: 'string' },
      seeds: { type: 'string' },
      atol: { type: 'string' },
      rtol: { type: 'string' },
      'no-proof': { type: 'boolean' },
    }, { min: 1, max: 1, usage });
    const out = values.out as string | undefined;
    if (!out) throw new InputError(`lift needs an output folder: -o OUT/\n${usage}`);
    const shapes: Record<string, number[]> = {};
    for (const s of (values.shape as string[] | undefined) ?? []) for (const spec of parseShapeArg(s)) if (spec.shape) shapes[spec.name] = spec.shape;
    const seeds = intOption(values.seeds, 'seeds', 3);
    if (seeds < 1) throw new InputError('--seeds must be at least 1');
    const atol = values.atol !== undefined ? numberOption(values.atol, 'atol', 0) : undefined;
    const rtol = values.rtol !== undefined ? numberOption(values.rtol, 'rtol', 0) : undefined;
    const original = positionals[0]!;
    const res = await lift(original, {
      out,
      shapes,
      seeds,
      ...(values.signature ? { signature: values.signature as string } : {}),
      ...(values.outputs ? { outputs: (values.outputs as string).split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      ...(values.name ? { name: values.name as string } : {}),
      ...(atol !== undefined ? { atol } : {}),
      ...(rtol !== undefined ? { rtol } : {}),
      ...(values['no-proof'] ? { prove: false } : {}),
    });
    if (res.status === 'unliftable') {
      const n = res.unliftable.reduce((s, u) => s + u.nodes.length, 0);
      process.stderr.write(listing(`parity: error: ${original}: ${n} node(s) cannot be lifted to Keras:`, res.unliftable.map((u) => `${u.what}: ${u.nodes.join(', ')}`)) + '\n');
      return 2;
    }
    const what = `${res.counts.layers} stock layer(s)${res.counts.ops ? ` and ${res.counts.ops} keras.ops operation(s)` : ''}`;
    process.stdout.write(`parity: lifted ${original} to ${what}: ${res.files.slice(0, 3).join(', ')}\n`);
    if (res.proof) process.stdout.write(consoleReport(res.proof, { color: process.stdout.isTTY }));
    if (res.status === 'proven') process.stdout.write('parity: lift proven equivalent\n');
    if (res.status === 'unproven') process.stdout.write(`parity: lifted but NOT proven: the Keras runner cannot run the written model yet:\n${res.unproven}\n`);
    if (res.status === 'not-equivalent') process.stdout.write(`parity: the lifted model is NOT equivalent (a lift bug): see ${res.files.find((f) => f.endsWith('.html'))}\n`);
    return res.exitCode;
  },
};

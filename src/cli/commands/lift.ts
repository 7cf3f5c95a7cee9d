import type { Command } from 'commander';
import { Option } from 'commander';
import { listing } from '../../core/errors.js';
import { parseShapeArg } from '../../inputs/spec.js';
import { consoleReport } from '../../report/console.js';
import { action } from '../command.js';
import { integer, list, nonNegative, repeated, withOptions } from '../options.js';

interface Flags {
  out: string;
  shape?: string[];
  signature?: string;
  outputs?: string[];
  name?: string;
  seeds: number;
  atol?: number;
  rtol?: number;
  proof: boolean;
}

export function register(program: Command): Command {
  const cmd = program
    .command('lift')
    .summary('turn a TF graph into a Keras 3 model (.keras + model.py), with proof')
    .description(
      `Turns a TensorFlow graph (frozen .pb/.pbtxt, TF1 checkpoint with .meta, SavedModel, tfjs graph model) into a Keras 3 model, recognised by op patterns, and proves it equivalent:
  OUT/model.keras          Keras 3 file (stock layers, keras.ops where no layer fits)
  OUT/model.py             readable Python building the same model; loads OUT/model.weights.h5
  OUT/report.html, .json   the proof: compare --fail-on all over several seeds

Exit 0 lifted and proven; 1 lifted but not equivalent; 2 cannot lift (every op or pattern that cannot be expressed is listed, one line each) or bad input.`,
    )
    .argument('<original>', 'the TensorFlow model');
  withOptions(cmd, [
    new Option('-o, --out <dir>', 'output folder').makeOptionMandatory(),
    new Option('--shape <name:dims>', 'concrete shape for an input with unknown dims (repeatable)').argParser(repeated(String)),
    new Option('--signature <name>', 'SavedModel signature (default serving_default)'),
    new Option('--outputs <a,b>', "lift up to these tensors instead of the graph's outputs").argParser(list),
    new Option('--name <name>', 'Keras model name'),
    new Option('--seeds <n>', 'seeded input draws in the proof').argParser(integer('seeds', 1)).default(3),
    new Option('--atol <x>', "proof tolerance (compare's default otherwise)").argParser(nonNegative('atol')),
    new Option('--rtol <x>', "proof tolerance (compare's default otherwise)").argParser(nonNegative('rtol')),
    new Option('--no-proof', 'write the model without proving it'),
  ]);
  return cmd.action(action(liftCommand));
}

async function liftCommand(original: string, f: Flags): Promise<number> {
  const shapes: Record<string, number[]> = {};
  for (const s of f.shape ?? []) for (const spec of parseShapeArg(s)) if (spec.shape) shapes[spec.name] = spec.shape;
  // Loaded here, not with the CLI: lift writes HDF5 (h5wasm), which no other command needs.
  const { lift } = await import('../../lift/index.js');
  const res = await lift(original, {
    out: f.out,
    shapes,
    seeds: f.seeds,
    ...(f.signature ? { signature: f.signature } : {}),
    ...(f.outputs?.length ? { outputs: f.outputs } : {}),
    ...(f.name ? { name: f.name } : {}),
    ...(f.atol !== undefined ? { atol: f.atol } : {}),
    ...(f.rtol !== undefined ? { rtol: f.rtol } : {}),
    ...(f.proof === false ? { prove: false } : {}),
  });
  if (res.status === 'unliftable') {
    const n = res.unliftable.reduce((s, u) => s + u.nodes.length, 0);
    process.stderr.write(listing(`parity: error: ${original}: ${n} node(s) cannot be lifted to Keras:`, res.unliftable.map((u) => `${u.what}: ${u.nodes.join(', ')}`)) + '\n');
    return 2;
  }
  for (const [name, dims] of Object.entries(res.inferredShapes ?? {})) process.stdout.write(`parity: input '${name}' has an unknown rank; the ops reading it fix its shape: lifted and proven with --shape ${name}:${dims.join('x')}\n`);
  const what = `${res.counts.layers} stock layer(s)${res.counts.ops ? ` and ${res.counts.ops} keras.ops operation(s)` : ''}`;
  process.stdout.write(`parity: lifted ${original} to ${what}: ${res.files.slice(0, 3).join(', ')}\n`);
  if (res.proof) process.stdout.write(consoleReport(res.proof, { color: process.stdout.isTTY }));
  if (res.status === 'proven') process.stdout.write('parity: lift proven equivalent\n');
  if (res.status === 'unproven') process.stdout.write(`parity: lifted but NOT proven: the Keras runner cannot run the written model yet:\n${res.unproven}\n`);
  if (res.status === 'not-equivalent') process.stdout.write(`parity: the lifted model is NOT equivalent (a lift bug): see ${res.files.find((x) => x.endsWith('.html'))}\n`);
  return res.exitCode;
}

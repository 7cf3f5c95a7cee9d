import type { Command } from 'commander';
import { describeModel, formatDescription } from '../../formats/describe.js';
import { shapeToString } from '../../core/tensor.js';
import { initBackend } from '../../backend/index.js';
import { action } from '../command.js';
import { detectKind, loadModel } from '../../runners/index.js';
import { UnsupportedError } from '../../core/errors.js';

export function register(program: Command): Command {
  return program
    .command('inspect')
    .summary('show a model: inputs, outputs, ops, parameters, unsupported ops')
    .description(
      `Prints a model's inputs (dtype, shape with unknown dims as ?), outputs, op histogram, node and parameter counts, TF1 while loops (nested ones indented under the loop they run in), and every op tf-parity cannot execute yet with the nodes that use it. For a candidate (.keras, .h5, a tfjs layers model, .onnx, an .npz of activations): its inputs, outputs and what its runner warns of.`,
    )
    .argument('<model>', 'any model tf-parity reads')
    .option('--variables', "list every tensor of a TF1 checkpoint (name, dtype, shape, bytes), even without .meta")
    .option('--signature <name>', 'SavedModel signature (default serving_default)')
    .option('--json', 'the same as JSON')
    .action(action(inspect));
}

async function inspect(path: string, values: { variables?: boolean; signature?: string; json?: boolean }): Promise<number> {
  if (values.variables) {
    const { listCheckpointTensors } = await import('../../formats/checkpoint/index.js');
    const list = listCheckpointTensors(path);
    if (values.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    else {
      process.stdout.write(`${list.length} tensors in ${path}\n`);
      for (const t of list) process.stdout.write(`  ${t.name}  ${t.dtype}${shapeToString(t.shape)}  ${t.bytes} bytes\n`);
    }
    return 0;
  }
  const kind = detectKind(path);
  if (kind === 'keras' || kind === 'tfjs-layers' || kind === 'onnx' || kind === 'activations') return inspectCandidate(path, kind, values.json === true);
  const d = await describeModel(path, { signature: values.signature });
  process.stdout.write(values.json ? JSON.stringify(d, null, 2) + '\n' : formatDescription(d));
  return 0;
}

/** A candidate model: what its runner says of it (it loads as compare would load it). */
async function inspectCandidate(path: string, kind: string, json: boolean): Promise<number> {
  await initBackend('auto');
  let loaded: Awaited<ReturnType<typeof loadModel>>;
  try {
    loaded = await loadModel(path);
  } catch (e) {
    // A Keras model with layers tf-parity cannot run is still described, from its config.
    if (!(e instanceof UnsupportedError) || (kind !== 'keras' && kind !== 'tfjs-layers')) throw e;
    const { describeKerasModel, describeLines } = await import('../../runners/keras/describe.js');
    const d = await describeKerasModel(path);
    process.stdout.write((json ? JSON.stringify({ kind, ...d }, null, 2) : describeLines(d, kind).join('\n')) + '\n');
    return 0;
  }
  const { runner } = loaded;
  try {
    const facts = { kind, inputs: runner.inputs(), outputs: runner.outputs(), warnings: [...(runner.warnings ?? [])] };
    if (json) {
      process.stdout.write(JSON.stringify(facts, null, 2) + '\n');
      return 0;
    }
    const out = [`${path} (${kind})`, 'inputs:'];
    for (const s of facts.inputs) out.push(`  ${s.name}  ${s.dtype}${shapeToString(s.shape)}`);
    if (!facts.inputs.length) out.push('  (none)');
    out.push('outputs:');
    for (const o of facts.outputs) out.push(`  ${o}`);
    for (const w of facts.warnings) out.push(`warning: ${w}`);
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  } finally {
    runner.dispose();
  }
}

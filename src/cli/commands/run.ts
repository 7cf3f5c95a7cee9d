import type { Command } from 'commander';
import { Option } from 'commander';
import { feedsMaker, inputOverrides } from '../../api/feeds.js';
import { initBackend } from '../../backend/index.js';
import { tf } from '../../backend/tf.js';
import { hostToTf, tfToHost } from '../../backend/convert.js';
import { InputError } from '../../core/errors.js';
import type { HostTensor } from '../../core/tensor.js';
import { writeNpzFile } from '../../inputs/npz.js';
import { modelFileBytes } from '../../formats/files.js';
import { loadModel } from '../../runners/index.js';
import { action } from '../command.js';
import type { RunFlags } from '../options.js';
import { inputOptionsOf, list, printWarnings, progress, runOptions, withOptions } from '../options.js';
import { stripPort } from '../../core/names.js';

interface Flags extends RunFlags {
  saveActivations?: string;
  record?: string[];
  outputs?: string[];
  saveInputs?: string;
}

export function register(program: Command): Command {
  const cmd = program
    .command('run')
    .summary('run a model on seeded inputs, save every node output as .npz')
    .description(
      `Runs MODEL (.pb, .pbtxt, tfjs model.json, checkpoint, SavedModel, or any candidate kind) node by node on seeded inputs and prints its outputs.`,
    )
    .argument('<model>', 'any model tf-parity reads');
  withOptions(cmd, [
    new Option('--save-activations <file.npz>', "save every node's output (or those in --record) as .npz"),
    new Option('--record <a,b,c>', 'record only these nodes/tensors (name or name:1)').argParser(list),
    new Option('--outputs <a,b>', "compute these outputs instead of the model's own").argParser(list),
    new Option('--save-inputs <file.npz>', 'save the inputs used'),
    ...runOptions(),
  ]);
  return cmd.action(action(run));
}

async function run(path: string, values: Flags): Promise<number> {
  const info = await initBackend(values.backend ?? 'auto', { modelBytes: modelFileBytes(path) });
  const backend = info.name;
  const { seed, outputs, loopActivations } = values;
  const model = await loadModel(path, { signature: values.signature, outputs, feeds: inputOverrides(inputOptionsOf(values)), ...(loopActivations ? { loopActivations } : {}) });
  const runner = model.runner;
  const log = progress(values);
  for (const n of [...(info.note ? [info.note] : []), ...(model.graph?.notes ?? [])]) log(`note: ${n}`);
  try {
    const record = values.record;
    const { feeds, warnings } = feedsMaker(inputOptionsOf(values), runner.inputs(), model.graph, runner.inputHints?.())(0, seed);
    printWarnings(warnings);
    if (values.saveInputs) writeNpzFile(values.saveInputs, feeds);
    const tfFeeds = new Map<string, tf.Tensor>();
    for (const [k, v] of feeds) tfFeeds.set(k, hostToTf(v, `input '${k}'`));
    log(`running ${path} (${model.kind}) on ${backend}, seed ${seed}`);
    const saved = new Map<string, HostTensor>();
    const outs = new Set(runner.outputs().map((o) => stripPort(o)));
    const seen = new Set<string>();
    const t0 = performance.now();
    let count = 0;
    try {
      // Without --record or --save-activations only the outputs are printed: only they are fetched
      // (an ONNX model otherwise hands over every intermediate value).
      for await (const a of runner.run(tfFeeds, { record: record ?? (values.saveActivations ? 'all' : runner.outputs()) })) {
        count++;
        seen.add(a.name);
        try {
          if (values.saveActivations && (!record || record.includes(a.name) || record.includes(a.name + ':0'))) saved.set(a.name, tfToHost(a.tensor));
          // A signature's output by its key (`y`), as the model's users call it.
          if (outs.has(a.name)) process.stdout.write(outputLine(model.graph?.outputKeys?.[a.name] ?? a.name, tfToHost(a.tensor)));
        } finally {
          a.tensor.dispose();
        }
      }
    } finally {
      for (const t of tfFeeds.values()) t.dispose();
    }
    if (record) {
      const missing = record.filter((r) => !seen.has(r) && !seen.has(stripPort(r)));
      if (missing.length) throw new InputError(`--record: ${missing.join(', ')} not produced by ${path}`, { file: path });
    }
    log(`${count} activations in ${(performance.now() - t0).toFixed(0)} ms`);
    // The graph's notes were said at the start; a runner repeats them among its warnings.
    printWarnings((runner.warnings ?? []).filter((w) => !model.graph?.notes?.includes(w)));
    if (values.saveActivations) {
      writeNpzFile(values.saveActivations, saved);
      log(`wrote ${saved.size} arrays to ${values.saveActivations}`);
    }
    return 0;
  } finally {
    runner.dispose();
  }
}

/**
 * One output as the run prints it: its TF dtype, shape, range of its finite values, first
 * elements (strings quoted, 64-bit integers exact).
 */
export function outputLine(name: string, h: HostTensor): string {
  const head = `${name}: ${h.dtype}[${h.shape.join(',')}]`;
  if (h.dtype === 'string') {
    const s = h.data as Uint8Array[];
    const first = s.slice(0, 6).map((b) => JSON.stringify(new TextDecoder().decode(b)));
    return `${head} first [${first.join(', ')}${s.length > 6 ? ', …' : ''}]\n`;
  }
  if (h.data instanceof BigInt64Array || h.data instanceof BigUint64Array) {
    const d = h.data;
    let min: bigint | undefined;
    let max: bigint | undefined;
    for (const v of d) {
      if (min === undefined || v < min) min = v;
      if (max === undefined || v > max) max = v;
    }
    const first = Array.from(d.subarray(0, 6), String);
    return `${head} ${d.length ? `min ${min} max ${max}` : 'empty'} first [${first.join(', ')}${d.length > 6 ? ', …' : ''}]\n`;
  }
  const data = h.data as ArrayLike<number>;
  // A loop, not Math.min(...data): spreading more than ~120k arguments overflows the stack.
  let min = Infinity;
  let max = -Infinity;
  let nonFinite = 0;
  for (let i = 0; i < data.length; i++) {
    const x = Number(data[i]);
    if (!Number.isFinite(x)) {
      nonFinite++;
      continue;
    }
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const range = nonFinite === data.length ? (data.length ? 'no finite values' : 'empty') : `min ${fmt(min)} max ${fmt(max)}`;
  const first = Array.from({ length: Math.min(6, data.length) }, (_, i) => fmt(Number(data[i])));
  return `${head} ${range}${nonFinite && nonFinite < data.length ? ` (${nonFinite} NaN/Inf)` : ''} first [${first.join(', ')}${data.length > 6 ? ', …' : ''}]\n`;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : String(Number(x.toPrecision(5)));
}

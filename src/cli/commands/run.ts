import { tf } from '../../backend/tf.js';
import { hostToTf, tfToHost } from '../../backend/convert.js';
import { InputError } from '../../core/errors.js';
import type { HostTensor } from '../../core/tensor.js';
import { writeNpzFile } from '../../inputs/npz.js';
import { loadModel } from '../../runners/index.js';
import type { Command } from '../main.js';
import { RUN_OPTIONS, RUN_OPTIONS_USAGE, feedsMaker, intOption, log, loopActivationsOption, parse, setupBackend } from '../common.js';

const usage = `usage: parity run MODEL [options]

Runs MODEL (.pb, .pbtxt, tfjs model.json, checkpoint, SavedModel, or any candidate kind) node by
node on seeded inputs and prints its outputs.

  --save-activations FILE.npz  save every node's output (or those in --record) as .npz
  --record a,b,c               record only these nodes/tensors (name or name:1)
  --outputs a,b                compute these outputs instead of the model's own
  --save-inputs FILE.npz       save the inputs used
${RUN_OPTIONS_USAGE}`;

export const command: Command = {
  summary: 'run a model on seeded inputs, save every node output as .npz',
  usage,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      { ...RUN_OPTIONS, 'save-activations': { type: 'string' }, record: { type: 'string' }, outputs: { type: 'string' }, 'save-inputs': { type: 'string' } },
      { min: 1, max: 1, usage },
    );
    const path = positionals[0]!;
    const backend = await setupBackend(values);
    const seed = intOption(values.seed, 'seed', 0);
    const outputs = values.outputs ? String(values.outputs).split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    const loopActivations = loopActivationsOption(values);
    const model = await loadModel(path, { signature: values.signature as string | undefined, outputs, ...(loopActivations ? { loopActivations } : {}) });
    const runner = model.runner;
    try {
      const record = values.record ? String(values.record).split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      const { feeds } = feedsMaker(values, runner.inputs(), model.graph)(0, seed);
      if (values['save-inputs']) writeNpzFile(values['save-inputs'] as string, feeds);
      const tfFeeds = new Map<string, tf.Tensor>();
      for (const [k, v] of feeds) tfFeeds.set(k, hostToTf(v, `input '${k}'`));
      log(values, `parity: running ${path} (${model.kind}) on ${backend}, seed ${seed}`);
      const saved = new Map<string, HostTensor>();
      const outs = new Set(runner.outputs().map((o) => o.replace(/:0$/, '')));
      const seen = new Set<string>();
      const t0 = performance.now();
      let count = 0;
      try {
        // Without --record or --save-activations only the outputs are printed: only they are fetched
        // (an ONNX model otherwise hands over every intermediate value).
        for await (const a of runner.run(tfFeeds, { record: record ?? (values['save-activations'] ? 'all' : runner.outputs()) })) {
          count++;
          seen.add(a.name);
          try {
            if (values['save-activations'] && (!record || record.includes(a.name) || record.includes(a.name + ':0'))) saved.set(a.name, tfToHost(a.tensor));
            if (outs.has(a.name)) process.stdout.write(outputLine(a.name, tfToHost(a.tensor)));
          } finally {
            a.tensor.dispose();
          }
        }
      } finally {
        for (const t of tfFeeds.values()) t.dispose();
      }
      if (record) {
        const missing = record.filter((r) => !seen.has(r) && !seen.has(r.replace(/:0$/, '')));
        if (missing.length) throw new InputError(`--record: ${missing.join(', ')} not produced by ${path}`, { file: path });
      }
      log(values, `parity: ${count} activations in ${(performance.now() - t0).toFixed(0)} ms`);
      for (const w of runner.warnings ?? []) process.stderr.write(`parity: warning: ${w}\n`);
      if (values['save-activations']) {
        writeNpzFile(values['save-activations'] as string, saved);
        log(values, `parity: wrote ${saved.size} arrays to ${values['save-activations']}`);
      }
      return 0;
    } finally {
      runner.dispose();
    }
  },
};

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

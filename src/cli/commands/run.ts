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
        for await (const a of runner.run(tfFeeds, { record: record ?? 'all' })) {
          count++;
          seen.add(a.name);
          try {
            if (values['save-activations'] && (!record || record.includes(a.name) || record.includes(a.name + ':0'))) saved.set(a.name, tfToHost(a.tensor));
            if (outs.has(a.name)) {
              const h = a.tensor;
              const data = h.dtype === 'string' ? [] : Array.from(h.dataSync() as ArrayLike<number>);
              const finite = data.filter((x) => Number.isFinite(x));
              const min = finite.length ? Math.min(...finite.slice(0, 1e6)) : NaN;
              const max = finite.length ? Math.max(...finite.slice(0, 1e6)) : NaN;
              process.stdout.write(
                `${a.name}: ${h.dtype}[${h.shape.join(',')}] min ${fmt(min)} max ${fmt(max)} first [${data.slice(0, 6).map(fmt).join(', ')}${data.length > 6 ? ', …' : ''}]\n`,
              );
            }
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

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : String(Number(x.toPrecision(5)));
}

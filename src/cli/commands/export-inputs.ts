import { writeFileAtomic } from '../../core/write.js';
import { InputError } from '../../core/errors.js';
import { writeNpzFile } from '../../inputs/npz.js';
import { pythonSnippet } from '../../runners/activations.js';
import { loadModel } from '../../runners/index.js';
import type { Command } from '../main.js';
import { RUN_OPTIONS, RUN_OPTIONS_USAGE, feedsMaker, inputOverrides, intOption, parse, setupBackend } from '../common.js';

const usage = `usage: parity export-inputs ORIGINAL -o FEEDS.npz [--script run_keras.py] [--keras-model MODEL.keras] [options]

Writes the seeded inputs tf-parity feeds ORIGINAL (the same ones 'parity compare' uses for
the same seed and input options) as .npz, and optionally a short Python script that runs a
Keras model on them and saves every layer's output as .npz, for 'parity compare ORIGINAL
activations.npz' against real Keras numerics.
${RUN_OPTIONS_USAGE}`;

export const command: Command = {
  summary: 'write the seeded inputs as .npz (+ a Python snippet to dump real Keras activations)',
  usage,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      { ...RUN_OPTIONS, output: { type: 'string', short: 'o' }, script: { type: 'string' }, 'keras-model': { type: 'string' }, 'activations-out': { type: 'string' } },
      { min: 1, max: 1, usage },
    );
    if (!values.output) throw new InputError(`-o FEEDS.npz is required\n${usage}`, { multiline: true });
    await setupBackend(values);
    const model = await loadModel(positionals[0]!, { signature: values.signature as string | undefined, feeds: inputOverrides(values) });
    try {
      const seed = intOption(values.seed, 'seed', 0);
      const { feeds } = feedsMaker(values, model.runner.inputs(), model.graph)(0, seed);
      writeNpzFile(values.output as string, feeds);
      process.stdout.write(`wrote ${feeds.size} input(s) (${[...feeds].map(([k, v]) => `${k} ${v.dtype}[${v.shape.join(',')}]`).join(', ')}) to ${values.output}\n`);
      if (values.script) {
        const script = pythonSnippet({
          inputsNpz: values.output as string,
          modelPath: (values['keras-model'] as string | undefined) ?? 'model.keras',
          outNpz: (values['activations-out'] as string | undefined) ?? 'activations.npz',
        });
        writeFileAtomic(values.script as string, script);
        process.stdout.write(`wrote ${values.script}: run it with Python + Keras, then 'parity compare ${positionals[0]} ${(values['activations-out'] as string | undefined) ?? 'activations.npz'}'\n`);
      }
      return 0;
    } finally {
      model.runner.dispose();
    }
  },
};

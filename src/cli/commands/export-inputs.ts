import type { Command } from 'commander';
import { Option } from 'commander';
import { feedsMaker, inputOverrides } from '../../api/feeds.js';
import { initBackend } from '../../backend/index.js';
import { writeFileAtomic } from '../../core/write.js';
import { writeNpzFile } from '../../inputs/npz.js';
import { pythonSnippet } from '../../runners/activations.js';
import { loadModel } from '../../runners/index.js';
import { action } from '../command.js';
import type { RunFlags } from '../options.js';
import { inputOptionsOf, printWarnings, runOptions, withOptions } from '../options.js';

interface Flags extends RunFlags {
  output: string;
  script?: string;
  kerasModel?: string;
  activationsOut?: string;
}

export function register(program: Command): Command {
  const cmd = program
    .command('export-inputs')
    .summary('write the seeded inputs as .npz (+ a Python snippet to dump real Keras activations)')
    .description(
      `Writes the seeded inputs tf-parity feeds ORIGINAL (the same ones 'parity compare' uses for the same seed and input options) as .npz, and optionally a short Python script that runs a Keras model on them and saves every layer's output as .npz, for 'parity compare ORIGINAL activations.npz' against real Keras numerics.`,
    )
    .argument('<original>', 'the TensorFlow model whose inputs to write');
  withOptions(cmd, [
    new Option('-o, --output <feeds.npz>', 'where to write the inputs').makeOptionMandatory(),
    new Option('--script <run.py>', 'also write a Python script that dumps every layer of a Keras model on these inputs'),
    new Option('--keras-model <file>', 'the Keras model the script loads (default model.keras)'),
    new Option('--activations-out <file>', 'where the script saves the activations (default activations.npz)'),
    ...runOptions(),
  ]);
  return cmd.action(
    action(async (original: string, f: Flags) => {
      await initBackend(f.backend ?? 'auto');
      const model = await loadModel(original, { signature: f.signature, feeds: inputOverrides(inputOptionsOf(f)) });
      try {
        const { feeds, warnings } = feedsMaker(inputOptionsOf(f), model.runner.inputs(), model.graph, model.runner.inputHints?.())(0, f.seed);
        printWarnings(warnings);
        writeNpzFile(f.output, feeds);
        process.stdout.write(`wrote ${feeds.size} input(s) (${[...feeds].map(([k, v]) => `${k} ${v.dtype}[${v.shape.join(',')}]`).join(', ')}) to ${f.output}\n`);
        if (f.script) {
          const activations = f.activationsOut ?? 'activations.npz';
          writeFileAtomic(f.script, pythonSnippet({ inputsNpz: f.output, modelPath: f.kerasModel ?? 'model.keras', outNpz: activations }));
          process.stdout.write(`wrote ${f.script}: run it with Python + Keras, then 'parity compare ${original} ${activations}'\n`);
        }
        return 0;
      } finally {
        model.runner.dispose();
      }
    }),
  );
}

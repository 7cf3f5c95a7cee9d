import type { Command } from 'commander';
import { Option } from 'commander';
import { compare } from '../../index.js';
import { checkWritable } from '../../core/write.js';
import { consoleReport } from '../../report/console.js';
import { writeReports } from '../../report/index.js';
import { action } from '../command.js';
import type { CompareFlags } from '../options.js';
import { compareOptions, compareOptionsOf, withOptions } from '../options.js';

interface Flags extends CompareFlags {
  json?: string;
  html?: string;
  junit?: string;
  markdown?: string;
}

export function register(program: Command): Command {
  const cmd = program
    .command('compare')
    .summary('compare an original TF model with its conversion, layer by layer')
    .description(
      `Runs ORIGINAL in the reference interpreter and CANDIDATE on the same seeded inputs, pairs their layers, and reports whether they are equivalent, where they first diverge, and how much of that error is the layer's own.

Exit code: 0 equivalent, 1 not equivalent, 2 usage or input error.`,
    )
    .argument('<original>', 'the TensorFlow model: frozen .pb/.pbtxt, checkpoint, SavedModel, tfjs graph model')
    .argument('<candidate>', 'its conversion: .keras, .h5, tfjs model.json, .onnx, .npz of activations, or a graph');
  withOptions(cmd, [
    ...compareOptions(),
    new Option('--json <file>', 'write the Result as JSON (schema/result.schema.json)'),
    new Option('--html <file>', 'write an HTML report'),
    new Option('--junit <file>', 'write a JUnit XML report'),
    new Option('--markdown <file>', 'write a Markdown report'),
  ]);
  return cmd.action(
    action(async (original: string, candidate: string, f: Flags) => {
      const targets = { json: f.json, html: f.html, junit: f.junit, markdown: f.markdown };
      // Before the models run: a report that cannot be written fails at once.
      for (const t of Object.values(targets)) if (t) checkWritable(t);
      const result = await compare(original, candidate, compareOptionsOf(f));
      process.stdout.write(consoleReport(result, { color: process.stdout.isTTY }));
      await writeReports(result, targets);
      return result.verdict === 'equivalent' ? 0 : result.verdict === 'not-equivalent' ? 1 : 2;
    }),
  );
}

/**
 * Programmatic API of tf-parity.
 *
 *   import { compare } from 'tf-parity';
 *   const result = await compare('model.pb', 'model.keras', { atol: 1e-4 });
 *   if (result.verdict !== 'equivalent') console.log(result.summary);
 */
import { runCompare } from './cli/commands/compare.js';
import type { CompareOptions } from './cli/api-options.js';
import { toCliValues } from './cli/api-options.js';
import type { Result } from './compare/result.js';

export type { Result, PairResult, Verdict, Tolerance } from './compare/result.js';
export type { Alignment, AlignedPair } from './compare/align/index.js';
export type { Runner, Activation, Feeds } from './core/runner.js';
export { ParityError, FormatError, InputError, UnsupportedError, ExecutionError, LimitError } from './core/errors.js';
export { loadModel } from './runners/index.js';
export { loadGraph } from './formats/index.js';
export { Interpreter } from './interpreter/interpreter.js';
export { compareRunners } from './compare/pipeline.js';
export { consoleReport } from './report/console.js';
export { writeReports, jsonReport } from './report/index.js';

export type { CompareOptions } from './cli/api-options.js';
export { toCliValues } from './cli/api-options.js';

/** Compares an original TensorFlow model with its conversion. Never throws for a model that merely differs. */
export async function compare(original: string, candidate: string, options: CompareOptions = {}): Promise<Result> {
  return runCompare(original, candidate, toCliValues(options));
}

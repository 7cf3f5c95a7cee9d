/**
 * Programmatic API of tf-parity; the `parity` command line is built on it.
 *
 *   import { compare } from 'tf-parity';
 *   const result = await compare('model.pb', 'model.keras', { atol: 1e-4 });
 *   if (result.verdict !== 'equivalent') console.log(result.summary);
 */
export { compare } from './api/compare.js';
export type { CompareOptions } from './api/compare.js';
export type { InputOptions } from './api/feeds.js';

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

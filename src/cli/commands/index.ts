import type { Register } from '../command.js';
import { register as align } from './align.js';
import { register as compare } from './compare.js';
import { register as exportInputs } from './export-inputs.js';
import { register as inspect } from './inspect.js';
import { register as lift } from './lift.js';
import { register as mergeReports } from './merge-reports.js';
import { register as run } from './run.js';
import { register as suite } from './suite.js';

/**
 * Every command of `parity`, in the order `parity --help` lists them. A new command is a module
 * here exporting `register(program)` (see compare.ts), and one line in this list.
 */
export const COMMANDS: Register[] = [inspect, run, compare, align, lift, exportInputs, suite, mergeReports];

import { Command, CommanderError } from 'commander';
import { ParityError, errorMessage } from '../core/errors.js';
import { VERSION } from '../version.js';
import { exitCodeOf } from './command.js';
import { COMMANDS } from './commands/index.js';

/** The `parity` program: every command of commands/index.ts, errors thrown to main(). */
export function program(): Command {
  const p = new Command('parity')
    .description('Numerical equivalence tests for hand-converted TensorFlow models.')
    .version(VERSION, '-v, --version', 'print the version')
    .exitOverride()
    // main() prints commander's errors itself, on one line.
    .configureOutput({ outputError: () => {} })
    .addHelpText('after', "\nExit codes: 0 equivalent (or done), 1 not equivalent, 2 usage or input error.\nRun 'parity <command> --help' for its options.");
  for (const register of COMMANDS) register(p);
  return p;
}

/** Runs the CLI; returns the exit code (0 ok/equivalent, 1 not equivalent, 2 usage or input error). */
export async function main(argv: string[]): Promise<number> {
  const p = program();
  if (!argv.length) {
    process.stderr.write(p.helpInformation());
    return 2;
  }
  let command = '';
  p.hook('preSubcommand', (_, sub) => {
    command = sub.name();
  });
  try {
    await p.parseAsync(argv, { from: 'user' });
    return exitCodeOf(p);
  } catch (e) {
    if (e instanceof CommanderError) return usageError(e, command);
    return reportError(e);
  }
}

/** commander's message (which may say "Did you mean …?" on a second line) on one line; help and --version are no errors. */
function usageError(e: CommanderError, command: string): number {
  if (e.exitCode === 0) return 0;
  const message = e.message
    .replace(/^error: /, '')
    .replace(/\.?\s*\n\s*\(Did you mean (.*)\)\s*$/, '; did you mean $1')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  process.stderr.write(`parity: error: ${message} (see 'parity ${command ? `${command} ` : ''}--help')\n`);
  return 2;
}

/** User-caused errors print one clear message, no stack; anything else is a bug and shows its stack. */
export function reportError(e: unknown): number {
  if (e instanceof ParityError) {
    process.stderr.write(`parity: error: ${e.message}\n`);
    return 2;
  }
  const err = e as NodeJS.ErrnoException;
  if (err && (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR' || err.code === 'ENOTDIR')) {
    process.stderr.write(`parity: error: ${errorMessage(e)}\n`);
    return 2;
  }
  process.stderr.write(`parity: internal error (please report): ${e instanceof Error ? e.stack : String(e)}\n`);
  return 3;
}

import { ParityError, errorMessage } from '../core/errors.js';

/** A CLI command: parses its own arguments and returns the exit code. */
export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** Commands are loaded lazily so `parity --help` stays fast and a broken one does not break the others. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import('./commands/inspect.js')).command,
  run: async () => (await import('./commands/run.js')).command,
  compare: async () => (await import('./commands/compare.js')).command,
  align: async () => (await import('./commands/align.js')).command,
  suite: async () => (await import('./commands/suite.js')).command,
  'merge-reports': async () => (await import('./commands/merge-reports.js')).command,
  'export-inputs': async () => (await import('./commands/export-inputs.js')).command,
  lift: async () => (await import('./commands/lift.js')).command,
};

export function registerCommandLoader(name: string, load: () => Promise<Command>): void {
  COMMANDS[name] = load;
}

async function help(): Promise<string> {
  const lines = ['usage: parity <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    try {
      lines.push(`  ${name.padEnd(16)} ${(await load()).summary}`);
    } catch {
      lines.push(`  ${name}`);
    }
  }
  lines.push('', 'Run `parity <command> --help` for its options.');
  return lines.join('\n');
}

/** Runs the CLI; returns the exit code (0 ok/equivalent, 1 not equivalent, 2 usage or input error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write((await help()) + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    const { VERSION } = await import('../version.js');
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`parity: unknown command '${name}'\n${await help()}\n`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.summary}\n\n${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    return reportError(e);
  }
}

/** User-caused errors print one clear message, no stack; anything else is a bug and shows its stack. */
export function reportError(e: unknown): number {
  if (e instanceof ParityError) {
    process.stderr.write(`parity: error: ${e.message}\n`);
    return 2;
  }
  if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`parity: ${e.message}\n`);
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

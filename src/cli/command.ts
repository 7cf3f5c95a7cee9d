import type { Command } from 'commander';

/**
 * What every module in commands/ exports: `register(program)` adds its command to the program
 * (`program.command(NAME)`, so it inherits the program's error handling) with its arguments,
 * options and action, and returns it.
 */
export type Register = (program: Command) => Command;

const exitCodes = new WeakMap<Command, number>();

/**
 * A command's action: the body gets commander's arguments (positionals, then the parsed options)
 * and returns the exit code (0 ok or equivalent, 1 not equivalent, 2 usage or input error).
 */
export function action<A extends unknown[]>(body: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async function (this: Command, ...args: A): Promise<void> {
    let root: Command = this;
    while (root.parent) root = root.parent;
    exitCodes.set(root, await body(...args));
  };
}

/** The exit code the action run by `program` returned (0 when none ran, e.g. `--help`). */
export function exitCodeOf(program: Command): number {
  return exitCodes.get(program) ?? 0;
}

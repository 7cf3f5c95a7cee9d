/**
 * Errors a user can cause (bad file, unknown op, shape mismatch, missing weight).
 * The CLI prints `message` alone (no stack) and exits with code 2.
 * Messages name the file, the node or layer, what was expected and what was found.
 */
export class ParityError extends Error {
  /** Short machine-readable category, e.g. 'format', 'unsupported-op', 'input'. */
  readonly code: string;
  /** File the error is about, when there is one. */
  readonly file?: string;
  /** Node or layer the error is about, when there is one. */
  readonly node?: string;

  constructor(message: string, opts: { code?: string; file?: string; node?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = opts.code ?? 'parity';
    this.file = opts.file;
    this.node = opts.node;
  }
}

/** A file could not be decoded: truncated, corrupt, wrong format, limits exceeded. */
export class FormatError extends ParityError {
  constructor(message: string, opts: { file?: string; node?: string; cause?: unknown } = {}) {
    super(message, { ...opts, code: 'format' });
  }
}

/** One or more ops/layers cannot be executed. Lists all of them at once. */
export class UnsupportedError extends ParityError {
  readonly items: { op: string; nodes: string[] }[];
  constructor(message: string, items: { op: string; nodes: string[] }[], opts: { file?: string } = {}) {
    super(message, { ...opts, code: 'unsupported' });
    this.items = items;
  }
}

/** Inputs/feeds/CLI arguments that do not fit the model. */
export class InputError extends ParityError {
  constructor(message: string, opts: { file?: string; node?: string; cause?: unknown } = {}) {
    super(message, { ...opts, code: 'input' });
  }
}

/** An op failed while executing (shape that cannot match, bad attribute value, ...). */
export class ExecutionError extends ParityError {
  constructor(message: string, opts: { file?: string; node?: string; cause?: unknown } = {}) {
    super(message, { ...opts, code: 'execution' });
  }
}

/** A configured limit (memory budget, recursion depth, size ratio) would be exceeded. */
export class LimitError extends ParityError {
  constructor(message: string, opts: { file?: string; node?: string } = {}) {
    super(message, { ...opts, code: 'limit' });
  }
}

export function isParityError(e: unknown): e is ParityError {
  return e instanceof ParityError;
}

/** Message of any thrown value, for wrapping foreign errors into ParityErrors. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Options every ParityError takes. */
export interface ParityErrorOptions {
  file?: string;
  node?: string;
  cause?: unknown;
  /**
   * The message is deliberately several lines: a complete one-line summary, then a listing (the
   * unsupported ops, one line per op type) or a command's usage. Otherwise line breaks and other
   * control characters in it (names and text taken from a damaged or hostile file) are escaped.
   */
  multiline?: boolean;
}

/** Line breaks and other control characters shown as escapes (`\n`, `\x1b`), so text from a file stays on one line and cannot drive a terminal. */
export function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Errors a user can cause (bad file, unknown op, shape mismatch, missing weight).
 * The CLI prints `message` alone (no stack) and exits with code 2.
 * Messages name the file, the node or layer, what was expected and what was found, on one line
 * (unless `multiline`: see ParityErrorOptions).
 */
export class ParityError extends Error {
  /** Short machine-readable category, e.g. 'format', 'unsupported-op', 'input'. */
  readonly code: string;
  /** File the error is about, when there is one. */
  readonly file?: string;
  /** Node or layer the error is about, when there is one. */
  readonly node?: string;

  constructor(message: string, opts: ParityErrorOptions & { code?: string } = {}) {
    super(opts.multiline ? message : oneLine(message), opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = opts.code ?? 'parity';
    this.file = opts.file;
    this.node = opts.node;
  }
}

/** A file could not be decoded: truncated, corrupt, wrong format, limits exceeded. */
export class FormatError extends ParityError {
  constructor(message: string, opts: ParityErrorOptions = {}) {
    super(message, { ...opts, code: 'format' });
  }
}

/** One or more ops/layers cannot be executed. Lists all of them at once. */
export class UnsupportedError extends ParityError {
  readonly items: { op: string; nodes: string[] }[];
  constructor(message: string, items: { op: string; nodes: string[] }[], opts: { file?: string; multiline?: boolean } = {}) {
    super(message, { ...opts, code: 'unsupported' });
    this.items = items;
  }
}

/** Inputs/feeds/CLI arguments that do not fit the model. */
export class InputError extends ParityError {
  constructor(message: string, opts: ParityErrorOptions = {}) {
    super(message, { ...opts, code: 'input' });
  }
}

/** An op failed while executing (shape that cannot match, bad attribute value, ...). */
export class ExecutionError extends ParityError {
  constructor(message: string, opts: ParityErrorOptions = {}) {
    super(message, { ...opts, code: 'execution' });
  }
}

/** A configured limit (memory budget, recursion depth, size ratio) would be exceeded. */
export class LimitError extends ParityError {
  constructor(message: string, opts: { file?: string; node?: string } = {}) {
    super(message, { ...opts, code: 'limit' });
  }
}

/**
 * Message of any thrown value, for wrapping foreign errors into ParityErrors (as it is: callers
 * pick lines out of HDF5 and onnxruntime messages; the ParityError keeps it on one line).
 */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** A summary line and a listing under it (one line per entry, indented), each entry on one line. */
export function listing(summary: string, entries: string[]): string {
  return [oneLine(summary), ...entries.map((e) => `  ${oneLine(e)}`)].join('\n');
}

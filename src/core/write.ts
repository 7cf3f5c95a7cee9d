import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError, errorMessage } from './errors.js';

/**
 * Writes a file atomically (a temp file beside it, then a rename), so a reader (a CI artifact
 * upload, a report viewer) never sees it half written. Missing parent folders are made, as a
 * user writing `--html reports/x.html` in a fresh clone expects. Any failure is an InputError
 * naming the path, and leaves no temp file behind.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    checkWritable(path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* never made (its folder could not be) */
    }
    if (e instanceof InputError) throw e;
    throw new InputError(`${path} cannot be written: ${errorMessage(e)}`, { file: path, cause: e });
  }
}

/**
 * Throws when `path` can be seen now not to take a file (it is a folder): a command checks its
 * output paths before it runs models for minutes, then fails at the end.
 */
export function checkWritable(path: string): void {
  if (isDirectory(path)) throw new InputError(`${path} cannot be written: it is a directory (give a file name)`, { file: path });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

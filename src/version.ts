import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tf-parity' && pkg.version) return pkg.version;
    } catch {
      /* try the next location (src/ vs dist/src/) */
    }
  }
  return '0.0.0';
}

/** tf-parity's version, from package.json. */
export const VERSION = readVersion();

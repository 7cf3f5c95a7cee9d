/**
 * Runs one case in its own process, so a crash, a hang or running out of memory costs that
 * case only. Usage (by the suite runner): worker CASE_FILE OUT_DIR [BACKEND]
 * Writes OUT_DIR/result.json (+ report.html, junit.xml) and exits 0; anything else is an error.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { compare } from '../src/api/compare.js';
import type { BackendName } from '../src/backend/index.js';
import { ParityError } from '../src/core/errors.js';
import { jsonReport, writeAtomic, writeReports } from '../src/report/index.js';
import { caseOptions, readCase } from './case.js';

async function main(): Promise<number> {
  const [file, out, backend] = process.argv.slice(2);
  if (!file || !out) {
    process.stderr.write('usage: worker CASE_FILE OUT_DIR [BACKEND]\n');
    return 2;
  }
  mkdirSync(out, { recursive: true });
  const spec = readCase(file);
  if (spec.simulate === 'crash') throw new Error('simulated crash');
  if (spec.simulate === 'hang') await new Promise(() => setInterval(() => {}, 1000));
  if (spec.simulate === 'oom') {
    const hog: Float64Array[] = [];
    for (;;) hog.push(new Float64Array(32 * 1024 * 1024));
  }
  const options = caseOptions(spec);
  if (backend) options.backend = backend as BackendName;
  const result = await compare(spec.original, spec.candidate, options);
  await writeReports(result, { html: join(out, 'report.html'), junit: join(out, 'junit.xml') });
  writeAtomic(join(out, 'result.json'), jsonReport(result));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // A ParityError is the case's own problem (bad path, bad model): one line, exit 2.
    if (e instanceof ParityError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(3);
  },
);

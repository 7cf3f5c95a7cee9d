/**
 * Runs tasks side by side within a count and a memory budget: task i starts once fewer than
 * `jobs` run and its memory fits beside theirs (or nothing else runs, so that a task larger
 * than the budget still runs, alone). Tasks start in order; none is skipped ahead of one that
 * waits, so the order in which they start does not depend on their sizes.
 */
export interface ScheduleOptions {
  jobs: number;
  budgetMb: number;
  signal?: AbortSignal;
}

export interface Task {
  /** Memory the task may need (MB). */
  needMb: number;
  run(): Promise<void>;
}

/** Starts each task produced by `next` (undefined: a task with nothing to run), in order; resolves when all have ended. */
export async function schedule(count: number, next: (i: number) => Task | undefined, opts: ScheduleOptions): Promise<void> {
  const running = new Set<Promise<void>>();
  let reservedMb = 0;
  for (let i = 0; i < count && !opts.signal?.aborted; i++) {
    const task = next(i);
    if (!task) continue;
    while (running.size >= opts.jobs || (running.size > 0 && reservedMb + task.needMb > opts.budgetMb)) await Promise.race(running);
    if (opts.signal?.aborted) break;
    reservedMb += task.needMb;
    const p: Promise<void> = task.run().finally(() => {
      reservedMb -= task.needMb;
      running.delete(p);
    });
    running.add(p);
  }
  await Promise.all(running);
}

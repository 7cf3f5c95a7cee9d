import { describe, expect, it } from 'vitest';
import { schedule } from '../../harness/schedule.js';
import { parseShard, inShard, shardFromEnv } from '../../harness/suite.js';

/** Tasks that end when the test says so, recording how many ran at once and how much memory. */
function tasks(needs: number[]) {
  const log: string[] = [];
  const enders: (() => void)[] = [];
  let running = 0;
  let mb = 0;
  const peak = { running: 0, mb: 0 };
  const next = (i: number) => ({
    needMb: needs[i]!,
    run: () =>
      new Promise<void>((resolve) => {
        running++;
        mb += needs[i]!;
        peak.running = Math.max(peak.running, running);
        peak.mb = Math.max(peak.mb, mb);
        log.push(`start ${i}`);
        enders[i] = () => {
          running--;
          mb -= needs[i]!;
          log.push(`end ${i}`);
          resolve();
        };
      }),
  });
  return { log, enders, peak, next };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('schedule', () => {
  it('runs at most `jobs` tasks at once, in order', async () => {
    const t = tasks([1, 1, 1, 1, 1]);
    const all = schedule(5, t.next, { jobs: 2, budgetMb: 100 });
    await tick();
    expect(t.log).toEqual(['start 0', 'start 1']);
    t.enders[1]!();
    await tick();
    expect(t.log.slice(2)).toEqual(['end 1', 'start 2']);
    for (const i of [0, 2]) t.enders[i]!();
    await tick();
    for (const i of [3, 4]) t.enders[i]!();
    await all;
    expect(t.peak.running).toBe(2);
  });

  it('a task whose memory does not fit waits; one larger than the budget runs alone', async () => {
    const t = tasks([60, 30, 50, 500, 10]);
    const all = schedule(5, t.next, { jobs: 4, budgetMb: 100 });
    await tick();
    // 60 + 30 fit; 50 more would not: it waits, and so does everything after it.
    expect(t.log).toEqual(['start 0', 'start 1']);
    t.enders[0]!();
    await tick();
    expect(t.log.slice(2)).toEqual(['end 0', 'start 2']);
    t.enders[1]!();
    t.enders[2]!();
    await tick();
    await tick();
    // 500 MB is over the budget: it runs once nothing else does, alone.
    expect(t.log.slice(-1)).toEqual(['start 3']);
    t.enders[3]!();
    await tick();
    await tick();
    expect(t.log.slice(-1)).toEqual(['start 4']);
    t.enders[4]!();
    await all;
    expect(t.peak.mb).toBe(500);
    expect(t.peak.running).toBe(2);
  });

  it('a task with nothing to run is passed over; an abort starts nothing more', async () => {
    const t = tasks([1, 1, 1]);
    const ac = new AbortController();
    const all = schedule(3, (i) => (i === 0 ? undefined : t.next(i)), { jobs: 1, budgetMb: 10, signal: ac.signal });
    await tick();
    expect(t.log).toEqual(['start 1']);
    ac.abort();
    t.enders[1]!();
    await all;
    expect(t.log).toEqual(['start 1', 'end 1']);
  });
});

describe('--shard auto', () => {
  const files = Array.from({ length: 40 }, (_, i) => `case-${i}.yaml`);
  /** Every job of an N-way parallel run, from its CI's variables: each case in exactly one shard. */
  const covers = (envs: NodeJS.ProcessEnv[], spec = 'auto') => {
    const shards = envs.map((env) => parseShard(spec, env));
    const owners = files.map((f) => shards.filter((s) => inShard(f, s)).length);
    expect(owners.every((n) => n === 1)).toBe(true);
    return shards;
  };

  it('GitHub Actions (the README job sets PARITY_SHARD_INDEX/COUNT from strategy.job-index/job-total), 0-based', () => {
    const s = covers([0, 1, 2].map((i) => ({ GITHUB_ACTIONS: 'true', PARITY_SHARD_INDEX: String(i), PARITY_SHARD_COUNT: '3' })));
    expect(s).toEqual([1, 2, 3].map((index) => ({ index, count: 3 })));
  });

  it('GitLab parallel: CI_NODE_INDEX is 1-based', () => {
    const s = covers([1, 2, 3, 4].map((i) => ({ CI_NODE_INDEX: String(i), CI_NODE_TOTAL: '4' })));
    expect(s.map((x) => x.index)).toEqual([1, 2, 3, 4]);
  });

  it('Buildkite parallelism: BUILDKITE_PARALLEL_JOB is 0-based', () => {
    const s = covers([0, 1].map((i) => ({ BUILDKITE_PARALLEL_JOB: String(i), BUILDKITE_PARALLEL_JOB_COUNT: '2' })));
    expect(s).toEqual([{ index: 1, count: 2 }, { index: 2, count: 2 }]);
  });

  it('a Kubernetes Indexed Job gives only its index: the count comes with --shard auto/N', () => {
    covers([0, 1, 2, 3, 4].map((i) => ({ JOB_COMPLETION_INDEX: String(i) })), 'auto/5');
    expect(() => parseShard('auto', { JOB_COMPLETION_INDEX: '0' })).toThrow(/no shard count is: give it as --shard auto\/N/);
  });

  it('refuses what it cannot read, in one line', () => {
    expect(() => shardFromEnv({})).toThrow(/no shard index in the environment .*give --shard I\/N/);
    expect(() => parseShard('auto', { CI_NODE_INDEX: '0', CI_NODE_TOTAL: '3' })).toThrow(/I must be between 1 and N/);
    expect(() => parseShard('auto', { BUILDKITE_PARALLEL_JOB: 'x', BUILDKITE_PARALLEL_JOB_COUNT: '2' })).toThrow(/not a whole number/);
    expect(() => parseShard('auto', { PARITY_SHARD_INDEX: '3', PARITY_SHARD_COUNT: '3' })).toThrow(/I must be between 1 and N/);
    expect(() => parseShard('2/x')).toThrow(/--shard expects I\/N like 2\/5, auto or auto\/N/);
  });
});

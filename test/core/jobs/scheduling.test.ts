import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../../core/config.js';
import { resolveScheduling } from '../../../core/jobs/scheduling.js';

describe('scheduling settings', () => {
  it('default to no limits and no type priorities', () => {
    const c = loadConfig({});
    expect(c.maxRunningJobsPerUser).toBe(0);
    expect([...c.typeConcurrency]).toEqual([]);
    expect([...c.typePriority]).toEqual([]);
  });

  it('read type=number pairs, and refuse anything else naming the variable and the pair', () => {
    const c = loadConfig({
      JOBS_TYPE_CONCURRENCY: 'db-migrate=2, csv-import=4',
      JOBS_TYPE_PRIORITY: 'report=10,cleanup=-5',
      JOBS_MAX_RUNNING_JOBS_PER_USER: '8',
    });
    expect(Object.fromEntries(c.typeConcurrency)).toEqual({ 'db-migrate': 2, 'csv-import': 4 });
    expect(Object.fromEntries(c.typePriority)).toEqual({ report: 10, cleanup: -5 });
    expect(c.maxRunningJobsPerUser).toBe(8);
    expect(() => loadConfig({ JOBS_TYPE_CONCURRENCY: 'db-migrate' })).toThrow(
      new ConfigError(
        'Invalid configuration: JOBS_TYPE_CONCURRENCY: expected type=number pairs separated by commas, each number 0 to 1000000 (e.g. db-migrate=2); got "db-migrate"',
      ),
    );
    expect(() => loadConfig({ JOBS_TYPE_CONCURRENCY: 'a=-1' })).toThrow(/JOBS_TYPE_CONCURRENCY/);
    expect(() => loadConfig({ JOBS_TYPE_PRIORITY: 'a=101' })).toThrow(
      /JOBS_TYPE_PRIORITY.*-100 to 100.*"a=101"/,
    );
    expect(() => loadConfig({ JOBS_TYPE_PRIORITY: 'a=1.5' })).toThrow(/JOBS_TYPE_PRIORITY/);
    expect(() => loadConfig({ JOBS_MAX_RUNNING_JOBS_PER_USER: '-1' })).toThrow(
      /JOBS_MAX_RUNNING_JOBS_PER_USER/,
    );
  });

  it('take the environment over the handler, and refuse a type no handler has', () => {
    const types = [{ type: 'a', priority: 3, concurrency: 5 }, { type: 'b', concurrency: 1 }, { type: 'c' }];
    const { priorityOf, limits } = resolveScheduling(types, {
      typePriority: new Map([['b', -2]]),
      typeConcurrency: new Map([
        ['a', 2],
        ['b', 0],
      ]),
      maxRunningJobsPerUser: 4,
    });
    expect([priorityOf('a'), priorityOf('b'), priorityOf('c')]).toEqual([3, -2, 0]);
    expect(Object.fromEntries(limits.typeConcurrency)).toEqual({ a: 2 });
    expect(limits.maxRunningPerOwner).toBe(4);
    expect(() =>
      resolveScheduling(types, {
        typePriority: new Map(),
        typeConcurrency: new Map([['nope', 1]]),
        maxRunningJobsPerUser: 0,
      }),
    ).toThrow('Invalid configuration: JOBS_TYPE_CONCURRENCY: unknown job type "nope"; known types: a, b, c');
    expect(() =>
      resolveScheduling([{ type: 'x', priority: 500 }], {
        typePriority: new Map(),
        typeConcurrency: new Map(),
        maxRunningJobsPerUser: 0,
      }),
    ).toThrow('job type "x": priority must be a whole number from -100 to 100');
  });
});

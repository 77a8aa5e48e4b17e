import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../core/config.js';

describe('limit settings', () => {
  it('default to 600 requests a minute and 1,000 active jobs per user', () => {
    const c = loadConfig({});
    expect(c.rateLimitPerMinute).toBe(600);
    expect(c.maxActiveJobsPerUser).toBe(1000);
  });

  it('take 0 to turn a limit off, and refuse what is not a whole number >= 0', () => {
    const c = loadConfig({ JOBS_RATE_LIMIT_PER_MINUTE: '0', JOBS_MAX_ACTIVE_JOBS_PER_USER: '0' });
    expect(c.rateLimitPerMinute).toBe(0);
    expect(c.maxActiveJobsPerUser).toBe(0);
    expect(loadConfig({ JOBS_RATE_LIMIT_PER_MINUTE: '60' }).rateLimitPerMinute).toBe(60);
    expect(() => loadConfig({ JOBS_RATE_LIMIT_PER_MINUTE: '-1' })).toThrow(
      new ConfigError(
        'Invalid configuration: JOBS_RATE_LIMIT_PER_MINUTE: JOBS_RATE_LIMIT_PER_MINUTE must be 0 (no limit) or more',
      ),
    );
    expect(() => loadConfig({ JOBS_MAX_ACTIVE_JOBS_PER_USER: '1.5' })).toThrow(/must be a whole number/);
    expect(() => loadConfig({ JOBS_MAX_ACTIVE_JOBS_PER_USER: 'lots' })).toThrow(/must be a number/);
  });
});

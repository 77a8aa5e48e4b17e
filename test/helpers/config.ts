import { loadConfig, type Config } from '../../core/config.js';

/**
 * A configuration as an entry point would load it, from an environment (plus overrides): tests
 * compose the platform from it exactly as `jobs server` and `jobs worker` do.
 */
export function testConfig(
  env: Record<string, string | undefined> = {},
  overrides: Partial<Config> = {},
): Config {
  return loadConfig({ JOBS_LOG_LEVEL: 'silent', ...env }, overrides);
}

import type { Logger } from 'pino';
import { createLogger } from '../../core/logger.js';

/**
 * The logger of a long-running CLI process (`jobs server`, `jobs worker`): JSON lines on stderr
 * for log collectors, or readable coloured lines when a person watches it (stderr a terminal, or
 * JOBS_LOG_FORMAT=pretty; JOBS_LOG_FORMAT=json keeps JSON on a terminal). pino-pretty is loaded
 * only then, so a JSON process never pays for it.
 */
export async function processLogger(
  config: { logLevel: string; logFormat?: 'json' | 'pretty' },
  name?: string,
): Promise<Logger> {
  const pretty = config.logFormat ? config.logFormat === 'pretty' : process.stderr.isTTY === true;
  if (!pretty) return createLogger(config.logLevel, name);
  const { pino } = await import('pino');
  const { default: prettyStream } = await import('pino-pretty');
  return pino(
    { name, level: config.logLevel },
    prettyStream({
      destination: 2,
      colorize: process.stderr.isTTY === true,
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
    }),
  );
}

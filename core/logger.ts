import { pino, type Logger } from 'pino';

/** JSON logs on stderr (stdout belongs to the CLI's machine output). */
export function createLogger(level: string, name = 'jobs'): Logger {
  return pino({ name, level }, pino.destination(2));
}

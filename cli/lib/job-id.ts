import type { ApiClient } from './api-client.js';
import { ApiError, CliError, UsageError } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX = /^[0-9a-f-]{4,35}$/i;

/**
 * The one of `items` whose id starts with `prefix` (dashes ignored), or a sentence-error naming
 * what it matched: none (exit 1) or several (a usage error, exit 2).
 */
function onlyMatch<T extends { id: string }>(items: readonly T[], arg: string, what: string): T | undefined {
  const hex = arg.replaceAll('-', '').toLowerCase();
  const found = items.filter((i) => i.id.replaceAll('-', '').startsWith(hex));
  if (found.length > 1)
    throw new UsageError(
      `${arg} is the start of more than one ${what} id (${found
        .slice(0, 2)
        .map((i) => i.id)
        .join(', ')}, …): give more of it`,
    );
  return found[0];
}

/**
 * The schedule a command's ID argument names: a whole id, or the unique start of one among the
 * caller's schedules (then everyone's, for tokens with job:ReadAll). Schedules are few, so the
 * list is read and matched here (the API has no prefix filter for them).
 */
export async function resolveScheduleId(api: ApiClient, arg: string): Promise<string> {
  if (UUID.test(arg) || !PREFIX.test(arg)) return arg;
  const mine = onlyMatch((await api.listSchedules({ limit: 1000 })).items, arg, 'schedule');
  if (mine) return mine.id;
  try {
    const any = onlyMatch((await api.listSchedules({ limit: 1000, all: true })).items, arg, 'schedule');
    if (any) return any.id;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 403)) throw err;
  }
  throw new CliError(`no schedule's id starts with ${arg}`, 'not_found');
}

/**
 * The job a command's ID argument names: a whole id as it is, or the start of one (what `jobs
 * list` shows: 8 characters) when exactly one job the caller can see has it. The caller's own jobs
 * are searched first, then (tokens with job:ReadAll) everyone's.
 */
export async function resolveJobId(api: ApiClient, arg: string): Promise<string> {
  if (UUID.test(arg) || !PREFIX.test(arg)) return arg; // a whole id, or for the server to refuse
  let found = (await api.listJobs({ idPrefix: arg, limit: 2 })).items;
  if (found.length === 0) {
    try {
      found = (await api.listJobs({ idPrefix: arg, limit: 2, all: true })).items;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 403)) throw err;
    }
  }
  if (found.length === 1) return found[0]!.id;
  if (found.length === 0) throw new CliError(`no job's id starts with ${arg}`, 'not_found');
  throw new UsageError(
    `${arg} is the start of more than one job id (${found.map((j) => j.id).join(', ')}, …): give more of it`,
  );
}

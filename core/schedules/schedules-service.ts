import { randomUUID } from 'node:crypto';
import { can, requireJobManage, requirePermission } from '../auth/can.js';
import type { Principal } from '../auth/principal.js';
import type { Prisma } from '../db/database.js';
import type { Schedule as ScheduleRow } from '../db/generated/client.js';
import { Prisma as P } from '../db/generated/client.js';
import { NotFoundError } from '../errors.js';
import type { JobTypeRegistry } from '../jobs/job-types.js';
import { parseCron } from './cron.js';
import { toScheduleDto, type MissedTicks, type ScheduleDto } from './schedule-dto.js';

export interface NewSchedule {
  cron: string;
  type: string;
  params?: Record<string, unknown>;
  name?: string;
  /** IANA time zone the expression is read in (default UTC). */
  timezone?: string;
  missed?: MissedTicks;
  paused?: boolean;
}

/** A change to a schedule: the fields given replace the schedule's (params as a whole). */
export interface SchedulePatch {
  cron?: string;
  timezone?: string;
  type?: string;
  params?: Record<string, unknown>;
  name?: string | null;
  paused?: boolean;
  missed?: MissedTicks;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Schedules as their owners (and admins) see them. The rules are the jobs' (a schedule creates
 * jobs in its owner's name): `job:Create` to create, change or delete one's own, `job:Read` to
 * read them; `job:ReadAll` sees every user's, `job:ManageAll` changes them; another user's
 * schedule is otherwise a 404. The job type and params are checked as a submission's are
 * (JobTypeRegistry.validate; a type that needs an input file cannot be scheduled), the cron
 * expression and time zone by croner: bad input is a 400 that changes nothing.
 */
export class SchedulesService {
  constructor(
    private readonly prisma: Prisma,
    private readonly types: Pick<JobTypeRegistry, 'validate'>,
    /** The clock next runs are computed from (tests pass a fake one). */
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(owner: Principal, s: NewSchedule): Promise<ScheduleDto> {
    requirePermission(owner, 'job:Create', 'creating a schedule');
    const now = this.now();
    const timezone = s.timezone ?? 'UTC';
    const cron = parseCron(s.cron, timezone, now);
    const params = this.types.validate(s.type, s.params ?? {}, false);
    const row = await this.prisma.schedule.create({
      data: {
        id: randomUUID(),
        ownerId: owner.userId,
        name: s.name ?? null,
        cron: cron.cron,
        timezone,
        type: s.type,
        params: params as P.InputJsonValue,
        paused: s.paused ?? false,
        missed: s.missed ?? 'run-once',
        nextRunAt: cron.nextAfter(now)!,
        createdAt: now,
        updatedAt: now,
      },
    });
    return toScheduleDto(row);
  }

  /** The viewer's schedules (every user's with `all`: job:ReadAll), newest first. */
  async list(viewer: Principal, q: { all?: boolean; limit: number }): Promise<{ items: ScheduleDto[] }> {
    requirePermission(viewer, 'job:Read');
    if (q.all) requirePermission(viewer, 'job:ReadAll', "listing every user's schedules (all=true)");
    const rows = await this.prisma.schedule.findMany({
      where: q.all ? {} : { ownerId: viewer.userId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit,
    });
    return { items: rows.map(toScheduleDto) };
  }

  async get(viewer: Principal, id: string): Promise<ScheduleDto> {
    return toScheduleDto(await this.visibleRow(viewer, id));
  }

  /**
   * Applies `patch`. Pausing stops the ticks; resuming starts again from the next tick after now
   * (ticks while paused are not made up). A new cron or time zone takes effect from now too.
   */
  async update(viewer: Principal, id: string, patch: SchedulePatch): Promise<ScheduleDto> {
    const row = await this.visibleRow(viewer, id);
    requireJobManage(viewer, row.ownerId);
    const now = this.now();
    const timezone = patch.timezone ?? row.timezone;
    const cron = parseCron(patch.cron ?? row.cron, timezone, now);
    const type = patch.type ?? row.type;
    // A new type is checked with the params it will run with (new ones, or the old).
    const params =
      patch.type !== undefined || patch.params !== undefined
        ? this.types.validate(type, patch.params ?? row.params, false)
        : row.params;
    const paused = patch.paused ?? row.paused;
    const resumed = row.paused && !paused;
    const retimed = cron.cron !== row.cron || timezone !== row.timezone || resumed;
    const updated = await this.prisma.schedule.update({
      where: { id },
      data: {
        cron: cron.cron,
        timezone,
        type,
        params: params as P.InputJsonValue,
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        paused,
        missed: patch.missed ?? row.missed,
        ...(retimed ? { nextRunAt: cron.nextAfter(now)! } : {}),
        ...(resumed ? { lastError: null } : {}),
        // Every change moves updated_at (it wakes the tickers and fails a tick's compare-and-set
        // that read the schedule before the change), even twice in one millisecond.
        updatedAt: new Date(Math.max(now.getTime(), row.updatedAt.getTime() + 1)),
      },
    });
    return toScheduleDto(updated);
  }

  /** Deletes the schedule; the jobs it created stay (with their scheduleId). */
  async delete(viewer: Principal, id: string): Promise<ScheduleDto> {
    const row = await this.visibleRow(viewer, id);
    requireJobManage(viewer, row.ownerId);
    await this.prisma.schedule.deleteMany({ where: { id } });
    return toScheduleDto(row);
  }

  /** The schedule if the viewer may see it; another user's is indistinguishable from none. */
  private async visibleRow(viewer: Principal, id: string): Promise<ScheduleRow> {
    requirePermission(viewer, 'job:Read');
    const row = UUID.test(id) ? await this.prisma.schedule.findUnique({ where: { id } }) : null;
    if (!row || (row.ownerId !== viewer.userId && !can(viewer, 'job:ReadAll'))) {
      throw new NotFoundError(`schedule ${id} not found`);
    }
    return row;
  }
}

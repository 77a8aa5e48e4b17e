import { Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { mergeParams, paramFlags } from '../../lib/params.js';

export default class SchedulesCreate extends BaseCommand {
  static override summary = 'Create a cron schedule: a job of --type at every tick.';
  static override description = `Each tick of the cron expression creates one job of --type with the given params, in your name (the job shows the schedule's id as scheduleId), however many servers and workers run. The expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, and is read in --timezone (an IANA name; default UTC). The type and params are checked as \`jobs submit\` checks them; types that need an input file cannot be scheduled.

--missed says what happens to ticks missed while nothing was running (more than two minutes late): run-once (default) creates one job for the latest of them, skip creates none. Either way the schedule then goes on from the next tick. Prints the schedule's id.`;

  static override examples = [
    `<%= config.bin %> <%= command.id %> --cron "*/5 * * * *" --type noop --name heartbeat`,
    `<%= config.bin %> <%= command.id %> --cron "0 9 * * 1-5" --timezone Europe/Paris --type report --params-json '{"to":"ops"}'`,
    `<%= config.bin %> <%= command.id %> --cron "*/10 * * * * *" --type noop --param logLines=1 --missed skip --json`,
  ];

  static override flags = {
    cron: Flags.string({
      description: 'cron expression: 5 fields, or 6 with seconds first (quote it)',
      required: true,
    }),
    type: Flags.string({ char: 't', description: 'job type (see `jobs types`)', required: true }),
    ...paramFlags,
    name: Flags.string({ description: 'a label for the schedule' }),
    timezone: Flags.string({ description: 'IANA time zone of the expression (default UTC)' }),
    missed: Flags.string({
      description: 'ticks missed while nothing ran: run-once (default) or skip',
      options: ['run-once', 'skip'],
    }),
    paused: Flags.boolean({ description: 'create it paused (`jobs schedules resume` starts it)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SchedulesCreate);
    const params = mergeParams(flags.param, flags['params-json']);
    const schedule = await this.api.createSchedule({
      cron: flags.cron,
      type: flags.type,
      params,
      name: flags.name,
      timezone: flags.timezone,
      missed: flags.missed,
      paused: flags.paused || undefined,
    });
    if (this.json) {
      this.printJson(schedule);
      return;
    }
    this.out(schedule.id);
    this.note(
      schedule.paused
        ? `Created schedule ${schedule.id} (paused).`
        : `Created schedule ${schedule.id}: next run ${schedule.nextRunAt}.`,
    );
  }
}

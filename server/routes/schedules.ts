import express, { Router } from 'express';
import type { SchedulesService } from '../../core/schedules/schedules-service.js';
import type { MissedTicks } from '../../core/schedules/schedule-dto.js';
import { principalOf } from '../auth.js';
import { createScheduleBody, listSchedulesQuery, patchScheduleBody } from '../schemas.js';
import { parseOr400 } from '../validate.js';

/** Cron schedules: each tick creates a job in the owner's name (core/schedules/). */
export function schedulesRouter(schedules: SchedulesService): Router {
  const r = Router();
  const body = express.json({ limit: '256kb' });
  r.post('/', body, async (req, res) => {
    const b = parseOr400(createScheduleBody, req.body, 'body');
    res.status(201).json(await schedules.create(principalOf(res), { ...b, missed: b.missed as MissedTicks }));
  });
  r.get('/', async (req, res) => {
    const q = parseOr400(listSchedulesQuery, req.query, 'query');
    res.json(await schedules.list(principalOf(res), q));
  });
  r.get('/:id', async (req, res) => {
    res.json(await schedules.get(principalOf(res), req.params.id));
  });
  r.patch('/:id', body, async (req, res) => {
    const b = parseOr400(patchScheduleBody, req.body, 'body');
    res.json(
      await schedules.update(principalOf(res), req.params.id, { ...b, missed: b.missed as MissedTicks }),
    );
  });
  r.delete('/:id', async (req, res) => {
    res.json(await schedules.delete(principalOf(res), req.params.id));
  });
  return r;
}

import { z } from 'zod';

/**
 * Path parameters as documented. Ids are not checked as uuids on the way in: an id that is not
 * one names no job, and answers 404 like any other unknown id.
 */
export const JOB_ID = z.string().meta({ format: 'uuid', description: 'the job id' });
export const UPLOAD_ID = z.string().meta({ format: 'uuid', description: 'the upload id' });
export const SCHEDULE_ID = z.string().meta({ format: 'uuid', description: 'the schedule id' });
export const TOKEN_ID = z.string().meta({ format: 'uuid', description: 'the token id' });
export const OUTPUT_NAME = z.string().max(128).meta({
  description: 'the output’s name, as the job lists it (`outputs[].name`)',
});

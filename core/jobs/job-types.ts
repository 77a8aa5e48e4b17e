import type { z } from 'zod';
import { UnknownJobTypeError, ValidationError } from '../errors.js';

/** What the API needs to know of a job type to validate a submission (a handler is one). */
export interface JobTypeSpec {
  readonly type: string;
  readonly description: string;
  readonly params: z.ZodType;
  readonly input: 'required' | 'optional' | 'none';
  readonly maxAttempts?: number;
  /** The default priority of its jobs (-100..100; default 0; JOBS_TYPE_PRIORITY overrides it). */
  readonly priority?: number;
  /** At most this many of its jobs RUNNING at once across every worker (JOBS_TYPE_CONCURRENCY overrides it). */
  readonly concurrency?: number;
}

export class JobTypeRegistry {
  private readonly byType: Map<string, JobTypeSpec>;

  constructor(
    specs: readonly JobTypeSpec[],
    /** A type's default priority, config over handler (core/jobs/scheduling.ts resolveScheduling). */
    private readonly defaultPriority: (type: string) => number = (type) =>
      specs.find((s) => s.type === type)?.priority ?? 0,
  ) {
    this.byType = new Map(specs.map((s) => [s.type, s]));
  }

  /** The priority of a job of `type` submitted without one. */
  priorityOf(type: string): number {
    return this.defaultPriority(type);
  }

  find(type: string): JobTypeSpec | undefined {
    return this.byType.get(type);
  }

  names(): string[] {
    return [...this.byType.keys()].sort();
  }

  all(): JobTypeSpec[] {
    return this.names().map((n) => this.byType.get(n)!);
  }

  /**
   * Validates type and params against the handler; throws UnknownJobTypeError (naming the valid
   * types) or ValidationError (naming the field). `hasInput` (when known) is checked against what
   * the type takes. Returns the params with defaults applied.
   */
  validate(type: string, params: unknown, hasInput: boolean | undefined): unknown {
    const handler = this.find(type);
    if (!handler) {
      throw new UnknownJobTypeError(`unknown job type "${type}"; valid types: ${this.names().join(', ')}`, {
        validTypes: this.names(),
      });
    }
    const parsed = handler.params.safeParse(params ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length ? `params.${issue.path.join('.')}` : 'params';
      throw new ValidationError(`${field}: ${issue.message}`, { issues: parsed.error.issues });
    }
    if (hasInput === true && handler.input === 'none') {
      throw new ValidationError(`job type "${type}" takes no input file`);
    }
    if (hasInput === false && handler.input === 'required') {
      throw new ValidationError(`job type "${type}" needs an input file`);
    }
    return parsed.data;
  }
}

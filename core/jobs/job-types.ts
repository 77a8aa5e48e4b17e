import type { z } from 'zod';

/** What the API needs to know of a job type to validate a submission (a handler is one). */
export interface JobTypeSpec {
  readonly type: string;
  readonly description: string;
  readonly params: z.ZodType;
  readonly input: 'required' | 'optional' | 'none';
  readonly maxAttempts?: number;
}

export class JobTypeRegistry {
  private readonly byType: Map<string, JobTypeSpec>;

  constructor(specs: readonly JobTypeSpec[]) {
    this.byType = new Map(specs.map((s) => [s.type, s]));
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
}

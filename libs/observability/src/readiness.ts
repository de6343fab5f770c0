import { Injectable } from '@nestjs/common';

export type ReadinessCheck = () => Promise<void>;

/** The checks behind GET /readyz; modules register theirs (Redis ping, storage ping) in onModuleInit. */
@Injectable()
export class ReadinessChecks {
  private readonly checks = new Map<string, ReadinessCheck>();

  register(name: string, check: ReadinessCheck): void {
    if (this.checks.has(name)) throw new Error(`readiness check "${name}" is already registered`);
    this.checks.set(name, check);
  }

  entries(): [string, ReadinessCheck][] {
    return [...this.checks.entries()];
  }
}

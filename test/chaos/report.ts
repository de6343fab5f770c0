import type { FinalStatus } from './environment';

/** What a chaos run did and found; the summary line and the violation list are made from it. */
export class ChaosReport {
  readonly started = Date.now();
  rounds = 0;
  /** service → signal → count */
  readonly kills = new Map<string, Map<string, number>>();
  /** backupId → how it ended (undefined: stuck) */
  readonly backups = new Map<string, FinalStatus | undefined>();
  readonly scenarios: { name: string; outcome: string }[] = [];
  readonly violations: string[] = [];
  /**
   * When Redis was last flushed. Redis holds the outbox, so events not yet forwarded then are lost with it: the
   * catalog (the manifests) is the record that must survive, not an undelivered event.
   */
  flushedAt: number | undefined;

  kill(service: string, signal: string): void {
    const bySignal = this.kills.get(service) ?? new Map<string, number>();
    bySignal.set(signal, (bySignal.get(signal) ?? 0) + 1);
    this.kills.set(service, bySignal);
  }

  violation(text: string): void {
    this.violations.push(text);
  }

  count(status: FinalStatus): number {
    return [...this.backups.values()].filter((s) => s === status).length;
  }

  /** ONE line: rounds, kills per service and signal, verified/failed counts, violations, elapsed. */
  summary(services: readonly string[]): string {
    const kills = services
      .map((service) => {
        const bySignal = this.kills.get(service);
        const term = bySignal?.get('SIGTERM') ?? 0;
        const kill = bySignal?.get('SIGKILL') ?? 0;
        return `${service}=${kill}k/${term}t`;
      })
      .join(' ');
    const scenarios = this.scenarios.map((s) => `${s.name}:${s.outcome}`).join(',') || 'none';
    const elapsed = Math.round((Date.now() - this.started) / 1000);
    return (
      `chaos: rounds=${this.rounds} kills(SIGKILL/SIGTERM) ${kills} backups=${this.backups.size} ` +
      `verified=${this.count('verified')} failed=${this.count('failed')} scenarios=${scenarios} ` +
      `violations=${this.violations.length} elapsed=${Math.floor(elapsed / 60)}m${String(elapsed % 60).padStart(2, '0')}s`
    );
  }
}

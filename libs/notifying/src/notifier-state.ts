import type { ConditionState } from './plan';

/**
 * The target's conditions, changed one event at a time: `change` runs with every condition of the target and
 * returns the states to write (and the keys to forget); no other change of that target runs meanwhile, in this
 * process or another replica.
 */
export interface ConditionStore {
  change<T>(
    targetId: string,
    fn: (states: ConditionState[]) => { result: T; write: ConditionState[]; forget: ConditionState[] },
  ): Promise<T>;
}

/** Who delivers (event, channel): one replica, once, also when the event comes again after a crash. */
export type ClaimResult = 'claimed' | 'done' | 'busy';

export interface DeliveryClaims {
  /** Takes (id, channel) for `owner` unless it is delivered (`done`) or another owner holds it (`busy`). */
  claim(id: string, channel: string, owner: string): Promise<ClaimResult>;
  /** Delivered (or given up on for good): later claims answer `done`. */
  done(id: string, channel: string): Promise<void>;
  /** Lets go of a claim without delivering (the notifier stops): the event's redelivery may take it. */
  release(id: string, channel: string, owner: string): Promise<void>;
}

/** What a digest summarises of one event. */
export interface DigestEntry {
  eventId: string;
  type: string;
  severity: string;
  targetId: string;
  backupId?: string;
  time: string;
  /** Stored size in bytes (verified backups). */
  size?: number;
  code?: string;
  message?: string;
}

/** Events collected for a digest route until its summary is sent. */
export interface DigestStore {
  /** Idempotent per event id. */
  add(route: number, entry: DigestEntry): Promise<void>;
  /**
   * The route's entries for run `runId`, set aside so events arriving meanwhile go to the next digest. A retried run
   * gets the same entries again; {@link finish} drops them.
   */
  take(route: number, runId: string): Promise<DigestEntry[]>;
  finish(route: number, runId: string): Promise<void>;
}

export function stateField(state: Pick<ConditionState, 'channel' | 'key'>): string {
  return `${state.channel}\u0000${state.key}`;
}

/** In-process stores, for unit tests and a single replica without Redis. */
export class MemoryConditionStore implements ConditionStore {
  private readonly targets = new Map<string, Map<string, ConditionState>>();
  private queue: Promise<unknown> = Promise.resolve();

  change<T>(
    targetId: string,
    fn: (states: ConditionState[]) => { result: T; write: ConditionState[]; forget: ConditionState[] },
  ): Promise<T> {
    const run = this.queue.then(() => {
      const states = this.targets.get(targetId) ?? new Map<string, ConditionState>();
      this.targets.set(targetId, states);
      const { result, write, forget } = fn([...states.values()].map((s) => ({ ...s })));
      for (const state of forget) states.delete(stateField(state));
      for (const state of write) states.set(stateField(state), { ...state });
      return result;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

export class MemoryDeliveryClaims implements DeliveryClaims {
  readonly held = new Map<string, string>();

  claim(id: string, channel: string, owner: string): Promise<ClaimResult> {
    const key = `${id}:${channel}`;
    const holder = this.held.get(key);
    if (holder === undefined || holder === owner) {
      this.held.set(key, owner);
      return Promise.resolve('claimed');
    }
    return Promise.resolve(holder === DONE ? 'done' : 'busy');
  }

  done(id: string, channel: string): Promise<void> {
    this.held.set(`${id}:${channel}`, DONE);
    return Promise.resolve();
  }

  release(id: string, channel: string, owner: string): Promise<void> {
    const key = `${id}:${channel}`;
    if (this.held.get(key) === owner) this.held.delete(key);
    return Promise.resolve();
  }
}

const DONE = '\u0000done';

export class MemoryDigestStore implements DigestStore {
  private readonly open = new Map<number, Map<string, DigestEntry>>();
  private readonly taken = new Map<string, DigestEntry[]>();

  add(route: number, entry: DigestEntry): Promise<void> {
    const entries = this.open.get(route) ?? new Map<string, DigestEntry>();
    entries.set(entry.eventId, entry);
    this.open.set(route, entries);
    return Promise.resolve();
  }

  take(route: number, runId: string): Promise<DigestEntry[]> {
    const key = `${route}:${runId}`;
    let entries = this.taken.get(key);
    if (!entries) {
      entries = [...(this.open.get(route)?.values() ?? [])];
      this.open.delete(route);
      this.taken.set(key, entries);
    }
    return Promise.resolve(entries);
  }

  finish(route: number, runId: string): Promise<void> {
    this.taken.delete(`${route}:${runId}`);
    return Promise.resolve();
  }
}

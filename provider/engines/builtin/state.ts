// The checkpoint of one built-in migration, kept on the TARGET (reserved database, see CHECKPOINT_DATABASE):
//
//   key "state"          one document: phase, capture mode, T0, copy plan and totals, replay resume token,
//                        cutover step, the lease, a credential-free copy of the spec (for `atlas-migrate sync`)
//   key "part:<ns>:<i>"  one per copy partition: its `_id` bounds and the last `_id` copied
//
// A separate store, `<migrationId>.blocking`, records what the cutover did to the source's writes (and the users'
// original roles); no reset clears it, only undoing the blocking does (see blockingStore).
//
// A separate store, `<migrationId>.complete`, holds a single completion marker with the cutover report. It is
// written BEFORE the main store is cleared after COMPLETE, so a crash between the two steps, and any later
// `cutover()` / `status()` call, still finds the report.
//
// BSON values that must survive any store (T0, resume tokens, `_id` bounds) are kept as canonical Extended
// JSON strings: a store only has to keep plain strings and numbers intact.
//
// Every write of "state" is a compare-and-set that carries the lease, so one applier at a time: a process that
// lost the lease (expired, or taken over by cutover) finds out at its next write or lease check and stops.
import { hostname } from "os";
import { randomUUID } from "crypto";
import { BSON, type Document, Timestamp } from "mongodb";
import type { CheckpointStore, ClusterPort } from "../../cluster/port";
import type { MigrationSpec, Phase, VerificationReport, CutoverReport, WriteBlockingMode } from "../engine";

const { EJSON } = BSON;

export const STATE_KEY = "state";
export const COMPLETION_KEY = "completion";
export const LEASE_MS = 60_000;

export type CaptureMode = "changeStream" | "snapshot";
export type ResolvedWriteBlocking = Exclude<WriteBlockingMode, "auto">;

export interface PlannedCollection {
  db: string;
  coll: string;
  kind: "collection" | "view";
  partitions: number;
  documents: number;
  bytes: number;
}

export interface SavedUserRoles {
  user: string;
  db: string;
  roles: Array<{ role: string; db: string }>;
}

export type CutoverStep = "BLOCKING" | "DRAINING" | "INDEXES" | "VERIFYING" | "FINALIZING";

export interface MigrationState {
  version?: number;
  migrationId: string;
  phase: Phase;
  captureMode: CaptureMode;
  startedAt: string;
  /** EJSON of the source cluster time recorded before anything was read (changeStream mode). */
  t0?: string;
  /** The spec without URIs or other secrets (the worker takes URIs from its environment). */
  spec: StoredSpec;
  lease: { owner: string; expiresAt: number } | null;
  copy: {
    planned: boolean;
    done: boolean;
    collections: PlannedCollection[];
    totalDocuments: number;
    totalBytes: number;
    copiedDocuments: number;
    copiedBytes: number;
  };
  replay: {
    /** EJSON of the resume token after the last applied batch. */
    resumeToken?: string;
    lagSeconds: number | null;
    appliedEvents: number;
    /** When lagSeconds was measured (ISO); a refresh shows how fresh it is. */
    measuredAt?: string;
  };
  cutover?: {
    step: CutoverStep;
    writeBlocking: ResolvedWriteBlocking;
    startedAt: string;
    savedRoles?: SavedUserRoles[];
    /** Sharded source, readOnlyUsers: when every mongos has applied the read-only roles (ISO). */
    readOnlyEffectiveAt?: string;
    lastVerification?: VerificationReport;
  };
  failure?: string;
  cancelled?: boolean;
  warnings: string[];
}

/** The parts of a spec the worker needs, minus secrets: URIs come from the worker's environment. */
export type StoredSpec = Omit<MigrationSpec, "source" | "target" | "atlasPush" | "mongosync"> & {
  target: { atlas?: MigrationSpec["target"]["atlas"] };
};

export function storedSpec(spec: MigrationSpec): StoredSpec {
  const { source: _s, target, atlasPush: _a, mongosync: _m, ...rest } = spec;
  return JSON.parse(JSON.stringify({ ...rest, target: { atlas: target.atlas } })) as StoredSpec;
}

export interface PartitionState {
  version?: number;
  ns: string;
  index: number;
  /** EJSON of the inclusive lower bound; absent for the first partition. */
  from?: string;
  /** EJSON of the exclusive upper bound; absent for the last partition. */
  before?: string;
  /**
   * EJSON of the last partition's inclusive upper bound: the greatest `_id` read after T0 at plan. The copy
   * stops there; documents inserted past it since arrive by replay (or snapshot reconciliation). Absent on the
   * other partitions, and on plans made before it existed (those scan to the end).
   */
  through?: string;
  /**
   * The `through` document itself is on the target and counted: a pass writes it as it starts, and a graceful
   * stop records that here so the next pass does not write it again.
   */
  throughCopied?: boolean;
  /** EJSON of the last `_id` written to the target. */
  lastId?: string;
  done: boolean;
  documents: number;
  bytes: number;
  /**
   * Written by a graceful stop of a first (insert) pass, every write landed and counted: the target holds
   * nothing of this range past `lastId` (but the last partition's bound, which is always upserted), so the next
   * pass may still insert rather than upsert (copy.ts).
   */
  clean?: boolean;
}

export function partitionKey(ns: string, index: number): string {
  return `part:${ns}:${index}`;
}

export function encodeBson(value: unknown): string {
  return EJSON.stringify({ v: value }, { relaxed: false });
}

/** Absent, or stored as null (a driver serializes `undefined` fields as null unless told otherwise). */
export function decodeBson<T = unknown>(text: string | undefined | null): T | undefined {
  if (text === undefined || text === null || text === "") return undefined;
  return (EJSON.parse(text, { relaxed: false }) as { v: T }).v;
}

export function decodeTimestamp(text: string | undefined | null): Timestamp | undefined {
  const v = decodeBson<Timestamp>(text);
  return v instanceof Timestamp ? v : undefined;
}

export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  return a.t !== b.t ? a.t - b.t : a.i - b.i;
}

/** Where completion markers live: a sibling store that survives `clear()` of the migration's own store. */
/**
 * What the engine did to the source's writes, kept apart from the checkpoint so that no reset clears it: start
 * after FAILED and `atlas-migrate reset` clear the checkpoint, and a cutover run after that would otherwise
 * save the users' read-only roles as their "original" ones. Written BEFORE blocking; removed only once the
 * blocking is undone (BuiltinEngine.releaseSource). Key BLOCKING_KEY.
 */
export function blockingStore(target: ClusterPort, migrationId: string): CheckpointStore {
  return target.checkpoints(`${migrationId}.blocking`);
}

export const BLOCKING_KEY = "blocking";

export interface BlockingRecord {
  /** Every way the engine blocked writes (a rerun after reset may have used another mode). */
  modes: ResolvedWriteBlocking[];
  /** readOnlyUsers: each user's roles before the engine first changed them. */
  savedRoles?: SavedUserRoles[];
  blockedAt: string;
}

export async function readBlocking(target: ClusterPort, migrationId: string): Promise<BlockingRecord | null> {
  const doc = await blockingStore(target, migrationId).get(BLOCKING_KEY);
  if (!doc || typeof doc.record !== "string") return null;
  return JSON.parse(doc.record) as BlockingRecord;
}

export async function writeBlocking(target: ClusterPort, migrationId: string, record: BlockingRecord): Promise<void> {
  await blockingStore(target, migrationId).put(BLOCKING_KEY, { record: JSON.stringify(record) });
}

export function completionStore(target: ClusterPort, migrationId: string): CheckpointStore {
  return target.checkpoints(`${migrationId}.complete`);
}

export async function readCompletion(target: ClusterPort, migrationId: string): Promise<CutoverReport | null> {
  const doc = await completionStore(target, migrationId).get(COMPLETION_KEY);
  if (!doc || typeof doc.report !== "string") return null;
  return JSON.parse(doc.report) as CutoverReport;
}

/**
 * Removes a migration's checkpoint so the next `pulumi up` starts it over (`atlas-migrate reset`). Refuses while
 * another process holds a live lease unless `force`. Target data is left alone (re-copied by upserts).
 */
export async function resetMigration(target: ClusterPort, migrationId: string, now: () => number, force = false): Promise<{ removed: boolean; heldBy?: string }> {
  const session = new StateSession(target.checkpoints(migrationId), "reset", now);
  const s = await session.load();
  const holder = session.otherHolder(s);
  if (holder && !force) return { removed: false, heldBy: holder };
  await session.store.clear();
  return { removed: true };
}

export function newOwnerId(role: string): string {
  return `${role}@${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/**
 * A JSON-only copy: drops `undefined` fields, which a driver would otherwise store as null (checkpoint values are
 * strings, numbers, booleans, arrays and objects only; BSON values are EJSON strings).
 */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export class LeaseLostError extends Error {
  constructor(public readonly heldBy: string | null) {
    super(
      heldBy
        ? `another process (${heldBy}) holds this migration's lease; this one stopped so only one applies changes`
        : "this migration's lease was released (cancelled); this process stopped",
    );
    this.name = "LeaseLostError";
  }
}

/**
 * The state document plus the lease, written only by compare-and-set. Writes from concurrent copy tasks in
 * one process are serialized here, so callers just `update(s => …)`.
 */
export class StateSession {
  private current: MigrationState | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly store: CheckpointStore,
    readonly owner: string,
    private readonly now: () => number,
    private readonly leaseMs: number = LEASE_MS,
  ) {}

  get state(): MigrationState {
    if (!this.current) throw new Error("migration state not loaded");
    return this.current;
  }

  async load(): Promise<MigrationState | null> {
    this.current = (await this.store.get(STATE_KEY)) as MigrationState | null;
    return this.current;
  }

  /** Creates the state if none exists. Returns false when another process created it first. */
  async create(initial: MigrationState): Promise<boolean> {
    const doc = { ...plain(initial), version: 1 };
    const ok = await this.store.compareAndSet(STATE_KEY, null, doc as Document);
    if (ok) this.current = doc;
    return ok;
  }

  /** Replaces the whole state (restart after FAILED). */
  async replace(next: MigrationState): Promise<boolean> {
    const expected = this.current?.version ?? null;
    const doc = { ...plain(next), version: (expected ?? 0) + 1 };
    const ok = await this.store.compareAndSet(STATE_KEY, expected, doc as Document);
    if (ok) this.current = doc;
    return ok;
  }

  holdsLease(s: MigrationState | null = this.current): boolean {
    return !!s?.lease && s.lease.owner === this.owner && s.lease.expiresAt > this.now();
  }

  /** Who holds a live lease other than us, if anyone. */
  otherHolder(s: MigrationState | null = this.current): string | null {
    if (!s?.lease || s.lease.owner === this.owner) return null;
    return s.lease.expiresAt > this.now() ? s.lease.owner : null;
  }

  /**
   * Takes the lease when it is free, expired or ours; with `force` (cutover) even when another process holds
   * it — that process notices at its next lease check and stops.
   */
  async acquire(force = false): Promise<boolean> {
    // First with the state as last read (callers load just before): a stale one fails the compare-and-set, and
    // the loop reads it again — one round trip fewer in the usual case.
    for (let first = this.current !== null; ; first = false) {
      const s = first ? this.current : await this.load();
      if (!s) throw new Error("migration state not found");
      if (!force && this.otherHolder(s)) {
        if (first) continue; // held, as last read: ask again before saying so
        return false;
      }
      const next = { ...s, lease: { owner: this.owner, expiresAt: this.now() + this.leaseMs } };
      const ok = await this.store.compareAndSet(STATE_KEY, s.version ?? null, { ...next, version: (s.version ?? 0) + 1 });
      if (ok) {
        this.current = { ...next, version: (s.version ?? 0) + 1 };
        return true;
      }
    }
  }

  /** Applies `mutate` to the latest state and writes it, provided we still hold the lease. */
  update(mutate: (s: MigrationState) => void): Promise<MigrationState> {
    const run = async (): Promise<MigrationState> => {
      for (;;) {
        const base = this.current ?? (await this.load());
        if (!base) throw new Error("migration state not found");
        if (!base.lease || base.lease.owner !== this.owner) throw new LeaseLostError(base.lease?.owner ?? null);
        const next: MigrationState = JSON.parse(JSON.stringify(base));
        mutate(next);
        if (next.lease && next.lease.owner === this.owner) next.lease.expiresAt = this.now() + this.leaseMs;
        next.version = (base.version ?? 0) + 1;
        if (await this.store.compareAndSet(STATE_KEY, base.version ?? null, next as Document)) {
          this.current = next;
          return next;
        }
        await this.load();
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Throws LeaseLostError when someone else holds the lease now; renews it when half of it has elapsed.
   * Called before every batch written to the target.
   */
  async assertLease(): Promise<void> {
    const fresh = (await this.store.get(STATE_KEY)) as MigrationState | null;
    if (!fresh) throw new LeaseLostError(null);
    if (!fresh.lease || fresh.lease.owner !== this.owner) throw new LeaseLostError(fresh.lease?.owner ?? null);
    if (fresh.cancelled) throw new LeaseLostError(null);
    if (!this.current || (fresh.version ?? 0) > (this.current.version ?? 0)) this.current = fresh;
    if (fresh.lease.expiresAt - this.now() < this.leaseMs / 2) await this.update(() => undefined);
  }

  /** Gives the lease back (end of an `advance`, cancel). Never throws on a lost lease. */
  async release(): Promise<void> {
    try {
      await this.update((s) => {
        s.lease = null;
      });
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
    }
  }

  async getPartition(ns: string, index: number): Promise<PartitionState | null> {
    return (await this.store.get(partitionKey(ns, index))) as PartitionState | null;
  }

  async putPartition(p: PartitionState): Promise<void> {
    await this.store.put(partitionKey(p.ns, p.index), plain(p) as unknown as Document);
  }
}

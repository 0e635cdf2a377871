// Replay: one change stream over the whole source, from T0 (or the checkpointed resume token), applied to the
// target idempotently by document key:
//   insert / replace / update  → replaceOne({_id}, fullDocument, {upsert: true})   (updateLookup image)
//   update whose document is gone → deleteOne({_id})
//   delete                        → deleteOne({_id})
// Within what one apply takes only the last operation per key is kept (each is a whole-document overwrite, so
// the last one decides), which keeps per-key order and shrinks bursts of updates on hot documents.
//
// The pipeline (reads, lease checks, writes and checkpoints overlap; the loop paid 5–7 serial round trips per batch before):
//   read     the next getMores run while the current batches are applied (replay-reader.ts); the change
//            stream's own await (maxAwaitTimeMS) paces an idle stream, so a lone write is applied within one await
//   fence    one lease check per read, issued as it is taken (overlapping the building of its operations and the
//            writes still in flight), awaited before that apply's writes go out, so a process that lost the lease
//            stops writing within APPLIES_IN_FLIGHT applies
//   apply    the operations go out in LANES ordered bulk writes per namespace, a key always in the same lane
//            (replay-keys.ts). Each lane is a queue (LaneWriter): its writes of the next apply follow its writes of
//            the previous one, so a key's operations never overtake each other, but no lane waits for another and
//            the next apply is issued while the previous is in flight (at most APPLIES_IN_FLIGHT)
//   checkpoint  the resume token of the last batch applied (never the cursor's current token, which covers what
//            was read ahead), written in order, each once every write before it was acknowledged
//
// DDL: drop, rename and dropDatabase are mirrored; `create` is mirrored (the new collection is created with
// its options; its indexes arrive as createIndexes, which stops the sync). Any other DDL (createIndexes,
// dropIndexes, modify, shardCollection, …) on a migrated namespace stops the sync with FAILED and a reason
// that names the operation, because silently diverging is worse than stopping.
import type { Document, Timestamp } from "mongodb";
import { splitsLargeChangeEvents, type ChangeCursor, type ChangeEvent, type ClusterPort, type Namespace, type WriteOperation } from "../../cluster/port";
import { describeError } from "../../errors";
import type { RunEnv } from "./env";
import { buildSyncIndexes, createCollectionsAndViews, includedSourceCollections, recopyCollection } from "./copy";
import { CARRY_AS_STORED, holdsUndefined, noteUndefined, overwriteOp } from "./copy";
import { nsString } from "./namespaces";
import { blockedNotice } from "./writeblock";
import { backoffMs, DEFAULT_RETRY, isHistoryLost, isRetryable, withRetry } from "./retry";
import { compareTimestamps, decodeBson, decodeTimestamp, encodeBson, type MigrationState } from "./state";
import { idKey, laneOf } from "./replay-keys";
import { ChangeReader, type ReadBatch } from "./replay-reader";

const CRUD = new Set(["insert", "update", "replace", "delete"]);

/**
 * When to return:
 * - "ready": lag ≤ readyLagSeconds (advance)
 * - "drained": the stream has nothing more right now (cutover, writes blocked)
 * - "quiet": no event for quietSeconds (cutover with writeBlocking none)
 * - "forever": only the deadline or a lost lease ends it (the worker)
 */
export type ReplayUntil = "ready" | "drained" | "quiet" | "forever";
export type ReplayOutcome = "ready" | "drained" | "quiet" | "stopped" | "failed";

/** The restart instructions shown when the source's change history no longer reaches our resume point. */
export function historyLostReason(migrationId: string): string {
  return (
    "the source's oplog no longer holds the change history this migration must resume from (the oplog rolled " +
    "over while the sync was stopped or too slow), so changes would be lost. Restart the migration from scratch: " +
    `run \`atlas-migrate reset ${migrationId}\` (with ATLAS_MIGRATE_TARGET_URI set) and then \`pulumi up\` — ` +
    "or `pulumi up --replace <Migration resource URN>`. Before that, enlarge the source oplog " +
    "(replSetResizeOplog) so it covers the copy time, or run `atlas-migrate sync` so changes are applied continuously."
  );
}

/** Parallel ordered bulk writes per namespace in one apply (the copy keeps up to 4 writes in flight too). */
export const LANES = 4;
/**
 * Applies (and checkpoints) issued and not yet acknowledged while the loop reads and builds the next: what
 * replay holds is bounded by these plus the batches read ahead.
 */
const APPLIES_IN_FLIGHT = 2;
/** Batches read ahead while the current ones are applied. */
const READ_AHEAD = 2;

/** One namespace's operations of an apply: the newest per key, in the order of each key's last occurrence. */
interface NamespaceOps {
  ns: Namespace;
  /** A superseded operation leaves a hole (undefined) instead of being moved: no Map reordering per event. */
  ops: Array<WriteOperation | undefined>;
  slot: Map<string, number>;
}

class PendingOps {
  readonly byNs = new Map<string, NamespaceOps>();
  count = 0;

  add(name: string, ns: Namespace, id: unknown, op: WriteOperation): void {
    let entry = this.byNs.get(name);
    if (!entry) this.byNs.set(name, (entry = { ns, ops: [], slot: new Map() }));
    const key = idKey(id);
    const at = entry.slot.get(key);
    if (at === undefined) this.count++;
    else entry.ops[at] = undefined;
    entry.slot.set(key, entry.ops.length);
    entry.ops.push(op);
  }

  clear(): void {
    this.byNs.clear();
    this.count = 0;
  }
}

function filterId(op: WriteOperation): unknown {
  if ("replaceOne" in op) return op.replaceOne.filter._id;
  if ("updateOne" in op) return op.updateOne.filter._id;
  if ("deleteOne" in op) return op.deleteOne.filter._id;
  return op.insertOne.document._id;
}

/**
 * The write that brings the target's copy of the event's document to the source's state. `fullDocument` null
 * means "deleted since" (updateLookup found nothing); absent means the port did not look it up, so we do.
 */
function operationFor(env: RunEnv, ns: Namespace, ev: ChangeEvent): WriteOperation | Promise<WriteOperation> | undefined {
  const id = ev.documentKey?._id;
  if (id === undefined) return undefined;
  if (ev.operationType === "delete") return { deleteOne: { filter: { _id: id } } };
  if (ev.fullDocument !== undefined) return imageOp(env, ns, id, ev.fullDocument);
  return withRetry("findById", env.ctx, () => env.source.findById(ns, id)).then((doc) => imageOp(env, ns, id, doc));
}

function imageOp(env: RunEnv, ns: Namespace, id: unknown, doc: Document | null): WriteOperation | Promise<WriteOperation> {
  if (!doc) return { deleteOne: { filter: { _id: id } } };
  if (holdsUndefined(doc)) return noteUndefined(env, nsString(ns)).then(() => overwriteOp(doc));
  return overwriteOp(doc);
}

/**
 * A lease check issued before it is needed: at the start of an iteration, while the operations are still being
 * built and earlier writes may still be in flight, so its round trip overlaps that work. Taken by the first
 * apply of the iteration (later ones issue their own); `settle` surfaces its outcome when no apply took it.
 */
class Fence {
  private taken = false;
  private readonly check: Promise<void>;

  constructor(env: RunEnv) {
    this.check = env.session.assertLease();
    this.check.catch(() => undefined); // observed by take() or settle()
  }

  take(): Promise<void> | undefined {
    if (this.taken) return undefined;
    this.taken = true;
    return this.check;
  }

  async settle(): Promise<void> {
    if (!this.taken) await this.check;
  }
}

/**
 * The target side of the pipeline. Each (namespace, lane) is a queue: an apply's writes for a lane go out once
 * that lane's writes of every earlier apply are acknowledged and the apply's lease check passed, so a document's
 * operations (always in one lane, replay-keys.ts laneOf) reach the target in stream order, while lanes — and the
 * next apply's lanes — do not wait for one another. After a failure nothing more is written: queued writes are
 * dropped, and the failure surfaces once every write already out has settled.
 */
class LaneWriter {
  private readonly tails = new Map<string, Promise<void>>();
  private failure: { error: unknown } | undefined;
  private acked: Promise<void> = Promise.resolve();

  constructor(private readonly env: RunEnv) {}

  /**
   * Issues what is pending (and empties it) behind `lease`. Returns at once: the promise resolves when every
   * write issued so far is acknowledged, or rejects with the first failure once every one of them has settled.
   */
  issue(pending: PendingOps, lease: Promise<void>): Promise<void> {
    const { env } = this;
    const size = Math.max(1, env.spec.builtin.replayBatchSize);
    lease.catch(() => undefined); // observed by every lane's write below
    const writes: Promise<void>[] = [];
    for (const [name, { ns, ops }] of pending.byNs) {
      const lanes: WriteOperation[][] = Array.from({ length: LANES }, () => []);
      for (const op of ops) if (op) lanes[laneOf(filterId(op), LANES)].push(op);
      lanes.forEach((lane, index) => {
        if (lane.length === 0) return;
        const key = `${index}\u0000${name}`;
        const write = Promise.all([this.tails.get(key), lease]).then(async () => {
          if (this.failure) return; // an earlier write failed: nothing more goes out
          for (let i = 0; i < lane.length; i += size) {
            const chunk = lane.slice(i, i + size);
            await withRetry(`apply ${nsString(ns)}`, env.ctx, () => env.target.bulkWrite(ns, chunk, true, CARRY_AS_STORED));
          }
        });
        const settled = write.catch((error: unknown) => {
          this.failure ??= { error };
        });
        this.tails.set(key, settled);
        writes.push(settled);
      });
    }
    pending.clear();
    const earlier = this.acked.catch(() => undefined);
    this.acked = Promise.all([earlier, ...writes]).then(() => {
      if (this.failure) throw this.failure.error;
    });
    this.acked.catch(() => undefined); // observed by whoever awaits an issue
    return this.acked;
  }

  /** Every write issued so far is acknowledged (rejects as `issue` does). */
  acknowledged(): Promise<void> {
    return this.acked;
  }

  /** Every write issued so far has settled (never rejects). */
  settled(): Promise<void> {
    return this.acked.catch(() => undefined);
  }
}

class DdlRefused extends Error {}

/** NamespaceNotFound (26): the collection is already gone on the target — the DDL's effect is already there. */
async function tolerateMissing(op: () => Promise<void>): Promise<void> {
  try {
    await op();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 26) throw err;
  }
}

/** Mirrors a DDL event on the target, or throws DdlRefused naming it. */
async function applyDdl(env: RunEnv, ev: ChangeEvent): Promise<void> {
  const db = ev.ns?.db ?? "";
  const coll = ev.ns?.coll;
  const included = coll !== undefined && env.matcher.includes(db, coll);
  switch (ev.operationType) {
    case "drop":
      if (included) await tolerateMissing(() => withRetry("drop", env.ctx, () => env.target.dropCollection({ db, coll: coll as string })));
      env.log(`replay: mirrored drop of ${db}.${coll}`);
      return;
    case "dropDatabase": {
      if (!env.matcher.mayIncludeDatabase(db)) return;
      const onTarget = await env.target.listCollections();
      for (const c of onTarget.filter((x) => x.db === db && env.matcher.includes(x.db, x.name))) {
        await tolerateMissing(() => withRetry("drop", env.ctx, () => env.target.dropCollection({ db, coll: c.name })));
      }
      env.log(`replay: mirrored dropDatabase ${db}`);
      return;
    }
    case "rename": {
      const to = ev.to;
      if (!to || coll === undefined) throw new DdlRefused("rename event without a target namespace");
      const toIncluded = env.matcher.includes(to.db, to.coll);
      if (toIncluded) {
        // On the source, `to` is now the renamed collection: whatever the target holds under that name is obsolete.
        // Rename ours over it when we carry the old name; otherwise (an excluded or temporary old name, or one
        // missing on the target because it was created and renamed before the copy reached it) drop it, and the
        // re-read below fills it.
        let renamed = false;
        if (included) {
          await tolerateMissing(async () => {
            await withRetry("rename", env.ctx, () => env.target.renameCollection({ db, coll }, to, true));
            renamed = true;
          });
        }
        if (!renamed) await tolerateMissing(() => withRetry("drop", env.ctx, () => env.target.dropCollection(to)));
      } else if (included) {
        await tolerateMissing(() => withRetry("drop", env.ctx, () => env.target.dropCollection({ db, coll })));
      }
      if (toIncluded) {
        // The rename may have overtaken the initial copy of the old name; re-reading the new name from the
        // source makes sure no document is missed (later events bring it to the final state).
        const infos = (await includedSourceCollections(env)).filter((c) => c.db === to.db && c.name === to.coll);
        await createCollectionsAndViews(env, infos);
        const n = infos.length > 0 && infos[0].kind === "collection" ? await recopyCollection(env, to) : 0;
        await buildSyncIndexes(env, infos);
        env.log(`replay: mirrored rename ${db}.${coll} → ${to.db}.${to.coll} (${n} documents re-read)`);
      }
      return;
    }
    case "create": {
      if (!included) return;
      // A time-series collection cannot be carried (preflight refuses one in scope), and its writes never reach
      // the stream: refuse it by name rather than finish a cutover without it.
      const listed = await withRetry("listCollections", env.ctx, () => env.source.listCollections());
      if (listed.some((c) => c.db === db && c.name === coll && c.kind === "timeseries")) {
        const warning = `time-series collection ${db}.${coll} was created on the source during the sync and is NOT migrated by the builtin engine`;
        await env.session.update((s) => {
          if (!s.warnings.includes(warning)) s.warnings.push(warning);
        });
        throw new DdlRefused(
          `the source created the time-series collection ${db}.${coll} during the sync; the builtin engine cannot carry time-series ` +
            `collections (their writes never reach a change stream). Exclude it (namespaces.exclude: ["${db}.${coll}"]) and restart the ` +
            `migration (\`atlas-migrate reset ${env.spec.migrationId}\` then \`pulumi up\`), moving it separately with mongodump/mongorestore, or use the mongosync engine.`,
        );
      }
      const infos = (await includedSourceCollections(env)).filter((c) => c.db === db && c.name === coll);
      await createCollectionsAndViews(env, infos);
      env.log(`replay: mirrored create of ${db}.${coll}`);
      return;
    }
    case "invalidate":
      throw new DdlRefused(
        `the source's change stream was invalidated; restart the migration (\`atlas-migrate reset ${env.spec.migrationId}\` then \`pulumi up\`)`,
      );
    default:
      if (!included && !(coll === undefined && env.matcher.mayIncludeDatabase(db))) return;
      throw new DdlRefused(
        `the source ran \`${ev.operationType}\` on ${coll === undefined ? db : `${db}.${coll}`} during the sync; ` +
          "the builtin engine mirrors only drop, rename, dropDatabase and create. Stop running DDL on the source, " +
          `then restart the migration (\`atlas-migrate reset ${env.spec.migrationId}\` then \`pulumi up\`), or use the mongosync engine.`,
      );
  }
}

/**
 * How replay reads the stream. Replay never uses `updateDescription` (it re-reads whole documents), and with
 * updateLookup an update event carries the whole document besides it: dropping it keeps updates of large
 * documents under the 16 MB event limit. What is still too large arrives split where the source can split it.
 */
const STREAM_SHAPE = { omitUpdateDescription: true, splitLargeEvents: true } as const;

async function openCursor(env: RunEnv): Promise<ChangeCursor> {
  const s = env.session.state;
  const token = decodeBson<Document>(s.replay.resumeToken);
  if (token) return env.source.watch({ resumeAfter: token, ...STREAM_SHAPE });
  const t0 = decodeTimestamp(s.t0);
  if (!t0) throw new Error("migration has neither a resume token nor a start time T0");
  return env.source.watch({ startAtOperationTime: t0, ...STREAM_SHAPE });
}

/** A split event's fragments merged back into one event (jstests/change_streams/split_large_event.js). */
function reassemble(fragments: ChangeEvent[]): ChangeEvent {
  const whole = Object.assign({}, ...fragments) as ChangeEvent;
  delete whole.splitEvent;
  return whole;
}

/**
 * The next batch with every split event whole: fragments come one per batch (each is ~16 MB), so a batch that
 * ends inside a split event is followed up until its last fragment. The resume token is therefore never taken
 * inside an event, and a restart never starts with half of one.
 */
export async function nextWholeBatch(cursor: ChangeCursor, maxWaitMs: number, followWaitMs = maxWaitMs): Promise<ChangeEvent[]> {
  const raw = await cursor.nextBatch(maxWaitMs);
  const open = (): boolean => {
    const last = raw[raw.length - 1];
    return last?.splitEvent !== undefined && last.splitEvent.fragment < last.splitEvent.of;
  };
  for (let idle = 0; open(); ) {
    const more = await cursor.nextBatch(followWaitMs);
    if (more.length === 0 && ++idle >= 100) throw new Error("the source's change stream stopped inside a split event");
    raw.push(...more);
  }
  const events: ChangeEvent[] = [];
  for (let i = 0; i < raw.length; i++) {
    const split = raw[i].splitEvent;
    if (!split) {
      events.push(raw[i]);
      continue;
    }
    // A stream resumed inside a split event starts at a later fragment: that event cannot be rebuilt.
    if (split.fragment !== 1) throw new Error(`the source's change stream resumed inside a split event (fragment ${split.fragment} of ${split.of})`);
    events.push(reassemble(raw.slice(i, i + split.of)));
    i += split.of - 1;
  }
  return events;
}

/** BSONObjectTooLarge (10334), or a split that failed (7182500): a change event the stream cannot deliver. */
function isEventTooLarge(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 10334 || code === 7182500;
}

async function eventTooLargeReason(env: RunEnv, err: unknown): Promise<string> {
  const info = await env.source.serverInfo().catch(() => undefined);
  const version = info ? ` (MongoDB ${info.version})` : "";
  const canSplit = info ? splitsLargeChangeEvents(info.version) : false;
  return (
    `a change event on the source is larger than the 16 MB BSON limit and the source${version} ` +
    (canSplit ? "could not split it" : "cannot split it ($changeStreamSplitLargeEvent needs MongoDB 6.0.9+ or 7.0+)") +
    ` (${describeError(err)}); the sync cannot get past it and would fail on it at every run. ` +
    (canSplit
      ? "Shrink the document behind it on the source, or use the mongosync engine."
      : "Upgrade the source to 6.0.9+ or 7.0+ and restart the sync, shrink the document behind it, or use the mongosync engine.")
  );
}

/**
 * What `pulumi refresh` needs when no sync process is running: how far the source has moved past the last
 * applied change. Opens a change stream after the checkpoint and only looks (read-only, nothing applied).
 */
export async function peekPendingLag(
  source: ClusterPort,
  state: MigrationState,
  maxWaitMs: number,
): Promise<{ pending: boolean; lagSeconds: number } | { historyLost: string }> {
  const token = decodeBson<Document>(state.replay.resumeToken);
  const t0 = decodeTimestamp(state.t0);
  let cursor: ChangeCursor | undefined;
  try {
    cursor = token
      ? await source.watch({ resumeAfter: token, ...STREAM_SHAPE })
      : t0
        ? await source.watch({ startAtOperationTime: t0, ...STREAM_SHAPE })
        : undefined;
    if (!cursor) return { pending: false, lagSeconds: 0 };
    const events = await cursor.nextBatch(maxWaitMs);
    if (events.length === 0) return { pending: false, lagSeconds: 0 };
    const now = await source.clusterTime();
    return { pending: true, lagSeconds: now ? Math.max(0, now.t - events[0].clusterTime.t) : 0 };
  } catch (err) {
    if (isHistoryLost(err)) return { historyLost: describeError(err) };
    throw err;
  } finally {
    await cursor?.close().catch(() => undefined);
  }
}

function lagFrom(now: Timestamp | undefined, last: Timestamp): number {
  return now ? Math.max(0, now.t - last.t) : 0;
}

/** Writes blocked: the stream has been empty for this long (over two polls or more) before replay calls it drained. */
const DRAIN_QUIET_MS = 1000;

async function markFailed(env: RunEnv, reason: string): Promise<void> {
  // During a cutover the source may already be write-blocked: the reason must say so, and that restarting
  // (which copies everything again) leaves it blocked until undone.
  const blocked = blockedNotice(env.session.state);
  const full = blocked
    ? `${reason} ${blocked}. Restarting copies everything again while writes stay blocked: undo the blocking first ` +
      `(\`atlas-migrate unblock ${env.spec.migrationId}\`), then restart`
    : reason;
  await env.session.update((s) => {
    s.phase = "FAILED";
    s.failure = full;
  });
  env.log(`phase FAILED: ${full}`);
}

/**
 * Applies change events until `until` is met, env.stopAt passes, or the sync fails (FAILED is written to the
 * checkpoint, never thrown). Checkpoints the resume token after every apply (see the pipeline at the top).
 */
export async function runReplay(env: RunEnv, until: ReplayUntil): Promise<ReplayOutcome> {
  const { spec, ctx } = env;
  const waitMs = Math.max(0, env.replayWaitMs);
  let cursor: ChangeCursor | undefined;
  let reader: ChangeReader | undefined;
  let failures = 0;
  let lastEventAt = ctx.now();
  let lastLogAt = -Infinity;
  /** The idle run: when its first empty batch was read, and how many empty batches it holds. */
  let emptySince: number | undefined;
  let emptyPolls = 0;
  const writer = new LaneWriter(env);
  // The latest checkpoint: each waits for its writes and for the checkpoint before it, so they are written in
  // order; awaited before a stream is reopened from it and before returning.
  let checkpoint: Promise<void> = Promise.resolve();
  // Issued applies, and checkpoints, not yet awaited: no more than APPLIES_IN_FLIGHT of each are out at once.
  const applies: Promise<void>[] = [];
  const checkpoints: Promise<void>[] = [];
  const room = async (out: Promise<void>[]): Promise<void> => {
    while (out.length >= APPLIES_IN_FLIGHT) await out.shift();
  };
  /** What the newest written checkpoint found: lag within readyLagSeconds with the copy done. */
  let ready = false;
  const pending = new PendingOps();
  const perApply = Math.max(1, spec.builtin.replayBatchSize) * LANES;
  const t0 = decodeTimestamp(env.session.state.t0);
  const closeStream = async (): Promise<void> => {
    reader?.stop();
    reader = undefined;
    await cursor?.close().catch(() => undefined);
    cursor = undefined;
  };
  try {
    for (;;) {
      if (ctx.now() >= env.stopAt) {
        await checkpoint;
        return "stopped";
      }
      let batches: ReadBatch[];
      try {
        if (!reader) {
          await checkpoint;
          const opened = (cursor = await openCursor(env));
          // The first read does not await: with nothing to apply (`create` on an empty source) replay knows at
          // once that it is caught up, instead of after a whole await.
          reader = new ChangeReader((wait) => nextWholeBatch(opened, wait, Math.max(wait, waitMs)), opened, ctx.now, 0, waitMs, READ_AHEAD);
        }
        batches = await reader.take();
      } catch (err) {
        await closeStream();
        if (isHistoryLost(err)) {
          await checkpoint;
          await markFailed(env, historyLostReason(spec.migrationId));
          return "failed";
        }
        if (isEventTooLarge(err)) {
          await checkpoint;
          await markFailed(env, await eventTooLargeReason(env, err));
          return "failed";
        }
        failures++;
        if (!isRetryable(err) || failures >= DEFAULT_RETRY.attempts) throw err;
        env.metrics.retries++;
        const delay = backoffMs(failures);
        env.log(`replay: transient error (${describeError(err)}); reopening the change stream in ${delay} ms`);
        await ctx.sleep(delay);
        continue;
      }
      failures = 0;

      let applied = 0;
      let last: ChangeEvent | undefined;
      const fence = batches.some((b) => b.events.length > 0) ? new Fence(env) : undefined;
      const lease = (): Promise<void> => fence?.take() ?? env.session.assertLease();
      for (const batch of batches) {
        for (const ev of batch.events) {
          applied++;
          last = ev;
          if (CRUD.has(ev.operationType)) {
            const db = ev.ns?.db;
            const coll = ev.ns?.coll;
            if (!db || !coll || !env.matcher.includes(db, coll)) continue;
            const ns = { db, coll };
            const made = operationFor(env, ns, ev);
            const op = made instanceof Promise ? await made : made;
            if (!op) continue;
            pending.add(`${db}.${coll}`, ns, ev.documentKey?._id, op);
            if (pending.count >= perApply) {
              await room(applies);
              applies.push(writer.issue(pending, lease()));
            }
          } else if (ev.operationType === "endOfTransaction") {
            // 8.0+: marks the end of a transaction's events; it has no `ns` and changes nothing to replay.
            continue;
          } else {
            // DDL at or before T0 happened before the copy listed anything (T0 was read after it): the copy
            // already reflects it. Only possible for the very first events of a stream started at T0.
            if (t0 && compareTimestamps(ev.clusterTime, t0) <= 0) continue;
            // Every earlier write acknowledged, and a lease check passed: DDL writes to the target too.
            if (pending.count > 0) writer.issue(pending, lease());
            await writer.acknowledged();
            await fence?.settle();
            try {
              await applyDdl(env, ev);
            } catch (err) {
              if (!(err instanceof DdlRefused)) throw err;
              await checkpoint;
              await markFailed(env, err.message);
              return "failed";
            }
          }
        }
      }
      // The source's time for the lag, fetched while the writes are in flight.
      const newest = last;
      const lagNow = newest ? withRetry("clusterTime", ctx, () => env.source.clusterTime()).then((now) => lagFrom(now, newest.clusterTime)) : Promise.resolve(0);
      lagNow.catch(() => undefined);
      let acked: Promise<void>;
      if (pending.count > 0) {
        await room(applies);
        applies.push((acked = writer.issue(pending, lease())));
      } else acked = writer.acknowledged();
      if (applied > 0) lastEventAt = ctx.now();
      const token = batches[batches.length - 1].token;
      const earlier = checkpoint;
      // Once everything taken is applied and acknowledged, its last batch's token may be checkpointed.
      checkpoint = (async () => {
        await acked;
        await fence?.settle();
        const lag = await lagNow;
        await earlier;
        env.metrics.appliedEvents += applied;
        env.metrics.replayBatches += batches.length;
        const state = env.session.state;
        const readyNow = state.copy.done && lag <= spec.timeouts.readyLagSeconds;
        const encodedToken = token ? encodeBson(token) : undefined;
        const appliedTotal = state.replay.appliedEvents + applied;
        const phaseNow = state.phase === "SYNCING" || state.phase === "READY_FOR_CUTOVER" ? (readyNow ? "READY_FOR_CUTOVER" : "SYNCING") : state.phase;
        const stateChanged =
          applied > 0 ||
          (encodedToken !== undefined && encodedToken !== state.replay.resumeToken) ||
          state.replay.lagSeconds !== lag ||
          state.phase !== (readyNow ? "READY_FOR_CUTOVER" : "SYNCING");
        if (stateChanged) {
          // When idle, this write is the poll's lease check (a compare-and-set on the lease).
          await env.session.update((s) => {
            if (encodedToken) s.replay.resumeToken = encodedToken;
            s.replay.lagSeconds = lag;
            s.replay.measuredAt = new Date(ctx.now()).toISOString();
            s.replay.appliedEvents += applied;
            if (s.phase === "SYNCING" || s.phase === "READY_FOR_CUTOVER") s.phase = readyNow ? "READY_FOR_CUTOVER" : "SYNCING";
          });
        } else {
          // Idle: nothing to write, but keep the lease alive and notice a takeover (cutover, cancel) promptly.
          await env.session.assertLease();
        }
        ready = readyNow;
        await env.hooks.afterReplayBatch?.({ events: applied, lagSeconds: lag });
        if (ctx.now() - lastLogAt >= 10_000 || (applied === 0 && until !== "forever")) {
          lastLogAt = ctx.now();
          env.log(`phase ${phaseNow}: lag ${lag}s, ${appliedTotal} events applied`);
        }
      })();
      checkpoint.catch(() => undefined); // observed where `checkpoint` or `checkpoints` is awaited
      // An idle poll waits for its checkpoint (the lease check paces the loop); a busy one reads on.
      if (applied === 0) await checkpoint;
      else {
        await room(checkpoints);
        checkpoints.push(checkpoint);
      }

      for (const batch of batches) {
        if (batch.events.length > 0) {
          emptySince = undefined;
          emptyPolls = 0;
        } else {
          emptySince ??= batch.readAt;
          emptyPolls++;
        }
      }
      const idleFor = emptySince === undefined ? 0 : batches[batches.length - 1].readAt - emptySince;

      // Caught up as far as the lag tells (the checkpoint under way decides, once its writes are acknowledged).
      if (until === "ready" && env.session.state.copy.done && (await lagNow) <= spec.timeouts.readyLagSeconds) {
        await checkpoint;
        if (ready) return "ready";
      }
      // Writes are blocked: two empty polls a second apart mean nothing is left (one could race a write that
      // was acknowledged just before blocking and is not visible to the stream yet); the polls themselves await.
      if (until === "drained" && emptyPolls >= 2 && idleFor >= DRAIN_QUIET_MS) {
        await checkpoint;
        return "drained";
      }
      if (until === "quiet" && applied === 0 && ctx.now() - lastEventAt >= spec.builtin.quietSeconds * 1000) {
        await checkpoint;
        return "quiet";
      }
    }
  } finally {
    reader?.stop();
    // Nothing this call issued may still be running when it returns or throws.
    await writer.settled();
    await Promise.allSettled([checkpoint, ...applies, ...checkpoints]);
    await cursor?.close().catch(() => undefined);
  }
}

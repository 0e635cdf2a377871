// Replay: one change stream over the whole source, from T0 (or the checkpointed resume token), applied to the
// target idempotently by document key:
//   insert / replace / update  → replaceOne({_id}, fullDocument, {upsert: true})   (updateLookup image)
//   update whose document is gone → deleteOne({_id})
//   delete                        → deleteOne({_id})
// Within a batch only the last operation per key is kept (each is a whole-document overwrite, so the last one
// decides), which keeps per-key order and shrinks bursts of updates on hot documents.
//
// DDL: drop, rename and dropDatabase are mirrored; `create` is mirrored (the new collection is created with
// its options; its indexes arrive as createIndexes, which stops the sync). Any other DDL (createIndexes,
// dropIndexes, modify, shardCollection, …) on a migrated namespace stops the sync with FAILED and a reason
// that names the operation, because silently diverging is worse than stopping.
import { BSON, type Document, type Timestamp } from "mongodb";
import { splitsLargeChangeEvents, type ChangeCursor, type ChangeEvent, type ClusterPort, type Namespace, type WriteOperation } from "../../cluster/port";
import { describeError } from "../../errors";
import type { RunEnv } from "./env";
import { buildSyncIndexes, createCollectionsAndViews, includedSourceCollections, recopyCollection } from "./copy";
import { CARRY_AS_STORED, holdsUndefined, noteUndefined, overwriteOp } from "./copy";
import { nsString } from "./namespaces";
import { blockedNotice } from "./writeblock";
import { backoffMs, DEFAULT_RETRY, isHistoryLost, isRetryable, withRetry } from "./retry";
import { compareTimestamps, decodeBson, decodeTimestamp, encodeBson, type MigrationState } from "./state";

const { EJSON } = BSON;

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

function idKey(ns: string, id: unknown): string {
  return `${ns}\u0000${EJSON.stringify({ id }, { relaxed: false })}`;
}

interface PendingOps {
  byNs: Map<string, { ns: Namespace; ops: Map<string, WriteOperation> }>;
  count: number;
}

/**
 * The write that brings the target's copy of the event's document to the source's state. `fullDocument` null
 * means "deleted since" (updateLookup found nothing); absent means the port did not look it up, so we do.
 */
async function operationFor(env: RunEnv, ns: Namespace, ev: ChangeEvent): Promise<WriteOperation | undefined> {
  const id = ev.documentKey?._id;
  if (id === undefined) return undefined;
  if (ev.operationType === "delete") return { deleteOne: { filter: { _id: id } } };
  const doc = ev.fullDocument !== undefined ? ev.fullDocument : await withRetry("findById", env.ctx, () => env.source.findById(ns, id));
  if (!doc) return { deleteOne: { filter: { _id: id } } };
  if (holdsUndefined(doc)) await noteUndefined(env, nsString(ns));
  return overwriteOp(doc);
}

async function flushOps(env: RunEnv, pending: PendingOps): Promise<void> {
  if (pending.count === 0) return;
  await env.session.assertLease();
  await Promise.all(
    [...pending.byNs.values()].map(({ ns, ops }) =>
      withRetry(`apply ${nsString(ns)}`, env.ctx, () => env.target.bulkWrite(ns, [...ops.values()], true, CARRY_AS_STORED)),
    ),
  );
  pending.byNs.clear();
  pending.count = 0;
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
export async function nextWholeBatch(cursor: ChangeCursor, maxWaitMs: number): Promise<ChangeEvent[]> {
  const raw = await cursor.nextBatch(maxWaitMs);
  const open = (): boolean => {
    const last = raw[raw.length - 1];
    return last?.splitEvent !== undefined && last.splitEvent.fragment < last.splitEvent.of;
  };
  for (let idle = 0; open(); ) {
    const more = await cursor.nextBatch(maxWaitMs);
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

async function lagOf(env: RunEnv, last: Timestamp): Promise<number> {
  const now = await withRetry("clusterTime", env.ctx, () => env.source.clusterTime());
  return now ? Math.max(0, now.t - last.t) : 0;
}

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
 * checkpoint, never thrown). Checkpoints the resume token after every applied batch.
 */
export async function runReplay(env: RunEnv, until: ReplayUntil): Promise<ReplayOutcome> {
  const { spec, ctx } = env;
  const maxWaitMs = env.replayWaitMs;
  let cursor: ChangeCursor | undefined;
  let failures = 0;
  let lastEventAt = ctx.now();
  let lastLogAt = -Infinity;
  let emptyPolls = 0;
  const pending: PendingOps = { byNs: new Map(), count: 0 };
  const t0 = decodeTimestamp(env.session.state.t0);
  try {
    for (;;) {
      if (ctx.now() >= env.stopAt) return "stopped";
      let events: ChangeEvent[];
      try {
        cursor ??= await openCursor(env);
        events = await nextWholeBatch(cursor, maxWaitMs);
      } catch (err) {
        await cursor?.close().catch(() => undefined);
        cursor = undefined;
        if (isHistoryLost(err)) {
          await markFailed(env, historyLostReason(spec.migrationId));
          return "failed";
        }
        if (isEventTooLarge(err)) {
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

      for (const ev of events) {
        if (CRUD.has(ev.operationType)) {
          const db = ev.ns?.db;
          const coll = ev.ns?.coll;
          if (!db || !coll || !env.matcher.includes(db, coll)) continue;
          const op = await operationFor(env, { db, coll }, ev);
          if (!op) continue;
          const name = `${db}.${coll}`;
          let entry = pending.byNs.get(name);
          if (!entry) {
            entry = { ns: { db, coll }, ops: new Map() };
            pending.byNs.set(name, entry);
          }
          const key = idKey(name, ev.documentKey?._id);
          if (!entry.ops.delete(key)) pending.count++;
          entry.ops.set(key, op); // re-inserted last: the newest operation for this key wins
          if (pending.count >= spec.builtin.replayBatchSize) await flushOps(env, pending);
        } else if (ev.operationType === "endOfTransaction") {
          // 8.0+: marks the end of a transaction's events; it has no `ns` and changes nothing to replay.
          continue;
        } else {
          // DDL at or before T0 happened before the copy listed anything (T0 was read after it): the copy
          // already reflects it. Only possible for the very first events of a stream started at T0.
          if (t0 && compareTimestamps(ev.clusterTime, t0) <= 0) continue;
          await flushOps(env, pending);
          try {
            await applyDdl(env, ev);
          } catch (err) {
            if (!(err instanceof DdlRefused)) throw err;
            await markFailed(env, err.message);
            return "failed";
          }
        }
      }
      await flushOps(env, pending);

      const lag = events.length === 0 ? 0 : await lagOf(env, events[events.length - 1].clusterTime);
      const token = cursor.resumeToken();
      env.metrics.appliedEvents += events.length;
      env.metrics.replayBatches++;
      if (events.length > 0) lastEventAt = ctx.now();
      const readyNow = env.session.state.copy.done && lag <= spec.timeouts.readyLagSeconds;
      const encodedToken = token ? encodeBson(token) : undefined;
      const stateChanged =
        events.length > 0 ||
        (encodedToken !== undefined && encodedToken !== env.session.state.replay.resumeToken) ||
        env.session.state.replay.lagSeconds !== lag ||
        env.session.state.phase !== (readyNow ? "READY_FOR_CUTOVER" : "SYNCING");
      if (stateChanged) {
        await env.session.update((s) => {
          if (encodedToken) s.replay.resumeToken = encodedToken;
          s.replay.lagSeconds = lag;
          s.replay.measuredAt = new Date(ctx.now()).toISOString();
          s.replay.appliedEvents += events.length;
          if (s.phase === "SYNCING" || s.phase === "READY_FOR_CUTOVER") s.phase = readyNow ? "READY_FOR_CUTOVER" : "SYNCING";
        });
      } else {
        // Idle: nothing to write, but keep the lease alive and notice a takeover (cutover, cancel) promptly.
        await env.session.assertLease();
      }
      await env.hooks.afterReplayBatch?.({ events: events.length, lagSeconds: lag });
      if (ctx.now() - lastLogAt >= 10_000 || (events.length === 0 && until !== "forever")) {
        lastLogAt = ctx.now();
        env.log(`phase ${env.session.state.phase}: lag ${lag}s, ${env.session.state.replay.appliedEvents} events applied`);
      }

      if (until === "ready" && readyNow) return "ready";
      // Writes are blocked: two empty polls a second apart mean nothing is left (one could race a write that
      // was acknowledged just before blocking and is not visible to the stream yet).
      if (until === "drained" && events.length === 0) {
        if (++emptyPolls >= 2) return "drained";
        await ctx.sleep(1000);
      } else emptyPolls = 0;
      if (until === "quiet" && events.length === 0) {
        if (ctx.now() - lastEventAt >= spec.builtin.quietSeconds * 1000) return "quiet";
        await ctx.sleep(Math.min(1000, spec.builtin.quietSeconds * 1000));
      }
      if (until === "forever" && events.length === 0) await ctx.sleep(1000);
    }
  } finally {
    await cursor?.close().catch(() => undefined);
  }
}

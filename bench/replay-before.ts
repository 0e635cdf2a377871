// The replay loop as it was before the pipeline (main at e57118e, provider/engines/builtin/replay.ts), kept only
// so `npm run bench` can measure before and after in the same run. CRUD only (the bench writes no DDL): read a
// batch (200 ms await), for each flush of replayBatchSize operations a lease check and one ordered bulk write per
// namespace, then the lag's clusterTime and the checkpoint, one after another; an EJSON string per event as the
// dedup key; a 1 s sleep after an empty poll. Never used by the product.
import { BSON, type Document, type Timestamp } from "mongodb";
import type { ChangeCursor, ChangeEvent, Namespace, WriteOperation } from "../provider/cluster/port";
import type { RunEnv } from "../provider/engines/builtin/env";
import { CARRY_AS_STORED, holdsUndefined, noteUndefined, overwriteOp } from "../provider/engines/builtin/copy";
import { nsString } from "../provider/engines/builtin/namespaces";
import { nextWholeBatch } from "../provider/engines/builtin/replay";
import { withRetry } from "../provider/engines/builtin/retry";
import { decodeBson, decodeTimestamp, encodeBson } from "../provider/engines/builtin/state";

const { EJSON } = BSON;
const CRUD = new Set(["insert", "update", "replace", "delete"]);
/** The old DEFAULT_REPLAY_WAIT_MS. */
const OLD_WAIT_MS = 200;

function idKey(ns: string, id: unknown): string {
  return `${ns}\u0000${EJSON.stringify({ id }, { relaxed: false })}`;
}

interface PendingOps {
  byNs: Map<string, { ns: Namespace; ops: Map<string, WriteOperation> }>;
  count: number;
}

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

async function openCursor(env: RunEnv): Promise<ChangeCursor> {
  const s = env.session.state;
  const shape = { omitUpdateDescription: true, splitLargeEvents: true } as const;
  const token = decodeBson<Document>(s.replay.resumeToken);
  if (token) return env.source.watch({ resumeAfter: token, ...shape });
  return env.source.watch({ startAtOperationTime: decodeTimestamp(s.t0)!, ...shape });
}

async function lagOf(env: RunEnv, last: Timestamp): Promise<number> {
  const now = await withRetry("clusterTime", env.ctx, () => env.source.clusterTime());
  return now ? Math.max(0, now.t - last.t) : 0;
}

/** The old runReplay(env, "forever") minus its DDL and error branches (the bench has neither). */
export async function runReplayBefore(env: RunEnv): Promise<"stopped"> {
  const { spec, ctx } = env;
  const pending: PendingOps = { byNs: new Map(), count: 0 };
  const cursor = await openCursor(env);
  try {
    for (;;) {
      if (ctx.now() >= env.stopAt) return "stopped";
      const events = await nextWholeBatch(cursor, OLD_WAIT_MS);
      for (const ev of events) {
        if (!CRUD.has(ev.operationType)) throw new Error(`bench: unexpected ${ev.operationType} event`);
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
        entry.ops.set(key, op);
        if (pending.count >= spec.builtin.replayBatchSize) await flushOps(env, pending);
      }
      await flushOps(env, pending);
      const lag = events.length === 0 ? 0 : await lagOf(env, events[events.length - 1].clusterTime);
      const token = cursor.resumeToken();
      env.metrics.appliedEvents += events.length;
      env.metrics.replayBatches++;
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
        await env.session.assertLease();
      }
      if (events.length === 0) await ctx.sleep(1000);
    }
  } finally {
    await cursor.close().catch(() => undefined);
  }
}

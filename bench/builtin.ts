// Benchmarks of the builtin engine over any pair of ClusterPorts reachable by URI (memory:// or mongodb://).
// Each returns raw measurements; bench/index.ts prints them as ratios. Wall-clock time here is the point, so
// the context uses the real clock (tests use a virtual one and never time anything).
import { performance } from "perf_hooks";
import type { Document } from "mongodb";
import type { ClusterPort, Namespace, WriteOperation } from "../provider/cluster/port";
import { createBuiltinEngine } from "../provider/engines/builtin";
import { makeRunEnv, type RunEnv } from "../provider/engines/builtin/env";
import { runReplay } from "../provider/engines/builtin/replay";
import { newOwnerId, StateSession } from "../provider/engines/builtin/state";
import type { EngineContext, MigrationSpec } from "../provider/engines/engine";

export function realContext(seconds = 600): EngineContext {
  return {
    deadline: Date.now() + seconds * 1000,
    log: () => undefined,
    credentials: {},
    publishSecret: () => undefined,
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

export function benchSpec(id: string, sourceUri: string, targetUri: string, batchBytes: number): MigrationSpec {
  return {
    migrationId: id,
    resourceName: "bench",
    engine: "builtin",
    source: { uri: sourceUri },
    target: { uri: targetUri },
    namespaces: { include: ["bench.*"], exclude: [] },
    verification: "full",
    writeBlocking: "none",
    timeouts: { createSeconds: 600, cutoverSeconds: 600, pollSeconds: 1, readyLagSeconds: 2 },
    builtin: {
      batchBytes,
      parallelCollections: 4,
      partitionDocuments: Number(process.env.BENCH_PARTITION_DOCS ?? 20_000),
      replayBatchSize: 1000,
      readOnlyUsers: [],
      quietSeconds: 1,
      detachedWorker: false,
    },
  };
}

/** A document of roughly `bytes` bytes with a mix of types. */
export function makeDoc(i: number, bytes: number): Document {
  return { _id: i, n: i, at: new Date(1_700_000_000_000 + i), tags: ["a", "b", String(i % 97)], pad: "x".repeat(Math.max(0, bytes - 90)) };
}

export async function seedPort(port: ClusterPort, ns: Namespace, count: number, bytes: number, firstId = 0): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    const ops: WriteOperation[] = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) ops.push({ insertOne: { document: makeDoc(firstId + j, bytes) } });
    await port.bulkWrite(ns, ops, false);
  }
}

/** The baseline: scan every collection in `_id` order and insert each batch, one collection after another. */
export async function bareCopy(source: ClusterPort, target: ClusterPort, namespaces: Namespace[]): Promise<{ ms: number; docs: number }> {
  const t = performance.now();
  let docs = 0;
  for (const ns of namespaces) {
    for await (const batch of source.scan(ns, {}, 1000)) {
      await target.bulkWrite(ns, batch.map((document) => ({ insertOne: { document } })), false);
      docs += batch.length;
    }
  }
  return { ms: performance.now() - t, docs };
}

/** The engine's start + advance until READY (copy, indexes, first replay poll). */
export async function engineCopy(spec: MigrationSpec): Promise<{ ms: number; docs: number; peakBufferedBytes: number }> {
  const engine = createBuiltinEngine({ replayWaitMs: 50 });
  const ctx = realContext();
  const t = performance.now();
  const handle = await engine.start(spec, ctx);
  const status = await engine.advance(spec, handle, ctx);
  if (status.phase !== "READY_FOR_CUTOVER") throw new Error(`engine copy ended in ${status.phase}: ${status.reason ?? ""}`);
  return { ms: performance.now() - t, docs: status.copiedDocuments ?? 0, peakBufferedBytes: engine.lastMetrics.peakBufferedBytes };
}

export interface ReplayFigures {
  catchUpEvents: number;
  catchUpEventsPerSecond: number;
  steadyRatePerSecond: number;
  steadyAppliedPerSecond: number;
  maxLagSeconds: number;
  drainMsAfterWritesStop: number;
}

/**
 * Replay throughput: (1) catch-up — N updates written while nobody replays, then applied; (2) steady — a
 * writer at `ratePerSecond` for `seconds` while replay runs, then the time to drain after it stops.
 */
export async function replayBench(
  spec: MigrationSpec,
  open: (uri: string) => Promise<ClusterPort>,
  ns: Namespace,
  existingIds: number,
  catchUpEvents: number,
  ratePerSecond: number,
  seconds: number,
): Promise<ReplayFigures> {
  const source = await open(spec.source.uri!);
  const target = await open(spec.target.uri!);
  const ctx = realContext();
  const session = new StateSession(target.checkpoints(spec.migrationId), newOwnerId("bench"), ctx.now);
  await session.load();
  await session.acquire();
  let maxLag = 0;
  const env = (stopAt: number): RunEnv =>
    makeRunEnv(
      { spec, source, target, session, ctx },
      {
        log: () => undefined,
        stopAt,
        hooks: { afterReplayBatch: ({ lagSeconds }) => void (maxLag = Math.max(maxLag, lagSeconds ?? 0)) },
        replayWaitMs: 50,
      },
    );
  const update = (i: number): WriteOperation => ({
    replaceOne: { filter: { _id: i % existingIds }, replacement: { ...makeDoc(i % existingIds, 200), v: i }, upsert: true },
  });

  // (1) catch-up
  for (let i = 0; i < catchUpEvents; i += 500) {
    await source.bulkWrite(ns, Array.from({ length: Math.min(500, catchUpEvents - i) }, (_, k) => update(i + k)), true);
  }
  let t = performance.now();
  const e1 = env(Date.now() + 120_000);
  // Timed up to the batch that applied the last written event (not the idle polls that confirm the drain).
  let caughtUpAt = 0;
  e1.hooks = {
    afterReplayBatch: () => {
      if (!caughtUpAt && e1.metrics.appliedEvents >= catchUpEvents) caughtUpAt = performance.now();
    },
  };
  await runReplay(e1, "drained");
  const catchUpMs = (caughtUpAt || performance.now()) - t;

  // (2) steady writes
  maxLag = 0;
  let written = 0;
  let writing = true;
  const writer = (async () => {
    const start = performance.now();
    while (writing) {
      const due = Math.floor(((performance.now() - start) / 1000) * ratePerSecond);
      if (due > written) {
        const n = Math.min(500, due - written);
        await source.bulkWrite(ns, Array.from({ length: n }, (_, k) => update(catchUpEvents + written + k)), true);
        written += n;
      } else await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const e2 = env(Date.now() + seconds * 1000);
  t = performance.now();
  const replaying = runReplay(e2, "forever");
  await new Promise((r) => setTimeout(r, seconds * 1000));
  writing = false;
  await writer;
  await replaying;
  const steadyMs = performance.now() - t;
  const applied = e2.metrics.appliedEvents;
  const drainStart = performance.now();
  const e3 = env(Date.now() + 120_000);
  let drainedAt = 0;
  e3.hooks = { afterReplayBatch: ({ events }) => void (events === 0 && !drainedAt && (drainedAt = performance.now())) };
  await runReplay(e3, "drained");
  const drainMs = (drainedAt || performance.now()) - drainStart;
  await session.release();
  await source.close();
  await target.close();
  return {
    catchUpEvents: e1.metrics.appliedEvents,
    catchUpEventsPerSecond: e1.metrics.appliedEvents / (catchUpMs / 1000),
    steadyRatePerSecond: written / (steadyMs / 1000),
    steadyAppliedPerSecond: applied / (steadyMs / 1000),
    maxLagSeconds: maxLag,
    drainMsAfterWritesStop: drainMs,
  };
}

// Benchmarks of the builtin engine over any pair of ClusterPorts reachable by URI (memory:// or mongodb://).
// Each returns raw measurements; bench/index.ts prints them as ratios. Wall-clock time here is the point, so
// the context uses the real clock (tests use a virtual one and never time anything).
import { performance } from "perf_hooks";
import type { Document } from "mongodb";
import type { ClusterPort, IndexSpec, Namespace, WriteOperation } from "../provider/cluster/port";
import { createBuiltinEngine, runCopy } from "../provider/engines/builtin";
import { DEFAULTS } from "../provider/schema";
import { makeRunEnv } from "../provider/engines/builtin/env";
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

/**
 * A spec with the product's defaults (provider/schema.ts DEFAULTS) unless the caller overrides them: the bench
 * measures what users run, not a setting tuned for it.
 */
export function benchSpec(id: string, sourceUri: string, targetUri: string, builtin: Partial<MigrationSpec["builtin"]> = {}): MigrationSpec {
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
      batchBytes: DEFAULTS.batchBytes,
      parallelCollections: DEFAULTS.parallelCollections,
      partitionDocuments: DEFAULTS.partitionDocuments,
      replayBatchSize: DEFAULTS.replayBatchSize,
      readOnlyUsers: [],
      quietSeconds: 1,
      detachedWorker: false,
      ...builtin,
    },
  };
}

/** A document of roughly `bytes` bytes with a mix of types; `n` is unique, `at` feeds a TTL index. */
export function makeDoc(i: number, bytes: number): Document {
  return { _id: i, n: i, at: new Date(1_700_000_000_000 + i), tags: ["a", "b", String(i % 97)], pad: "x".repeat(Math.max(0, bytes - 90)) };
}

/** The indexes every bench collection carries: secondary, unique and TTL (built inert / at cutover by the engine). */
export const BENCH_INDEXES: IndexSpec[] = [
  { name: "_id_", key: { _id: 1 }, options: {} },
  { name: "tags_1", key: { tags: 1 }, options: {} },
  { name: "n_1", key: { n: 1 }, options: { unique: true } },
  { name: "at_1", key: { at: 1 }, options: { expireAfterSeconds: 86_400 } },
];

export async function seedPort(port: ClusterPort, ns: Namespace, count: number, bytes: number, firstId = 0): Promise<void> {
  await port.createCollection({ db: ns.db, name: ns.coll, kind: "collection", options: {}, indexes: [] });
  await port.createIndexes(ns, BENCH_INDEXES);
  for (let i = 0; i < count; i += 1000) {
    const ops: WriteOperation[] = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) ops.push({ insertOne: { document: makeDoc(firstId + j, bytes) } });
    await port.bulkWrite(ns, ops, false);
  }
}

export interface Timing {
  ms: number;
  cpuMs: number;
  docs: number;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** The baseline: scan every collection in `_id` order and insert each batch, one collection after another. */
export async function bareCopy(source: ClusterPort, target: ClusterPort, namespaces: Namespace[], scanDocs = 1000): Promise<Timing> {
  const t = performance.now();
  const cpu = process.cpuUsage();
  let docs = 0;
  for (const ns of namespaces) {
    for await (const batch of source.scan(ns, {}, scanDocs)) {
      await target.bulkWrite(ns, batch.map((document) => ({ insertOne: { document } })), false);
      docs += batch.length;
    }
  }
  return { ms: performance.now() - t, cpuMs: cpuMsSince(cpu), docs };
}

/** The parts of the builtin engine the copy bench drives: this tree's, or an older build's (loadEngine). */
export interface EngineModules {
  createBuiltinEngine: typeof createBuiltinEngine;
  runCopy: typeof runCopy;
  makeRunEnv: typeof makeRunEnv;
  StateSession: typeof StateSession;
  newOwnerId: typeof newOwnerId;
}

export const CURRENT_ENGINE: EngineModules = { createBuiltinEngine, runCopy, makeRunEnv, StateSession, newOwnerId };

/**
 * The engine of an older build of this repository (its compiled `dist`, made by scripts/bench-baseline.sh), for
 * a before/after comparison in one run. It is driven through the same calls and given the same ports; the
 * interfaces it uses (createBuiltinEngine, runCopy, makeRunEnv, StateSession) have kept their shape.
 */
export function loadEngine(distRoot: string): EngineModules {
  const at = (file: string) => require(`${distRoot}/provider/engines/builtin/${file}`) as Record<string, unknown>;
  return { ...at("index"), ...at("env"), ...at("state") } as unknown as EngineModules;
}

/**
 * The engine's copy as `pulumi up` runs it, minus the first replay poll: start (capabilities, T0, checkpoint)
 * then runCopy (plan, partitions, batches, checkpoints, sync indexes). `open` resolves the spec's URIs.
 */
export async function engineCopy(
  spec: MigrationSpec,
  open: (uri: string) => Promise<ClusterPort>,
  { createBuiltinEngine, runCopy, makeRunEnv, StateSession, newOwnerId }: EngineModules = CURRENT_ENGINE,
): Promise<Timing & { peakBufferedBytes: number }> {
  const engine = createBuiltinEngine({ open });
  const ctx = realContext();
  const t = performance.now();
  const cpu = process.cpuUsage();
  await engine.start(spec, ctx);
  const source = await open(spec.source.uri!);
  const target = await open(spec.target.uri!);
  const session = new StateSession(target.checkpoints(spec.migrationId), newOwnerId("bench"), ctx.now);
  await session.load();
  if (!(await session.acquire())) throw new Error("bench: could not take the sync lease");
  const env = makeRunEnv({ spec, source, target, session, ctx }, { log: () => undefined });
  const outcome = await runCopy(env);
  await session.release();
  const ms = performance.now() - t;
  const cpuMs = cpuMsSince(cpu);
  await source.close();
  await target.close();
  if (outcome !== "done") throw new Error(`bench: engine copy ended ${outcome}`);
  return { ms, cpuMs, docs: env.metrics.copiedDocuments, peakBufferedBytes: env.metrics.peakBufferedBytes };
}

/** `create` end to end: start + advance until READY_FOR_CUTOVER (copy, indexes, first replay poll), product defaults. */
export async function engineCreate(spec: MigrationSpec, open: (uri: string) => Promise<ClusterPort>): Promise<{ ms: number; startMs: number }> {
  const engine = createBuiltinEngine({ open });
  const ctx = realContext();
  const t = performance.now();
  const handle = await engine.start(spec, ctx);
  const startMs = performance.now() - t;
  const status = await engine.advance(spec, handle, ctx);
  if (status.phase !== "READY_FOR_CUTOVER") throw new Error(`engine create ended in ${status.phase}: ${status.reason ?? ""}`);
  return { ms: performance.now() - t, startMs };
}

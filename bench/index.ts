// `npm run bench`: one run of the builtin engine's benchmarks, printed as ratios.
//
//   1. engine copy vs a bare scan→insertMany loop over the same port (MemoryCluster)
//   2. peak bytes the copier held vs the configured batch budget
//   3. replay: catch-up events/s, and lag under a steady write rate
//   4. where a mongod exists (MONGOMS_SYSTEM_BINARY): the same over MongoClusterPort, and the copy vs
//      `mongodump | mongorestore` when those tools are installed; otherwise a line saying why it is skipped.
import { spawnSync } from "child_process";
import { performance } from "perf_hooks";
import { MemoryCluster } from "../provider/cluster/memory/memory-cluster";
import { openCluster } from "../provider/cluster/open";
import type { ClusterPort, Namespace } from "../provider/cluster/port";
import { bareCopy, benchSpec, engineCopy, replayBench, seedPort } from "./builtin";

const COLLECTIONS = 4;
const DOCS_PER_COLLECTION = Number(process.env.BENCH_DOCS ?? 25_000);
const DOC_BYTES = 300;
const BATCH_BYTES = 1024 * 1024;

function fmt(n: number, digits = 2): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

function namespaces(): Namespace[] {
  return Array.from({ length: COLLECTIONS }, (_, i) => ({ db: "bench", coll: `c${i}` }));
}

async function seedAll(port: ClusterPort): Promise<void> {
  for (const ns of namespaces()) await seedPort(port, ns, DOCS_PER_COLLECTION, DOC_BYTES);
}

interface Targets {
  engine: string;
  bare: string;
}

/**
 * Copies the seeded data with the bare loop and with the engine, alternating for `targets.length` rounds
 * (fresh targets each round) and keeping each side's best time: a shared machine's noise hits both.
 */
async function copyAndReplay(label: string, sourceUri: string, targets: Targets[]): Promise<void> {
  const source = await openCluster(sourceUri);
  let bareBest = { ms: Infinity, docs: 0 };
  let engineBest = { ms: Infinity, docs: 0, peakBufferedBytes: 0 };
  let spec = benchSpec("unused", sourceUri, targets[0].engine, BATCH_BYTES);
  for (const [round, t] of targets.entries()) {
    const bareTarget = await openCluster(t.bare);
    const bare = await bareCopy(source, bareTarget, namespaces());
    await bareTarget.close();
    if (bare.ms < bareBest.ms) bareBest = bare;
    spec = benchSpec(`bench-${round}-${Date.now()}`, sourceUri, t.engine, BATCH_BYTES);
    const engine = await engineCopy(spec);
    if (engine.ms < engineBest.ms) engineBest = engine;
  }
  const docs = COLLECTIONS * DOCS_PER_COLLECTION;
  console.log(`[${label}] copy of ${fmt(docs, 0)} documents (~${DOC_BYTES} B each, ${COLLECTIONS} collections), best of ${targets.length}`);
  console.log(`  bare scan→insertMany loop: ${fmt(bareBest.ms, 0)} ms (${fmt(bareBest.docs / (bareBest.ms / 1000), 0)} docs/s)`);
  console.log(
    `  engine copy (partitions, byte batches, upserts, checkpoints, indexes): ${fmt(engineBest.ms, 0)} ms ` +
      `(${fmt(engineBest.docs / (engineBest.ms / 1000), 0)} docs/s)`,
  );
  console.log(`  ratio engine/bare time: ${fmt(engineBest.ms / bareBest.ms)}x`);
  console.log(
    `  peak buffered bytes / batch budget: ${fmt(engineBest.peakBufferedBytes / BATCH_BYTES, 4)} ` +
      `(${fmt(engineBest.peakBufferedBytes, 0)} B of ${fmt(BATCH_BYTES, 0)} B)`,
  );
  const r = await replayBench(spec, openCluster, namespaces()[0], DOCS_PER_COLLECTION, 20_000, 2_000, 5);
  console.log(`  replay catch-up: ${fmt(r.catchUpEvents, 0)} events at ${fmt(r.catchUpEventsPerSecond, 0)} events/s`);
  console.log(
    `  replay under a steady ${fmt(r.steadyRatePerSecond, 0)} writes/s: applied ${fmt(r.steadyAppliedPerSecond, 0)} events/s ` +
      `(ratio ${fmt(r.steadyAppliedPerSecond / r.steadyRatePerSecond)}), max lag ${r.maxLagSeconds} s, ` +
      `drained ${fmt(r.drainMsAfterWritesStop, 0)} ms after writes stopped`,
  );
  await source.close();
}

async function memoryRun(): Promise<void> {
  const source = MemoryCluster.create("bench-source");
  await seedAll(source);
  const targets = [0, 1].map((i) => {
    MemoryCluster.create(`bench-target-${i}`);
    MemoryCluster.create(`bench-bare-${i}`);
    return { engine: `memory://bench-target-${i}`, bare: `memory://bench-bare-${i}` };
  });
  await copyAndReplay("MemoryCluster", "memory://bench-source", targets);
}

interface ReplSetLike {
  getUri(): string;
  stop(): Promise<unknown>;
}

function onPath(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
}

async function mongodRun(): Promise<void> {
  const binary = process.env.MONGOMS_SYSTEM_BINARY;
  if (!binary) {
    console.log("[mongod] skipped: MONGOMS_SYSTEM_BINARY is not set (point it at a mongod binary to benchmark MongoClusterPort)");
    return;
  }
  let mms: { MongoMemoryReplSet: { create(options: unknown): Promise<ReplSetLike> } };
  try {
    // Loosely typed: an optional devDependency, loaded only when a mongod is available.
    mms = require("mongodb-memory-server-core") as typeof mms;
  } catch {
    console.log("[mongod] skipped: mongodb-memory-server-core is not installed (npm ci)");
    return;
  }
  const sets = await Promise.all([0, 1, 2].map(() => mms.MongoMemoryReplSet.create({ replSet: { count: 1 }, binary: { systemBinary: binary } })));
  try {
    const [src, dst, bare] = sets.map((s) => s.getUri());
    const source = await openCluster(src);
    await seedAll(source);
    await source.close();
    await copyAndReplay("mongod", src, [{ engine: dst, bare }]);
    if (onPath("mongodump") && onPath("mongorestore")) {
      const restoreTarget = await mms.MongoMemoryReplSet.create({ replSet: { count: 1 }, binary: { systemBinary: binary } });
      sets.push(restoreTarget);
      const t = performance.now();
      const r = spawnSync("sh", ["-c", 'mongodump --quiet --archive --uri "$SRC" --db bench | mongorestore --quiet --archive --uri "$DST"'], {
        env: { ...process.env, SRC: src, DST: restoreTarget.getUri() },
        stdio: "inherit",
      });
      const ms = performance.now() - t;
      if (r.status === 0) console.log(`  mongodump|mongorestore of the same data: ${fmt(ms, 0)} ms`);
      else console.log(`  mongodump|mongorestore failed with status ${r.status}`);
    } else {
      console.log("  mongodump|mongorestore comparison skipped: the MongoDB Database Tools are not on PATH");
    }
  } finally {
    await Promise.all(sets.map((s) => s.stop()));
  }
}

async function main(): Promise<void> {
  await runAll();
}

async function runAll(): Promise<void> {
  console.log(`builtin engine benchmark (node ${process.version}; one run; figures vary with the machine)`);
  await memoryRun();
  await mongodRun();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

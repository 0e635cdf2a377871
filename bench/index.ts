// `npm run bench`: one run of the builtin engine's benchmarks, printed as ratios (never asserted anywhere).
//
//   copy: the engine (start + runCopy, product defaults) vs a bare scan→insertMany loop, over
//     (a) CodecPort — the driver's BSON encode/decode and nothing else (the engine's own cost),
//     (b) MemoryCluster — the test double (its own work dominates; shown so nobody quotes it as the engine's),
//     (c) LatencyPort(CodecPort) at 1, 5 and 20 ms RTT with a per-connection write cap (a network to Atlas);
//     300 B and 16 KB documents, collections with secondary, unique and TTL indexes. Rounds alternate which side
//     goes first, each on fresh targets; figures are medians with the spread (min–max) of the paired ratios.
//   held bytes: an untimed round per data set counting, from outside the engine, the document bytes handed out
//     by source scans and not yet written to the target — process-wide — against the configured budget.
//   create: start + advance to READY_FOR_CUTOVER end to end (includes the first change-stream poll).
//   check: fresh provider processes as the Pulumi host drives them (configure, then check): first and later calls.
//   replay (bench/replay.ts): the pipeline vs the loop before it, catch-up events/s and lag percentiles under an
//     open-loop writer, over the codec-only port and the latency port.
//   baseline: with BENCH_BASELINE set to an older build's dist (scripts/bench-baseline.sh <rev>), that build's copy
//     runs as a third side of every copy scenario (same ports, same rounds): before and after in one run.
//   mongod: where MONGOMS_SYSTEM_BINARY is set, the copy over MongoClusterPort (and mongodump|mongorestore).
//
// Each part (one copy scenario, create, check, replay, mongod) runs in a fresh process of its own (BENCH_PART).
//
// Knobs: BENCH_SCALE (data-set size factor, default 1), BENCH_ROUNDS (rounds per scenario), BENCH_WRITE_MBPS
// (per-connection write cap, default 8), BENCH_MAX_POOL (connections per client, default the driver's 100), BENCH_ONLY (comma list of scenario labels, e.g. "codec,rtt20").
import { spawnSync } from "child_process";
import { performance } from "perf_hooks";
import { MemoryCluster } from "../testing/memory/memory-cluster";
import { openCluster } from "../provider/cluster/open";
import type { ClusterPort, Namespace } from "../provider/cluster/port";
import { DEFAULTS } from "../provider/schema";
import { bareCopy, benchSpec, engineCopy, engineCreate, loadEngine, seedPort, type EngineModules, type Timing } from "./builtin";
import { replayBench } from "./replay";
import { createCodecPort, HeldBytes } from "./ports/codec-port";
import { DRIVER_MAX_POOL_SIZE, withLatency } from "./ports/latency-port";

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const WRITE_BPS = Number(process.env.BENCH_WRITE_MBPS ?? 8) * 1e6;
/** Connections per client in the latency port (the driver's default maxPoolSize unless set). */
const MAX_POOL = Number(process.env.BENCH_MAX_POOL ?? DRIVER_MAX_POOL_SIZE);
const ONLY = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
const BUDGET = DEFAULTS.batchBytes;
/**
 * An older build's dist (scripts/bench-baseline.sh <rev>), whose copy runs as a third side of every copy
 * scenario: "before" figures in the same run as "after".
 */
const BASELINE_DIR = process.env.BENCH_BASELINE;
const BASELINE: EngineModules | undefined = BASELINE_DIR ? loadEngine(BASELINE_DIR) : undefined;

function fmt(n: number, digits = 2): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A data set: collection sizes (documents) of one document size. */
interface DataSet {
  label: string;
  docBytes: number;
  collections: number[];
}

const scaled = (n: number) => Math.max(1, Math.round(n * SCALE));
/** In-memory sets: several collections of equal size. */
const FLAT_SETS: DataSet[] = [
  { label: "300 B", docBytes: 300, collections: [25_000, 25_000, 25_000, 25_000].map(scaled) },
  { label: "16 KB", docBytes: 16_384, collections: [600, 600, 600, 600].map(scaled) },
];
/** Network sets: one dominant collection (below partitionDocuments) and three small ones, the usual shape. */
const SKEWED_SETS: DataSet[] = [
  { label: "300 B", docBytes: 300, collections: [40_000, 2_000, 2_000, 2_000].map(scaled) },
  { label: "16 KB", docBytes: 16_384, collections: [600, 50, 50, 50].map(scaled) },
];

function namespaces(set: DataSet): Namespace[] {
  return set.collections.map((_, i) => ({ db: "bench", coll: `c${i}` }));
}

async function seed(port: ClusterPort, set: DataSet): Promise<void> {
  for (const [i, ns] of namespaces(set).entries()) await seedPort(port, ns, set.collections[i], set.docBytes);
}

/** How a scenario makes ports: a registry the engine's `open` resolves `bench://name` URIs from. */
interface Scenario {
  label: string;
  title: string;
  sets: DataSet[];
  rounds: number;
  /** A fresh deployment (empty), optionally counting held bytes; connect() gives a port to it. */
  makePort(name: string, held?: HeldBytes): Deployment;
  /** Wraps a port as the engine and the bare loop see it (latency), default none. */
  wrap?(port: ClusterPort): ClusterPort;
}

interface Deployment {
  connect(): ClusterPort;
}

/** CodecPort's stores outlive a close, so every connection is the one port. */
const codecDeployment = (name: string, held?: HeldBytes): Deployment => {
  const port = createCodecPort(name, { held });
  return { connect: () => port };
};

const registry = new Map<string, () => ClusterPort>();
let serial = 0;
async function open(uri: string): Promise<ClusterPort> {
  const connect = registry.get(uri);
  return connect ? connect() : openCluster(uri);
}

function register(connect: () => ClusterPort): string {
  const uri = `bench://p${++serial}`;
  registry.set(uri, connect);
  return uri;
}

interface Row {
  engine: Timing[];
  bare: Timing[];
  baseline: Timing[];
  peakBytes?: number;
  selfReportedPeak?: number;
}

async function runScenario(sc: Scenario, set: DataSet): Promise<Row> {
  const wrap = sc.wrap ?? ((p: ClusterPort) => p);
  const sourceDeployment = sc.makePort(`src-${++serial}`);
  await seed(sourceDeployment.connect(), set);
  const source = wrap(sourceDeployment.connect());
  const sourceUri = register(() => wrap(sourceDeployment.connect()));
  const nss = namespaces(set);
  const row: Row = { engine: [], bare: [], baseline: [] };
  const all: Array<"bare" | "engine" | "baseline"> = BASELINE && sc.label !== "memory" ? ["bare", "engine", "baseline"] : ["bare", "engine"];
  for (let round = 0; round < sc.rounds; round++) {
    // Each round starts with another side (two sides: they alternate).
    const sides = all.map((_, k) => all[(k + round) % all.length]);
    for (const side of sides) {
      const targetDeployment = sc.makePort(`dst-${++serial}`);
      if (side === "bare") row.bare.push(await bareCopy(source, wrap(targetDeployment.connect()), nss));
      else {
        const targetUri = register(() => wrap(targetDeployment.connect()));
        const modules = side === "baseline" ? BASELINE : undefined;
        (side === "baseline" ? row.baseline : row.engine).push(await engineCopy(benchSpec(`bench-${serial}`, sourceUri, targetUri), open, modules));
        // Let the round's target go, as the bare loop's does: a registry that kept every target alive would
        // charge the engine's later rounds for collecting an ever larger heap.
        registry.delete(targetUri);
      }
      (global as { gc?: () => void }).gc?.();
    }
  }
  return row;
}

/** One untimed copy with a HeldBytes counter shared by the source and the target. */
async function heldBytes(sc: Scenario, set: DataSet): Promise<{ peak: number; selfReported: number }> {
  const wrap = sc.wrap ?? ((p: ClusterPort) => p);
  const held = new HeldBytes();
  const source = sc.makePort(`src-${++serial}`, held);
  await seed(source.connect(), set);
  held.reset();
  const target = sc.makePort(`dst-${++serial}`, held);
  const spec = benchSpec(`bench-held-${serial}`, register(() => wrap(source.connect())), register(() => wrap(target.connect())));
  const r = await engineCopy(spec, open);
  return { peak: held.peak, selfReported: r.peakBufferedBytes };
}

function report(sc: Scenario, set: DataSet, row: Row): void {
  const docs = set.collections.reduce((a, b) => a + b, 0);
  const wallRatios = row.engine.map((e, i) => e.ms / row.bare[i].ms);
  const cpuRatios = row.engine.map((e, i) => e.cpuMs / row.bare[i].cpuMs);
  const eMs = median(row.engine.map((t) => t.ms));
  const bMs = median(row.bare.map((t) => t.ms));
  const spread = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  console.log(
    `[${sc.label} ${set.label}] ${fmt(docs, 0)} docs in ${set.collections.length} collections (${set.collections.map((n) => fmt(n, 0)).join("/")}), ${sc.rounds} rounds`,
  );
  console.log(
    `  engine ${fmt(eMs, 0)} ms (${fmt(docs / (eMs / 1000), 0)} docs/s) | bare ${fmt(bMs, 0)} ms (${fmt(docs / (bMs / 1000), 0)} docs/s)` +
      ` | engine/bare wall ${fmt(median(wallRatios))}x [${spread(wallRatios)}], CPU ${fmt(median(cpuRatios))}x [${spread(cpuRatios)}]`,
  );
  if (row.baseline.length > 0) {
    const faster = row.engine.map((e, i) => row.baseline[i].ms / e.ms);
    const baseMs = median(row.baseline.map((t) => t.ms));
    console.log(
      `  baseline (${BASELINE_DIR}) ${fmt(baseMs, 0)} ms (${fmt(docs / (baseMs / 1000), 0)} docs/s) | engine/baseline docs/s ${fmt(median(faster))}x [${spread(faster)}]`,
    );
  }
  if (row.peakBytes !== undefined) {
    console.log(
      `  held bytes (process-wide, measured at the ports): peak ${fmt(row.peakBytes / 1e6)} MB = ${fmt(row.peakBytes / BUDGET)} x budget ` +
        `(${fmt(BUDGET / 1e6)} MB); engine's own peakBufferedBytes ${fmt((row.selfReportedPeak ?? 0) / 1e6)} MB`,
    );
  }
}

function codecScenarios(): Scenario[] {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 0);
  const codec = codecDeployment;
  const list: Scenario[] = [
    { label: "codec", title: "codec-only port", sets: FLAT_SETS, rounds: rounds || 7, makePort: codec },
    {
      label: "memory",
      title: "MemoryCluster",
      sets: FLAT_SETS,
      rounds: rounds || 3,
      makePort: (name) => {
        const cluster = new MemoryCluster({ name });
        return { connect: () => cluster.connect() };
      },
    },
  ];
  for (const rtt of [1, 5, 20]) {
    list.push({
      label: `rtt${rtt}`,
      title: `latency port, ${rtt} ms RTT, ${fmt(WRITE_BPS / 1e6)} MB/s per connection, maxPoolSize ${MAX_POOL} per client`,
      sets: SKEWED_SETS,
      rounds: rounds || 3,
      makePort: codec,
      wrap: (p) => withLatency(p, { rttMs: rtt, writeBytesPerSecond: WRITE_BPS, maxPoolSize: MAX_POOL }),
    });
  }
  return ONLY ? list.filter((s) => ONLY.includes(s.label)) : list;
}

/** The copy scenarios of one label (codec, memory, rtt1, …), after a warm-up. */
async function copyBench(label: string): Promise<void> {
  // Warm-up (discarded): JIT and allocation paths of both sides before anything is timed.
  const warm: Scenario = { label: "warm-up", title: "", sets: [], rounds: 2, makePort: codecDeployment };
  await runScenario(warm, { ...FLAT_SETS[0], collections: [5000, 5000] });
  for (const sc of codecScenarios().filter((c) => c.label === label)) {
    console.log(`-- ${sc.title}`);
    for (const set of sc.sets) {
      const row = await runScenario(sc, set);
      if (sc.label !== "memory") {
        const h = await heldBytes(sc, set);
        row.peakBytes = h.peak;
        row.selfReportedPeak = h.selfReported;
      }
      report(sc, set, row);
    }
  }
}

async function createBench(): Promise<void> {
  for (const rtt of [0, 20]) {
    if (ONLY && !ONLY.includes(rtt ? "rtt20" : "codec")) continue;
    const wrap = (p: ClusterPort) => (rtt ? withLatency(p, { rttMs: rtt, writeBytesPerSecond: WRITE_BPS }) : p);
    const times: number[] = [];
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const source = createCodecPort(`create-src-${++serial}`);
      const target = createCodecPort(`create-dst-${serial}`);
      await seedPort(source, { db: "bench", coll: "small" }, 10, 300);
      const spec = benchSpec(`bench-create-${serial}`, register(() => wrap(source)), register(() => wrap(target)));
      const r = await engineCreate(spec, open);
      times.push(r.ms);
      starts.push(r.startMs);
    }
    console.log(
      `[create ${rtt ? `${rtt} ms RTT` : "codec"}] 10-document source to READY_FOR_CUTOVER: median ${fmt(median(times), 0)} ms ` +
        `(start ${fmt(median(starts), 0)} ms; the rest is copy + first change-stream poll)`,
    );
  }
}

/** `check` latency: fresh provider processes (configure, then check), first call and later ones. */
function checkBench(): void {
  if (ONLY && !ONLY.includes("check")) return;
  const runs: Array<{ loadMs: number; configureMs: number; firstMs: number; laterMs: number[] }> = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync(process.execPath, [require.resolve("./check-latency")], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`check bench failed: ${r.stderr}`);
    runs.push(JSON.parse(r.stdout));
  }
  const spread = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  const first = runs.map((r) => r.firstMs);
  const later = runs.flatMap((r) => r.laterMs);
  const configure = runs.map((r) => r.configureMs);
  console.log(
    `[check] ${runs.length} fresh provider processes: first check median ${fmt(median(first))} ms [${spread(first)}], ` +
      `later checks median ${fmt(median(later))} ms (p95 ${fmt([...later].sort((a, b) => a - b)[Math.floor(later.length * 0.95)])} ms); ` +
      `configure (loads and warms the schema, once per process) median ${fmt(median(configure), 0)} ms [${spread(configure)}]`,
  );
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
  const set = FLAT_SETS[0];
  const sets = await Promise.all([0, 1, 2].map(() => mms.MongoMemoryReplSet.create({ replSet: { count: 1 }, binary: { systemBinary: binary } })));
  try {
    const [src, dst, bareUri] = sets.map((s) => s.getUri());
    const source = await openCluster(src);
    await seed(source, set);
    const bareTarget = await openCluster(bareUri);
    const bare = await bareCopy(source, bareTarget, namespaces(set));
    await bareTarget.close();
    await source.close();
    const engine = await engineCopy(benchSpec(`bench-mongod-${Date.now()}`, src, dst), openCluster);
    console.log(`[mongod ${set.label}] engine ${fmt(engine.ms, 0)} ms, bare ${fmt(bare.ms, 0)} ms, engine/bare ${fmt(engine.ms / bare.ms)}x (one round)`);
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

/**
 * The parts of a run, each in a process of its own (BENCH_PART): what one part leaves on the heap (the copy
 * scenarios' data sets, their targets) would otherwise cost the later parts' garbage collection, and a part
 * that ran later would be measured on a busier heap than one that ran first.
 */
const COPY_LABELS = ["codec", "memory", "rtt1", "rtt5", "rtt20"];
const PARTS = [...COPY_LABELS.map((l) => `copy:${l}`), "create", "check", "replay", "mongod"];

async function runPart(part: string): Promise<void> {
  if (part.startsWith("copy:")) await copyBench(part.slice("copy:".length));
  else if (part === "create") await createBench();
  else if (part === "check") checkBench();
  else if (part === "replay") await replayBench(ONLY);
  else if (part === "mongod") await mongodRun();
  else throw new Error(`bench: no part ${part}`);
}

async function main(): Promise<void> {
  const part = process.env.BENCH_PART;
  if (part) return runPart(part);
  console.log(
    `builtin engine benchmark (node ${process.version}; one run; ratios, not absolute speed, are the point; ` +
      `budget ${fmt(BUDGET / 1e6)} MB, parallelCollections ${DEFAULTS.parallelCollections}, partitionDocuments ${fmt(DEFAULTS.partitionDocuments, 0)}; ` +
      "each part in a fresh process)",
  );
  for (const p of PARTS) {
    if (ONLY && p.startsWith("copy:") && !ONLY.includes(p.slice("copy:".length))) continue;
    const r = spawnSync(process.execPath, [...process.execArgv, __filename], { env: { ...process.env, BENCH_PART: p }, stdio: "inherit" });
    if (r.status !== 0) throw new Error(`bench: part ${p} failed (status ${r.status ?? r.signal})`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

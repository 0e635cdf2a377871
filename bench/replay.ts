// The replay benchmark (`npm run bench`; BENCH_ONLY=replay runs only this and the copy warm-up): the pipelined
// replay ("after", provider/engines/builtin/replay.ts) against the loop it replaced ("before",
// bench/replay-before.ts), in the same run, over
//   codec    a codec-only source and target (bench/ports/codec-port.ts; the source's change stream from
//            bench/ports/change-stream-port.ts): the driver's encode/decode and nothing else
//   rttN     the same behind a latency port (bench/ports/latency-port.ts) at N = 1, 5, 20 ms RTT and
//            BENCH_WRITE_MBPS per connection — a network to Atlas
// Each round copies 20k 300 B documents (untimed), then measures
//   catch-up   N updates written before replay starts, applied: events/s and client CPU per event
//   sustained  an open-loop writer at BENCH_REPLAY_RATE (10k) writes/s for BENCH_REPLAY_SECONDS (5) while replay
//              runs: the share of the writes applied within the window, the time to drain after it, and the lag
//              of each applied write — target acknowledgement time minus the write's wall time (carried in the
//              document) — as p50/p90/p99 in ms.
// The writer (bench/replay-writer.ts) runs in a worker thread: the application and the source's serialization
// of each event are another process's work on a real deployment, so replay's thread pays only the driver's
// decode of each event, as it would. It owes at most 250 ms of writes: what it could not issue beyond that is
// dropped and reported (so it never tries to catch up forever, and "COULD NOT KEEP ITS RATE" means the figures
// are not at the rate asked). Only replay pays the RTT. Rounds alternate which variant goes first; figures are
// medians with the spread of the per-round values.
import { loadavg } from "os";
import { performance } from "perf_hooks";
import { Worker } from "worker_threads";
import type { ClusterPort, Namespace, WriteOperation } from "../provider/cluster/port";
import { makeRunEnv, type RunEnv } from "../provider/engines/builtin/env";
import { runReplay } from "../provider/engines/builtin/replay";
import { newOwnerId, StateSession } from "../provider/engines/builtin/state";
import type { EngineContext } from "../provider/engines/engine";
import { benchSpec, engineCopy, makeDoc, realContext, seedPort } from "./builtin";
import { runReplayBefore } from "./replay-before";
import { withChangeStream, type ChangeStreamPort } from "./ports/change-stream-port";
import type { WriterInput, WriterOutput } from "./replay-writer";
import { createCodecPort } from "./ports/codec-port";
import { withLatency } from "./ports/latency-port";

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 0) || 3;
const SECONDS = Number(process.env.BENCH_REPLAY_SECONDS ?? 5);
const RATE = Number(process.env.BENCH_REPLAY_RATE ?? 10_000);
const WRITE_BPS = Number(process.env.BENCH_WRITE_MBPS ?? 8) * 1e6;
const DOCS = Math.max(1000, Math.round(20_000 * SCALE));
const CATCH_UP = Math.max(1000, Math.round(20_000 * SCALE));
const NS: Namespace = { db: "bench", coll: "c0" };

type VariantName = "before" | "after";
const VARIANTS: Record<VariantName, (env: RunEnv) => Promise<unknown>> = {
  before: (env) => runReplayBefore(env),
  after: (env) => runReplay(env, "forever"),
};

interface Scenario {
  label: string;
  rttMs: number;
}

const SCENARIOS: Scenario[] = [
  { label: "codec", rttMs: 0 },
  { label: "rtt1", rttMs: 1 },
  { label: "rtt5", rttMs: 5 },
  { label: "rtt20", rttMs: 20 },
];

interface RoundFigures {
  catchUpPerSecond: number;
  catchUpCpuUsPerEvent: number;
  /** CPU seconds per second during the catch-up: near the cores this process gets, replay is CPU-bound. */
  catchUpCores: number;
  writerRate: number;
  writerDropped: number;
  appliedInWindow: number;
  drainMs: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Counts what the target acknowledged and, for documents carrying their write time `w`, the lag of each. */
class Applied {
  count = 0;
  lags: number[] = [];

  reset(): void {
    this.count = 0;
    this.lags = [];
  }

  wrap(port: ClusterPort): ClusterPort {
    const bulkWrite = port.bulkWrite.bind(port);
    return new Proxy(port, {
      get: (target, prop) => {
        if (prop !== "bulkWrite") {
          const value = (target as unknown as Record<string | symbol, unknown>)[prop];
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        }
        return async (ns: Namespace, ops: WriteOperation[], ordered: boolean, options?: never) => {
          const outcome = await bulkWrite(ns, ops, ordered, options);
          if (ns.db !== NS.db) return outcome;
          const at = performance.timeOrigin + performance.now(); // the writer's clock for `w`
          for (const op of ops) {
            this.count++;
            const w = "replaceOne" in op ? op.replaceOne.replacement.w : "updateOne" in op ? (op.updateOne.update[0] as { $replaceWith: { $literal: { w?: unknown } } }).$replaceWith.$literal.w : undefined;
            const ms = typeof w === "number" ? w : (w as { value?: number } | undefined)?.value;
            if (typeof ms === "number") this.lags.push(at - ms);
          }
          return outcome;
        };
      },
    });
  }
}

/** A catch-up write (the sustained ones are made by bench/replay-writer.ts, the same shape plus their time `w`). */
function update(i: number): WriteOperation {
  const id = i % DOCS;
  const doc = { ...makeDoc(id, 200), v: i };
  return { replaceOne: { filter: { _id: id }, replacement: doc, upsert: true } };
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() >= end) return false;
    await pause(1);
  }
  return true;
}

/**
 * The sustained writer (bench/replay-writer.ts) in a worker thread of its own, appending the events it
 * serializes to the source's change log as they arrive.
 */
function threadWriter(source: ChangeStreamPort, rate: number, seconds: number, firstValue: number): Promise<WriterOutput> {
  const log = source.eventLog;
  const last = log.now();
  const input: WriterInput = {
    rate,
    seconds,
    firstValue,
    docs: DOCS,
    db: NS.db,
    coll: NS.coll,
    lastSeq: log.entries.length,
    lastT: last.high >>> 0,
    lastI: last.low >>> 0,
  };
  return new Promise((resolve, reject) => {
    const worker = new Worker(require.resolve("./replay-writer"), { workerData: input });
    worker.on("message", (m: { bytes?: Uint8Array; ends?: Int32Array; times?: Uint32Array; done?: WriterOutput; error?: string }) => {
      if (m.bytes && m.ends && m.times) log.appendEncoded(m.bytes, m.ends, m.times);
      else if (m.done) void worker.terminate().then(() => resolve(m.done!));
      else if (m.error) void worker.terminate().then(() => reject(new Error(`bench writer: ${m.error}`)));
    });
    worker.on("error", reject);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

let serial = 0;

async function round(sc: Scenario, variant: VariantName): Promise<RoundFigures> {
  const sourceData = createCodecPort(`replay-src-${++serial}`);
  const source = withChangeStream(sourceData);
  const target = createCodecPort(`replay-dst-${serial}`);
  await seedPort(sourceData, NS, DOCS, 300); // before T0: no events
  const ports = new Map<string, ClusterPort>([
    [`bench://replay-src-${serial}`, source],
    [`bench://replay-dst-${serial}`, target],
  ]);
  const spec = benchSpec(`bench-replay-${serial}`, `bench://replay-src-${serial}`, `bench://replay-dst-${serial}`);
  await engineCopy(spec, async (uri) => ports.get(uri)!);

  const wrap = (p: ClusterPort) => (sc.rttMs > 0 ? withLatency(p, { rttMs: sc.rttMs, writeBytesPerSecond: WRITE_BPS }) : p);
  const applied = new Applied();
  const ctx: EngineContext = { ...realContext(), deadline: Date.now() + 3_600_000 };
  const replayTarget = applied.wrap(wrap(target));
  const session = new StateSession(replayTarget.checkpoints(spec.migrationId), newOwnerId("bench"), ctx.now);
  await session.load();
  if (!(await session.acquire())) throw new Error("bench: could not take the sync lease");
  const env = makeRunEnv({ spec, source: wrap(source), target: replayTarget, session, ctx }, { log: () => undefined });

  // (1) catch-up
  for (let i = 0; i < CATCH_UP; i += 1000) {
    await source.bulkWrite(NS, Array.from({ length: Math.min(1000, CATCH_UP - i) }, (_, k) => update(i + k)), true);
  }
  const cpu = process.cpuUsage();
  const t = performance.now();
  const running = VARIANTS[variant](env);
  let failure: unknown;
  running.catch((err) => (failure = err));
  if (!(await until(() => applied.count >= CATCH_UP || failure !== undefined, 300_000))) throw new Error("bench: catch-up did not finish");
  if (failure) throw failure;
  const catchUpMs = performance.now() - t;
  const cpuUs = process.cpuUsage(cpu);

  // (2) sustained
  applied.reset();
  const writer = await threadWriter(source, RATE, SECONDS, CATCH_UP);
  const appliedInWindow = applied.count;
  const drainStart = performance.now();
  const drained = await until(() => applied.count >= writer.written || failure !== undefined, 60_000);
  const drainMs = drained ? performance.now() - drainStart : Infinity;
  ctx.deadline = 0; // stopAt follows the deadline: the loop returns at its next check
  await running;
  await session.release();
  const lags = applied.lags.sort((a, b) => a - b);
  return {
    catchUpPerSecond: CATCH_UP / (catchUpMs / 1000),
    catchUpCpuUsPerEvent: (cpuUs.user + cpuUs.system) / CATCH_UP,
    catchUpCores: (cpuUs.user + cpuUs.system) / 1000 / catchUpMs,
    writerRate: writer.written / writer.seconds,
    writerDropped: writer.dropped,
    appliedInWindow: appliedInWindow / Math.max(1, writer.written),
    drainMs,
    p50: percentile(lags, 0.5),
    p90: percentile(lags, 0.9),
    p99: percentile(lags, 0.99),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : "∞");
const spread = (xs: number[], digits = 0) => `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;

export async function replayBench(only?: string[]): Promise<void> {
  if (only && !only.includes("replay") && !SCENARIOS.some((s) => only.includes(`replay-${s.label}`))) return;
  const scenarios = only && !only.includes("replay") ? SCENARIOS.filter((s) => only.includes(`replay-${s.label}`)) : SCENARIOS;
  console.log(
    `-- replay: before (bench/replay-before.ts) vs after (the pipeline), ${fmt(DOCS)} documents, catch-up ${fmt(CATCH_UP)} updates, ` +
      `then ${fmt(RATE)} writes/s for ${SECONDS} s; ${ROUNDS} rounds alternating; medians [spread]; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`,
  );
  for (const sc of scenarios) {
    const rows: Record<VariantName, RoundFigures[]> = { before: [], after: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order: VariantName[] = r % 2 === 0 ? ["before", "after"] : ["after", "before"];
      for (const v of order) {
        rows[v].push(await round(sc, v));
        (global as { gc?: () => void }).gc?.();
      }
    }
    const title = sc.rttMs ? `latency port ${sc.rttMs} ms RTT, ${fmt(WRITE_BPS / 1e6)} MB/s per connection` : "codec-only port";
    console.log(`[replay ${sc.label}] ${title}`);
    for (const v of ["before", "after"] as VariantName[]) {
      const xs = rows[v];
      const col = (f: (x: RoundFigures) => number, digits = 0) => `${fmt(median(xs.map(f)), digits)} [${spread(xs.map(f), digits)}]`;
      const dropped = xs.reduce((n, x) => n + x.writerDropped, 0);
      console.log(
        `  ${v.padEnd(6)} catch-up ${col((x) => x.catchUpPerSecond)} events/s, CPU ${col((x) => x.catchUpCpuUsPerEvent, 1)} µs/event, ${col((x) => x.catchUpCores, 2)} cores | ` +
          `sustained: writer ${col((x) => x.writerRate)} writes/s${dropped ? ` (COULD NOT KEEP ITS RATE: ${fmt(dropped)} writes dropped)` : ""}, ` +
          `applied in window ${col((x) => x.appliedInWindow, 2)}, drained ${col((x) => x.drainMs)} ms after; ` +
          `lag p50 ${col((x) => x.p50)} ms, p90 ${col((x) => x.p90)} ms, p99 ${col((x) => x.p99)} ms`,
      );
    }
    const ratios = rows.after.map((a, i) => a.catchUpPerSecond / rows.before[i].catchUpPerSecond);
    console.log(`  after/before catch-up events/s ${fmt(median(ratios), 2)}x [${spread(ratios, 2)}]`);
  }
}

// What one run of the engine (an advance, a cutover, a worker loop) carries around: the open ports, the
// state session holding the lease, the clock, and the counters the benchmark reads.
import type { ClusterPort } from "../../cluster/port";
import type { EngineContext, MigrationSpec } from "../engine";
import { redact } from "../../errors";
import { namespaceMatcher, type NamespaceMatcher } from "./namespaces";
import type { StateSession } from "./state";

/** Observation points for tests and the benchmark (e.g. write to the source between two batches). */
export interface EngineHooks {
  afterCopyBatch?(info: { ns: string; partition: number; documents: number }): void | Promise<void>;
  afterReplayBatch?(info: { events: number; lagSeconds: number | null }): void | Promise<void>;
  /** Called as each cutover step starts; a throwing hook simulates a crash in that step. */
  beforeCutoverStep?(step: string): void | Promise<void>;
}

export interface RunMetrics {
  /** Largest number of document bytes the copier held in memory at once. */
  peakBufferedBytes: number;
  copiedDocuments: number;
  copiedBytes: number;
  appliedEvents: number;
  replayBatches: number;
  retries: number;
}

export function newMetrics(): RunMetrics {
  return { peakBufferedBytes: 0, copiedDocuments: 0, copiedBytes: 0, appliedEvents: 0, replayBatches: 0, retries: 0 };
}

export interface RunEnv {
  spec: MigrationSpec;
  source: ClusterPort;
  target: ClusterPort;
  session: StateSession;
  ctx: EngineContext;
  matcher: NamespaceMatcher;
  /** Progress line (already prefixed and redacted by the caller's log). */
  log(line: string): void;
  /** Epoch ms at which long loops stop gracefully (a little before ctx.deadline). */
  stopAt: number;
  metrics: RunMetrics;
  hooks: EngineHooks;
  /**
   * How long one change-stream poll awaits new events (the change stream's own await: it returns at the first
   * event, so this paces only an idle stream, its lease checks and its empty checkpoints).
   */
  replayWaitMs: number;
}

export const DEFAULT_REPLAY_WAIT_MS = 1000;

/** Stop a little before the deadline so checkpoints get written and the call returns in time. */
export function stopTime(ctx: EngineContext): number {
  const remaining = ctx.deadline - ctx.now();
  return ctx.deadline - Math.min(5_000, Math.max(0, remaining) * 0.05);
}

/**
 * A RunEnv for one run: the matcher comes from the spec; log, stop time, metrics, hooks and poll wait default
 * to the engine's (redacted ctx.log, a little before ctx.deadline, fresh counters, none, 1 s).
 */
export function makeRunEnv(
  parts: Pick<RunEnv, "spec" | "source" | "target" | "session" | "ctx">,
  overrides: Partial<Pick<RunEnv, "log" | "stopAt" | "metrics" | "hooks" | "replayWaitMs">> = {},
): RunEnv {
  // stopAt follows ctx.deadline, which the provider moves to "now" on Ctrl-C (provider/runtime.ts): the margin
  // before the deadline is fixed here, the deadline itself is read each time.
  const fixed = overrides.stopAt;
  const margin = parts.ctx.deadline - stopTime(parts.ctx);
  return {
    ...parts,
    matcher: namespaceMatcher(parts.spec.namespaces),
    log: overrides.log ?? ((line) => parts.ctx.log(redact(line))),
    get stopAt() {
      return fixed !== undefined ? Math.min(fixed, parts.ctx.deadline) : parts.ctx.deadline - margin;
    },
    metrics: overrides.metrics ?? newMetrics(),
    hooks: overrides.hooks ?? {},
    replayWaitMs: overrides.replayWaitMs ?? DEFAULT_REPLAY_WAIT_MS,
  };
}

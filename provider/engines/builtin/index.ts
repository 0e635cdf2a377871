// The built-in engine: our own copy + change-stream replay on the `mongodb` driver (see DESIGN.md §4).
//
//   preflight.ts  checks, read-only          copy.ts     collections, partitions, batches, indexes
//   replay.ts     change stream → target     cutover.ts  the resumable cutover state machine
//   snapshot.ts   standalone reconciliation  verify.ts   counts + content hashes
//   state.ts      checkpoint + lease         writeblock.ts  stopping source writes
//   worker.ts     `atlas-migrate sync` and starting it detached
//
// Everything the engine knows between calls lives in the checkpoint on the target, so any process (the
// provider in one `pulumi up`, the next `pulumi up`, a detached worker) can pick the migration up.
import { capabilitiesOf, chooseCaptureMode, describeCapabilities } from "../../cluster/capabilities";
import { CHECKPOINT_DATABASE, type ClusterPort } from "../../cluster/port";
import { DeadlineExceededError, EngineFailedError, redact } from "../../errors";
import type {
  CancelReport,
  CutoverReport,
  EngineContext,
  MigrationEngine,
  MigrationHandle,
  MigrationSpec,
  MigrationStatus,
  PreflightReport,
} from "../engine";
import { runCopy } from "./copy";
import { runCutover } from "./cutover";
import { makeRunEnv, newMetrics, type EngineHooks, type RunEnv, type RunMetrics } from "./env";
import { runPreflight } from "./preflight";
import { peekPendingLag, runReplay, type ReplayUntil } from "./replay";
import {
  blockingStore,
  encodeBson,
  readBlocking,
  LeaseLostError,
  newOwnerId,
  readCompletion,
  StateSession,
  storedSpec,
  type MigrationState,
} from "./state";
import { startDetachedWorker } from "./worker";
import { blockedNotice, undoInstructions } from "./writeblock";

export { startDetachedWorker } from "./worker";
export type { EngineHooks, RunMetrics } from "./env";

export interface BuiltinEngineOptions {
  /** Test and benchmark observation points. */
  hooks?: EngineHooks;
  /** Counters of the last call (benchmark). */
  metrics?: RunMetrics;
  /** Opens a cluster by URI; defaults to provider/cluster/open. */
  open?: (uri: string) => Promise<ClusterPort>;
  /** How long one change-stream poll awaits events (ms; it returns at the first one); default 1000. */
  replayWaitMs?: number;
}

function requireUri(uri: string | undefined, which: "source" | "target"): string {
  if (!uri) throw new EngineFailedError(`the builtin engine needs ${which}.uri (a MongoDB connection string)`);
  return uri;
}

export function statusFromState(s: MigrationState, holder: string | null = null): MigrationStatus {
  const blocked = blockedNotice(s);
  return {
    phase: s.phase,
    lagSeconds: s.copy.done && s.captureMode === "changeStream" ? s.replay.lagSeconds : null,
    readyForCutover: s.phase === "READY_FOR_CUTOVER",
    copiedBytes: s.copy.copiedBytes,
    totalBytes: s.copy.totalBytes,
    copiedDocuments: s.copy.copiedDocuments,
    totalDocuments: s.copy.totalDocuments,
    reason: s.failure ?? undefined,
    warnings: [...(blocked && !(s.failure ?? "").includes(blocked) ? [blocked] : []), ...s.warnings],
    details: {
      captureMode: s.captureMode,
      appliedEvents: s.replay.appliedEvents,
      lagMeasuredAt: s.replay.measuredAt ?? null,
      cutoverStep: s.cutover?.step ?? null,
      leaseHolder: holder,
      checkpointDatabase: CHECKPOINT_DATABASE,
    },
  };
}

function completeStatus(report: CutoverReport): MigrationStatus {
  return {
    phase: "COMPLETE",
    lagSeconds: 0,
    readyForCutover: false,
    warnings: [...report.warnings],
    details: { cutoverCompletedAt: report.cutoverCompletedAt, verification: report.verification.summary },
  };
}

/**
 * Moves a migration forward while holding the lease: the rest of the copy, then replay until `until`.
 * Shared by `advance` (until ready) and the `atlas-migrate sync` worker (forever).
 */
export async function driveSync(env: RunEnv, until: ReplayUntil): Promise<void> {
  const s = env.session.state;
  if (s.phase === "FAILED" || s.phase === "COMPLETE" || s.phase === "CUTTING_OVER") return;
  if (!s.copy.done) {
    if (s.phase === "PENDING") await env.session.update((x) => void (x.phase = "COPYING"));
    if ((await runCopy(env)) === "stopped") return;
  }
  if (env.session.state.captureMode === "snapshot") return;
  await runReplay(env, until);
}

export class BuiltinEngine implements MigrationEngine {
  readonly name = "builtin" as const;
  private readonly hooks: EngineHooks;
  private readonly open: (uri: string) => Promise<ClusterPort>;
  lastMetrics: RunMetrics = newMetrics();

  constructor(private readonly options: BuiltinEngineOptions = {}) {
    this.hooks = options.hooks ?? {};
    // Loaded lazily: the engine module stays loadable (and testable with an injected `open`) on its own.
    this.open = options.open ?? ((uri) => (require("../../cluster/open") as typeof import("../../cluster/open")).openCluster(uri));
  }

  private async withTarget<T>(spec: MigrationSpec, fn: (target: ClusterPort) => Promise<T>): Promise<T> {
    const target = await this.open(requireUri(spec.target.uri, "target"));
    try {
      return await fn(target);
    } finally {
      await target.close().catch(() => undefined);
    }
  }

  private async withSource<T>(spec: MigrationSpec, fn: (source: ClusterPort) => Promise<T>): Promise<T> {
    const source = await this.open(requireUri(spec.source.uri, "source"));
    try {
      return await fn(source);
    } finally {
      await source.close().catch(() => undefined);
    }
  }

  private async withBoth<T>(spec: MigrationSpec, fn: (source: ClusterPort, target: ClusterPort) => Promise<T>): Promise<T> {
    return this.withSource(spec, (source) => this.withTarget(spec, (target) => fn(source, target)));
  }

  private env(spec: MigrationSpec, source: ClusterPort, target: ClusterPort, session: StateSession, ctx: EngineContext): RunEnv {
    this.lastMetrics = this.options.metrics ?? newMetrics();
    return makeRunEnv(
      { spec, source, target, session, ctx },
      { metrics: this.lastMetrics, hooks: this.hooks, replayWaitMs: this.options.replayWaitMs },
    );
  }

  async preflight(spec: MigrationSpec, _ctx: EngineContext): Promise<PreflightReport> {
    return this.withBoth(spec, (source, target) => runPreflight(spec, source, target));
  }

  async start(spec: MigrationSpec, ctx: EngineContext): Promise<MigrationHandle> {
    return this.withBoth(spec, async (source, target) => {
      const handle = (startedAt: string, mode: string): MigrationHandle => ({
        engine: "builtin",
        id: spec.migrationId,
        startedAt,
        data: { captureMode: mode, checkpointDatabase: CHECKPOINT_DATABASE },
      });
      const session = new StateSession(target.checkpoints(spec.migrationId), newOwnerId("start"), ctx.now);
      // Both read at once: one round trip.
      const [completed, existing] = await Promise.all([readCompletion(target, spec.migrationId), session.load()]);
      if (completed) {
        return handle(new Date(ctx.now()).toISOString(), "complete");
      }
      if (existing && existing.phase !== "FAILED") {
        if (existing.cancelled && (await session.acquire())) {
          await session.update((s) => void delete s.cancelled);
          await session.release();
        }
        ctx.log(`resuming migration ${spec.migrationId} (phase ${existing.phase})`);
        return handle(existing.startedAt, existing.captureMode);
      }
      if (existing) {
        ctx.log(`previous attempt FAILED (${redact(existing.failure ?? "")}); starting over`);
        await session.store.clear();
        await session.load();
      }

      // T0 first: every change after this instant is replayed, so nothing read later can be missed.
      // How changes are captured follows what the source can do (probed), not its topology or version.
      // The cluster time is asked alongside the probe (one round trip fewer) and used only for a change stream.
      const clusterTime = source.clusterTime();
      clusterTime.catch(() => undefined); // awaited below when needed
      const caps = await capabilitiesOf(source);
      const capture = chooseCaptureMode(caps, spec.builtin.sync);
      if (capture.error) throw new EngineFailedError(`${capture.error.code}: ${capture.error.message} — ${capture.error.action}`);
      ctx.log(`source capabilities: ${describeCapabilities(caps)}`);
      const captureMode = capture.mode;
      const t0 = captureMode === "changeStream" ? await clusterTime : undefined;
      if (captureMode === "changeStream" && !t0) {
        throw new EngineFailedError(`the source (${source.description}) reported no cluster time; is it a replica set?`);
      }
      const startedAt = new Date(ctx.now()).toISOString();
      const created = await session.create({
        migrationId: spec.migrationId,
        phase: "COPYING",
        captureMode,
        startedAt,
        t0: t0 ? encodeBson(t0) : undefined,
        spec: storedSpec(spec),
        lease: null,
        copy: { planned: false, done: false, collections: [], totalDocuments: 0, totalBytes: 0, copiedDocuments: 0, copiedBytes: 0 },
        replay: { lagSeconds: null, appliedEvents: 0 },
        warnings:
          captureMode === "snapshot"
            ? [
                `${caps.topology === "standalone" ? "standalone source" : `source without change streams (${caps.server})`}: ` +
                  "snapshot mode — changes made after the copy are reconciled at cutover, while writes are blocked",
              ]
            : [],
      });
      if (!created) {
        const winner = await session.load();
        return handle(winner?.startedAt ?? startedAt, winner?.captureMode ?? captureMode);
      }
      ctx.log(
        `started migration ${spec.migrationId} in ${captureMode} mode` +
          (t0 ? ` from source cluster time ${t0.t}.${t0.i}` : "") +
          ` (checkpoint in ${CHECKPOINT_DATABASE} on the target)`,
      );
      if (spec.builtin.detachedWorker) {
        const w = startDetachedWorker(spec);
        ctx.log(`started a detached \`atlas-migrate sync\` worker (pid ${w.pid}, log ${w.logFile})`);
      }
      return { ...handle(startedAt, captureMode), data: { ...handle(startedAt, captureMode).data, sourceCapabilities: describeCapabilities(caps) } };
    });
  }

  async advance(spec: MigrationSpec, _handle: MigrationHandle, ctx: EngineContext): Promise<MigrationStatus> {
    return this.withBoth(spec, async (source, target) => {
      const done = await readCompletion(target, spec.migrationId);
      if (done) return completeStatus(done);
      const session = new StateSession(target.checkpoints(spec.migrationId), newOwnerId("advance"), ctx.now);
      if (!(await session.load())) {
        // No checkpoint although the provider has a handle: `atlas-migrate reset` removed it (the restart after
        // FAILED). Start over from a fresh T0.
        ctx.log(`no checkpoint for migration ${spec.migrationId} on the target; starting it (again)`);
        await this.start(spec, ctx);
      }
      const env = this.env(spec, source, target, session, ctx);
      for (;;) {
        const s = (await session.load()) as MigrationState;
        if (s.phase === "FAILED" || s.phase === "CUTTING_OVER" || s.phase === "COMPLETE") return statusFromState(s, session.otherHolder(s));
        if (s.phase === "READY_FOR_CUTOVER" && s.captureMode === "snapshot") return statusFromState(s);
        if (ctx.now() >= env.stopAt) return statusFromState(s, session.otherHolder(s));
        if (await session.acquire()) {
          try {
            if (session.state.cancelled) await session.update((x) => void delete x.cancelled);
            await driveSync(env, "ready");
            return statusFromState(session.state);
          } catch (err) {
            if (!(err instanceof LeaseLostError)) throw err;
            env.log(`${err.message}; following its progress instead`);
          } finally {
            await session.release();
          }
        }
        // Someone else (usually a detached `atlas-migrate sync` worker) applies changes: follow its progress.
        const now = (await session.load()) as MigrationState;
        if (now.phase === "READY_FOR_CUTOVER") return statusFromState(now, session.otherHolder(now));
        env.log(`phase ${now.phase}: another process holds the sync lease (${session.otherHolder(now) ?? "expired"}); waiting`);
        await ctx.sleep(Math.max(1000, spec.timeouts.pollSeconds * 1000));
      }
    });
  }

  async status(spec: MigrationSpec, _handle: MigrationHandle, ctx: EngineContext): Promise<MigrationStatus> {
    return this.withTarget(spec, async (target) => {
      const done = await readCompletion(target, spec.migrationId);
      if (done) return completeStatus(done);
      const session = new StateSession(target.checkpoints(spec.migrationId), "status(read-only)", ctx.now);
      const s = await session.load();
      if (!s) return { phase: "PENDING", lagSeconds: null, readyForCutover: false, warnings: [], reason: "no checkpoint found on the target" };
      const holder = session.otherHolder(s);
      const status = statusFromState(s, holder);
      // With a worker holding the lease its figures are fresh. Without one the checkpoint's lag is only as
      // old as the last `pulumi up`: look at the source (read-only) for changes not applied since.
      const idleSync = !holder && s.captureMode === "changeStream" && s.copy.done && (s.phase === "SYNCING" || s.phase === "READY_FOR_CUTOVER");
      if (!idleSync) return status;
      const peek = await this.withSource(spec, (source) => peekPendingLag(source, s, 500));
      if ("historyLost" in peek) {
        return {
          ...status,
          readyForCutover: false,
          warnings: [
            ...status.warnings,
            `the source's change history no longer reaches this migration's checkpoint (${peek.historyLost}); the next \`pulumi up\` will fail it — restart with \`atlas-migrate reset ${spec.migrationId}\` then \`pulumi up\``,
          ],
        };
      }
      if (!peek.pending) return { ...status, lagSeconds: 0 };
      return {
        ...status,
        phase: "SYNCING",
        lagSeconds: peek.lagSeconds,
        readyForCutover: false,
        warnings: [
          ...status.warnings,
          "no sync process is running: source changes since the last `pulumi up` are not applied yet (run `pulumi up`, or enable builtin.detachedWorker / run `atlas-migrate sync`)",
        ],
      };
    });
  }

  async cutover(spec: MigrationSpec, _handle: MigrationHandle, ctx: EngineContext): Promise<CutoverReport> {
    return this.withBoth(spec, async (source, target) => {
      const done = await readCompletion(target, spec.migrationId);
      if (done) return done;
      const session = new StateSession(target.checkpoints(spec.migrationId), newOwnerId("cutover"), ctx.now);
      const s = await session.load();
      if (!s) throw new EngineFailedError(`no checkpoint for migration ${spec.migrationId} on the target; nothing to cut over`);
      const previous = session.otherHolder(s);
      await session.acquire(true);
      const env = this.env(spec, source, target, session, ctx);
      if (previous) {
        // Give the worker that held the lease time to notice (it checks before every batch).
        env.log(`cutover took the sync lease over from ${previous}`);
        await ctx.sleep(5_000);
      }
      try {
        const report = await runCutover(env);
        return report;
      } catch (err) {
        await session.release().catch(() => undefined);
        if (err instanceof DeadlineExceededError) throw new DeadlineExceededError("cutover", statusFromState(session.state));
        // Every message while the source may be blocked says so, and how to undo it.
        const blocked = blockedNotice(session.state);
        if (blocked && err instanceof Error && !err.message.includes(blocked)) err.message = `${err.message}. ${blocked}`;
        throw err;
      }
    });
  }

  /**
   * Undoes the write blocking this migration's cutover set on the source (setUserWriteBlockMode off, the listed
   * users' original roles back), using the blocking record that survives resets (state.ts blockingStore). For a
   * delete (or a delete-before-replace) of a half-done cutover, and `atlas-migrate unblock`. A cutover in
   * progress goes back to syncing, so a later cutover blocks again. After COMPLETE the source stays blocked on
   * purpose (the application writes to Atlas now) unless `afterComplete` is set.
   */
  async releaseSource(spec: MigrationSpec, ctx: Pick<EngineContext, "log" | "now">, options: { afterComplete?: boolean } = {}): Promise<{ released: boolean; messages: string[] }> {
    // The target (where the record lives) first: with nothing blocked, a source that is gone does not matter.
    return this.withTarget(spec, async (target) => {
      const record = await readBlocking(target, spec.migrationId);
      if (!record) return { released: false, messages: ["this migration has not blocked source writes; nothing to undo"] };
      const undo = record.modes.map((m) => undoInstructions(m, record.savedRoles)).join("; ");
      if ((await readCompletion(target, spec.migrationId)) && !options.afterComplete) {
        return { released: false, messages: [`the migration is COMPLETE, so source writes stay blocked on purpose (the application writes to Atlas now); ${undo}`] };
      }
      return this.withSource(spec, (source) => this.unblock(spec, ctx, source, target, record));
    });
  }

  private async unblock(
    spec: MigrationSpec,
    ctx: Pick<EngineContext, "log" | "now">,
    source: ClusterPort,
    target: ClusterPort,
    record: NonNullable<Awaited<ReturnType<typeof readBlocking>>>,
  ): Promise<{ released: boolean; messages: string[] }> {
    if (record.modes.includes("setUserWriteBlockMode")) await source.setUserWriteBlocking(false);
    if (record.modes.includes("readOnlyUsers")) {
      for (const u of record.savedRoles ?? []) await source.setUserRoles(u.user, u.db, u.roles);
    }
    const session = new StateSession(target.checkpoints(spec.migrationId), newOwnerId("release"), ctx.now);
    const s = await session.load();
    if (s?.cutover) {
      await session.acquire(true);
      await session.update((x) => {
        delete x.cutover;
        if (x.phase === "CUTTING_OVER") x.phase = x.copy.done ? "SYNCING" : "COPYING";
      });
      await session.release();
    }
    // Removed last: a crash before this point leaves the record, and running this again is harmless.
    await blockingStore(target, spec.migrationId).clear();
    const messages = [`source writes unblocked (${record.modes.join(", ")})${s?.cutover ? "; the cutover was abandoned and the sync continues" : ""}`];
    ctx.log(messages[0]);
    return { released: true, messages };
  }

  async cancel(spec: MigrationSpec, _handle: MigrationHandle, ctx: EngineContext): Promise<CancelReport> {
    return this.withTarget(spec, async (target) => {
      if (await readCompletion(target, spec.migrationId)) return { warnings: ["the migration was already COMPLETE; nothing to stop"] };
      const session = new StateSession(target.checkpoints(spec.migrationId), newOwnerId("cancel"), ctx.now);
      if (!(await session.load())) return { warnings: ["no checkpoint found on the target; nothing to stop"] };
      await session.acquire(true);
      await session.update((s) => {
        s.cancelled = true;
        s.lease = null;
      });
      return {
        warnings: [
          `sync stopped; data already copied to the target was left in place, and so was the checkpoint (database ${CHECKPOINT_DATABASE} on the target), so a new create with the same migration resumes`,
        ],
      };
    });
  }
}

export function createBuiltinEngine(options: BuiltinEngineOptions = {}): BuiltinEngine {
  return new BuiltinEngine(options);
}

// Re-exported for the worker and tests.
export { runCopy, runReplay };

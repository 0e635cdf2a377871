// Continuous sync between `pulumi up` runs: `atlas-migrate sync <migrationId>` holds the lease and keeps
// copying/replaying until cutover takes the lease over, the migration is cancelled, or it fails.
//
// The worker reads the migration's settings from the credential-free spec copy in the checkpoint; the source
// and target connection strings come from the environment — ATLAS_MIGRATE_SOURCE_URI and
// ATLAS_MIGRATE_TARGET_URI — never from argv (visible in `ps`) and never printed unredacted.
import { spawn } from "child_process";
import { openSync } from "fs";
import { tmpdir } from "os";
import { join, resolve } from "path";
import type { ClusterPort } from "../../cluster/port";
import { describeError, redact } from "../../errors";
import type { EngineContext, MigrationSpec } from "../engine";
import { makeRunEnv } from "./env";
import { LeaseLostError, newOwnerId, readCompletion, StateSession, type MigrationState } from "./state";

export const SOURCE_URI_ENV = "ATLAS_MIGRATE_SOURCE_URI";
export const TARGET_URI_ENV = "ATLAS_MIGRATE_TARGET_URI";

/** Where the compiled bin lives relative to this file (dist/provider/engines/builtin → dist/bin). */
export function workerBinPath(): string {
  return resolve(__dirname, "..", "..", "..", "bin", "atlas-migrate.js");
}

export function workerLogFile(migrationId: string): string {
  return join(tmpdir(), `atlas-migrate-${migrationId.replace(/[^A-Za-z0-9_.-]/g, "_")}.log`);
}

/**
 * Starts `atlas-migrate sync <id>` detached from this process (it outlives `pulumi up`), output appended to a
 * log file in the temp directory. The URIs travel in the child's environment only.
 */
export function startDetachedWorker(spec: MigrationSpec): { pid: number | undefined; logFile: string } {
  const logFile = workerLogFile(spec.migrationId);
  const out = openSync(logFile, "a");
  const child = spawn(process.execPath, [workerBinPath(), "sync", spec.migrationId], {
    detached: true,
    stdio: ["ignore", out, out],
    env: { ...process.env, [SOURCE_URI_ENV]: spec.source.uri ?? "", [TARGET_URI_ENV]: spec.target.uri ?? "" },
  });
  child.unref();
  return { pid: child.pid, logFile };
}

export interface WorkerOptions {
  migrationId: string;
  sourceUri: string;
  targetUri: string;
  open: (uri: string) => Promise<ClusterPort>;
  ctx: Pick<EngineContext, "log" | "now" | "sleep">;
  /** Stop after this many idle lease waits (tests); default: wait forever. */
  maxLeaseWaits?: number;
  /** Length of one sync round before checkpoints are flushed and the loop checks for completion. */
  roundMs?: number;
  /** Set to true to stop the worker at its next check (signals). */
  stop?: { requested: boolean };
}

export type WorkerExit = "complete" | "failed" | "cutover" | "cancelled" | "stopped";

export async function runWorker(opts: WorkerOptions): Promise<WorkerExit> {
  const log = (line: string) => opts.ctx.log(redact(line));
  const driveSync = (require("./index") as typeof import("./index")).driveSync;
  const source = await opts.open(opts.sourceUri);
  const target = await opts.open(opts.targetUri);
  try {
    const session = new StateSession(target.checkpoints(opts.migrationId), newOwnerId("worker"), opts.ctx.now);
    let waits = 0;
    for (;;) {
      if (opts.stop?.requested) return "stopped";
      if (await readCompletion(target, opts.migrationId)) return "complete";
      const s = (await session.load()) as MigrationState | null;
      if (!s) throw new Error(`no checkpoint for migration ${opts.migrationId} on the target`);
      if (s.phase === "FAILED") {
        log(`migration FAILED: ${s.failure ?? "unknown reason"}`);
        return "failed";
      }
      if (s.phase === "CUTTING_OVER") return "cutover";
      if (s.cancelled) return "cancelled";
      if (!(await session.acquire())) {
        waits++;
        if (opts.maxLeaseWaits !== undefined && waits > opts.maxLeaseWaits) return "stopped";
        log(`lease held by ${session.otherHolder() ?? "another process"}; waiting`);
        await opts.ctx.sleep(15_000);
        continue;
      }
      const spec: MigrationSpec = {
        ...s.spec,
        source: { uri: opts.sourceUri },
        target: { uri: opts.targetUri, atlas: s.spec.target.atlas },
      } as MigrationSpec;
      const roundMs = opts.roundMs ?? 60_000;
      const ctx: EngineContext = {
        ...opts.ctx,
        deadline: opts.ctx.now() + roundMs,
        credentials: {},
        publishSecret: () => undefined,
      };
      const env = makeRunEnv({ spec, source, target, session, ctx }, { log, stopAt: ctx.deadline });
      try {
        await driveSync(env, "forever");
      } catch (err) {
        if (err instanceof LeaseLostError) {
          const now = (await session.load()) as MigrationState | null;
          log(err.message);
          if (!now) return (await readCompletion(target, opts.migrationId)) ? "complete" : "stopped";
          if (now.cancelled) return "cancelled";
          if (now.phase === "CUTTING_OVER" || now.cutover) return "cutover";
          continue;
        }
        log(`sync error: ${describeError(err)}`);
        throw err;
      }
    }
  } finally {
    await source.close().catch(() => undefined);
    await target.close().catch(() => undefined);
  }
}

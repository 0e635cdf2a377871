// The `mongosync` engine: drives mongosync processes the user runs next to the clusters, over their HTTP API.
//
// mongosync moves the data; this engine only starts it, watches /progress, commits it by the documented
// cutover procedure and pauses it on delete. Everything it needs to find the migration again is the list of
// URLs in the spec (one mongosync per source shard), so the handle holds no address and no secret. mongosync
// is stateless and keeps its metadata on the destination, so every method here is safe to repeat: each one
// reads /progress first and only sends the commands the current state still needs.
//
// API calls per lifecycle with N instances (counted in tests/engines/mongosync/engine.test.ts):
//   preflight: N progress · start: 2N progress + N start · status: N progress · advance: N progress per poll
//   cutover: N progress per poll + N commit · cancel before commit: N progress + N pause · after COMPLETE: N progress
//   (+1 GET /api/v1/info probe in preflight and start when mongosync.version is not set)
import { DeadlineExceededError, EngineFailedError, MigrationError, PreflightError, describeError, redact } from "../../errors";
import type {
  CancelReport,
  CutoverReport,
  EngineContext,
  MigrationEngine,
  MigrationHandle,
  MigrationSpec,
  MigrationStatus,
  MongosyncOptions,
  PreflightFinding,
  PreflightReport,
} from "../engine";
import type { BackoffPolicy } from "../http/retry";
import { MongosyncApiError, MongosyncClient, MongosyncUnreachableError, type InstanceProgress } from "./client";
import { combineProgress, readyToCommit, statusFromProgress, type CombinedProgress, type StatusOptions } from "./progress";
import { atLeast, parseMongosyncVersion, planStart, type MongosyncVersion } from "./start-body";

export { MongosyncApiError, MongosyncClient, MongosyncUnreachableError } from "./client";
export { combineProgress, statusFromProgress } from "./progress";
export { planStart, parseMongosyncVersion, toNamespaceFilter } from "./start-body";

export interface MongosyncEngineOptions {
  /** Real-time cap of one HTTP request (default 30 s). */
  requestTimeoutMs?: number;
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
}

/** How long preflight and delete keep retrying an unreachable mongosync before reporting it. */
const PREFLIGHT_REACH_MS = 120_000;
const CANCEL_REACH_MS = 60_000;

const NOT_IDLE_STATES = new Set(["COMMITTING", "COMMITTED", "REVERSING"]);

export function createMongosyncEngine(engineOptions: MongosyncEngineOptions = {}): MigrationEngine {
  function options(spec: MigrationSpec): MongosyncOptions {
    const o = spec.mongosync;
    if (!o || o.urls.length === 0) {
      throw new MigrationError(
        "MONGOSYNC_URLS_MISSING",
        "mongosync.urls: the mongosync engine needs the URL of every mongosync process, e.g. [\"http://127.0.0.1:27182\"]",
      );
    }
    return o;
  }

  function clientFor(spec: MigrationSpec, ctx: EngineContext, deadline = ctx.deadline): MongosyncClient {
    return new MongosyncClient(options(spec).urls, {
      clock: ctx,
      deadline,
      log: (line) => ctx.log(line),
      requestTimeoutMs: engineOptions.requestTimeoutMs,
      backoff: engineOptions.backoff,
      random: engineOptions.random,
    });
  }

  /** The version: mongosync.version, else the (UNCONFIRMED) /info endpoint, else progress.version. */
  async function resolveVersion(
    spec: MigrationSpec,
    client: MongosyncClient,
    progress: InstanceProgress[] | undefined,
  ): Promise<{ version?: MongosyncVersion; source: string }> {
    const given = spec.mongosync?.version;
    if (given) {
      const version = parseMongosyncVersion(given);
      if (!version) throw new MigrationError("INVALID_INPUT", `mongosync.version: ${JSON.stringify(given)} is not a version such as "1.19.0"`);
      return { version, source: "mongosync.version" };
    }
    const fromInfo = parseMongosyncVersion(await client.version());
    if (fromInfo) return { version: fromInfo, source: "GET /api/v1/info" };
    const fromProgress = parseMongosyncVersion(progress?.map((p) => p.progress.version).find((v) => typeof v === "string"));
    if (fromProgress) return { version: fromProgress, source: "GET /api/v1/progress" };
    return { source: "unknown" };
  }

  function statusOptions(spec: MigrationSpec, handle: MigrationHandle | undefined): StatusOptions {
    const verification = handle ? handle.data.verification !== false : options(spec).enableVerification;
    return {
      readyLagSeconds: spec.timeouts.readyLagSeconds,
      requireVerifier: verification,
      originalSource: typeof handle?.data.sourceCluster === "string" ? handle.data.sourceCluster : "cluster0",
    };
  }

  function pollMs(spec: MigrationSpec): number {
    return Math.max(10, spec.timeouts.pollSeconds * 1000); // a floor only against a zero that would spin
  }

  function describeProgress(c: CombinedProgress, status: MigrationStatus): string {
    const parts = [`mongosync ${c.state}`, status.phase];
    if (c.lagSeconds !== null) parts.push(`lag ${c.lagSeconds} s`);
    if (c.copiedBytes !== undefined && c.totalBytes) parts.push(`copied ${Math.floor((100 * c.copiedBytes) / c.totalBytes)} %`);
    if (c.verifier.phase) parts.push(`verifier ${c.verifier.phase}`);
    return parts.join(", ");
  }

  function indexesIn(each: InstanceProgress[], state: string): number[] {
    return each.filter((i) => i.progress.state === state).map((i) => i.index);
  }

  /** Fails loudly on a state we do not know (the UNCONFIRMED failure state; see progress.ts). */
  function throwIfFailed(c: CombinedProgress, spec: MigrationSpec, handle: MigrationHandle | undefined): void {
    const status = statusFromProgress(c, statusOptions(spec, handle));
    if (status.phase === "FAILED") throw new EngineFailedError(status.reason ?? `mongosync reports ${c.state}`);
  }

  async function resumePaused(client: MongosyncClient, each: InstanceProgress[], ctx: EngineContext): Promise<boolean> {
    const paused = indexesIn(each, "PAUSED");
    if (paused.length === 0) return false;
    ctx.log(`mongosync is PAUSED on ${paused.length} instance(s); resuming it (POST /api/v1/resume)`);
    try {
      await client.commandEach("resume", {}, paused);
    } catch (err) {
      // A retried /resume after a lost answer is refused because the first one worked: check before failing.
      const again = await client.progressEach();
      if (indexesIn(again, "PAUSED").length > 0) throw err;
    }
    return true;
  }

  function cutoverReport(spec: MigrationSpec, handle: MigrationHandle, c: CombinedProgress, ctx: EngineContext, before?: CombinedProgress): CutoverReport {
    const verifierOn = handle.data.verification !== false;
    const version = typeof handle.data.version === "string" ? parseMongosyncVersion(handle.data.version) : undefined;
    const metadataDatabases =
      version && atLeast(version, 1, 20)
        ? "__mdb_internal_mongosync, __mdb_internal_mongosync_verifier_src, __mdb_internal_mongosync_verifier_dst"
        : "mongosync_reserved_for_internal_use, mongosync_internal_*, mongosync_reserved_for_verification_* (or __mdb_internal_mongosync* from 1.20)";
    const warnings = [
      ...c.warnings,
      `mongosync leaves its metadata databases on the destination (${metadataDatabases}); drop them once you no longer need mongosync for this migration`,
    ];
    if (handle.data.writeBlocking === "destinationOnly" || handle.data.writeBlocking === "off") {
      warnings.push("mongosync did not block source writes (writeBlocking.mode \"none\"): make sure the application writes only to the new cluster now");
    }
    const hashed = before?.verifier.present
      ? ` (verifier was in "${before.verifier.phase}" with ${before.verifier.lagSeconds ?? "unknown"} s lag when /commit was sent)`
      : "";
    return {
      phase: "COMPLETE",
      cutoverCompletedAt: new Date(ctx.now()).toISOString(),
      verification: verifierOn
        ? {
            mode: "engine",
            passed: true,
            summary:
              `mongosync's embedded verifier hashed both clusters and mongosync reached COMMITTED on ${c.states.length} instance(s)${hashed}; ` +
              "a verifier mismatch fails the migration instead of committing it",
            namespaces: [],
          }
        : {
            mode: "none",
            passed: true,
            summary: "not verified: mongosync's embedded verifier was disabled (mongosync.enableVerification: false); verify the data yourself",
            namespaces: [],
          },
      warnings: warnings.map(redact),
    };
  }

  return {
    name: "mongosync",

    async preflight(spec, ctx): Promise<PreflightReport> {
      const errors: PreflightFinding[] = [];
      const warnings: PreflightFinding[] = [];
      const facts: Record<string, string | number | boolean> = {};
      const report = (): PreflightReport => ({ ok: errors.length === 0, errors, warnings, facts });
      let client: MongosyncClient;
      try {
        client = clientFor(spec, ctx, Math.min(ctx.deadline, ctx.now() + PREFLIGHT_REACH_MS));
      } catch (err) {
        errors.push({ code: err instanceof MigrationError ? err.code : "MONGOSYNC_BAD_URL", message: describeError(err), action: "fix mongosync.urls" });
        return report();
      }
      facts.mongosyncInstances = client.instances.length;
      facts.direction = "cluster0 → cluster1";

      // Reach every instance on its own so the finding names the one that failed.
      const reached: InstanceProgress[] = [];
      await Promise.all(
        client.instances.map(async (instance, index) => {
          try {
            reached.push({ index, url: redact(instance.url), progress: await instance.progress() });
          } catch (err) {
            errors.push({
              code: err instanceof MongosyncUnreachableError ? "MONGOSYNC_UNREACHABLE" : "MONGOSYNC_API_ERROR",
              message: describeError(err),
              action: "start mongosync with --cluster0 <source URI> --cluster1 <target URI> and make its API reachable from where `pulumi up` runs",
            });
          }
        }),
      );
      reached.sort((a, b) => a.index - b.index);

      for (const { url, progress } of reached) {
        const state = progress.state;
        if (state === "IDLE") continue;
        if (state === "RUNNING" || state === "PAUSED") {
          warnings.push({
            code: "MONGOSYNC_ALREADY_RUNNING",
            message: `mongosync at ${url} is already ${state}; start will adopt that migration as this one (mongosync has no migration id to tell migrations apart)`,
            action: "if it is another migration, stop that mongosync and start a fresh one before `pulumi up`",
          });
        } else if (state === "INITIALIZING") {
          warnings.push({
            code: "MONGOSYNC_INITIALIZING",
            message: `mongosync at ${url} is INITIALIZING`,
            action: "nothing: start waits until it is IDLE (after a restart this can take minutes)",
          });
        } else if (NOT_IDLE_STATES.has(state)) {
          errors.push({
            code: "MONGOSYNC_NOT_IDLE",
            message: `mongosync at ${url} is ${state}: it already committed a migration`,
            action: "restart mongosync (and empty the destination) to run a new migration",
          });
        } else {
          errors.push({
            code: "MONGOSYNC_FAILED",
            message: `mongosync at ${url} reports state ${JSON.stringify(state)}`,
            action: "read the mongosync log on that host; after a fatal error stop it, empty the destination and start again",
          });
        }
      }
      // The same process twice would get every command twice. IDLE instances report no mongosyncID (all
      // fields are null when IDLE), so compare the addresses too.
      const ids = reached.map((r) => r.progress.mongosyncID).filter((id): id is string => typeof id === "string" && id !== "");
      const addresses = client.instances.map((i) => new URL(i.url).host.toLowerCase());
      if (new Set(ids).size < ids.length || new Set(addresses).size < addresses.length) {
        errors.push({
          code: "MONGOSYNC_DUPLICATE_INSTANCE",
          message: "two URLs in mongosync.urls reach the same mongosync process (same address or same mongosyncID)",
          action: "list each mongosync once: one URL per mongosync process (one per source shard)",
        });
      }

      let version: MongosyncVersion | undefined;
      try {
        const resolved = await resolveVersion(spec, client, reached);
        version = resolved.version;
        facts.mongosyncVersion = version?.text ?? "unknown";
        facts.mongosyncVersionSource = resolved.source;
      } catch (err) {
        errors.push({ code: "INVALID_INPUT", message: describeError(err), action: "write the version as major.minor.patch, e.g. 1.19.0" });
      }
      const plan = planStart(spec, version);
      errors.push(...plan.errors);
      warnings.push(...plan.warnings);
      facts.writeBlocking = plan.writeBlocking;
      facts.verification = spec.mongosync!.enableVerification;
      return report();
    },

    async start(spec, ctx): Promise<MigrationHandle> {
      const client = clientFor(spec, ctx);
      let each = await client.progressEach();
      const { version } = await resolveVersion(spec, client, each);
      const plan = planStart(spec, version);
      if (plan.errors.length > 0) {
        throw new PreflightError(plan.errors.map((f) => `${f.message} (${f.action})`).join("; "));
      }

      // INITIALIZING rejects /start; it ends on its own (in IDLE, or in the state before a crash).
      while (each.some((i) => i.progress.state === "INITIALIZING")) {
        if (ctx.now() + pollMs(spec) > ctx.deadline) throw new DeadlineExceededError("waiting for mongosync to finish INITIALIZING");
        await ctx.sleep(pollMs(spec));
        each = await client.progressEach();
      }
      for (const { url, progress } of each) {
        if (NOT_IDLE_STATES.has(progress.state)) {
          throw new MigrationError("MONGOSYNC_NOT_IDLE", `mongosync at ${url} is ${progress.state}: it already committed a migration; restart mongosync (and empty the destination) to run a new one`);
        }
      }
      throwIfFailed(combineProgress(each), spec, undefined);

      const idle = indexesIn(each, "IDLE");
      const adopted = each.length - idle.length;
      if (adopted > 0) ctx.log(`mongosync is already running on ${adopted} instance(s); adopting that migration`);
      if (idle.length > 0) {
        ctx.log(
          `starting mongosync on ${idle.length} instance(s) (version ${version?.text ?? "unknown"}, write blocking ${plan.writeBlocking}, ` +
            `verifier ${spec.mongosync!.enableVerification ? "on" : "off"})`,
        );
        try {
          await client.commandEach("start", plan.body, idle);
        } catch (err) {
          // If the answer was lost and a retry was refused, the first /start may have worked: look before failing.
          const again = await client.progressEach();
          if (again.some((i) => idle.includes(i.index) && i.progress.state === "IDLE")) throw err;
          ctx.log(`mongosync refused a repeated /start but is running (${describeError(err)})`);
        }
      }

      // /start was accepted (or the sync was found running): from here on a migration exists, so a failed
      // confirmation read must not lose it — a throw would leave the provider with no handle (no state, nothing
      // for `pulumi destroy` to pause). Keep the handle; advance reads /progress again and reports what it finds.
      let confirmed: InstanceProgress[] | undefined;
      try {
        confirmed = await client.progressEach();
      } catch (err) {
        ctx.log(`mongosync accepted /start but its progress could not be read right after (${describeError(err)}); keeping the migration`);
      }
      if (confirmed) {
        const stillIdle = indexesIn(confirmed, "IDLE");
        if (stillIdle.length > 0) {
          throw new EngineFailedError(`mongosync accepted /start but instance(s) ${stillIdle.join(", ")} still report IDLE; read the mongosync log`);
        }
        each = confirmed;
      }
      // Unconfirmed, the ids are those of the reads before /start (none for instances that were IDLE).
      const combined = combineProgress(each);
      return {
        engine: "mongosync",
        id: combined.coordinatorId ?? combined.mongosyncIds[0] ?? spec.migrationId,
        startedAt: new Date(ctx.now()).toISOString(),
        data: {
          instances: each.length,
          mongosyncIds: combined.mongosyncIds,
          version: version?.text ?? null,
          writeBlocking: plan.writeBlocking,
          verification: spec.mongosync!.enableVerification,
          reversible: spec.mongosync!.reversible,
          sourceCluster: plan.body.source,
          adopted: adopted > 0,
        },
      };
    },

    async advance(spec, handle, ctx): Promise<MigrationStatus> {
      const client = clientFor(spec, ctx);
      const opts = statusOptions(spec, handle);
      let last: MigrationStatus | undefined;
      let resumed = false;
      let lastLine = "";
      for (;;) {
        let each: InstanceProgress[];
        try {
          each = await client.progressEach();
        } catch (err) {
          // advance never throws on the deadline: report what we last saw, with why it is stale.
          if (last && (err instanceof MongosyncUnreachableError || err instanceof MongosyncApiError)) {
            return { ...last, warnings: [...last.warnings, describeError(err)] };
          }
          throw err;
        }
        const combined = combineProgress(each);
        if (combined.state === "PAUSED" && !resumed) {
          resumed = await resumePaused(client, each, ctx);
          continue;
        }
        last = statusFromProgress(combined, opts);
        const line = describeProgress(combined, last);
        if (line !== lastLine) ctx.log(line); // one line per change, not one per poll
        lastLine = line;
        if (["READY_FOR_CUTOVER", "CUTTING_OVER", "COMPLETE", "FAILED"].includes(last.phase)) return last;
        if (combined.state === "IDLE") {
          last.warnings.push("mongosync is IDLE although this migration was started: it was restarted without its metadata; delete and recreate the migration");
          return last;
        }
        if (ctx.now() + pollMs(spec) > ctx.deadline) return last;
        await ctx.sleep(pollMs(spec));
      }
    },

    async status(spec, handle, ctx): Promise<MigrationStatus> {
      const each = await clientFor(spec, ctx).progressEach();
      return statusFromProgress(combineProgress(each), statusOptions(spec, handle));
    },

    async cutover(spec, handle, ctx): Promise<CutoverReport> {
      const client = clientFor(spec, ctx);
      const opts = statusOptions(spec, handle);
      const poll = pollMs(spec);

      /** Polls until `done` holds; fails on an unknown state; DeadlineExceededError (resumable) at the deadline. */
      const waitFor = async (what: string, done: (each: InstanceProgress[], c: CombinedProgress) => boolean, fresh?: InstanceProgress[]) => {
        for (let reuse = fresh; ; reuse = undefined) {
          const each = reuse ?? (await client.progressEach());
          const c = combineProgress(each);
          throwIfFailed(c, spec, handle);
          if (done(each, c)) return { each, c };
          if (ctx.now() + poll > ctx.deadline) throw new DeadlineExceededError(`mongosync cutover (${what})`, statusFromProgress(c, opts));
          await ctx.sleep(poll);
        }
      };
      const isCommitted = (c: CombinedProgress) =>
        c.state === "COMMITTED" || c.state === "REVERSING" || (c.sourceCluster !== null && c.sourceCluster !== opts.originalSource);

      let { each, c } = await waitFor("reading progress", () => true);
      if (isCommitted(c)) return cutoverReport(spec, handle, c, ctx);
      if (c.state === "IDLE" || c.state === "INITIALIZING") {
        throw new EngineFailedError(
          `mongosync is ${c.state}: there is nothing to commit (it was restarted without its metadata, or never started); ` +
            "delete and recreate the migration",
        );
      }

      let before: CombinedProgress | undefined;
      if (each.some((i) => i.progress.state === "RUNNING" || i.progress.state === "PAUSED")) {
        const resumed = await resumePaused(client, each, ctx);
        // Step 1: canCommit, small lag, verifier stream hashing — on every instance not yet committing (a
        // previous, interrupted cutover may have committed some of them).
        ctx.log(`cutover: waiting until mongosync can commit (canCommit, lag ≤ ${opts.readyLagSeconds} s${opts.requireVerifier ? ", verifier stream hashing" : ""})`);
        ({ each, c } = await waitFor("waiting for canCommit", (all) => {
          const running = all.filter((i) => i.progress.state === "RUNNING");
          const othersCommitting = all.every((i) => ["RUNNING", "COMMITTING", "COMMITTED"].includes(i.progress.state));
          return othersCommitting && (running.length === 0 || readyToCommit(combineProgress(running), opts));
        }, resumed ? undefined : each)); // the read above still counts, unless a resume just changed the state
        before = c;
        // Step 2 (stop source writes) is mongosync's own write blocking at /commit, or the user's job.
        ctx.log(
          handle.data.writeBlocking === "sourceAndDestination" || handle.data.writeBlocking === "legacyDual"
            ? "cutover: committing; mongosync blocks writes on the source now"
            : handle.data.writeBlocking === "managedByMongosync"
              ? "cutover: committing; mongosync 1.20+ manages source write blocking itself"
              : "cutover: committing; source writes are NOT blocked by mongosync: the application must be stopped",
        );
        // Step 3: /commit to every instance still RUNNING.
        const running = indexesIn(each, "RUNNING");
        try {
          await client.commandEach("commit", {}, running);
        } catch (err) {
          const again = await client.progressEach();
          if (again.some((i) => i.progress.state === "RUNNING")) throw err;
          ctx.log(`mongosync refused a repeated /commit but is committing (${describeError(err)})`);
        }
      }
      // Step 4: canWrite (only the first instance's value counts), then step 6: COMMITTED everywhere.
      ({ c } = await waitFor("waiting for canWrite", (_all, now) => now.canWrite || isCommitted(now)));
      ctx.log("cutover: the destination accepts writes (canWrite: true); waiting for mongosync to reach COMMITTED");
      ({ c } = await waitFor("waiting for COMMITTED", (all, now) => all.every((i) => i.progress.state === "COMMITTED") || isCommitted(now)));
      ctx.log("cutover: mongosync COMMITTED");
      return cutoverReport(spec, handle, c, ctx, before);
    },

    async cancel(spec, handle, ctx): Promise<CancelReport> {
      // Delete must not hang on a mongosync that is gone: a short reach window, then a warning.
      const client = clientFor(spec, ctx, Math.min(ctx.deadline, ctx.now() + CANCEL_REACH_MS));
      let each: InstanceProgress[];
      try {
        each = await client.progressEach();
      } catch (err) {
        return {
          warnings: [
            `could not read mongosync progress (${describeError(err)}); nothing was changed. ` +
              "If mongosync still runs, pause it (POST /api/v1/pause) or stop it; the destination data was left as it is",
          ],
        };
      }
      const c = combineProgress(each);
      if (c.state === "COMMITTED" || c.state === "REVERSING") return { warnings: [] };
      if (c.state === "COMMITTING") {
        return { warnings: ["mongosync is COMMITTING: a commit cannot be cancelled; it will finish and the destination becomes writable"] };
      }
      const running = indexesIn(each, "RUNNING");
      const warnings: string[] = [];
      if (running.length > 0) {
        try {
          await client.commandEach("pause", {}, running);
        } catch (err) {
          const again = await client.progressEach().catch(() => undefined);
          if (!again || again.some((i) => i.progress.state === "RUNNING")) {
            return { warnings: [`could not pause mongosync: ${describeError(err)}; pause it (POST /api/v1/pause) or stop it yourself`] };
          }
        }
        warnings.push(
          `paused mongosync on ${running.length} instance(s); it was not stopped and the destination keeps the data copied so far. ` +
            "To continue later: POST /api/v1/resume. To abandon: stop mongosync and drop the destination databases yourself",
        );
      } else if (c.state === "PAUSED") {
        warnings.push("mongosync was already PAUSED; left as it is, destination data untouched");
      } else if (c.state === "IDLE" || c.state === "INITIALIZING") {
        warnings.push(`mongosync is ${c.state}: nothing was running, nothing was changed`);
      } else {
        warnings.push(`mongosync reports state ${JSON.stringify(c.state)}; nothing was changed. Stop it yourself if it still runs`);
      }
      return { warnings: warnings.map(redact) };
    },
  };
}

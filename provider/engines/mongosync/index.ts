// The `mongosync` engine: drives mongosync processes the user runs next to the clusters, over their HTTP API.
//
// mongosync moves the data; this engine only starts it, watches /progress, commits it by the documented
// cutover procedure and pauses it on delete. Everything it needs to find the migration again is the list of
// URLs in the spec (one mongosync per source shard), so the handle holds no address and no secret. mongosync
// is stateless and keeps its metadata on the destination, so every method here is safe to repeat: each one
// reads /progress first and only sends the commands the current state still needs.
//
// API calls per lifecycle with N instances (counted and printed by tests/engines/mongosync/engine.test.ts for
// every version family):
//   preflight: N progress · start: 2N progress + N start · status: N progress · advance: N progress per poll
//   cutover: N progress per poll + N commit · cancel before commit: N progress + N pause · after COMPLETE: N progress
//   rollback (reverse sync, see README.md): N progress per poll + N reverse · rollback commit: N progress per poll + N commit
// The version comes only from mongosync.version: the API does not report it (no /info endpoint is documented).
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
import { MongosyncApiError, MongosyncClient, MongosyncFanOutError, MongosyncUnreachableError, type InstanceProgress } from "./client";
import { combineProgress, readyToCommit, statusFromProgress, type CombinedProgress, type StatusOptions } from "./progress";
import { atLeast, noEmbeddedVerifier, parseMongosyncVersion, planStart, sourceMajor, type MongosyncVersion } from "./start-body";
import { verifyOurselves, type VerificationFacts, embeddedReport, notVerifiedReport } from "./verification";
import { openCluster } from "../../cluster/open";
import { undeclaredUserWarnings } from "../builtin/users";

export { MongosyncApiError, MongosyncClient, MongosyncFanOutError, MongosyncUnreachableError } from "./client";
export { combineProgress, statusFromProgress } from "./progress";
export { planStart, parseMongosyncVersion, toNamespaceFilter } from "./start-body";

export interface MongosyncEngineOptions {
  /** Real-time cap of one HTTP request (default 30 s). */
  requestTimeoutMs?: number;
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
}

/**
 * The mongosync engine, plus the reverse sync ("rollback") after COMPLETE. The two rollback methods are not part
 * of MigrationEngine (no other engine can do this); provider/runtime.ts reaches them through `isMongosyncEngine`.
 * Contract (see README.md "Rollback"): after a COMPLETE cutover, `update` with mongosync.rollback: true calls
 * `rollback` (idempotent: /reverse once, then polls) and stores its status; with mongosync.rollbackCutover: true
 * it then calls `commitRollback` (idempotent) and stores that report.
 */
export interface MongosyncEngine extends MigrationEngine {
  /** /reverse on every instance (once), then polls until the reverse sync is caught up or ctx.deadline. */
  rollback(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<MigrationStatus>;
  /** Commits the reverse direction: the old source takes the writes again. */
  commitRollback(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<CutoverReport>;
}

export function isMongosyncEngine(engine: MigrationEngine): engine is MongosyncEngine {
  return engine.name === "mongosync" && typeof (engine as Partial<MongosyncEngine>).rollback === "function";
}

/** A /commit (or rollback commit) that did not reach every instance. `status` is what progress shows after it. */
export class MongosyncCommitNotAcceptedError extends MigrationError {
  /** True when no instance committed: the migration is still syncing, source writes were not blocked by it. */
  readonly nothingCommitted: boolean;
  readonly status: MigrationStatus;
  constructor(message: string, status: MigrationStatus, nothingCommitted: boolean) {
    super("MONGOSYNC_COMMIT_NOT_ACCEPTED", message);
    this.name = "MongosyncCommitNotAcceptedError";
    this.status = status;
    this.nothingCommitted = nothingCommitted;
  }
}

/** How long preflight and delete keep retrying an unreachable mongosync before reporting it. */
const PREFLIGHT_REACH_MS = 120_000;
const CANCEL_REACH_MS = 60_000;

const NOT_IDLE_STATES = new Set(["COMMITTING", "COMMITTED", "REVERSING"]);

/** host:port list of a mongodb:// URI, lower case (none for +srv or memory://: their hosts are not comparable). */
function uriHosts(uri: string | undefined): string[] {
  if (!uri || !/^mongodb:\/\//i.test(uri)) return [];
  const rest = uri.replace(/^mongodb:\/\//i, "").replace(/^[^@/]*@/, "").replace(/[/?].*$/, "");
  return rest
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean)
    .map((h) => (h.includes(":") ? h : `${h}:27017`));
}

export function createMongosyncEngine(engineOptions: MongosyncEngineOptions = {}): MongosyncEngine {
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

  /** The version, from mongosync.version only: the API does not report it (M15). */
  function versionOf(spec: MigrationSpec): MongosyncVersion | undefined {
    const given = spec.mongosync?.version;
    if (!given) return undefined;
    const version = parseMongosyncVersion(given);
    if (!version) throw new MigrationError("INVALID_INPUT", `mongosync.version: ${JSON.stringify(given)} is not a version such as "1.19.0"`);
    return version;
  }

  function handleVersion(spec: MigrationSpec, handle: MigrationHandle): MongosyncVersion | undefined {
    return typeof handle.data.version === "string" ? parseMongosyncVersion(handle.data.version) : versionOf(spec);
  }

  function statusOptions(spec: MigrationSpec, handle: MigrationHandle | undefined): StatusOptions {
    const verification = handle ? handle.data.verification !== false : options(spec).enableVerification;
    return {
      readyLagSeconds: spec.timeouts.readyLagSeconds,
      requireVerifier: verification,
      originalSource: typeof handle?.data.sourceCluster === "string" ? handle.data.sourceCluster : "cluster0",
      keepPaused: spec.mongosync?.keepPaused === true,
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

  /**
   * M3: a running mongosync must sync the way we start it (cluster0 → cluster1), and its --cluster0 must be the
   * source we were given. Returns one finding per instance that does not.
   */
  function directionFindings(spec: MigrationSpec, each: InstanceProgress[], expectedSource = "cluster0"): PreflightFinding[] {
    const findings: PreflightFinding[] = [];
    const c = combineProgress(each);
    const sourceHosts = uriHosts(spec.source.uri);
    const targetHosts = uriHosts(spec.target.uri);
    each.forEach((instance, i) => {
      const from = c.sourceClusters[i];
      if (from === null) return;
      if (from !== expectedSource) {
        findings.push({
          code: "MONGOSYNC_WRONG_DIRECTION",
          message: `mongosync at ${instance.url} is ${instance.progress.state} syncing ${from} → ${from === "cluster0" ? "cluster1" : "cluster0"}, the other way round from this migration (${expectedSource} → ${expectedSource === "cluster0" ? "cluster1" : "cluster0"}); it is not adopted`,
          action: "stop that mongosync (it is not this migration), empty what it wrote, and start a fresh one with --cluster0 <source> --cluster1 <target>",
        });
        return;
      }
      // directionMapping names hosts as "<cluster>: <host>:<port>"; compare them with the URIs we were given.
      const cluster0Host = (from === "cluster0" ? c.sourceHosts[i] : c.destinationHosts[i])?.toLowerCase() ?? null;
      const cluster1Host = (from === "cluster0" ? c.destinationHosts[i] : c.sourceHosts[i])?.toLowerCase() ?? null;
      const swapped =
        (cluster0Host !== null && targetHosts.includes(cluster0Host) && !sourceHosts.includes(cluster0Host)) ||
        (cluster1Host !== null && sourceHosts.includes(cluster1Host) && !targetHosts.includes(cluster1Host));
      if (swapped) {
        findings.push({
          code: "MONGOSYNC_CLUSTERS_SWAPPED",
          message: `mongosync at ${instance.url} was started with --cluster0 on the target (${cluster0Host}) and --cluster1 on the source: it would copy the target into the source`,
          action: "stop it and start it again with --cluster0 <source URI> --cluster1 <target URI>",
        });
      }
    });
    return findings.map((f) => ({ ...f, message: redact(f.message) }));
  }

  async function resumePaused(spec: MigrationSpec, client: MongosyncClient, each: InstanceProgress[], ctx: EngineContext): Promise<boolean> {
    const paused = indexesIn(each, "PAUSED");
    if (paused.length === 0) return false;
    if (spec.mongosync?.keepPaused) return false; // M11: the user's choice; status says so
    ctx.log(`mongosync is PAUSED on ${paused.length} instance(s); resuming it (POST /api/v1/resume; set mongosync.keepPaused: true to keep it paused)`);
    try {
      await client.commandEach("resume", {}, paused);
    } catch (err) {
      // A retried /resume after a lost answer is refused because the first one worked: check before failing.
      const again = await client.progressEach();
      if (indexesIn(again, "PAUSED").length > 0) throw err;
    }
    return true;
  }

  /** /start on the IDLE instances (M8: also used by advance to finish a start that reached only some). */
  async function startIdle(spec: MigrationSpec, client: MongosyncClient, each: InstanceProgress[], ctx: EngineContext, body: object): Promise<string | undefined> {
    const idle = indexesIn(each, "IDLE");
    if (idle.length === 0) return undefined;
    try {
      await client.commandEach("start", body, idle);
      return undefined;
    } catch (err) {
      // If the answer was lost and a retry was refused, the first /start may have worked: look before failing.
      const again = await client.progressEach();
      const stillIdle = again.filter((i) => idle.includes(i.index) && i.progress.state === "IDLE");
      if (stillIdle.length === 0) {
        ctx.log(`mongosync refused a repeated /start but is running (${describeError(err)})`);
        return undefined;
      }
      if (stillIdle.length === again.length) throw err; // nothing runs: no migration exists yet
      return `mongosync /start reached only some instances: instance(s) ${stillIdle.map((i) => i.index).join(", ")} are still IDLE (${describeError(err)})`;
    }
  }

  /** Who verifies at cutover, from the handle and what progress shows now. */
  function verifierAtCutover(spec: MigrationSpec, handle: MigrationHandle, c: CombinedProgress): { embedded: boolean; why: string } {
    const version = handleVersion(spec, handle);
    const planned = noEmbeddedVerifier({ ...spec, mongosync: { ...options(spec), enableVerification: handle.data.verification !== false } }, version, c.states.length);
    if (planned) return { embedded: false, why: planned };
    if (!c.verifier.present) return { embedded: false, why: "mongosync's /progress shows no embedded verifier" };
    return { embedded: true, why: "" };
  }

  async function verificationReport(spec: MigrationSpec, handle: MigrationHandle, c: CombinedProgress, facts: VerificationFacts | undefined) {
    const who = verifierAtCutover(spec, handle, c);
    if (who.embedded) return embeddedReport(c, handleVersion(spec, handle), facts);
    return verifyOurselves(spec, who.why);
  }

  function cutoverReport(spec: MigrationSpec, handle: MigrationHandle, c: CombinedProgress, ctx: EngineContext, verification: CutoverReport["verification"]): CutoverReport {
    const version = handleVersion(spec, handle);
    const metadataDatabases =
      version && atLeast(version, 1, 20)
        ? "__mdb_internal_mongosync, __mdb_internal_mongosync_verifier_src, __mdb_internal_mongosync_verifier_dst"
        : "mongosync_reserved_for_internal_use, mongosync_internal_*, mongosync_reserved_for_verification_* (or __mdb_internal_mongosync* from 1.20)";
    const warnings = [
      ...c.warnings,
      `mongosync leaves its metadata databases on the destination (${metadataDatabases}); drop them once you no longer need mongosync for this migration (a rollback needs them)`,
    ];
    if (handle.data.writeBlocking === "destinationOnly" || handle.data.writeBlocking === "off") {
      warnings.push("mongosync did not block source writes: make sure the application writes only to the new cluster now");
    }
    return { phase: "COMPLETE", cutoverCompletedAt: new Date(ctx.now()).toISOString(), verification, warnings: warnings.map(redact) };
  }

  /**
   * The documented commit procedure (reference §3.8) for the instances that still run in `direction` — the
   * migration's own (cutover) or the reversed one (rollback commit). Returns the progress once every instance
   * is COMMITTED, and what the verifier showed when /commit was sent.
   */
  async function commitAll(
    spec: MigrationSpec,
    handle: MigrationHandle,
    ctx: EngineContext,
    client: MongosyncClient,
    opts: StatusOptions,
    what: "cutover" | "rollback commit",
    initial?: InstanceProgress[],
  ): Promise<{ c: CombinedProgress; facts?: VerificationFacts }> {
    const poll = pollMs(spec);
    const waitFor = async (step: string, done: (each: InstanceProgress[], c: CombinedProgress) => boolean, fresh?: InstanceProgress[]) => {
      for (let reuse = fresh; ; reuse = undefined) {
        const each = reuse ?? (await client.progressEach());
        const c = combineProgress(each);
        throwIfFailed(c, spec, handle);
        if (done(each, c)) return { each, c };
        if (ctx.now() + poll > ctx.deadline) throw new DeadlineExceededError(`mongosync ${what} (${step})`, statusFromProgress(c, opts));
        await ctx.sleep(poll);
      }
    };
    let { each, c } = await waitFor("reading progress", () => true, initial);
    if (each.every((i) => i.progress.state === "COMMITTED")) return { c }; // already done: nothing to send or wait for
    let facts: VerificationFacts | undefined;
    if (each.some((i) => i.progress.state === "RUNNING" || i.progress.state === "PAUSED")) {
      if (spec.mongosync?.keepPaused && each.some((i) => i.progress.state === "PAUSED")) {
        throw new MigrationError("MONGOSYNC_KEPT_PAUSED", "mongosync is PAUSED and mongosync.keepPaused is true: nothing was committed; remove keepPaused to let the cutover resume and commit it");
      }
      const resumed = await resumePaused(spec, client, each, ctx);
      const partial = each.some((i) => i.progress.state === "COMMITTING" || i.progress.state === "COMMITTED");
      // Step 1: canCommit, small lag, verifier stream hashing — on every instance still RUNNING. When a commit
      // already reached some instances (M5) the rest only need canCommit: finish it at once.
      const verifierWanted = opts.requireVerifier && what === "cutover";
      ctx.log(
        partial
          ? `${what}: a commit reached only some instances; committing the rest as soon as they can commit`
          : `${what}: waiting until mongosync can commit (canCommit, lag ≤ ${opts.readyLagSeconds} s${verifierWanted ? ", verifier stream hashing" : ""})`,
      );
      ({ each, c } = await waitFor("waiting for canCommit", (all) => {
        const running = all.filter((i) => i.progress.state === "RUNNING");
        const othersCommitting = all.every((i) => ["RUNNING", "COMMITTING", "COMMITTED"].includes(i.progress.state));
        if (!othersCommitting) return false;
        if (running.length === 0) return true;
        if (partial) return running.every((i) => i.progress.canCommit === true);
        return readyToCommit(combineProgress(running), { ...opts, requireVerifier: verifierWanted });
      }, resumed ? undefined : each)); // the read above still counts, unless a resume just changed the state
      if (c.verifier.present) facts = { phaseAtCommit: c.verifier.phase, lagAtCommit: c.verifier.lagSeconds };
      if (what === "cutover") {
        // Nobody will verify and the user asked for verification: refuse before anything is committed.
        const who = verifierAtCutover(spec, handle, c);
        if (!who.embedded && spec.verification !== "none" && !(spec.source.uri && spec.target.uri)) {
          throw new MigrationError(
            "MONGOSYNC_CANNOT_VERIFY",
            `${who.why}, and without source.uri and target.uri the engine cannot verify either; nothing was committed. ` +
              'Give source.uri and target.uri, or set verificationMode "none" and verify the data yourself',
          );
        }
      }
      // Step 2 (stop source writes) is mongosync's own write blocking at /commit, or the user's job.
      ctx.log(
        what === "rollback commit"
          ? "rollback commit: committing the reverse sync; the new cluster must no longer take application writes"
          : handle.data.writeBlocking === "sourceAndDestination" || handle.data.writeBlocking === "legacyDual"
            ? "cutover: committing; mongosync blocks writes on the source now"
            : handle.data.writeBlocking === "managedByMongosync"
              ? "cutover: committing; mongosync 1.20+ manages source write blocking itself"
              : "cutover: committing; source writes are NOT blocked by mongosync: the application must be stopped",
      );
      // Step 3: /commit to every instance still RUNNING, all at once (it blocks until every one has it, M6).
      const running = indexesIn(each, "RUNNING");
      try {
        await client.commandEach("commit", {}, running);
      } catch (err) {
        const again = await client.progressEach();
        const after = combineProgress(again);
        if (again.some((i) => i.progress.state === "RUNNING")) {
          const nothingCommitted = !again.some((i) => i.progress.state === "COMMITTING" || i.progress.state === "COMMITTED");
          throw new MongosyncCommitNotAcceptedError(
            redact(
              `${describeError(err)}. ${nothingCommitted ? "Nothing was committed: the sync keeps running" : "The commit reached only some instances"}; ` +
                "run `pulumi up` again once GET /api/v1/progress shows canCommit: true on every instance",
            ),
            statusFromProgress(after, opts),
            nothingCommitted,
          );
        }
        ctx.log(`mongosync refused a repeated /commit but is committing (${describeError(err)})`);
      }
    }
    // Step 4: canWrite (the coordinator's), then step 6: COMMITTED everywhere.
    ({ c } = await waitFor("waiting for canWrite", (_all, now) => now.canWrite || now.state === "COMMITTED"));
    ctx.log(`${what}: the destination accepts writes (canWrite: true); waiting for mongosync to reach COMMITTED`);
    ({ c } = await waitFor("waiting for COMMITTED", (all) => all.every((i) => i.progress.state === "COMMITTED")));
    ctx.log(`${what}: mongosync COMMITTED`);
    return { c, facts };
  }

  /** Refuses a rollback where mongosync would (reverse.txt limitations), with the reason in the user's terms. */
  function rollbackRefusal(spec: MigrationSpec, handle: MigrationHandle): string | undefined {
    const o = options(spec);
    if (handle.data.reversible !== true) return "the migration was not started with mongosync.reversible: true (it cannot be changed after the start)";
    if (spec.namespaces.include.length > 0 || spec.namespaces.exclude.length > 0) return "mongosync cannot reverse a filtered sync (namespaces is set)";
    if ((o.sharding?.entries.length ?? 0) > 0) return "mongosync cannot reverse a replica set → sharded cluster sync (mongosync.sharding is set)";
    const major = sourceMajor(spec);
    if (major !== undefined && major < 6) return `mongosync cannot reverse a sync from a MongoDB ${o.sourceServerVersion} source (reverse needs 6.0+)`;
    return undefined;
  }

  const engine: MongosyncEngine = {
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
            message: `mongosync at ${url} is already ${state}; start will adopt that migration as this one if it syncs cluster0 → cluster1 (mongosync has no migration id to tell migrations apart)`,
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
      if (reached.length > 0) errors.push(...directionFindings(spec, reached));
      // The same process twice would get every command twice. IDLE instances report no mongosyncID (all
      // fields are null when IDLE), so compare the addresses too.
      const ids = reached.map((r) => r.progress.mongosyncID).filter((id): id is string => typeof id === "string" && id !== "");
      const addresses = client.instances.map((i) => new URL(i.url).host.toLowerCase());
      if (new Set(ids).size < ids.length || new Set(addresses).size < addresses.length) {
        errors.push({
          code: "MONGOSYNC_DUPLICATE_INSTANCE",
          message: "two URLs in mongosync.urls reach the same mongosync process (same address, or the same mongosyncID / --id)",
          action: "list each mongosync once: one URL per mongosync process, each started with its own --id (one per source shard)",
        });
      }

      let version: MongosyncVersion | undefined;
      try {
        version = versionOf(spec);
        facts.mongosyncVersion = version?.text ?? "unknown";
        facts.mongosyncVersionSource = version ? "mongosync.version" : "unknown";
      } catch (err) {
        errors.push({ code: "INVALID_INPUT", message: describeError(err), action: "write the version as major.minor.patch, e.g. 1.19.0" });
      }
      const plan = planStart(spec, version, client.instances.length);
      errors.push(...plan.errors);
      warnings.push(...plan.warnings);
      facts.writeBlocking = plan.writeBlocking;
      facts.verification = spec.mongosync!.enableVerification;
      facts.verifier = plan.verifier;
      // Users the target will not have: mongosync does not migrate users. Only where the program says which it
      // declares (AtlasMigration) and gives a source URI to read them with.
      if (spec.declaredUsers && spec.source.uri) warnings.push(...(await undeclaredSourceUsers(spec.source.uri, spec.declaredUsers)));
      return report();
    },

    async start(spec, ctx): Promise<MigrationHandle> {
      const client = clientFor(spec, ctx);
      let each = await client.progressEach();
      const version = versionOf(spec);
      const plan = planStart(spec, version, each.length);
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
      // M3: never adopt a migration that goes the other way (or reads the target as its cluster0).
      const wrongWay = directionFindings(spec, each);
      if (wrongWay.length > 0) throw new MigrationError(wrongWay[0].code, wrongWay.map((f) => `${f.message} (${f.action})`).join("; "));

      const idle = indexesIn(each, "IDLE");
      const adopted = each.length - idle.length;
      if (adopted > 0) ctx.log(`mongosync is already running cluster0 → cluster1 on ${adopted} instance(s); adopting that migration`);
      let incomplete: string | undefined;
      if (idle.length > 0) {
        ctx.log(
          `starting mongosync on ${idle.length} instance(s) (version ${version?.text ?? "unknown"}, write blocking ${plan.writeBlocking}, ` +
            `verifier ${spec.mongosync!.enableVerification ? "on" : "off"})`,
        );
        incomplete = await startIdle(spec, client, each, ctx, plan.body);
        if (incomplete) ctx.log(`${incomplete}; keeping the migration: the next \`pulumi up\` starts the rest`);
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
        if (stillIdle.length > 0 && !incomplete) {
          throw new EngineFailedError(`mongosync accepted /start but instance(s) ${stillIdle.join(", ")} still report IDLE; read the mongosync log`);
        }
        // Two instances with one id (the same --id twice, M16) only show once running: each would sync the same shard.
        const ids = confirmed.map((i) => i.progress.mongosyncID).filter((id): id is string => typeof id === "string" && id !== "");
        if (new Set(ids).size < ids.length) {
          await client.commandEach("pause", {}, indexesIn(confirmed, "RUNNING")).catch(() => undefined);
          throw new MigrationError(
            "MONGOSYNC_DUPLICATE_INSTANCE",
            `two mongosync instances report the same mongosyncID (${ids.join(", ")}): each must be started with its own --id (one per source shard); mongosync was paused right after /start`,
          );
        }
        // Swapped --cluster0/--cluster1 only shows once running: pause at once, before it copies the wrong way.
        const swapped = directionFindings(spec, confirmed);
        if (swapped.length > 0) {
          await client.commandEach("pause", {}, indexesIn(confirmed, "RUNNING")).catch(() => undefined);
          throw new MigrationError(swapped[0].code, `${swapped.map((f) => `${f.message} (${f.action})`).join("; ")}; mongosync was paused right after /start`);
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
          verifier: plan.verifier,
          reversible: spec.mongosync!.reversible,
          sourceCluster: plan.body.source,
          adopted: adopted > 0,
          startIncomplete: incomplete !== undefined,
        },
      };
    },

    async advance(spec, handle, ctx): Promise<MigrationStatus> {
      const client = clientFor(spec, ctx);
      const opts = statusOptions(spec, handle);
      let last: MigrationStatus | undefined;
      let resumed = false;
      let restarted = false;
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
        // M8: a start that reached only some instances is finished here, with the same plan. Only for such a
        // start: an instance that turned IDLE later lost its metadata, and a fresh /start there would copy again.
        if (!restarted && handle.data.startIncomplete === true && combined.states.includes("IDLE") && combined.states.some((st) => st !== "IDLE")) {
          restarted = true;
          const plan = planStart(spec, handleVersion(spec, handle), each.length);
          ctx.log(`mongosync is IDLE on ${indexesIn(each, "IDLE").length} instance(s) of a started migration; sending them /start`);
          const incomplete = await startIdle(spec, client, each, ctx, plan.body);
          if (incomplete) ctx.log(incomplete);
          continue;
        }
        if (combined.state === "PAUSED" && !resumed) {
          resumed = true;
          if (await resumePaused(spec, client, each, ctx)) continue;
        }
        last = statusFromProgress(combined, opts);
        const line = describeProgress(combined, last);
        if (line !== lastLine) ctx.log(line); // one line per change, not one per poll
        lastLine = line;
        if (["READY_FOR_CUTOVER", "CUTTING_OVER", "COMPLETE", "FAILED"].includes(last.phase)) return last;
        if (combined.state === "PAUSED" && spec.mongosync?.keepPaused) return last;
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
      const first = await client.progressEach();
      const c0 = combineProgress(first);
      throwIfFailed(c0, spec, handle);
      const reversed = c0.sourceCluster !== null && c0.sourceCluster !== opts.originalSource;
      if (reversed || c0.state === "REVERSING") {
        // A rollback (reverse sync) is under way or done: this migration's own cutover happened before it.
        return cutoverReport(spec, handle, c0, ctx, notVerifiedReport(spec, "a rollback (reverse sync) is under way or committed; the cutover's verification is not repeated"));
      }
      if (c0.state === "IDLE" || c0.state === "INITIALIZING") {
        throw new EngineFailedError(
          `mongosync is ${c0.state}: there is nothing to commit (it was restarted without its metadata, or never started); ` +
            "delete and recreate the migration",
        );
      }
      const { c, facts } = await commitAll(spec, handle, ctx, client, opts, "cutover", first);
      const verification = await verificationReport(spec, handle, c, facts);
      if (!verification.passed && spec.verification !== "none") {
        throw new EngineFailedError(
          `mongosync COMMITTED, but verification did not pass: ${verification.summary}. Do not move the application yet; ` +
            "run `pulumi up` again to verify again once the cause is fixed",
        );
      }
      return cutoverReport(spec, handle, c, ctx, verification);
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
      const reversed = c.sourceCluster !== null && c.sourceCluster !== statusOptions(spec, handle).originalSource;
      if (c.state === "COMMITTED" || c.state === "REVERSING" || reversed) return { warnings: [] };
      if (c.state === "COMMITTING" || c.partialCommit) {
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

    async rollback(spec, handle, ctx): Promise<MigrationStatus> {
      const refusal = rollbackRefusal(spec, handle);
      if (refusal) throw new MigrationError("MONGOSYNC_ROLLBACK_REFUSED", `mongosync.rollback: ${refusal}`);
      const client = clientFor(spec, ctx);
      const opts = statusOptions(spec, handle);
      const poll = pollMs(spec);
      let sentReverse = false;
      let last: MigrationStatus | undefined;
      for (;;) {
        const each = await client.progressEach();
        const c = combineProgress(each);
        throwIfFailed(c, spec, handle);
        const reversed = c.sourceCluster !== null && c.sourceCluster !== opts.originalSource;
        last = statusFromProgress(c, opts);
        if (!reversed && (c.state === "RUNNING" || c.state === "PAUSED" || c.state === "IDLE" || c.state === "INITIALIZING") && !c.partialCommit) {
          throw new MigrationError("MONGOSYNC_ROLLBACK_REFUSED", `mongosync.rollback: nothing to roll back, mongosync is ${c.state} and the cutover has not committed`);
        }
        if (!reversed && !sentReverse && each.every((i) => i.progress.state === "COMMITTED")) {
          ctx.log("rollback: reversing mongosync (POST /api/v1/reverse to every instance): the new cluster syncs back into the old one");
          sentReverse = true;
          try {
            await client.commandEach("reverse", {}, indexesIn(each, "COMMITTED"));
          } catch (err) {
            const again = combineProgress(await client.progressEach());
            if (again.state === "COMMITTED" && again.sourceCluster === opts.originalSource) {
              throw new MigrationError("MONGOSYNC_ROLLBACK_REFUSED", `mongosync refused /reverse: ${describeError(err)}`);
            }
          }
          continue;
        }
        if (reversed && c.state === "RUNNING" && last.details?.rollback === "READY_TO_COMMIT") return last;
        if (reversed && c.state === "COMMITTED") return last;
        if (ctx.now() + poll > ctx.deadline) return last;
        await ctx.sleep(poll);
      }
    },

    async commitRollback(spec, handle, ctx): Promise<CutoverReport> {
      const refusal = rollbackRefusal(spec, handle);
      if (refusal) throw new MigrationError("MONGOSYNC_ROLLBACK_REFUSED", `mongosync.rollbackCutover: ${refusal}`);
      const client = clientFor(spec, ctx);
      const base = statusOptions(spec, handle);
      const firstRead = await client.progressEach();
      const first = combineProgress(firstRead);
      const reversedFrom = first.sourceCluster !== null && first.sourceCluster !== base.originalSource ? first.sourceCluster : undefined;
      if (!reversedFrom && first.state !== "REVERSING") {
        throw new MigrationError("MONGOSYNC_ROLLBACK_NOT_STARTED", "mongosync.rollbackCutover: no reverse sync is running; set mongosync.rollback: true first and wait until it is caught up");
      }
      // Nobody verifies a reverse sync unless we do: the embedded verifier is off after /reverse.
      if (spec.verification !== "none" && !(spec.source.uri && spec.target.uri)) {
        throw new MigrationError(
          "MONGOSYNC_CANNOT_VERIFY",
          "mongosync's verifier does not run after /reverse and without source.uri and target.uri the engine cannot verify the rollback; nothing was committed. " +
            'Give source.uri and target.uri, or set verificationMode "none" and verify the data yourself',
        );
      }
      // In the reversed direction the "original source" for status purposes is the current one.
      const opts: StatusOptions = { ...base, requireVerifier: false, originalSource: reversedFrom ?? (base.originalSource === "cluster0" ? "cluster1" : "cluster0") };
      const { c } = await commitAll(spec, handle, ctx, client, opts, "rollback commit", firstRead);
      const verification = await verifyOurselves(spec, "mongosync's embedded verifier does not run after /reverse", "target");
      if (!verification.passed && spec.verification !== "none") {
        throw new EngineFailedError(`the rollback COMMITTED, but verification did not pass: ${verification.summary}. Do not move the application back yet`);
      }
      const report = cutoverReport(spec, handle, c, ctx, verification);
      report.warnings.unshift("rolled back: the old source takes the writes again; move the application back to it");
      return report;
    },
  };
  return engine;
}

/** The source's users the program does not declare (usersInfo); a source that cannot be read is said, not fatal. */
async function undeclaredSourceUsers(uri: string, declared: string[]): Promise<PreflightFinding[]> {
  let source: Awaited<ReturnType<typeof openCluster>> | undefined;
  try {
    source = await openCluster(uri, { appName: "pulumi-atlas-migration" });
    const [users, own] = await Promise.all([source.listUsers(), source.authenticatedUsers()]);
    return undeclaredUserWarnings(users, declared, own);
  } catch (err) {
    return [
      {
        code: "SOURCE_USERS_UNREAD",
        message: redact(`the source's users could not be listed (${describeError(err)}); mongosync does not migrate users`),
        action: "declare every user the application logs in as in databaseUsers, or give the source user the viewUser action to have them listed",
      },
    ];
  } finally {
    await source?.close().catch(() => undefined);
  }
}

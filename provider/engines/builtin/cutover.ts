// Cutover as a persisted state machine, so an interrupted `pulumi up` (or a crash) resumes where it stopped:
//
//   (finish copy, catch up)  → BLOCKING → DRAINING → VERIFYING → INDEXES → FINALIZING → COMPLETE
//
// BLOCKING   stop source writes (setUserWriteBlockMode | read-only users, roles saved first | none)
// DRAINING   changeStream: apply events until the stream is empty (none: until quietSeconds without events);
//            snapshot: reconcile by `_id` + content hash
// VERIFYING  counts + content hashes; a mismatch sends the machine back to DRAINING and throws, naming them
// INDEXES    unique indexes built, TTL indexes get their real expireAfterSeconds — only after verification
//            passed: a re-drain replays intermediate states (e.g. two documents swapping a unique value) that a
//            unique index would refuse with E11000 on every rerun, while the source stays blocked
// FINALIZING completion marker written, then the checkpoint cleared (one marker document stays, see state.ts)
//
// Each step is idempotent, so running a step twice (crash after doing it, before recording it) is harmless.
import type { CutoverReport } from "../engine";
import { DeadlineExceededError, EngineFailedError } from "../../errors";
import type { RunEnv } from "./env";
import { includedSourceCollections, indexesDuringSync, runCopy, toNamespace, undefinedWarning } from "./copy";
import { storedId, unwritableReason } from "../../cluster/raw-bson";
import { BSON } from "mongodb";
import { runReplay } from "./replay";
import { reconcileSnapshot } from "./snapshot";
import { COMPLETION_KEY, completionStore, readBlocking, writeBlocking, type CutoverStep, type MigrationState } from "./state";
import { verifyNamespaces, type ExpiryRule } from "./verify";
import { withRetry } from "./retry";
import { applyReadOnly, chooseWriteBlocking, findUsers, undoInstructions, writeBlockingBypass } from "./writeblock";
import type { Namespace } from "../../cluster/port";

async function enterStep(env: RunEnv, step: CutoverStep): Promise<void> {
  await env.session.update((s) => {
    if (s.cutover) s.cutover.step = step;
  });
  env.log(`cutover: ${step}`);
}

function failIfFailed(s: MigrationState): void {
  if (s.phase !== "FAILED") return;
  throw new EngineFailedError(`the migration failed${s.cutover ? " during cutover" : " before cutover"}: ${s.failure ?? "unknown reason"}`);
}

async function finishIndexes(env: RunEnv): Promise<void> {
  for (const info of (await includedSourceCollections(env)).filter((c) => c.kind === "collection")) {
    const ns = toNamespace(info);
    const whileSyncing = indexesDuringSync(info.indexes);
    if (whileSyncing.length > 0) await withRetry("createIndexes", env.ctx, () => env.target.createIndexes(ns, whileSyncing));
    const unique = info.indexes.filter((ix) => ix.name !== "_id_" && !ix.options.clustered && ix.options.unique);
    if (unique.length > 0) await withRetry("createIndexes", env.ctx, () => env.target.createIndexes(ns, unique));
    for (const ix of info.indexes) {
      if (ix.options.expireAfterSeconds === undefined || ix.options.unique || ix.options.clustered) continue;
      await withRetry("collMod", env.ctx, () => env.target.setIndexExpiry(ns, ix.name, Number(ix.options.expireAfterSeconds)));
    }
  }
}

/** The source's TTL indexes per namespace: what its TTL monitor may delete while verification reads. */
async function expiryRules(env: RunEnv): Promise<Map<string, ExpiryRule[]>> {
  const rules = new Map<string, ExpiryRule[]>();
  for (const info of await includedSourceCollections(env)) {
    for (const ix of info.indexes) {
      const fields = Object.keys(ix.key);
      if (ix.options.expireAfterSeconds === undefined || fields.length !== 1 || ix.options.clustered) continue;
      const name = `${info.db}.${info.name}`;
      rules.set(name, [...(rules.get(name) ?? []), { field: fields[0], seconds: Number(ix.options.expireAfterSeconds) }]);
    }
  }
  return rules;
}

async function namespacesToVerify(env: RunEnv): Promise<Namespace[]> {
  const names = new Map<string, Namespace>();
  for (const c of await includedSourceCollections(env)) {
    if (c.kind === "collection") names.set(`${c.db}.${c.name}`, toNamespace(c));
  }
  for (const c of await env.target.listCollections()) {
    if (c.kind === "collection" && env.matcher.includes(c.db, c.name)) names.set(`${c.db}.${c.name}`, toNamespace(c));
  }
  return [...names.values()].sort((a, b) => `${a.db}.${a.coll}`.localeCompare(`${b.db}.${b.coll}`));
}

/** How many still-unwritable documents the refusal names before it says "and N more". */
const UNWRITABLE_NAMED = 5;

/**
 * Before anything is blocked: the copy warned (by namespace and `_id`) about source documents the Node.js driver
 * cannot write as they are stored (raw-bson.ts unwritableReason). Full verification compares stored bytes, so it
 * would fail for them only after the source's writes were blocked. Re-read those namespaces' stored bytes now
 * (the application may have rewritten the documents since; replay then carried the rewrite) and refuse while any
 * remain, naming them and what to do; warnings for documents that were rewritten are dropped. Documents such
 * replay brought in after the copy are not warned during the sync: verification still names those.
 */
async function refuseUnwritableBeforeBlocking(env: RunEnv): Promise<void> {
  if (env.spec.verification !== "full") return;
  // The copy's warnings about one namespace (copy.ts unwritableWarning, its "more" line, undefinedWarning).
  const about = (name: string, w: string) => w.startsWith(`${name} _id `) || w.startsWith(`${name}: more documents than`) || w === undefinedWarning(name);
  const warned = (name: string) => env.session.state.warnings.some((w) => about(name, w));
  const remaining: string[] = [];
  let count = 0;
  const clean: string[] = [];
  for (const ns of await namespacesToVerify(env)) {
    const name = `${ns.db}.${ns.coll}`;
    if (!warned(name)) continue;
    let here = 0;
    for await (const batch of env.source.scanStored(ns, {}, 1000)) {
      for (const bytes of batch) {
        const reason = unwritableReason(bytes);
        if (!reason) continue;
        here++;
        if (remaining.length < UNWRITABLE_NAMED) {
          remaining.push(`${name} _id ${BSON.EJSON.stringify(storedId(bytes) as BSON.Document, { relaxed: false })} (stores ${reason})`);
        }
      }
    }
    count += here;
    if (here === 0) clean.push(name);
  }
  if (clean.length > 0) {
    await env.session.update((s) => {
      s.warnings = s.warnings.filter((w) => !clean.some((name) => about(name, w)));
    });
  }
  if (count === 0) return;
  const more = count > remaining.length ? `, and ${count - remaining.length} more` : "";
  throw new EngineFailedError(
    `cutover refused before blocking any source writes (UNWRITABLE_DOCUMENTS): ${count} source document(s) hold what the ` +
      `Node.js driver cannot write as it is: ${remaining.join("; ")}${more}. Full verification compares the stored bytes ` +
      "and would fail for them after writes were blocked. Rewrite them on the source (as the application writes them " +
      'today; replay carries the rewrite) and run `pulumi up` again, or set verification: "counts" to cut over with ' +
      "them as the target stores them. Nothing was blocked; the sync keeps running",
  );
}

function deadline(what: string): never {
  throw new DeadlineExceededError(`cutover (${what})`);
}

/** mongos's default userCacheInvalidationIntervalSecs (docs: userCacheInvalidationIntervalSecs). */
const DEFAULT_USER_CACHE_SECONDS = 30;

/**
 * On a sharded source the read-only roles reach each mongos only when it next checks its user cache, up to
 * userCacheInvalidationIntervalSecs later; until then the application keeps writing through the other mongos,
 * and a drain that ended before would lose those writes. So wait the interval (read from the source, the
 * default when it cannot be read) past the role change before draining. The moment is checkpointed, so a rerun
 * does not wait again from the start.
 */
async function waitForRolesOnEveryMongos(env: RunEnv): Promise<void> {
  const { session, source, ctx } = env;
  const info = await withRetry("serverInfo", ctx, () => source.serverInfo());
  if (info.topology !== "sharded") return;
  let effectiveAt = session.state.cutover?.readOnlyEffectiveAt;
  if (!effectiveAt) {
    const seconds = (await withRetry("userCacheInvalidationIntervalSecs", ctx, () => source.userCacheInvalidationSeconds())) ?? DEFAULT_USER_CACHE_SECONDS;
    const at = new Date(ctx.now() + (seconds + 1) * 1000).toISOString();
    await session.update((s) => {
      if (s.cutover && !s.cutover.readOnlyEffectiveAt) s.cutover.readOnlyEffectiveAt = at;
    });
    effectiveAt = session.state.cutover?.readOnlyEffectiveAt ?? at;
    env.log(
      `cutover: the source is sharded; waiting ${seconds + 1}s (userCacheInvalidationIntervalSecs ${seconds}) until every mongos applies the read-only roles`,
    );
  }
  const until = Date.parse(effectiveAt);
  while (ctx.now() < until) {
    if (ctx.now() >= env.stopAt) deadline("waiting for every mongos to apply the read-only roles");
    await session.assertLease();
    await ctx.sleep(Math.min(1000, until - ctx.now()));
  }
}

export async function runCutover(env: RunEnv): Promise<CutoverReport> {
  const { session, source, spec } = env;
  failIfFailed(session.state);

  // Before blocking anything: finish the copy and catch up, so writes are blocked for as short as possible.
  if (!session.state.copy.done && (await runCopy(env)) === "stopped") deadline("initial copy");
  if (session.state.captureMode === "changeStream" && !session.state.cutover) {
    const r = await runReplay(env, "ready");
    if (r === "failed") failIfFailed(session.state);
    if (r === "stopped") deadline("catching up before blocking writes");
  }

  if (!session.state.cutover) {
    await refuseUnwritableBeforeBlocking(env);
    const info = await source.serverInfo();
    const choice = chooseWriteBlocking(spec, info);
    if (!choice.mode) throw new EngineFailedError(`${choice.problem?.message}; ${choice.problem?.action}`);
    const mode = choice.mode;
    let bypassWarning: string | undefined;
    if (mode === "setUserWriteBlockMode") {
      // Checked again now (users may have changed since preflight): refuse while anyone unacknowledged bypasses.
      const bypass = await writeBlockingBypass(source, spec);
      if (bypass.errors.length > 0) {
        throw new EngineFailedError(`${bypass.errors.map((e) => `${e.message}; ${e.action}`).join(". ")}. Nothing was blocked yet`);
      }
      if (bypass.users.length > 0) {
        bypassWarning = `write blocking does not stop source user(s) ${bypass.users.join(", ")} (bypassWriteBlockingMode): writes made as them during or after cutover were not carried to Atlas`;
      }
    }
    await session.update((s) => {
      if (bypassWarning && !s.warnings.includes(bypassWarning)) s.warnings.push(bypassWarning);
      s.phase = "CUTTING_OVER";
      s.cutover = { step: "BLOCKING", writeBlocking: mode, startedAt: new Date(env.ctx.now()).toISOString() };
    });
    env.log(`cutover: BLOCKING source writes (${mode})`);
  }

  const cut = () => session.state.cutover!;
  if (cut().step === "BLOCKING") {
    await env.hooks.beforeCutoverStep?.("BLOCKING");
    const mode = cut().writeBlocking;
    if (mode !== "none") {
      // The record outlives resets (state.ts blockingStore): written before anything is blocked, and the roles a
      // user had before the engine FIRST changed them are never replaced by what a later attempt finds.
      const record = await withRetry("read blocking record", env.ctx, () => readBlocking(env.target, spec.migrationId));
      const kept = new Map((record?.savedRoles ?? []).map((u) => [`${u.user}@${u.db}`, u]));
      let saved = cut().savedRoles;
      if (mode === "readOnlyUsers" && !saved) {
        const { found, missing } = findUsers(await source.listUsers(), spec.builtin.readOnlyUsers);
        if (missing.length > 0) throw new EngineFailedError(`source users not found: ${missing.join(", ")}; fix builtin.readOnlyUsers`);
        saved = found.map((u) => kept.get(`${u.user}@${u.db}`) ?? { user: u.user, db: u.db, roles: u.roles });
      }
      for (const u of saved ?? []) if (!kept.has(`${u.user}@${u.db}`)) kept.set(`${u.user}@${u.db}`, u);
      await withRetry("write blocking record", env.ctx, () =>
        writeBlocking(env.target, spec.migrationId, {
          modes: [...new Set([...(record?.modes ?? []), mode])],
          savedRoles: kept.size > 0 ? [...kept.values()] : undefined,
          blockedAt: record?.blockedAt ?? new Date(env.ctx.now()).toISOString(),
        }),
      );
      if (mode === "readOnlyUsers" && !cut().savedRoles) {
        await session.update((s) => {
          if (s.cutover && !s.cutover.savedRoles) s.cutover.savedRoles = saved;
        });
      }
    }
    if (mode === "setUserWriteBlockMode") {
      await withRetry("setUserWriteBlockMode", env.ctx, () => source.setUserWriteBlocking(true));
    } else if (mode === "readOnlyUsers") {
      await applyReadOnly(source, cut().savedRoles ?? []);
      await waitForRolesOnEveryMongos(env);
    }
    await enterStep(env, "DRAINING");
  }

  // A mismatch right after the drain can be a change the stream did not show yet (a write acknowledged by the
  // primary before blocking but not yet majority-committed): drain and verify again a few times before failing.
  const attempts = session.state.captureMode === "changeStream" ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    if (cut().step === "DRAINING") {
      await env.hooks.beforeCutoverStep?.("DRAINING");
      if (session.state.captureMode === "changeStream") {
        const r = await runReplay(env, cut().writeBlocking === "none" ? "quiet" : "drained");
        if (r === "failed") failIfFailed(session.state);
        if (r === "stopped") deadline("draining the last changes");
      } else {
        await reconcileSnapshot(env);
      }
      await enterStep(env, "VERIFYING");
    }

    // A checkpoint written by an older version may say INDEXES before any verification: verify first.
    if (cut().step === "INDEXES" && spec.verification !== "none" && !cut().lastVerification?.passed) await enterStep(env, "VERIFYING");

    if (cut().step === "VERIFYING") {
      await env.hooks.beforeCutoverStep?.("VERIFYING");
      if (spec.verification !== "none") {
        const report = await verifyNamespaces(source, env.target, await namespacesToVerify(env), spec.verification, {
          rules: await expiryRules(env),
          now: env.ctx.now,
        });
        await session.update((s) => {
          if (!s.cutover) return;
          s.cutover.lastVerification = report;
          if (!report.passed) s.cutover.step = "DRAINING"; // the next attempt (or rerun) drains again first
        });
        if (!report.passed) {
          const detail = report.namespaces
            .filter((n) => !n.match)
            .map((n) => `${n.namespace} (source ${n.sourceCount} docs, target ${n.targetCount}; e.g. _id ${(n.sampleMismatchedIds ?? []).join(", ") || "n/a"})`)
            .join("; ");
          if (attempt < attempts) {
            env.log(`cutover: verification found differences (${detail}); draining and verifying again (${attempt}/${attempts})`);
            await env.ctx.sleep(2_000);
            continue;
          }
          throw new EngineFailedError(
            `verification failed: ${detail}. Run the cutover again (pulumi up) to re-drain and re-verify; if it persists, restart the migration`,
          );
        }
      }
      await enterStep(env, "INDEXES");
    }

    if (cut().step === "INDEXES") {
      await env.hooks.beforeCutoverStep?.("INDEXES");
      await finishIndexes(env);
      await enterStep(env, "FINALIZING");
    }
    break;
  }

  await env.hooks.beforeCutoverStep?.("FINALIZING");
  const s = session.state;
  const verification = s.cutover?.lastVerification ?? {
    mode: "none" as const,
    passed: true,
    summary: "verification skipped (verification: none)",
    namespaces: [],
  };
  const report: CutoverReport = {
    phase: "COMPLETE",
    cutoverCompletedAt: new Date(env.ctx.now()).toISOString(),
    verification,
    warnings: [undoInstructions(cut().writeBlocking, cut().savedRoles), ...s.warnings],
  };
  // Marker first, then clear: a crash in between leaves both, and every later call finds the marker.
  await completionStore(env.target, spec.migrationId).put(COMPLETION_KEY, { report: JSON.stringify(report) });
  await session.store.clear();
  env.log(`phase COMPLETE: ${verification.summary}`);
  return report;
}

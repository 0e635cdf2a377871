// From what the mongosync processes report to one MigrationStatus.
//
// Several instances (one per source shard) are one migration, and the migration is only as far as its slowest
// instance: the combined state is the least advanced one, canCommit holds only when every instance can commit,
// lag is the largest lag, copied bytes add up (each instance counts its own) while the total is global.
// canWrite is the exception: only the coordinator's value counts (the instance whose mongosyncID equals the
// coordinatorID every instance reports; v1.7 progress-response.rst, coordinatorID). The URLs may be listed in
// any order, so "the first URL" is not the coordinator.
import { redact } from "../../errors";
import type { MigrationStatus, Phase } from "../engine";
import type { InstanceProgress } from "./client";
import { isKnownState, VERIFIER_PHASES, type MongosyncProgress } from "./types";

export interface CombinedProgress {
  /** The least advanced state, or the first state we do not know (treated as a failure). */
  state: string;
  states: string[];
  canCommit: boolean;
  canWrite: boolean;
  /** Largest lag over all instances; null when any instance reports none (IDLE, PAUSED, copy not started). */
  lagSeconds: number | null;
  copiedBytes?: number;
  totalBytes?: number;
  /** Some instance is still in its initial collection copy. */
  copying: boolean;
  info: string | null;
  ceaStage: string | null;
  verifier: { present: boolean; phase: string | null; lagSeconds: number | null };
  warnings: string[];
  estimatedOplogTimeRemaining: string | null;
  /** "cluster0" or "cluster1": which side the instances read from (changes after /reverse); null when unknown or mixed. */
  sourceCluster: string | null;
  /** Per instance, the cluster named as Source in directionMapping (null when IDLE). */
  sourceClusters: Array<string | null>;
  /** Per instance, the host:port part of directionMapping.Source / .Destination. */
  sourceHosts: Array<string | null>;
  destinationHosts: Array<string | null>;
  /** Index (in mongosync.urls) of the coordinator, when the instances name one. */
  coordinatorIndex: number | null;
  /** Some instances committed (COMMITTING/COMMITTED) while others still run: a commit that reached only some. */
  partialCommit: boolean;
  mongosyncIds: string[];
  coordinatorId: string | null;
}

/** How far each state is along the lifecycle; mixed states combine to the lowest. */
const STATE_RANK: Record<string, number> = {
  IDLE: 0,
  INITIALIZING: 0,
  RUNNING: 1,
  PAUSED: 1,
  COMMITTING: 2,
  COMMITTED: 3,
  REVERSING: 4,
};

function combinedState(states: string[]): string {
  const unknown = states.find((s) => !isKnownState(s));
  if (unknown !== undefined) return unknown;
  if (states.every((s) => s === states[0])) return states[0];
  const lowest = Math.min(...states.map((s) => STATE_RANK[s]));
  const atLowest = states.filter((s) => STATE_RANK[s] === lowest);
  // Between equally ranked states, the one that needs attention wins: a paused shard pauses the migration.
  if (atLowest.includes("PAUSED")) return "PAUSED";
  if (atLowest.includes("INITIALIZING")) return "INITIALIZING";
  return atLowest[0];
}

export function lagOf(progress: MongosyncProgress): number | null {
  const overall = progress.lag?.overallLagSeconds;
  if (typeof overall === "number") return overall;
  return typeof progress.lagTimeSeconds === "number" ? progress.lagTimeSeconds : null;
}

function verifierPhaseRank(phase: string): number {
  return (VERIFIER_PHASES as readonly string[]).indexOf(phase); // unknown phases rank -1: least advanced
}

export function combineProgress(instances: InstanceProgress[]): CombinedProgress {
  const all = instances.map((i) => i.progress);
  const states = all.map((p) => p.state);
  const state = combinedState(states);

  const lags = all.map(lagOf);
  const lagSeconds = lags.some((l) => l === null) ? null : Math.max(...(lags as number[]));

  let copiedBytes: number | undefined;
  let totalBytes: number | undefined;
  for (const p of all) {
    const copied = p.collectionCopy?.estimatedCopiedBytes;
    const total = p.collectionCopy?.estimatedTotalBytes;
    if (typeof copied === "number") copiedBytes = (copiedBytes ?? 0) + copied;
    if (typeof total === "number") totalBytes = Math.max(totalBytes ?? 0, total);
  }
  // Before the copy starts mongosync reports 1 total and 0 copied: a placeholder, not a size.
  if ((totalBytes ?? 0) <= 1 && (copiedBytes ?? 0) === 0) {
    copiedBytes = undefined;
    totalBytes = undefined;
  }

  const copying = all.some(
    (p) =>
      p.info === "collection copy" ||
      (p.info == null && p.state === "RUNNING" && !p.canCommit && lagOf(p) === null),
  );

  const sides = all.flatMap((p) => [p.verification?.source, p.verification?.destination]).filter((s) => s && typeof s.phase === "string");
  let verifierPhase: string | null = null;
  let verifierLag: number | null = null;
  for (const side of sides) {
    const phase = side!.phase as string;
    if (verifierPhase === null || verifierPhaseRank(phase) < verifierPhaseRank(verifierPhase)) verifierPhase = phase;
    if (typeof side!.lagTimeSeconds === "number") verifierLag = Math.max(verifierLag ?? 0, side!.lagTimeSeconds);
  }

  // The slowest instance explains the combined state best.
  const slowest = all.find((p) => p.state === state) ?? all[0];
  const warnings: string[] = [];
  for (const i of instances) {
    for (const w of i.progress.warnings ?? []) {
      warnings.push(redact(instances.length > 1 ? `mongosync ${i.index} (${i.url}): ${w}` : `mongosync: ${w}`));
    }
  }
  const clusterOf = (text: string | null | undefined) => (text ? text.split(":")[0].trim() : null);
  const hostOf = (text: string | null | undefined) => (text && text.includes(":") ? text.slice(text.indexOf(":") + 1).trim() : null);
  const sourceClusters = all.map((p) => clusterOf(p.directionMapping?.Source));
  const known = sourceClusters.filter((c): c is string => c !== null);
  const sourceCluster = known.length > 0 && known.every((c) => c === known[0]) ? known[0] : null;

  // The coordinator: the instance whose own id is the coordinatorID they report. Alone, it is itself.
  const coordinatorIds = all.map((p) => p.coordinatorID).filter((id): id is string => typeof id === "string" && id !== "");
  let coordinatorIndex: number | null = null;
  if (coordinatorIds.length > 0) {
    const found = instances.findIndex((i) => i.progress.mongosyncID === coordinatorIds[0]);
    coordinatorIndex = found >= 0 ? found : null;
  } else if (instances.length === 1) coordinatorIndex = 0;
  // Without a coordinator to ask (pre-1.3, or not identified yet) the destination counts as writable only when
  // every instance has COMMITTED.
  const canWrite =
    all.every((p) => p.state === "COMMITTED") || (coordinatorIndex !== null && all[coordinatorIndex].canWrite === true && all.every((p) => p.state === "COMMITTING" || p.state === "COMMITTED"));
  const committedSome = states.some((s) => s === "COMMITTING" || s === "COMMITTED");
  const partialCommit = committedSome && states.some((s) => s === "RUNNING" || s === "PAUSED");

  return {
    state,
    states,
    canCommit: all.every((p) => p.canCommit === true),
    canWrite,
    lagSeconds,
    copiedBytes,
    totalBytes,
    copying,
    info: slowest.info ?? null,
    ceaStage: slowest.ceaStage ?? null,
    verifier: { present: sides.length > 0, phase: verifierPhase, lagSeconds: verifierLag },
    warnings,
    estimatedOplogTimeRemaining: all.map((p) => p.estimatedOplogTimeRemaining).find((e) => typeof e === "string") ?? null,
    sourceCluster,
    sourceClusters,
    sourceHosts: all.map((p) => hostOf(p.directionMapping?.Source)),
    destinationHosts: all.map((p) => hostOf(p.directionMapping?.Destination)),
    coordinatorIndex,
    partialCommit,
    mongosyncIds: all.map((p) => p.mongosyncID).filter((id): id is string => typeof id === "string"),
    coordinatorId: coordinatorIds[0] ?? null,
  };
}

export interface StatusOptions {
  /** Lag (s) under which RUNNING + canCommit counts as READY_FOR_CUTOVER (spec.timeouts.readyLagSeconds). */
  readyLagSeconds: number;
  /** Wait for the embedded verifier's "stream hashing" (when progress reports a verifier at all). */
  requireVerifier: boolean;
  /** "cluster0" unless the handle says otherwise; a different current source means /reverse was called. */
  originalSource: string;
  /** mongosync.keepPaused: a PAUSED mongosync stays paused (the warning says so instead of "resumes it"). */
  keepPaused?: boolean;
}

/** True when the documented cutover preconditions hold (reference §3.8 step 1). */
export function readyToCommit(c: CombinedProgress, opts: StatusOptions): boolean {
  if (c.state !== "RUNNING" || c.copying || !c.canCommit) return false;
  if (c.lagSeconds === null || c.lagSeconds > opts.readyLagSeconds) return false;
  if (opts.requireVerifier && c.verifier.present) {
    if (c.verifier.phase !== "stream hashing") return false;
    if (c.verifier.lagSeconds !== null && c.verifier.lagSeconds > opts.readyLagSeconds) return false;
  }
  return true;
}

/**
 * mongosync state → our Phase:
 *   IDLE, INITIALIZING          → PENDING
 *   RUNNING, collection copy    → COPYING
 *   RUNNING, applying changes   → SYNCING, or READY_FOR_CUTOVER once readyToCommit()
 *   PAUSED                      → COPYING or SYNCING (where it paused), never ready, with a warning: a pause
 *                                  is not a failure and `pulumi up` resumes it (advance/cutover call /resume)
 *   COMMITTING                  → CUTTING_OVER
 *   COMMITTED, REVERSING, or RUNNING in the reverse direction → COMPLETE (our migration is done; a reverse
 *                                  sync is the user's own next step, reported as a warning)
 *   anything else               → FAILED. mongosync's terminal failure state name is UNCONFIRMED (the docs
 *                                  describe a fatal log entry and process exit), so any unknown state fails.
 */
export function statusFromProgress(c: CombinedProgress, opts: StatusOptions): MigrationStatus {
  const warnings = [...c.warnings];
  const reversed = c.sourceCluster !== null && c.sourceCluster !== opts.originalSource;
  let phase: Phase;
  let reason: string | undefined;
  let rollback: string | null = null;
  const mixedDirections = new Set(c.sourceClusters.filter((x) => x !== null)).size > 1;
  if (mixedDirections) {
    phase = "FAILED";
    reason = `the mongosync instances sync in different directions (${c.sourceClusters.map((x, i) => `instance ${i}: from ${x ?? "?"}`).join(", ")}); stop them and start again`;
  } else if (c.partialCommit && isKnownState(c.state)) {
    // Some instances committed, others still run (M5): the commit must be finished, not waited for as a sync.
    phase = "CUTTING_OVER";
    warnings.push(`mongosync committed on only some instances (${c.states.join(", ")}); the cutover sends /commit to the rest as soon as it runs`);
  } else switch (c.state) {
    case "IDLE":
    case "INITIALIZING":
      phase = "PENDING";
      break;
    case "RUNNING":
      if (reversed) {
        phase = "COMPLETE";
        rollback = readyToCommit(c, { ...opts, requireVerifier: false }) ? "READY_TO_COMMIT" : "SYNCING";
        warnings.push(
          `mongosync syncs in reverse (from ${c.sourceCluster} back to ${opts.originalSource}) after the commit: a rollback is under way; ` +
            "set mongosync.rollbackCutover: true to commit it (the application then moves back to the old source)",
        );
      } else if (c.copying) phase = "COPYING";
      else phase = readyToCommit(c, opts) ? "READY_FOR_CUTOVER" : "SYNCING";
      break;
    case "PAUSED":
      phase = c.copying || c.info === "collection copy" ? "COPYING" : "SYNCING";
      warnings.push(
        opts.keepPaused
          ? "mongosync is PAUSED and stays paused (mongosync.keepPaused: true); remove keepPaused to let `pulumi up` resume it"
          : "mongosync is PAUSED; the next `pulumi up` resumes it (POST /api/v1/resume); to keep it paused set mongosync.keepPaused: true",
      );
      break;
    case "COMMITTING":
      phase = "CUTTING_OVER";
      break;
    case "COMMITTED":
      phase = "COMPLETE";
      if (reversed) {
        rollback = "COMMITTED";
        warnings.push(`the rollback is committed: mongosync synced ${c.sourceCluster} back into ${opts.originalSource}, which now takes the writes`);
      }
      break;
    case "REVERSING":
      phase = "COMPLETE";
      rollback = "REVERSING";
      warnings.push("mongosync is REVERSING (syncing the destination back to the source): a rollback was started after the commit");
      break;
    default:
      phase = "FAILED";
      reason = redact(
        `mongosync reports state ${JSON.stringify(c.state)}${c.info ? ` (${c.info})` : ""}; read the mongosync log. ` +
          "A fatal mongosync error means starting over: stop mongosync, empty the destination, start again",
      );
  }
  const details: Record<string, string | number | boolean | null> = {
    mongosyncState: c.state,
    instances: c.states.length,
    canCommit: c.canCommit,
    canWrite: c.canWrite,
    info: c.info,
    ceaStage: c.ceaStage,
    verifierPhase: c.verifier.phase,
    verifierLagSeconds: c.verifier.lagSeconds,
    estimatedOplogTimeRemaining: c.estimatedOplogTimeRemaining,
    direction: c.sourceCluster === null ? null : `${c.sourceCluster} → ${c.sourceCluster === "cluster0" ? "cluster1" : "cluster0"}`,
    rollback,
  };
  if (c.states.length > 1) details.instanceStates = c.states.join(",");
  const status: MigrationStatus = {
    phase,
    lagSeconds: c.lagSeconds,
    readyForCutover: phase === "READY_FOR_CUTOVER",
    warnings,
    details,
  };
  if (c.copiedBytes !== undefined) status.copiedBytes = c.copiedBytes;
  if (c.totalBytes !== undefined) status.totalBytes = c.totalBytes;
  if (reason !== undefined) status.reason = reason;
  return status;
}

// Cutover readiness, decided at `pulumi preview` from the last refreshed state.
//
// When a PR flips `cutover: true`, the preview must say whether the cutover may happen, so that the PR cannot
// be merged green when it could not. This module is pure: it takes the stored outputs (what the last
// `pulumi refresh` or `pulumi up` wrote), the new inputs and the current time, and answers ok or a reason with
// what to do. It never reads the network: the provider's `diff` (and the CrossGuard policy pack) call it.
//
// Rules, in the order a user has to fix them:
//   1. the migration is not FAILED (an Atlas live migration that outlived its cutover window reads FAILED/expired);
//   2. the last status read is recent enough (`statusCheckedAt`, at most cutoverReadiness.maxStatusAgeMinutes);
//   3. phase READY_FOR_CUTOVER (or a cutover already under way / finished: nothing to refuse);
//   4. lag at most cutoverReadiness.maxLagSeconds;
//   5. the Atlas live-migration cutover window not closed (atlas-push: 120 h after the sync caught up);
//   6. the verification the cutover will run is at least cutoverReadiness.requireVerification.

import type { Phase, VerificationMode } from "./engines/engine";

export const READINESS_DEFAULTS = {
  /** Lag (s) at the last status read above which a cutover preview is refused. */
  maxLagSeconds: 60,
  /** Age (min) of the last status read above which a cutover preview asks for `pulumi refresh`. */
  maxStatusAgeMinutes: 60,
};

/**
 * Atlas live migration: once source and destination are nearly in sync Atlas starts a 120-hour timer; when it
 * lapses Atlas stops syncing and the job is EXPIRED (push live-migration guide, /work/shared/seeds/001_…txt:
 * "starts an extendable 120 hour (5 day) timer"; LiveMigrationResponse status EXPIRED in the v2 spec). It can
 * be extended only in the Atlas UI.
 */
export const ATLAS_CUTOVER_WINDOW_HOURS = 120;

/** The stored outputs readiness looks at (a subset of the Migration's state). */
export interface StoredMigrationState {
  phase?: Phase | string | null;
  engine?: string | null;
  lagSeconds?: number | null;
  /** ISO time of the last status read (set by read/create/update). */
  statusCheckedAt?: string | null;
  startedAt?: string | null;
  /** atlas-push: the earliest moment Atlas's cutover window can close, as the last status read computed it. */
  cutoverDeadline?: string | null;
  reason?: string | null;
  progress?: { percent?: number; copiedDocuments?: number; totalDocuments?: number } | null;
  cutover?: boolean | null;
  /** The engine's handle; the builtin engine records its capture mode there ("snapshot" has no lag to measure). */
  handle?: { data?: Record<string, unknown> } | null;
}

/**
 * A builtin migration in snapshot mode (a source without change streams: standalone, FerretDB) streams nothing, so
 * it has no lag: its cutover blocks writes and re-copies what changed (provider/engines/builtin/snapshot.ts).
 */
export function isSnapshotMode(olds: StoredMigrationState): boolean {
  return olds.engine === "builtin" && olds.handle?.data?.captureMode === "snapshot";
}

/** The new inputs readiness looks at. */
export interface ReadinessInputs {
  cutover?: boolean;
  verificationMode?: VerificationMode;
  cutoverReadiness?: { maxLagSeconds?: number; maxStatusAgeMinutes?: number; requireVerification?: VerificationMode };
}

export type Readiness =
  | { ok: true; note?: string }
  | { ok: false; code: ReadinessCode; reason: string; action: string };

export type ReadinessCode =
  | "MIGRATION_FAILED"
  | "STATUS_UNKNOWN"
  | "STATUS_STALE"
  | "NOT_READY"
  | "LAG_TOO_HIGH"
  | "LAG_UNKNOWN"
  | "CUTOVER_WINDOW_CLOSED"
  | "VERIFICATION_TOO_WEAK";

const RANK: Record<VerificationMode, number> = { none: 0, counts: 1, full: 2 };

/** The verification the cutover will run: the input, or the engine's default (schema.toSpec). */
export function effectiveVerification(engine: string | null | undefined, mode: VerificationMode | undefined): VerificationMode {
  return mode ?? (engine === "atlas-push" ? "none" : "full");
}

/** The earliest time Atlas's cutover window can close: it cannot start before the migration started. */
export function atlasCutoverDeadline(startedAt: string | null | undefined): Date | undefined {
  const start = startedAt ? Date.parse(startedAt) : NaN;
  return Number.isFinite(start) ? new Date(start + ATLAS_CUTOVER_WINDOW_HOURS * 3600_000) : undefined;
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

function refused(code: ReadinessCode, reason: string, action: string): Readiness {
  return { ok: false, code, reason, action };
}

/**
 * May the cutover this preview asks for proceed? `olds` are the stored outputs, `news` the new inputs,
 * `now` the current time (ms). Answers ok when no cutover is being asked for.
 */
export function cutoverReadiness(olds: StoredMigrationState, news: ReadinessInputs, now: number): Readiness {
  if (news.cutover !== true) return { ok: true };
  const phase = olds.phase ?? undefined;
  // Finished, or a cutover an earlier `up` began (source writes may be blocked): finishing it is always right.
  if (phase === "COMPLETE") return { ok: true, note: "the migration is COMPLETE; nothing to cut over" };
  if (phase === "CUTTING_OVER") return { ok: true, note: "a cutover is under way; `pulumi up` finishes it" };
  const limits = { ...READINESS_DEFAULTS, ...stripUndefined(news.cutoverReadiness ?? {}) };

  if (phase === "FAILED") {
    const expired = (olds.reason ?? "").startsWith("expired:");
    return refused(
      expired ? "CUTOVER_WINDOW_CLOSED" : "MIGRATION_FAILED",
      `the migration is FAILED${olds.reason ? `: ${olds.reason}` : ""}`,
      "fix the cause, then replace the Migration (a new sync); a failed migration cannot be cut over",
    );
  }

  const checked = olds.statusCheckedAt ? Date.parse(olds.statusCheckedAt) : NaN;
  if (!Number.isFinite(checked)) {
    return refused("STATUS_UNKNOWN", "no status read is recorded for this migration", "run `pulumi refresh`, then preview again");
  }
  const age = now - checked;
  if (age > limits.maxStatusAgeMinutes * 60_000) {
    return refused(
      "STATUS_STALE",
      `the last status read is ${minutes(age)} old (cutoverReadiness.maxStatusAgeMinutes: ${limits.maxStatusAgeMinutes})`,
      "run `pulumi refresh`, then preview again",
    );
  }

  if (phase !== "READY_FOR_CUTOVER") {
    const pct = olds.progress?.percent;
    if (phase === "PENDING" || phase === "COPYING" || phase === undefined || phase === null) {
      return refused(
        "NOT_READY",
        `the migration is ${phase ?? "not started"}${typeof pct === "number" ? ` (${pct} % copied)` : ""}`,
        `wait for the initial copy${typeof pct === "number" ? `: ${pct} % copied` : ""}; run \`pulumi up\` (or let the scheduled job run) and \`pulumi refresh\`, then preview again`,
      );
    }
    return refused(
      "NOT_READY",
      `the migration is ${phase}${olds.lagSeconds === null || olds.lagSeconds === undefined ? "" : ` with lag ${olds.lagSeconds} s`}, not READY_FOR_CUTOVER`,
      "wait for the sync to catch up (`pulumi up` drives it), run `pulumi refresh`, then preview again",
    );
  }

  // Snapshot mode has no lag to judge; the reconciliation's write pause is what the reviewer accepts (preflight
  // warned of it).
  if (!isSnapshotMode(olds) && (olds.lagSeconds === null || olds.lagSeconds === undefined)) {
    return refused("LAG_UNKNOWN", "the last status read reported no lag", "run `pulumi refresh`, then preview again");
  }
  if (typeof olds.lagSeconds === "number" && olds.lagSeconds > limits.maxLagSeconds) {
    return refused(
      "LAG_TOO_HIGH",
      `the lag was ${olds.lagSeconds} s at the last status read; cutoverReadiness.maxLagSeconds is ${limits.maxLagSeconds}`,
      "wait for the lag to fall (lower the write load on the source), run `pulumi refresh`, then preview again",
    );
  }

  if (olds.engine === "atlas-push") {
    const stored = olds.cutoverDeadline ? new Date(olds.cutoverDeadline) : undefined;
    const deadline = stored && Number.isFinite(stored.getTime()) ? stored : atlasCutoverDeadline(olds.startedAt);
    if (deadline && now > deadline.getTime()) {
      // Atlas counts from the moment the sync caught up, which is later than the start: the window may still be
      // open, but only Atlas can say so (refresh shows EXPIRED once it closed).
      return { ok: true, note: `Atlas's 120-hour cutover window may have closed (it can close from ${deadline.toISOString()}); if the cutover fails as EXPIRED, extend it in the Atlas UI first` };
    }
  }

  const required = limits.requireVerification as VerificationMode | undefined;
  if (required) {
    const effective = effectiveVerification(olds.engine, news.verificationMode);
    if (RANK[effective] < RANK[required]) {
      return refused(
        "VERIFICATION_TOO_WEAK",
        `the cutover would verify "${effective}", and cutoverReadiness.requireVerification is "${required}"`,
        olds.engine === "atlas-push"
          ? "Atlas live migration verifies inside its own cutover and this package cannot compare the data there: lower requireVerification, or migrate with the builtin or mongosync engine"
          : `set verificationMode: "${required}"`,
      );
    }
  }
  return { ok: true };
}

/**
 * The one-line text preview shows: a refusal with its reason and what to do, or — given the stored state and the
 * inputs — the figures the cutover was allowed on, so a reviewer reads them in the PR's preview.
 */
export function describeReadiness(r: Readiness, olds?: StoredMigrationState, news?: ReadinessInputs, now?: number): string {
  if (!r.ok) return `cutover not ready (${r.code}): ${r.reason} — ${r.action}`;
  if (r.note || !olds || !news || now === undefined) return r.note ?? "the cutover may proceed";
  const limits = { ...READINESS_DEFAULTS, ...stripUndefined(news.cutoverReadiness ?? {}) };
  const checked = olds.statusCheckedAt ? Date.parse(olds.statusCheckedAt) : NaN;
  const facts = [
    `${olds.phase}`,
    isSnapshotMode(olds)
      ? "snapshot mode: no lag; the cutover blocks writes while it re-copies what changed"
      : `lag ${olds.lagSeconds} s (at most ${limits.maxLagSeconds})`,
    Number.isFinite(checked) ? `status read ${minutes(Math.max(0, now - checked))} ago (at most ${limits.maxStatusAgeMinutes} min)` : "",
    `verification "${effectiveVerification(olds.engine, news.verificationMode)}"`,
  ];
  if (olds.engine === "atlas-push") {
    const deadline = olds.cutoverDeadline ? new Date(olds.cutoverDeadline) : atlasCutoverDeadline(olds.startedAt);
    if (deadline && Number.isFinite(deadline.getTime())) {
      const left = deadline.getTime() - now;
      facts.push(
        left < ATLAS_WARN_HOURS * 3600_000
          ? `WARNING: Atlas's 120-hour cutover window can close in ${minutes(left)} (from ${deadline.toISOString()}); merge and run \`pulumi up\` before then, or extend it in the Atlas UI`
          : `Atlas's cutover window can close from ${deadline.toISOString()}`,
      );
    }
  }
  return `the cutover may proceed: ${facts.filter(Boolean).join(", ")}`;
}

/** From this long before Atlas's window can close, the readiness line warns. */
const ATLAS_WARN_HOURS = 24;

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Cutover readiness at preview (provider/readiness.ts): from the stored outputs, the new inputs and a given
// time, ok or a reason with what to do. No clock is read: `now` is a parameter.
import { atlasCutoverDeadline, cutoverReadiness, describeReadiness, type StoredMigrationState } from "../../provider/readiness";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();
const ready: StoredMigrationState = { phase: "READY_FOR_CUTOVER", engine: "builtin", lagSeconds: 2, statusCheckedAt: minutesAgo(5), startedAt: minutesAgo(600) };

test("no cutover asked: always ok", () => {
  expect(cutoverReadiness({ phase: "COPYING" }, { cutover: false }, NOW)).toEqual({ ok: true });
});

test("a builtin migration in snapshot mode has no lag and is ready; preview says why no lag is shown", () => {
  const snapshot: StoredMigrationState = { ...ready, lagSeconds: null, handle: { data: { captureMode: "snapshot" } } };
  const r = cutoverReadiness(snapshot, { cutover: true }, NOW);
  expect(r).toEqual({ ok: true });
  expect(describeReadiness(r, snapshot, { cutover: true }, NOW)).toMatch(/snapshot mode: no lag; the cutover blocks writes/);
  // The same null lag with change streams is still refused.
  expect(cutoverReadiness({ ...snapshot, handle: { data: { captureMode: "changeStream" } } }, { cutover: true }, NOW)).toMatchObject({ ok: false, code: "LAG_UNKNOWN" });
});

test("ready, fresh, small lag: ok", () => {
  expect(cutoverReadiness(ready, { cutover: true }, NOW)).toEqual({ ok: true });
});

test.each<[string, StoredMigrationState, object, string, RegExp]>([
  ["the initial copy is running", { ...ready, phase: "COPYING", lagSeconds: null, progress: { percent: 63 } }, {}, "NOT_READY", /wait for the initial copy: 63 % copied/],
  ["still syncing", { ...ready, phase: "SYNCING", lagSeconds: 40 }, {}, "NOT_READY", /wait for the sync to catch up/],
  ["no status read recorded", { ...ready, statusCheckedAt: null }, {}, "STATUS_UNKNOWN", /run `pulumi refresh`/],
  ["the last read is 3 h old", { ...ready, statusCheckedAt: minutesAgo(180) }, {}, "STATUS_STALE", /run `pulumi refresh`/],
  ["lag above the user's threshold", { ...ready, lagSeconds: 20 }, { cutoverReadiness: { maxLagSeconds: 10 } }, "LAG_TOO_HIGH", /wait for the lag to fall/],
  ["lag unknown", { ...ready, lagSeconds: null }, {}, "LAG_UNKNOWN", /pulumi refresh/],
  ["FAILED", { ...ready, phase: "FAILED", reason: "source unreachable" }, {}, "MIGRATION_FAILED", /replace the Migration/],
  ["Atlas window expired", { ...ready, engine: "atlas-push", phase: "FAILED", reason: "expired: nobody cut over" }, {}, "CUTOVER_WINDOW_CLOSED", /cannot be cut over/],
  ["verification weaker than required", ready, { verificationMode: "counts", cutoverReadiness: { requireVerification: "full" } }, "VERIFICATION_TOO_WEAK", /set verificationMode: "full"/],
  ["atlas-push when full verification is required", { ...ready, engine: "atlas-push" }, { cutoverReadiness: { requireVerification: "full" } }, "VERIFICATION_TOO_WEAK", /builtin or mongosync/],
])("refused: %s", (_title, olds, news, code, action) => {
  const r = cutoverReadiness(olds, { cutover: true, ...news }, NOW);
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.code).toBe(code);
  expect(r.action).toMatch(action);
  expect(describeReadiness(r)).toMatch(new RegExp(`^cutover not ready \\(${code}\\): `));
});

test("the user's status age wins over the default", () => {
  const olds = { ...ready, statusCheckedAt: minutesAgo(20) };
  expect(cutoverReadiness(olds, { cutover: true }, NOW).ok).toBe(true);
  expect(cutoverReadiness(olds, { cutover: true, cutoverReadiness: { maxStatusAgeMinutes: 15 } }, NOW)).toMatchObject({ ok: false, code: "STATUS_STALE" });
});

test("a cutover under way or finished is never refused (the up resumes or no-ops)", () => {
  expect(cutoverReadiness({ phase: "CUTTING_OVER", statusCheckedAt: null }, { cutover: true }, NOW).ok).toBe(true);
  expect(cutoverReadiness({ phase: "COMPLETE" }, { cutover: true }, NOW).ok).toBe(true);
});

test("atlas-push past started-at + 120 h: allowed, with a note (Atlas's own timer starts later; refresh shows EXPIRED)", () => {
  const r = cutoverReadiness({ ...ready, engine: "atlas-push", startedAt: minutesAgo(121 * 60) }, { cutover: true }, NOW);
  expect(r).toMatchObject({ ok: true, note: expect.stringMatching(/120-hour cutover window may have closed/) });
  expect(atlasCutoverDeadline("2026-06-01T00:00:00Z")!.toISOString()).toBe("2026-06-06T00:00:00.000Z");
});

test("an allowed cutover is described with the figures it was allowed on (what the PR's preview prints)", () => {
  const news = { cutover: true, cutoverReadiness: { maxLagSeconds: 30 } };
  const r = cutoverReadiness(ready, news, NOW);
  expect(describeReadiness(r, ready, news, NOW)).toBe(
    'the cutover may proceed: READY_FOR_CUTOVER, lag 2 s (at most 30), status read 5 min ago (at most 60 min), verification "full"',
  );
  expect(describeReadiness(r)).toBe("the cutover may proceed");
});

test("atlas-push: the stored cutoverDeadline decides, and from 24 h before it the preview line warns", () => {
  const soon = { ...ready, engine: "atlas-push", startedAt: minutesAgo(100 * 60), cutoverDeadline: new Date(NOW + 3 * 3600_000).toISOString() };
  const r = cutoverReadiness(soon, { cutover: true }, NOW);
  expect(r.ok).toBe(true);
  expect(describeReadiness(r, soon, { cutover: true }, NOW)).toMatch(/WARNING: Atlas's 120-hour cutover window can close in 3 h .*extend it in the Atlas UI/);
  const later = { ...soon, cutoverDeadline: new Date(NOW + 72 * 3600_000).toISOString() };
  expect(describeReadiness(cutoverReadiness(later, { cutover: true }, NOW), later, { cutover: true }, NOW)).toMatch(/Atlas's cutover window can close from 2026-06-04T12:00:00.000Z$/);
  const passed = { ...soon, cutoverDeadline: minutesAgo(30) };
  expect(cutoverReadiness(passed, { cutover: true }, NOW)).toMatchObject({ ok: true, note: expect.stringMatching(/may have closed/) });
});

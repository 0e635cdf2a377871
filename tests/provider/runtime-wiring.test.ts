// What the runtime hands the engines and records for preview, with a scripted engine so each rule is exact:
// check sees the stored inputs, every engine call after create gets what state holds (ctx.stored), each status
// read is time-stamped (statusCheckedAt) and a cutover PR's diff decides readiness from it.
jest.mock("../../provider/engines/registry", () => ({
  engineFor: () => require("./support/scripted-engine").createScriptedEngine(),
}));

import * as runtime from "../../provider/runtime";
import * as scripted from "./support/scripted-engine";
import { captureLogs, inputs, SRC, TGT } from "./support/runtime-inputs";
import { rejectionOf } from "./support/expect-rejection";

const logged = captureLogs();
beforeEach(() => scripted.resetCounters());


function minutesAgo(m: number): string {
  return new Date(Date.now() - m * 60_000).toISOString();
}

describe("check sees the stored inputs", () => {
  const component = { declaredBy: "AtlasMigration orders", dropsAtCutover: { temporaryAccessEntries: 1 } };

  test("a first `up` that already says cutover: true while the program drops temporary access at cutover is refused", () => {
    const { failures } = runtime.check({}, inputs({ ...component, cutover: true }));
    expect(failures).toEqual([expect.objectContaining({ property: "cutover", reason: expect.stringMatching(/first `pulumi up` already has cutover: true/) })]);
  });

  test("the same inputs on an existing migration (the cutover PR) pass", () => {
    expect(runtime.check(inputs(component), inputs({ ...component, cutover: true })).failures).toEqual([]);
  });

  test("the migration user may go in the PR that finishes the migration, not before", () => {
    const noUser = inputs({ cutover: true, target: { atlas: { projectId: "6a1b2c3d4e5f6a7b8c9d0e1f", clusterName: "orders" } } });
    expect(runtime.check(inputs(), noUser).failures).toEqual([]);
    expect(runtime.check({}, noUser).failures.map((f) => f.property)).toEqual(["target.uri"]);
  });
});

describe("ctx.stored: what state holds reaches the engine", () => {
  test("create has none; update, read and delete get the stored phase and link token", async () => {
    scripted.setScript({ linkToken: "LINK-TOKEN-stored-0001", advance: [scripted.copying(5, 10)] });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(scripted.calls.map((c) => [c.op, c.stored])).toEqual([
      ["preflight", undefined],
      ["start", undefined],
      ["advance", undefined],
    ]);
    scripted.setScript({ advance: [scripted.ready()] });
    const { outs } = await runtime.update(err.id, err.properties, inputs());
    expect(scripted.calls[0]).toMatchObject({ op: "advance", stored: { phase: "COPYING", linkToken: "LINK-TOKEN-stored-0001" } });
    expect(outs.linkToken).toBe("LINK-TOKEN-stored-0001");

    scripted.setScript({});
    await runtime.read(err.id, outs);
    expect(scripted.calls[0]).toMatchObject({ op: "status", stored: { phase: "READY_FOR_CUTOVER", linkToken: "LINK-TOKEN-stored-0001" } });
    scripted.setScript({});
    await runtime.destroy(err.id, outs);
    expect(scripted.calls[0]).toMatchObject({ op: "cancel", stored: { phase: "READY_FOR_CUTOVER" } });
  });

  test("a cutover resumed after a deadline knows it was CUTTING_OVER (advance and cutover alike)", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ cutover: ["deadline"] });
    const err = await rejectionOf(runtime.update(id, outs, inputs({ cutover: true })));
    expect(err.properties.phase).toBe("CUTTING_OVER");
    scripted.resetCounters();
    scripted.setScript({ advance: [{ phase: "CUTTING_OVER", lagSeconds: 0, readyForCutover: false, warnings: [] }] });
    await runtime.update(id, err.properties, inputs({ cutover: true }));
    expect(scripted.calls.map((c) => [c.op, c.stored?.phase])).toEqual([
      ["advance", "CUTTING_OVER"],
      ["cutover", "CUTTING_OVER"],
    ]);
  });
});

describe("while source writes may be blocked, every message says how to undo it", () => {
  test("a cutover that ran out of time, its diff refusal and its preview line all name the undo", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ cutover: ["deadline"] });
    const err = await rejectionOf(runtime.update(id, outs, inputs({ cutover: true })));
    expect(err.message).toMatch(/source writes may be blocked.*To give the source its writes back instead: delete this Migration/);
    expect(err.message).toContain(`atlas-migrate unblock ${id}`);
    expect(() => runtime.diff(id, err.properties, inputs({ cutover: false }))).toThrow(/cannot be called off.*atlas-migrate unblock/);
    logged.length = 0;
    runtime.diff(id, err.properties, inputs({ cutover: true }));
    expect(logged.join("\n")).toMatch(/the cutover is not finished \(CUTTING_OVER.*source writes may be blocked — To give the source its writes back/);
  });

  test("per engine: mongosync names setUserWriteBlockMode, atlas-push says Atlas blocks nothing", () => {
    expect(runtime.undoBlocking({ engine: "mongosync" })).toContain("setUserWriteBlockMode: 1, global: false");
    expect(runtime.undoBlocking({ engine: "atlas-push" })).toMatch(/does not block source writes/);
  });
});

describe("the cutover path follows what the engine reports", () => {
  test("M5: an engine that reports CUTTING_OVER (a commit on some instances) is cut over at once, not waited on", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
    scripted.setScript({ advance: [{ phase: "CUTTING_OVER", lagSeconds: 0, readyForCutover: false, warnings: [] }] });
    const { outs: done } = await runtime.update(id, outs, inputs({ cutover: true }));
    expect(scripted.calls.map((c) => c.op)).toEqual(["advance", "cutover"]);
    expect(done.phase).toBe("COMPLETE");
  });

  test("a commit under way while the program says cutover: false is stored as CUTTING_OVER and says source writes may be blocked", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ advance: [{ phase: "CUTTING_OVER", lagSeconds: 0, readyForCutover: false, warnings: [] }] });
    const err = await rejectionOf(runtime.update(id, outs, inputs()));
    expect(err.properties.phase).toBe("CUTTING_OVER");
    expect(err.message).toMatch(/a cutover is under way .*source writes may be blocked.*set cutover: true/);
    expect(scripted.calls.map((c) => c.op)).toEqual(["advance"]);
  });

  test("M9: a /commit no instance accepted stores the sync's own status, so cutover: false is allowed again", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ cutover: ["refused"] });
    const err = await rejectionOf(runtime.update(id, outs, inputs({ cutover: true })));
    expect(err.properties.phase).toBe("READY_FOR_CUTOVER");
    expect(err.properties.lagSeconds).toBe(4);
    expect(err.message).toMatch(/cutover not started: .*Nothing was committed/);
    expect(err.message).not.toMatch(/source writes may be blocked/);
    expect(() => runtime.diff(id, err.properties, inputs({ cutover: false }))).not.toThrow();
  });
});

describe("statusCheckedAt and the cutover PR's readiness at preview", () => {
  test("create, update and refresh record when the status was read; a failed read keeps the old time", async () => {
    scripted.setScript({ advance: [scripted.copying(5, 10)] });
    const before = Date.now();
    const err = await rejectionOf(runtime.create(inputs()));
    expect(Date.parse(err.properties.statusCheckedAt)).toBeGreaterThanOrEqual(before);
    const stale = { ...err.properties, statusCheckedAt: minutesAgo(500) };
    scripted.setScript({ advance: [scripted.ready()] });
    const { outs } = await runtime.update(err.id, stale, inputs());
    expect(Date.parse(outs.statusCheckedAt)).toBeGreaterThanOrEqual(before);
    scripted.setScript({ status: "throw" });
    const old = { ...outs, statusCheckedAt: minutesAgo(90) };
    expect((await runtime.read(err.id, old)).props.statusCheckedAt).toBe(old.statusCheckedAt);
    scripted.setScript({});
    expect(Date.parse((await runtime.read(err.id, old)).props.statusCheckedAt)).toBeGreaterThanOrEqual(before);
  });

  test("a PR that flips cutover while the copy runs fails its preview with the percentage and what to do", async () => {
    scripted.setScript({ advance: [scripted.copying(63, 100)] });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(() => runtime.diff(err.id, err.properties, inputs({ cutover: true }))).toThrow(
      /cutover: cutover not ready \(NOT_READY\): the migration is COPYING \(63 % copied\) — wait for the initial copy: 63 % copied/,
    );
  });

  test.each([
    ["stale status", { statusCheckedAt: minutesAgo(180) }, {}, /STATUS_STALE.*3 h old.*run `pulumi refresh`/],
    ["lag over the threshold", { lagSeconds: 90 }, {}, /LAG_TOO_HIGH\): the lag was 90 s.*maxLagSeconds is 60/],
    ["the user's own threshold", { lagSeconds: 20 }, { cutoverReadiness: { maxLagSeconds: 10 } }, /LAG_TOO_HIGH/],
    ["verification weaker than required", {}, { verificationMode: "counts", cutoverReadiness: { requireVerification: "full" } }, /VERIFICATION_TOO_WEAK/],
    ["a state written before statusCheckedAt existed", { statusCheckedAt: null }, {}, /STATUS_UNKNOWN.*run `pulumi refresh`/],
  ])("refused: %s", async (_what, stored, over, message) => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs(over));
    expect(() => runtime.diff(id, { ...outs, ...stored }, inputs({ ...over, cutover: true }))).toThrow(message);
  });

  test("a ready migration previews the update and prints the figures it was allowed on", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    expect(runtime.diff(id, outs, inputs({ cutover: true }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(logged.join("\n")).toMatch(
      /\[orders\] cutover readiness: the cutover may proceed: READY_FOR_CUTOVER, lag 1 s \(at most 60\), status read 0 min ago \(at most 60 min\), verification "full"/,
    );
  });

  test("once an `up` began the cutover (stored outputs say cutover: true), finishing it is never refused", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ advance: [{ ...scripted.ready(), phase: "SYNCING", readyForCutover: false, lagSeconds: 300 }] });
    const err = await rejectionOf(runtime.update(id, outs, inputs({ cutover: true })));
    expect(err.properties).toMatchObject({ cutover: true, phase: "SYNCING" });
    expect(runtime.diff(id, err.properties, inputs({ cutover: true })).changes).toBe(true);
  });

  test("rules not known at preview (an Output) leave the decision to `pulumi up`, saying so", async () => {
    const { UNKNOWN } = require("../../provider/schema");
    scripted.setScript({ advance: [scripted.copying(5, 10)] });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(runtime.diff(err.id, err.properties, inputs({ cutover: true, cutoverReadiness: { maxLagSeconds: UNKNOWN } })).changes).toBe(true);
    expect(logged.join("\n")).toMatch(/cutover readiness: its rules .* are not known until earlier resources are updated; `pulumi up` decides/);
    expect(() => runtime.diff(err.id, err.properties, inputs({ cutover: true, cutoverReadiness: { maxLagSeconds: 30 } }))).toThrow(/NOT_READY/);
  });

  test("the refresh's own diff never applies readiness", async () => {
    scripted.setScript({ advance: [scripted.copying(5, 10)] });
    const err = await rejectionOf(runtime.create(inputs({ cutover: false })));
    const stored = { ...err.properties, cutover: true }; // stored inputs of a partial update: cutover true
    scripted.setScript({ status: scripted.copying(6, 10) });
    const refreshed = await runtime.read(err.id, { ...stored, cutover: false });
    expect(() => runtime.diff(err.id, refreshed.props, inputs({ cutover: true }))).not.toThrow();
  });
});

describe("configure: the mongodbatlas stack config the Atlas engine reads", () => {
  afterEach(() => runtime.configure({ get: () => undefined }));

  test("accessToken and isMongodbgovCloud (a string in stack config) reach the engine's credentials", () => {
    runtime.configure({ get: (k: string) => ({ "mongodbatlas:accessToken": "eyJ-access-token-0123", "mongodbatlas:isMongodbgovCloud": "true" } as Record<string, string>)[k] });
    expect(runtime.credentials().atlas).toMatchObject({ accessToken: "eyJ-access-token-0123", isMongodbgovCloud: true });
    const { atlasClientFor, GOV_ATLAS_BASE_URL } = require("../../provider/engines/atlas/client");
    expect(atlasClientFor(runtime.credentials().atlas).baseUrl).toBe(GOV_ATLAS_BASE_URL);
    runtime.configure({ get: (k: string) => ({ "mongodbatlas:isMongodbgovCloud": "false" } as Record<string, string>)[k] });
    expect(runtime.credentials().atlas!.isMongodbgovCloud).toBe(false);
  });

  test("the access token is redacted from every message", async () => {
    runtime.configure({ get: (k: string) => ({ "mongodbatlas:accessToken": "eyJ-access-token-4567" } as Record<string, string>)[k] });
    runtime.credentials();
    const { redact } = require("../../provider/errors");
    expect(redact("Authorization failed for eyJ-access-token-4567")).not.toContain("eyJ-access-token-4567");
  });
});

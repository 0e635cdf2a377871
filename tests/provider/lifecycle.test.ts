// The Migration provider's lifecycle (create → read → update/cutover → delete), driven through the runtime
// with a scripted engine, so every rule of DESIGN.md §3 is checked exactly.
jest.mock("../../provider/engines/registry", () => ({
  engineFor: () => require("./support/scripted-engine").createScriptedEngine(),
}));

import * as runtime from "../../provider/runtime";
import * as scripted from "./support/scripted-engine";
import { captureLogs, inputs, SRC, TGT } from "./support/runtime-inputs";
import { rejectionOf } from "./support/expect-rejection";

const logged = captureLogs();
beforeEach(() => scripted.resetCounters());


describe("create", () => {
  test("preflight → start → advance; returns every input and every output key", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    expect(scripted.calls.map((c) => c.op)).toEqual(["preflight", "start", "advance"]);
    expect(id).toMatch(/^orders-[0-9a-f]{12}$/);
    for (const key of runtime.COMPUTED_KEYS) expect(outs).toHaveProperty(key);
    expect(outs.__provider).toBe("serialized-provider-text");
    expect(outs.source.uri).toBe(SRC); // same key as the secret input: Pulumi re-marks it secret
    expect(outs).toMatchObject({ migrationId: id, engine: "builtin", requestedEngine: null, phase: "READY_FOR_CUTOVER", lagSeconds: 1, startedAt: "2026-11-25T12:00:00.000Z", cutoverCompletedAt: null });
    expect(outs.progress.percent).toBe(100);
  });

  test("the engine gets the create deadline from timeouts.createMinutes", async () => {
    scripted.setScript({});
    await runtime.create(inputs({ timeouts: { createMinutes: 2 } }));
    const advance = scripted.calls.find((c) => c.op === "advance")!;
    expect(advance.deadlineInMs).toBeGreaterThan(110_000);
    expect(advance.deadlineInMs).toBeLessThanOrEqual(120_000);
  });

  test("not caught up by the deadline ⇒ partial initialization with id, full properties and a reason", async () => {
    scripted.setScript({ advance: [scripted.copying(45, 100)] });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(err.id).toMatch(/^orders-/);
    expect(err.properties.__provider).toBe("serialized-provider-text");
    expect(err.properties.handle).toMatchObject({ engine: "builtin" });
    expect(err.properties.phase).toBe("COPYING");
    expect(err.reasons[0]).toMatch(/45% copied.*run `pulumi up` again/);
    expect(err.message).toMatch(/^orders: /);
  });

  test("the next update resumes from the stored handle without starting again", async () => {
    scripted.setScript({ advance: [scripted.copying(45, 100), scripted.ready()] });
    const err = await rejectionOf(runtime.create(inputs()));
    const { outs } = await runtime.update(err.id, err.properties, inputs());
    expect(scripted.calls.map((c) => c.op)).toEqual(["preflight", "start", "advance", "advance"]);
    expect(scripted.calls[3].handle).toEqual(err.properties.handle);
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
  });

  test("preflight errors stop create before anything starts, with every finding and its action", async () => {
    scripted.setScript({
      preflight: {
        ok: false,
        errors: [
          { code: "TARGET_OLDER_THAN_SOURCE", message: "target 6.0 < source 7.0", action: "upgrade the target to 7.0 or later" },
          { code: "NO_CHANGE_STREAM_PRIVILEGE", message: "user cannot open change streams", action: "grant changeStream on the cluster" },
        ],
        warnings: [],
        facts: {},
      },
    });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(err.id).toBeUndefined(); // nothing exists yet: a plain failure, not partial state
    expect(err.message).toMatch(/TARGET_OLDER_THAN_SOURCE.*upgrade the target/);
    expect(err.message).toMatch(/NO_CHANGE_STREAM_PRIVILEGE.*grant changeStream/);
    expect(scripted.calls.map((c) => c.op)).toEqual(["preflight"]);
  });

  test("FAILED keeps the resource (partial) with the engine's reason", async () => {
    scripted.setScript({ advance: [scripted.failed("change history lost; restart with `pulumi up --replace`")] });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(err.properties.phase).toBe("FAILED");
    expect(err.message).toMatch(/FAILED: change history lost/);
  });

  test("an engine error after start keeps the handle (partial), so destroy can stop it and up resumes", async () => {
    scripted.setScript({ advance: ["throw", scripted.ready()] });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(err.id).toMatch(/^orders-/);
    expect(err.properties.handle).toMatchObject({ engine: "builtin" });
    expect(err.message).toMatch(/sync stopped: target write failed.*migrator:\*\*\*\*@/);
    expect(err.message).not.toContain("t4rgetPw");
    const { outs } = await runtime.update(err.id, err.properties, inputs());
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
    expect(scripted.calls.filter((c) => c.op === "start")).toHaveLength(1);
  });

  test("an explicit engine input is kept as written (no perpetual diff)", async () => {
    scripted.setScript({});
    const given = inputs({ engine: "builtin" });
    const { id, outs } = await runtime.create(given);
    expect(outs.requestedEngine).toBe("builtin");
    expect(runtime.diff(id, outs, given).changes).toBe(false);
  });

  test("outputs are JSON-clean: no undefined anywhere (the host's Struct conversion rejects it)", async () => {
    scripted.setScript({ advance: [{ phase: "COPYING", lagSeconds: null, readyForCutover: false, warnings: [] }] });
    const err = await rejectionOf(runtime.create(inputs()));
    const hasUndefined = (v: unknown): boolean =>
      v === undefined || (v !== null && typeof v === "object" && Object.values(v as object).some(hasUndefined));
    expect(hasUndefined(err.properties)).toBe(false);
  });

  test("cutover: true at create syncs, then cuts over in one go", async () => {
    scripted.setScript({});
    const { outs } = await runtime.create(inputs({ cutover: true }));
    expect(scripted.calls.map((c) => c.op)).toEqual(["preflight", "start", "advance", "cutover"]);
    expect(outs).toMatchObject({ phase: "COMPLETE", lagSeconds: 0, cutoverCompletedAt: "2026-11-25T13:00:00.000Z" });
    expect(outs.verification.passed).toBe(true);
    expect(outs.warnings).toContain("source writes stay blocked");
  });

  test("a secret published by the engine comes back as the linkToken output only", async () => {
    scripted.setScript({ linkToken: "LINK-TOKEN-abcdef123456" });
    const { outs } = await runtime.create(inputs());
    expect(outs.linkToken).toBe("LINK-TOKEN-abcdef123456");
    expect(JSON.stringify(outs.handle)).not.toContain("LINK-TOKEN");
    expect(logged.join("\n")).not.toContain("LINK-TOKEN-abcdef123456");
  });

  test("a link token published before create fails still reaches the user (partial, secret output)", async () => {
    scripted.setScript({ linkToken: "LINK-TOKEN-abcdef123456", advance: ["throw"] });
    const err = await rejectionOf(runtime.create(inputs()));
    expect(err.properties.linkToken).toBe("LINK-TOKEN-abcdef123456");
    expect(err.message).not.toContain("LINK-TOKEN");
  });

  test("progress lines are prefixed with the resource name and carry no password", async () => {
    scripted.setScript({});
    await runtime.create(inputs());
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) expect(line).toMatch(/^\[orders\] /);
    const text = logged.join("\n");
    expect(text).toContain("mongodb://app:****@src1.example.com");
    expect(text).not.toContain("s3cretPw");
  });

  test("invalid inputs reaching create (no check ran) fail with the named property", async () => {
    scripted.setScript({});
    const err = await rejectionOf(runtime.create(inputs({ cutover: "soon" })));
    expect(err.message).toMatch(/cutover: cutover must be true or false/);
    expect(scripted.calls).toHaveLength(0);
  });
});

describe("update (cutover)", () => {
  async function created() {
    scripted.setScript({});
    const { outs } = await runtime.create(inputs());
    scripted.resetCounters();
    return outs;
  }

  test("flipping cutover catches up, then cuts over to COMPLETE", async () => {
    const olds = await created();
    scripted.setScript({});
    const { outs } = await runtime.update(olds.migrationId, olds, inputs({ cutover: true }));
    expect(scripted.calls.map((c) => c.op)).toEqual(["advance", "cutover"]);
    expect(outs.phase).toBe("COMPLETE");
    expect(outs.startedAt).toBe(olds.startedAt);
    expect(outs.cutover).toBe(true);
  });

  test("the cutover gets its own deadline (timeouts.cutoverMinutes), separate from catching up", async () => {
    const olds = await created();
    scripted.setScript({});
    await runtime.update(olds.migrationId, olds, inputs({ cutover: true, timeouts: { createMinutes: 1, cutoverMinutes: 30 } }));
    const advance = scripted.calls.find((c) => c.op === "advance")!;
    const cutover = scripted.calls.find((c) => c.op === "cutover")!;
    expect(advance.deadlineInMs).toBeLessThanOrEqual(60_000);
    expect(cutover.deadlineInMs).toBeGreaterThan(29 * 60_000);
  });

  test("a cutover that runs out of time stays CUTTING_OVER (partial) and the rerun resumes it", async () => {
    const olds = await created();
    scripted.setScript({ cutover: ["deadline", "ok"] });
    const err = await rejectionOf(runtime.update(olds.migrationId, olds, inputs({ cutover: true })));
    expect(err.properties.phase).toBe("CUTTING_OVER");
    expect(err.message).toMatch(/run `pulumi up` again to resume/);
    const { outs } = await runtime.update(olds.migrationId, err.properties, inputs({ cutover: true }));
    expect(outs.phase).toBe("COMPLETE");
    expect(scripted.calls.filter((c) => c.op === "cutover")).toHaveLength(2);
    expect(scripted.calls.filter((c) => c.op === "start")).toHaveLength(0);
  });

  test("a cutover under way that no longer reads as ready is resumed, not waited on", async () => {
    const olds = await created();
    scripted.setScript({ cutover: ["deadline", "ok"] });
    const err = await rejectionOf(runtime.update(olds.migrationId, olds, inputs({ cutover: true })));
    scripted.setScript({ advance: [{ phase: "CUTTING_OVER", lagSeconds: 0, readyForCutover: false, warnings: [] }] });
    const { outs } = await runtime.update(olds.migrationId, err.properties, inputs({ cutover: true }));
    expect(scripted.calls.map((c) => c.op)).toEqual(["advance", "cutover"]);
    expect(outs.phase).toBe("COMPLETE");
    expect(outs.cutoverCompletedAt).toEqual(expect.any(String));
  });

  test("a cutover error is redacted, keeps CUTTING_OVER and says how to resume", async () => {
    const olds = await created();
    scripted.setScript({ cutover: ["error"] });
    const err = await rejectionOf(runtime.update(olds.migrationId, olds, inputs({ cutover: true })));
    expect(err.properties.phase).toBe("CUTTING_OVER");
    expect(err.message).toContain("mongodb://app:****@src1");
    expect(err.message).not.toContain("s3cretPw");
    expect(err.message).toMatch(/resume/);
  });

  test("a cutover error that left the migration FAILED is stored as FAILED, not CUTTING_OVER", async () => {
    const olds = await created();
    scripted.setScript({ cutover: ["error"], status: scripted.failed("cutover outcome FAILED: source unreachable") });
    const err = await rejectionOf(runtime.update(olds.migrationId, olds, inputs({ cutover: true })));
    expect(err.properties.phase).toBe("FAILED");
    expect(err.message).toMatch(/FAILED during cutover: cutover outcome FAILED/);
    expect(() => runtime.diff(olds.migrationId, err.properties, inputs({ cutover: false }))).not.toThrow();
  });

  test("after COMPLETE, update is a no-op that stores the new inputs", async () => {
    const olds = await created();
    scripted.setScript({});
    const { outs: done } = await runtime.update(olds.migrationId, olds, inputs({ cutover: true }));
    scripted.resetCounters();
    scripted.setScript({});
    const { outs } = await runtime.update(done.migrationId, done, inputs({ cutover: true, providerVersion: "0.2.0" }));
    expect(scripted.calls).toHaveLength(0);
    expect(outs.providerVersion).toBe("0.2.0");
    expect(outs.phase).toBe("COMPLETE");
    expect(outs.verification).toEqual(done.verification);
  });
});

describe("read (refresh)", () => {
  test("reports phase and lag from the engine's status, returns inputs without outputs", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ status: { phase: "SYNCING", lagSeconds: 42, readyForCutover: false, warnings: [] } });
    const result = await runtime.read(id, outs);
    expect(scripted.calls.map((c) => c.op)).toEqual(["status"]);
    expect(result.id).toBe(id);
    expect(result.props).toMatchObject({ phase: "SYNCING", lagSeconds: 42 });
    expect(result.inputs).not.toHaveProperty("phase");
    expect(result.inputs).not.toHaveProperty("__provider");
    expect(result.inputs).not.toHaveProperty("engine"); // the user did not write one
    expect(result.inputs).not.toHaveProperty("requestedEngine");
    expect(result.inputs.source.uri).toBe(SRC);
  });

  test("an unreachable engine does not lose the resource", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ status: "throw" });
    const result = await runtime.read(id, outs);
    expect(result.id).toBe(id);
    expect(result.props.reason).toMatch(/status unavailable/);
    expect(result.props.reason).not.toContain("s3cretPw");
  });

  test("a COMPLETE migration is not queried", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs({ cutover: true }));
    scripted.resetCounters();
    scripted.setScript({});
    await runtime.read(id, outs);
    expect(scripted.calls).toHaveLength(0);
  });
});

describe("delete", () => {
  test("before COMPLETE: cancels the sync, never anything else", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ cancel: { warnings: ["mongosync paused"] } });
    await runtime.destroy(id, outs);
    expect(scripted.calls.map((c) => c.op)).toEqual(["cancel"]);
    expect(logged.join("\n")).toMatch(/\[orders\] warning: mongosync paused/);
    expect(logged.join("\n")).toMatch(/target data is kept/);
  });

  test("after COMPLETE: forgets without calling the engine", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs({ cutover: true }));
    scripted.setScript({});
    await runtime.destroy(id, outs);
    expect(scripted.calls).toHaveLength(0);
  });

  test("a cancel that fails still removes the resource, with a redacted warning", async () => {
    scripted.setScript({});
    const { id, outs } = await runtime.create(inputs());
    scripted.setScript({ cancel: "throw" });
    await expect(runtime.destroy(id, outs)).resolves.toBeUndefined();
    const text = logged.join("\n");
    expect(text).toMatch(/could not stop the builtin sync/);
    expect(text).not.toContain("s3cretPw");
  });
});

describe("configure and credentials", () => {
  test("Atlas credentials come from the mongodbatlas stack config, then the environment", () => {
    const saved = { ...process.env };
    process.env.MONGODB_ATLAS_PUBLIC_KEY = "envpub";
    process.env.MONGODB_ATLAS_PRIVATE_KEY = "envpriv-123456";
    runtime.configure({ get: (k: string) => ({ "mongodbatlas:publicKey": "cfgpub", "mongodbatlas:privateKey": "cfgpriv-654321" } as Record<string, string>)[k] });
    expect(runtime.credentials().atlas).toMatchObject({ publicKey: "cfgpub", privateKey: "cfgpriv-654321" });
    runtime.configure({ get: () => undefined });
    expect(runtime.credentials().atlas).toMatchObject({ publicKey: "envpub", privateKey: "envpriv-123456" });
    process.env = saved;
  });
});

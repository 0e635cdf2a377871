// The /start body per mongosync version, and the same bodies sent to emulators of those versions.
import { MongosyncClient } from "../../../provider/engines/mongosync/client";
import { parseMongosyncVersion, planStart, toNamespaceFilter } from "../../../provider/engines/mongosync/start-body";
import { makeContext } from "../../support/context";
import { emulator, mongosyncSpec, stopEmulators } from "./helpers";

afterEach(stopEmulators);

const v = (text: string) => parseMongosyncVersion(text)!;
const codes = (findings: Array<{ code: string }>) => findings.map((f) => f.code);

describe("parseMongosyncVersion", () => {
  it.each([
    ["1.19.0", [1, 19, 0]],
    ["v1.22.1", [1, 22, 1]],
    ["mongosync 1.20.0-rc1", [1, 20, 0]],
    ["1.9", [1, 9, 0]],
  ])("%s", (text, [major, minor, patch]) => {
    expect(parseMongosyncVersion(text)).toMatchObject({ major, minor, patch });
  });
  it("rejects text without a version", () => {
    expect(parseMongosyncVersion("latest")).toBeUndefined();
    expect(parseMongosyncVersion(undefined)).toBeUndefined();
  });
});

describe("toNamespaceFilter", () => {
  it("groups collections per database and lets db.* take the whole database", () => {
    const { items, errors } = toNamespaceFilter(["sales.orders", "hr.people", "sales.*", "hr.pay.2024", "hr.people"], "p");
    expect(errors).toEqual([]);
    expect(items).toEqual([
      { database: "hr", collections: ["pay.2024", "people"] },
      { database: "sales" },
    ]);
  });
  it.each(["sales", ".orders", "sales.", "*.orders", "sales.ord*", "*"])("refuses %p with an actionable finding", (pattern) => {
    const { items, errors } = toNamespaceFilter([pattern], "namespaces.include");
    expect(items).toEqual([]);
    expect(errors[0].code).toBe("MONGOSYNC_NAMESPACE_PATTERN");
    expect(errors[0].message).toContain("namespaces.include");
    expect(errors[0].action).toContain("db.*");
  });
});

describe("planStart", () => {
  it("1.22 (≥1.20): never sends enableUserWriteBlocking; mongosync manages it", () => {
    const plan = planStart(mongosyncSpec(["http://x"], { version: "1.22.0" }), v("1.22.0"));
    expect(plan.body).toEqual({ source: "cluster0", destination: "cluster1", verification: { enabled: true } });
    expect(plan.writeBlocking).toBe("managedByMongosync");
    expect(plan.errors).toEqual([]);
  });

  it("1.19: dual write blocking so source writes stop at commit, destinationOnly when writeBlocking is none", () => {
    const auto = planStart(mongosyncSpec(["http://x"], { version: "1.19.0" }), v("1.19.0"));
    expect(auto.body.enableUserWriteBlocking).toBe("sourceAndDestination");
    const none = planStart(mongosyncSpec(["http://x"], { version: "1.19.0" }, { writeBlocking: "none" }), v("1.19.0"));
    expect(none.body.enableUserWriteBlocking).toBe("destinationOnly");
    expect(codes(none.warnings)).toContain("MONGOSYNC_SOURCE_WRITES_NOT_BLOCKED");
  });

  it("1.10: the legacy boolean spelling, and no verifier field before 1.9", () => {
    expect(planStart(mongosyncSpec(["http://x"]), v("1.10.0")).body.enableUserWriteBlocking).toBe(true);
    const old = planStart(mongosyncSpec(["http://x"]), v("1.8.0"));
    expect(old.body.verification).toBeUndefined();
    expect(old.verifier).toBe("ours"); // no embedded verifier: the engine compares through the two URIs
    expect(codes(old.warnings)).toContain("MONGOSYNC_OUR_VERIFICATION");
    const noUris = planStart(mongosyncSpec(["http://x"], {}, { source: {}, target: {} }), v("1.8.0"));
    expect(codes(noUris.errors)).toContain("MONGOSYNC_CANNOT_VERIFY");
    expect(planStart(mongosyncSpec(["http://x"], {}, { source: {}, target: {}, verification: "none" }), v("1.8.0")).errors).toEqual([]);
  });

  it("reversible on 1.19 forces dual write blocking, and refuses a filtered sync", () => {
    const plan = planStart(mongosyncSpec(["http://x"], { reversible: true }, { writeBlocking: "none" }), v("1.19.0"));
    expect(plan.body).toMatchObject({ reversible: true, enableUserWriteBlocking: "sourceAndDestination" });
    expect(codes(plan.warnings)).toContain("MONGOSYNC_REVERSIBLE_NEEDS_DUAL_BLOCKING");
    const filtered = planStart(mongosyncSpec(["http://x"], { reversible: true }, { namespaces: { include: ["a.*"], exclude: [] } }), v("1.22.0"));
    expect(codes(filtered.errors)).toContain("MONGOSYNC_REVERSIBLE_FILTERED");
  });

  it("an unknown version omits the write-blocking field and refuses to promise a source write block", () => {
    const plan = planStart(mongosyncSpec(["http://x"], { version: undefined }), undefined);
    expect(plan.body.enableUserWriteBlocking).toBeUndefined();
    expect(plan.body.verification).toBeUndefined();
    expect(codes(plan.errors)).toEqual(["MONGOSYNC_VERSION_UNKNOWN"]);
    expect(plan.errors[0].action).toContain("mongosync --version");
    const none = planStart(mongosyncSpec(["http://x"], { version: undefined }, { writeBlocking: "none" }), undefined);
    expect(none.errors).toEqual([]);
  });

  it("maps namespaces and sharding entries, and refuses what the version cannot do", () => {
    const spec = mongosyncSpec(
      ["http://x"],
      { sharding: { createSupportingIndexes: true, entries: [{ database: "sales", collection: "orders", key: [{ customerId: 1 }] }] } },
      { namespaces: { include: ["sales.*"], exclude: ["sales.tmp"] } },
    );
    const plan = planStart(spec, v("1.22.0"));
    expect(plan.body).toMatchObject({
      includeNamespaces: [{ database: "sales" }],
      excludeNamespaces: [{ database: "sales", collections: ["tmp"] }],
      sharding: { createSupportingIndexes: true, shardingEntries: [{ database: "sales", collection: "orders", shardCollection: { key: [{ customerId: 1 }] } }] },
    });
    expect(codes(planStart(spec, v("1.5.0")).errors)).toEqual(["MONGOSYNC_VERSION_TOO_OLD"]); // exclude needs 1.6
  });

  it("refuses readOnlyUsers write blocking (a builtin-engine feature)", () => {
    const plan = planStart(mongosyncSpec(["http://x"], {}, { writeBlocking: "readOnlyUsers" }), v("1.22.0"));
    expect(codes(plan.errors)).toContain("MONGOSYNC_WRITE_BLOCKING_UNSUPPORTED");
  });

  it("disabling the verifier is sent, and the engine then verifies itself (or refuses without the URIs)", () => {
    const plan = planStart(mongosyncSpec(["http://x"], { enableVerification: false }), v("1.22.0"));
    expect(plan.body.verification).toEqual({ enabled: false });
    expect(plan.verifier).toBe("ours");
    expect(codes(plan.warnings)).toContain("MONGOSYNC_OUR_VERIFICATION");
  });

  it("M2: 1.11 gets `true` for dual blocking, never the 1.12 strings; 1.12 gets \"sourceAndDestination\"", () => {
    expect(planStart(mongosyncSpec(["http://x"]), v("1.11.2")).body.enableUserWriteBlocking).toBe(true);
    expect(planStart(mongosyncSpec(["http://x"], {}, { writeBlocking: "none" }), v("1.11.2")).body.enableUserWriteBlocking).toBe("destinationOnly");
    expect(planStart(mongosyncSpec(["http://x"], { reversible: true }), v("1.11.2")).body).toMatchObject({ reversible: true, enableUserWriteBlocking: true });
    expect(planStart(mongosyncSpec(["http://x"]), v("1.12.0")).body.enableUserWriteBlocking).toBe("sourceAndDestination");
  });

  it("M7: a pre-6.0 source on 1.12–1.19 gets no enableUserWriteBlocking at all; dual blocking and reversible are refused", () => {
    const none = planStart(mongosyncSpec(["http://x"], { sourceServerVersion: "5.0.20" }, { writeBlocking: "none" }), v("1.15.0"));
    expect(none.errors).toEqual([]);
    expect("enableUserWriteBlocking" in none.body).toBe(false);
    expect(codes(none.warnings)).toContain("MONGOSYNC_SOURCE_WRITES_NOT_BLOCKED");
    const auto = planStart(mongosyncSpec(["http://x"], { sourceServerVersion: "5.0.20" }), v("1.15.0"));
    expect(codes(auto.errors)).toEqual(["MONGOSYNC_WRITE_BLOCKING_PRE_6_0"]);
    expect(auto.errors[0].action).toContain('writeBlocking.mode "none"');
    const reversible = planStart(mongosyncSpec(["http://x"], { sourceServerVersion: "4.4.9", reversible: true }, { writeBlocking: "none" }), v("1.19.0"));
    expect(codes(reversible.errors)).toContain("MONGOSYNC_REVERSIBLE_PRE_6_0");
    expect(planStart(mongosyncSpec(["http://x"], { sourceServerVersion: "5.0.20" }, { writeBlocking: "none" }), v("1.11.0")).body.enableUserWriteBlocking).toBeUndefined();
  });

  it("M12/M16: reversible with RS → sharded entries is refused, and so is a -1 shard key", () => {
    const entries = [{ database: "shop", collection: "orders", key: [{ customerId: 1 as const }] }];
    const rsToSharded = planStart(mongosyncSpec(["http://x"], { reversible: true, sharding: { createSupportingIndexes: true, entries } }), v("1.22.0"));
    expect(codes(rsToSharded.errors)).toContain("MONGOSYNC_REVERSIBLE_RS_TO_SHARDED");
    const descending = [{ database: "shop", collection: "orders", key: [{ customerId: -1 }] }] as unknown as typeof entries;
    expect(codes(planStart(mongosyncSpec(["http://x"], { sharding: { createSupportingIndexes: true, entries: descending } }), v("1.22.0")).errors)).toContain("MONGOSYNC_SHARDING_ENTRY");
  });

  it("M13: an unknown version never sends `verification` (a pre-1.9 mongosync refuses the field), even to disable it", () => {
    const plan = planStart(mongosyncSpec(["http://x"], { version: undefined, enableVerification: false }, { writeBlocking: "none" }), undefined);
    expect("verification" in plan.body).toBe(false);
    expect(codes(plan.warnings)).toContain("MONGOSYNC_VERIFIER_NOT_DISABLED");
  });
});

describe("version-aware bodies against emulators of those versions", () => {
  async function send(emulatorVersion: string, body: object) {
    const e = await emulator({ version: emulatorVersion });
    const ctx = makeContext();
    const client = new MongosyncClient([e.url], { clock: ctx, deadline: ctx.deadline });
    const outcome = await client.commandEach("start", body).then(
      () => "accepted",
      (err: Error) => err.message,
    );
    return { outcome, state: e.state };
  }

  it("the 1.19 body is accepted by 1.19 and refused by 1.22 (enableUserWriteBlocking was removed in 1.20)", async () => {
    const body19 = planStart(mongosyncSpec(["http://x"]), v("1.19.0")).body;
    expect(await send("1.19.0", body19)).toEqual({ outcome: "accepted", state: "RUNNING" });
    const on22 = await send("1.22.0", body19);
    expect(on22.state).toBe("IDLE");
    expect(on22.outcome).toContain('unknown field "enableUserWriteBlocking"');
    expect(on22.outcome).toContain("set mongosync.version"); // the action in the error
  });

  it("the 1.22 body is accepted by 1.22 and 1.20", async () => {
    const body22 = planStart(mongosyncSpec(["http://x"]), v("1.22.0")).body;
    expect((await send("1.22.0", body22)).outcome).toBe("accepted");
    expect((await send("1.20.0", body22)).outcome).toBe("accepted");
  });

  it("a reversible 1.19 body passes the emulator's dual-blocking rule; without it the emulator refuses", async () => {
    const body = planStart(mongosyncSpec(["http://x"], { reversible: true }), v("1.19.0")).body;
    expect((await send("1.19.0", body)).outcome).toBe("accepted");
    expect((await send("1.19.0", { ...body, enableUserWriteBlocking: "destinationOnly" })).outcome).toContain("requires enableUserWriteBlocking");
  });
});

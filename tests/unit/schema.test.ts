// check-time validation: every bad input is rejected with a failure that names the property and says what to
// do; good inputs pass; nothing touches the network.
import { check } from "../../provider/runtime";
import { validateInputs, resolveEngine, toSpec, migrationIdFor, namespacePatternProblem, UNKNOWN } from "../../provider/schema";
import * as pulumi from "@pulumi/pulumi";

const SRC = "mongodb://app:s3cretPw@src1.example.com:27017,src2.example.com:27017/?replicaSet=rs0";
const TGT = "mongodb+srv://migrator:t4rgetPw@orders.abcde.mongodb.net/";
const CM = { groupId: "5f0c1e2d3b4a596877665544", clusterName: "rs0" };
const ATLAS = { projectId: "6a0b1c2d3e4f506172839405", clusterName: "orders", tier: "M10" };

const good = () => ({ source: { uri: SRC }, target: { uri: TGT, atlas: ATLAS }, cutover: false }) as Record<string, any>;

type Case = [title: string, inputs: Record<string, any>, property: string, reasonIncludes: RegExp];

const badInputs: Case[] = [
  ["unknown engine", { ...good(), engine: "mongomirror" }, "engine", /one of "auto", "builtin", "mongosync", "atlas-push"/],
  ["source missing", { target: { uri: TGT } }, "source", /source must be/],
  ["source.uri not a string", { ...good(), source: { uri: 42 } }, "source.uri", /connection string/],
  ["source.uri with a wrong scheme", { ...good(), source: { uri: "http://db.example.com" } }, "source.uri", /not a valid MongoDB connection string/],
  ["source.uri with one slash", { ...good(), source: { uri: "mongodb:/db.example.com" } }, "source.uri", /mongodb:\/\/host1:port.*USER:PASSWORD@/],
  ["mongodb+srv with a port", { ...good(), source: { uri: "mongodb+srv://u:p@cluster0.example.net:27017" } }, "source.uri", /cannot have port/],
  ["mongodb+srv with two hosts", { ...good(), source: { uri: "mongodb+srv://a.example.net,b.example.net" } }, "source.uri", /multiple service names/],
  ["no host at all", { ...good(), source: { uri: "mongodb://" } }, "source.uri", /host/],
  ["port out of range", { ...good(), source: { uri: "mongodb://db.example.com:99999" } }, "source.uri", /not a valid/],
  ["unsupported URI option", { ...good(), source: { uri: "mongodb://db.example.com/?readPreferenc=primary" } }, "source.uri", /not supported/],
  ["empty source.uri", { ...good(), source: { uri: "" } }, "source.uri", /empty/],
  ["both uri and cloudManager", { ...good(), source: { uri: SRC, cloudManager: CM } }, "source", /either uri or cloudManager/],
  ["neither uri nor cloudManager", { ...good(), source: {} }, "source", /needs uri/],
  ["atlas-push without Cloud Manager source", { ...good(), engine: "atlas-push", atlasPush: { orgId: CM.groupId, migrationHost: "vm1" } }, "source.cloudManager", /Cloud Manager/],
  ["atlas-push without atlasPush options", { engine: "atlas-push", source: { cloudManager: CM }, target: { atlas: ATLAS } }, "atlasPush", /orgId, migrationHost/],
  ["atlas-push into M0", { source: { cloudManager: CM }, target: { atlas: { ...ATLAS, tier: "M0" } }, engine: "atlas-push", atlasPush: { orgId: CM.groupId, migrationHost: "vm1" } }, "target.atlas.tier", /does not accept M0/],
  ["Cloud Manager groupId not hex", { source: { cloudManager: { ...CM, groupId: "my-project" } }, target: { atlas: ATLAS } }, "source.cloudManager.groupId", /24-character/],
  ["target empty", { ...good(), target: {} }, "target", /target needs uri/],
  ["builtin without target.uri", { ...good(), engine: "builtin", target: { atlas: ATLAS } }, "target.uri", /set target.uri/],
  ["target.atlas.projectId invalid", { ...good(), target: { uri: TGT, atlas: { ...ATLAS, projectId: "123" } } }, "target.atlas.projectId", /24-character/],
  ["target tier not a tier name", { ...good(), target: { uri: TGT, atlas: { ...ATLAS, tier: "large" } } }, "target.atlas.tier", /tier name/],
  ["target equals source", { ...good(), target: { uri: "mongodb://other:pw@src2.example.com:27017,src1.example.com:27017/?replicaSet=rs0" } }, "target.uri", /same deployment/],
  ["namespace without a dot", { ...good(), namespaces: { include: ["orders"] } }, "namespaces.include[0]", /db.collection/],
  ["empty namespace pattern", { ...good(), namespaces: { exclude: [""] } }, "namespaces.exclude[0]", /empty/],
  ["wildcard database", { ...good(), namespaces: { include: ["*.users"] } }, "namespaces.include[0]", /wildcard database/],
  ["wildcard inside a collection name", { ...good(), namespaces: { include: ["shop.ord*"] } }, "namespaces.include[0]", /only as the whole collection/],
  ["system database", { ...good(), namespaces: { include: ["admin.*"] } }, "namespaces.include[0]", /internal/],
  ["system collection", { ...good(), namespaces: { include: ["shop.system.views"] } }, "namespaces.include[0]", /system collections/],
  ["illegal database characters", { ...good(), namespaces: { include: ["my shop.orders"] } }, "namespaces.include[0]", /characters MongoDB does not allow/],
  ["include equals exclude", { ...good(), namespaces: { include: ["shop.orders"], exclude: ["shop.orders"] } }, "namespaces.include[0]", /removes everything/],
  ["exclude db.* covers include", { ...good(), namespaces: { include: ["shop.orders"], exclude: ["shop.*"] } }, "namespaces.include[0]", /removes everything/],
  ["duplicate include", { ...good(), namespaces: { include: ["shop.a", "shop.a"] } }, "namespaces.include[1]", /twice/],
  ["cutover not a boolean", { ...good(), cutover: "yes" }, "cutover", /true or false/],
  ["verification mode unknown", { ...good(), verificationMode: "sometimes" }, "verificationMode", /"full"/],
  ["readOnlyUsers mode without users", { ...good(), writeBlocking: { mode: "readOnlyUsers" } }, "writeBlocking.readOnlyUsers", /user@db/],
  ["readOnlyUsers entry malformed", { ...good(), writeBlocking: { mode: "readOnlyUsers", readOnlyUsers: ["app"] } }, "writeBlocking.readOnlyUsers[0]", /"user@db"/],
  ["write blocking mode unknown", { ...good(), writeBlocking: { mode: "freeze" } }, "writeBlocking.mode", /setUserWriteBlockMode/],
  ["negative timeout", { ...good(), timeouts: { createMinutes: -5 } }, "timeouts.createMinutes", /greater than 0/],
  ["timeout as a string", { ...good(), timeouts: { cutoverMinutes: "30" } }, "timeouts.cutoverMinutes", /must be a number/],
  ["batch budget too small", { ...good(), builtin: { batchBytes: 100 } }, "builtin.batchBytes", /at least 65536/],
  ["parallelism fractional", { ...good(), builtin: { parallelCollections: 1.5 } }, "builtin.parallelCollections", /whole number/],
  ["mongosync without urls", { ...good(), engine: "mongosync" }, "mongosync.urls", /mongosync.urls/],
  ["mongosync url not http", { ...good(), engine: "mongosync", mongosync: { urls: ["10.0.0.5:27182"] } }, "mongosync.urls[0]", /http\(s\) URLs/],
  ["mongosync empty url list", { ...good(), mongosync: { urls: [] } }, "mongosync.urls", /at least one/],
  ["mongosync into flex", { ...good(), engine: "mongosync", mongosync: { urls: ["http://127.0.0.1:27182"] }, target: { uri: TGT, atlas: { ...ATLAS, tier: "FLEX" } } }, "target.atlas.tier", /does not support FLEX/],
  ["reversible without write blocking", { ...good(), engine: "mongosync", mongosync: { urls: ["http://127.0.0.1:27182"], reversible: true }, writeBlocking: { mode: "none" } }, "mongosync.reversible", /needs write blocking/],
  ["typo in a property name", { ...good(), cutOver: true }, "cutOver", /did you mean "cutover"/],
  ["unknown nested property", { ...good(), source: { uri: SRC, password: "x" } }, "source.password", /unknown property/],
  ["sharding entry without key", { ...good(), engine: "mongosync", mongosync: { urls: ["http://127.0.0.1:27182"], sharding: { entries: [{ database: "a", collection: "b", key: [] }] } } }, "mongosync.sharding.entries[0].key", /at least one field/],
  // M4: bad URIs that carry the password where the driver echoes it. Before, the first one's message quoted
  // `URI option "s3cretPw@src1…"` and the second was accepted with host "dor".
  ["raw ? and @ in the source password", { ...good(), source: { uri: "mongodb://app:Tr0ub@dor?s3cretPw@src1.example.com/" } }, "source.uri", /more than one "@".*%40/],
  ["raw / and @ in the source password", { ...good(), source: { uri: "mongodb://app:Tr0ub@dor/s3cretPw@src1.example.com/" } }, "source.uri", /more than one "@"/],
  ["raw ? in the target password", { ...good(), target: { uri: "mongodb+srv://migrator:t4rgetPw?x@orders.abcde.mongodb.net/", atlas: ATLAS } }, "target.uri", /not a valid MongoDB connection string/],
  ["bad option after a password", { ...good(), source: { uri: "mongodb://app:s3cretPw@src1.example.com/?readPreferenc=s3cretPw" } }, "source.uri", /not supported/],
];

describe("check rejects bad inputs with a named property and an action", () => {
  test.each(badInputs)("%s", (_title, inputs, property, reason) => {
    const { failures } = check({}, inputs);
    const hit = failures.find((f) => f.property === property);
    if (!hit) throw new Error(`expected a failure on ${property}, got ${JSON.stringify(failures)}`);
    expect(hit.reason).toMatch(reason);
  });

  test("the table has at least 25 distinct bad inputs", () => {
    expect(new Set(badInputs.map((c) => c[0])).size).toBeGreaterThanOrEqual(25);
  });

  test("no failure message carries a password from the inputs", () => {
    // The table must hold URIs with these passwords, or this test could not fail.
    expect(badInputs.filter(([, inputs]) => /s3cretPw|t4rgetPw/.test(JSON.stringify(inputs)) && inputs.source?.uri !== SRC).length).toBeGreaterThanOrEqual(3);
    for (const [, inputs] of badInputs) {
      for (const f of check({}, inputs).failures) {
        expect(f.reason).not.toMatch(/s3cretPw|t4rgetPw/);
      }
    }
  });
});

describe("check accepts good inputs", () => {
  const goods: Array<[string, Record<string, any>]> = [
    ["replica set → dedicated, builtin", good()],
    ["M0 target via auto", { source: { uri: "mongodb://heroku_abc:pw@ds012345.mlab.com:12345/heroku_abc" }, target: { uri: TGT, atlas: { ...ATLAS, tier: "M0" } } }],
    ["Cloud Manager push", { source: { cloudManager: CM }, target: { atlas: ATLAS }, atlasPush: { orgId: CM.groupId, migrationHost: "vm001.example.com" } }],
    ["mongosync with two shards", { ...good(), mongosync: { urls: ["http://10.0.0.5:27182", "http://10.0.0.6:27182"] }, namespaces: { include: ["shop.*"], exclude: ["shop.logs"] } }],
    ["all options", { ...good(), verificationMode: "counts", writeBlocking: { mode: "readOnlyUsers", readOnlyUsers: ["app@admin"] }, timeouts: { createMinutes: 5, cutoverMinutes: 10, pollSeconds: 2, readyLagSeconds: 3 }, builtin: { batchBytes: 1 << 20, parallelCollections: 2, partitionDocuments: 1000, replayBatchSize: 100, detachedWorker: false } }],
    ["memory:// clusters for tests", { source: { uri: "memory://src" }, target: { uri: "memory://dst" } }],
    ["memory:// as a user", { source: { uri: "memory://app@src" }, target: { uri: "memory://dst" } }],
    ["mongosync needs no connection strings (it has its own)", { engine: "mongosync", source: {}, target: { atlas: ATLAS }, mongosync: { urls: ["http://10.0.0.5:27182"] } }],
  ];
  test.each(goods)("%s", (_t, inputs) => {
    expect(check({}, inputs).failures).toEqual([]);
  });

  test("check returns the inputs as given (no defaults written back), __provider kept", () => {
    const news = { ...good(), __provider: "serialized" };
    expect(check({}, news).inputs).toBe(news);
  });
});

describe("check tolerates unknown values (previews)", () => {
  test("our UNKNOWN constant is Pulumi's", () => {
    expect(UNKNOWN).toBe(pulumi.runtime.unknownValue);
  });
  const unknownCases: Array<[string, Record<string, any>]> = [
    ["source.uri", { ...good(), source: { uri: UNKNOWN } }],
    ["target.uri", { ...good(), target: { uri: UNKNOWN, atlas: ATLAS } }],
    ["whole target", { ...good(), target: UNKNOWN }],
    ["whole source", { ...good(), source: UNKNOWN }],
    ["engine", { ...good(), engine: UNKNOWN }],
    ["cutover", { ...good(), cutover: UNKNOWN }],
    ["a namespace entry", { ...good(), namespaces: { include: [UNKNOWN], exclude: ["a.b"] } }],
    ["namespaces", { ...good(), namespaces: UNKNOWN }],
    ["project id", { ...good(), target: { uri: TGT, atlas: { ...ATLAS, projectId: UNKNOWN } } }],
    ["tier", { ...good(), target: { uri: TGT, atlas: { ...ATLAS, tier: UNKNOWN } } }],
    ["timeouts", { ...good(), timeouts: { createMinutes: UNKNOWN } }],
    ["mongosync urls", { ...good(), engine: "mongosync", mongosync: { urls: UNKNOWN } }],
  ];
  test.each(unknownCases)("unknown %s: no failures", (_t, inputs) => {
    expect(check({}, inputs).failures).toEqual([]);
  });
  test("a known bad value next to an unknown one is still reported", () => {
    const { failures } = check({}, { ...good(), source: { uri: UNKNOWN }, cutover: "yes" });
    expect(failures.map((f) => f.property)).toEqual(["cutover"]);
  });
});

describe("engine auto-selection and the spec", () => {
  test.each([
    ["M0 target ⇒ builtin", { ...good(), target: { uri: TGT, atlas: { ...ATLAS, tier: "M0" } }, mongosync: { urls: ["http://h:1"] } }, "builtin"],
    ["FLEX target ⇒ builtin", { ...good(), target: { uri: TGT, atlas: { ...ATLAS, tier: "flex" } } }, "builtin"],
    ["Cloud Manager source ⇒ atlas-push", { source: { cloudManager: CM }, target: { atlas: ATLAS } }, "atlas-push"],
    ["mongosync URLs ⇒ mongosync", { ...good(), mongosync: { urls: ["http://h:1"] } }, "mongosync"],
    ["otherwise builtin", good(), "builtin"],
    ["explicit wins", { ...good(), engine: "mongosync" }, "mongosync"],
  ])("%s", (_t, inputs, expected) => {
    expect(resolveEngine(inputs as any)).toBe(expected);
  });

  test("the migration id is stable, credential-free, and changes with what is migrated", () => {
    const a = migrationIdFor({ ...good(), resourceName: "orders" } as any);
    const rotated = migrationIdFor({ ...good(), resourceName: "orders", source: { uri: SRC.replace("s3cretPw", "newPw") } } as any);
    const otherNs = migrationIdFor({ ...good(), resourceName: "orders", namespaces: { include: ["shop.*"] } } as any);
    expect(a).toMatch(/^orders-[0-9a-f]{12}$/);
    expect(rotated).toBe(a);
    expect(otherNs).not.toBe(a);
    expect(a).not.toContain("s3cret");
  });

  test("defaults fill the spec; minutes become seconds", () => {
    const spec = toSpec({ ...good(), timeouts: { createMinutes: 2 } } as any);
    expect(spec.timeouts.createSeconds).toBe(120);
    expect(spec.verification).toBe("full");
    expect(spec.writeBlocking).toBe("auto");
    expect(spec.builtin.batchBytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(spec.engine).toBe("builtin");
  });

  test("namespace pattern rules", () => {
    expect(namespacePatternProblem("shop.orders")).toBeUndefined();
    expect(namespacePatternProblem("shop.*")).toBeUndefined();
    expect(namespacePatternProblem("shop.orders.2024")).toBeUndefined();
    expect(namespacePatternProblem("local.oplog.rs")).toMatch(/internal/);
  });

  test("validateInputs never throws, even on garbage", () => {
    for (const garbage of [null, 5, "x", [], { source: null, target: null }]) {
      expect(() => validateInputs(garbage as any)).not.toThrow();
    }
  });
});

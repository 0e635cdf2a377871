// Preflight findings: each has a code, a message and an action; errors block, warnings inform.
import { MemoryCluster } from "../../../testing/memory-cluster";
import type { ClusterPort, CollectionStats } from "../../../provider/cluster/port";
import { runPreflight } from "../../../provider/engines/builtin/preflight";
import type { MigrationSpec } from "../../../provider/engines/engine";
import { rig, seed, syncUntilReady, type Rig } from "./helpers";

afterEach(() => MemoryCluster.reset());

function codes(list: Array<{ code: string }>): string[] {
  return list.map((f) => f.code);
}

/** Source users a setUserWriteBlockMode run needs, least privilege (privileges.ts SOURCE_ACTIONS). */
function addSourceUsers(cluster: MemoryCluster): void {
  cluster.addUser("migrator", "admin", [
    { role: "readAnyDatabase", db: "admin" },
    { role: "clusterMonitor", db: "admin" },
    { role: "backup", db: "admin" },
    { role: "userAdminAnyDatabase", db: "admin" },
  ]);
}

/** The spec connecting to the source as `user`; `acknowledged` lists users known not to be the application's. */
function asSource(r: Rig, user: string, acknowledged?: string[]): MigrationSpec {
  return {
    ...r.spec,
    source: { uri: r.spec.source.uri!.replace("memory://", `memory://${user}@`) },
    builtin: { ...r.spec.builtin, ...(acknowledged ? { acknowledgedBypassUsers: acknowledged } : {}) },
  };
}

function asTarget(r: Rig, user: string): MigrationSpec {
  return { ...r.spec, target: { ...r.spec.target, uri: r.spec.target.uri!.replace("memory://", `memory://${user}@`) } };
}

function withStats(port: ClusterPort, stats: CollectionStats): ClusterPort {
  const wrapped = Object.create(port) as ClusterPort;
  wrapped.collectionStats = async () => stats;
  return wrapped;
}

describe("builtin preflight", () => {
  test("a clean replica-set pair passes with facts", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 10);
    const report = await r.engine.preflight(r.spec, r.ctx);
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.facts).toMatchObject({ captureMode: "changeStream", writeBlocking: "setUserWriteBlockMode", collections: 1, totalDocuments: 10 });
    for (const f of [...report.errors, ...report.warnings]) {
      expect(f.message.length).toBeGreaterThan(0);
      expect(f.action.length).toBeGreaterThan(0);
    }
  });

  test("leftover data on the target is an error before anything starts, not a verification failure at cutover", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 10);
    await seed(r.target, "shop", "orders", 3);
    const report = await r.engine.preflight(r.spec, r.ctx);
    const finding = report.errors.find((f) => f.code === "TARGET_NOT_EMPTY");
    expect(finding?.message).toMatch(/shop\.orders \(3 documents\)/);
    expect(finding?.action).toMatch(/drop those collections|namespaces\.exclude/);
  });

  test("a migration resuming its own checkpoint does not count its own copy as leftovers", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 10);
    const handle = await r.engine.start(r.spec, r.ctx);
    await r.engine.advance(r.spec, handle, r.ctx);
    const report = await r.engine.preflight(r.spec, r.ctx);
    expect(codes(report.errors)).not.toContain("TARGET_NOT_EMPTY");
  });

  test("a source URI asking for secondary reads is told the copy reads the primary", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 1);
    const report = await r.engine.preflight({ ...r.spec, source: { uri: `${r.spec.source.uri}/?readPreference=secondaryPreferred` } }, r.ctx);
    expect(report.warnings.find((w) => w.code === "SOURCE_READ_PREFERENCE_IGNORED")?.message).toMatch(/readPreference=secondaryPreferred; the migration reads the primary/);
  });

  // Finding 14: a 4.4/5.0 source's change stream shows no createIndexes/collMod/create; nothing said so.
  test.each([
    ["5.0.20", true],
    ["4.4.29", true],
    ["6.0.12", false],
  ])("a %s source: DDL made during the sync is invisible, said in a warning (%s)", async (version, warned) => {
    const r = rig({ source: { version }, spec: { writeBlocking: "none" } });
    await seed(r.source, "shop", "orders", 3);
    const report = await r.engine.preflight(r.spec, r.ctx);
    expect(codes(report.warnings).includes("DDL_NOT_VISIBLE")).toBe(warned);
  });

  test("target older than source", async () => {
    const r = rig({ source: { version: "7.0.14" }, target: { version: "6.0.20" } });
    const report = await r.engine.preflight(r.spec, r.ctx);
    expect(codes(report.errors)).toContain("TARGET_OLDER_THAN_SOURCE");
    expect(report.ok).toBe(false);
  });

  test("standalone source: snapshot mode said plainly; write blocking needs users or none", async () => {
    const r = rig({ source: { topology: "standalone", version: "4.4.29" } });
    await seed(r.source, "app", "things", 5);
    let report = await r.engine.preflight(r.spec, r.ctx);
    expect(codes(report.warnings)).toContain("STANDALONE_SNAPSHOT_MODE");
    expect(report.facts.captureMode).toBe("snapshot");
    expect(codes(report.errors)).toEqual(["WRITE_BLOCKING_UNAVAILABLE"]);

    report = await r.engine.preflight({ ...r.spec, builtin: { ...r.spec.builtin, readOnlyUsers: ["ghost"] } }, r.ctx);
    expect(codes(report.errors)).toEqual(["READ_ONLY_USER_NOT_FOUND"]);

    r.source.addUser("app", "admin", [{ role: "readWrite", db: "app" }]);
    report = await r.engine.preflight({ ...r.spec, builtin: { ...r.spec.builtin, readOnlyUsers: ["app"] } }, r.ctx);
    expect(report.errors).toEqual([]);
    expect(report.facts.writeBlocking).toBe("readOnlyUsers");

    report = await r.engine.preflight({ ...r.spec, writeBlocking: "setUserWriteBlockMode" }, r.ctx);
    expect(codes(report.errors)).toContain("WRITE_BLOCKING_UNSUPPORTED");
    report = await r.engine.preflight({ ...r.spec, writeBlocking: "none" }, r.ctx);
    expect(report.errors).toEqual([]);
    expect(codes(report.warnings)).toContain("WRITES_NOT_BLOCKED");
  });

  test("a source user without read on every namespace or change streams: each missing action is named", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 1);
    await seed(r.source, "crm", "contacts", 1);
    const source = Object.create(r.source.connect()) as ClusterPort;
    source.privileges = async () => [
      { resource: { db: "", collection: "" }, actions: ["listCollections", "listIndexes", "collStats"] },
      { resource: { db: "shop", collection: "" }, actions: ["find", "changeStream"] },
      { resource: { db: "local", collection: "" }, actions: ["find"] },
      { resource: { cluster: true }, actions: ["setUserWriteBlockMode", "viewUser"] },
    ];
    const report = await runPreflight(r.spec, source, r.target.connect());
    expect(codes(report.errors)).toEqual(["SOURCE_PRIVILEGE_MISSING", "SOURCE_PRIVILEGE_MISSING", "SOURCE_PRIVILEGE_MISSING"]);
    expect(report.errors.map((e) => e.message.split(":")[0])).toEqual([
      "the source user lacks the find action on crm",
      "the source user lacks the changeStream action on every database",
      "the source user lacks the find action on every database",
    ]);
    expect(report.errors[0].action).toBe("grant the source migration user readAnyDatabase (or read on each migrated database)");
  });

  test("a user with read on one database cannot open a whole-deployment change stream", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 1);
    addSourceUsers(r.source);
    r.source.addUser("reader", "admin", [{ role: "read", db: "shop" }]);
    const missing = (await r.engine.preflight(asSource(r, "reader"), r.ctx)).errors.map((e) => e.message.split(":")[0]);
    expect(missing).toContain("the source user lacks the changeStream action on every database");
    // The deployment's own root user is not stopped by write blocking either: acknowledged as not the application.
    expect((await r.engine.preflight(asSource(r, "migrator", ["root@admin"]), r.ctx)).errors).toEqual([]);
  });

  // Finding 1: the component's migration user had readWriteAnyDatabase; every copy batch is sent with
  // bypassDocumentValidation, which mongod then requires (dbAdmin/restore grant it, readWrite does not), and TTL
  // indexes get their expiry with collMod. Preflight passed and the first batch failed Unauthorized.
  test("a target user with readWriteAnyDatabase is refused by preflight, naming bypassDocumentValidation and collMod", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 5);
    await r.source.db("shop").collection("orders").createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
    r.target.addUser("writer", "admin", [{ role: "readWriteAnyDatabase", db: "admin" }]);
    const spec = asTarget(r, "writer");
    const report = await r.engine.preflight(spec, r.ctx);
    expect(report.errors.map((e) => `${e.code} ${e.message.split(":")[0]}`)).toEqual([
      "TARGET_PRIVILEGE_MISSING the target user lacks the bypassDocumentValidation action on shop, __atlas_migration",
      "TARGET_PRIVILEGE_MISSING the target user lacks the collMod action on shop, __atlas_migration",
    ]);
    expect(report.errors[0].action).toMatch(/dbAdminAnyDatabase/);
    // What preflight predicts is what happens: the first copy batch fails Unauthorized on a strict target.
    const handle = await r.engine.start(spec, r.ctx);
    await expect(r.engine.advance(spec, handle, r.ctx)).rejects.toMatchObject({ code: 13 });

    // With dbAdminAnyDatabase added, preflight passes and the run goes through.
    r.target.addUser("writer", "admin", [
      { role: "readWriteAnyDatabase", db: "admin" },
      { role: "dbAdminAnyDatabase", db: "admin" },
    ]);
    expect((await r.engine.preflight(spec, r.ctx)).errors).toEqual([]);
    const status = await r.engine.advance(spec, handle, r.ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
  });

  // Finding 11: the advice was "grant clusterManager", which lacks setUserWriteBlockMode (builtin_roles.yml: backup
  // and restore have it); BLOCKING then failed Unauthorized after the phase was CUTTING_OVER.
  test("setUserWriteBlockMode is checked against the source user's privileges, and the advice names backup, not clusterManager", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 1);
    r.source.addUser("manager", "admin", [
      { role: "readAnyDatabase", db: "admin" },
      { role: "clusterMonitor", db: "admin" },
      { role: "clusterManager", db: "admin" },
      { role: "userAdminAnyDatabase", db: "admin" },
    ]);
    const report = await r.engine.preflight(asSource(r, "manager", ["root@admin"]), r.ctx);
    expect(report.errors.map((e) => e.message.split(":")[0])).toEqual(["the source user lacks the setUserWriteBlockMode action on the cluster"]);
    expect(report.errors[0].action).toBe("grant the source migration user backup (or restore); clusterManager does not grant it");
    // The double agrees with the server: clusterManager cannot block writes.
    await expect(r.source.as("manager").setUserWriteBlocking(true)).rejects.toMatchObject({ code: 13 });
  });

  // Finding 2: root (through restore) and __system bypass setUserWriteBlockMode; an application writing as root
  // keeps writing through cutover and after COMPLETE.
  test("users that write blocking does not stop are listed, and refused until acknowledged", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 1);
    addSourceUsers(r.source);
    r.source.addUser("app", "admin", [{ role: "root", db: "admin" }]);
    r.source.addUser("ops", "admin", [{ role: "restore", db: "admin" }]);
    r.source.addUser("shopper", "admin", [{ role: "readWrite", db: "shop" }]);
    let report = await r.engine.preflight(asSource(r, "migrator"), r.ctx);
    expect(codes(report.errors)).toEqual(["WRITE_BLOCKING_BYPASSED"]);
    expect(report.errors[0].message).toMatch(/does not stop source user\(s\) root@admin, app@admin, ops@admin \(/);
    expect(report.errors[0].action).toContain('builtin.acknowledgeWriteBlockingBypass: ["root@admin","app@admin","ops@admin"]');

    const acknowledged = { ...asSource(r, "migrator"), builtin: { ...r.spec.builtin, acknowledgedBypassUsers: ["root@admin", "app@admin", "ops@admin"] } };
    report = await r.engine.preflight(acknowledged, r.ctx);
    expect(report.errors).toEqual([]);
    expect(report.warnings.find((w) => w.code === "WRITE_BLOCKING_BYPASS_ACKNOWLEDGED")?.message).toContain("root@admin, app@admin, ops@admin");

    // Cutover checks again before blocking anything.
    const { handle } = await syncUntilReady({ ...r, spec: asSource(r, "migrator") });
    await expect(r.engine.cutover(asSource(r, "migrator"), handle, r.ctx)).rejects.toThrow(/WRITE_BLOCKING|does not stop source user\(s\) root@admin, app@admin, ops@admin/);
    expect(r.source.writesBlocked).toBe(false);
  });

  test("a source without access control: every connection bypasses write blocking, so relying on it is refused", async () => {
    const r = rig({ source: { accessControl: false } });
    await seed(r.source, "shop", "orders", 1);
    const report = await r.engine.preflight(r.spec, r.ctx);
    expect(codes(report.errors)).toEqual(["WRITE_BLOCKING_INEFFECTIVE"]);
    expect((await r.engine.preflight({ ...r.spec, writeBlocking: "none" }, r.ctx)).errors).toEqual([]);
  });

  test("time-series collections are errors unless excluded; system collections are warnings", async () => {
    const r = rig();
    await r.source.db("iot").createCollection("readings", { timeseries: { timeField: "at" } });
    await seed(r.source, "iot", "devices", 2);
    await r.source.connect().createCollection({ db: "iot", name: "system.js", kind: "collection", options: {}, indexes: [] });
    let report = await r.engine.preflight(r.spec, r.ctx);
    expect(report.warnings.find((w) => w.code === "SYSTEM_COLLECTION_SKIPPED")?.message).toContain("iot.system.js");
    expect(codes(report.errors)).toEqual(["TIMESERIES_UNSUPPORTED"]);
    expect(report.errors[0].action).toContain('namespaces.exclude: ["iot.readings"]');
    report = await r.engine.preflight({ ...r.spec, namespaces: { include: [], exclude: ["iot.readings"] } }, r.ctx);
    expect(report.errors).toEqual([]);
  });

  test("data larger than the target tier (M0 512 MB, FLEX 5 GB)", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 1);
    const source = withStats(r.source.connect(), { count: 1_000_000, sizeBytes: 600 * 1024 * 1024 });
    const target = r.target.connect();
    const m0 = await runPreflight({ ...r.spec, target: { ...r.spec.target, atlas: { projectId: "p", clusterName: "c", tier: "M0" } } }, source, target);
    expect(codes(m0.errors)).toContain("TARGET_TIER_TOO_SMALL");
    const flex = await runPreflight({ ...r.spec, target: { ...r.spec.target, atlas: { projectId: "p", clusterName: "c", tier: "FLEX" } } }, source, target);
    expect(codes(flex.errors)).not.toContain("TARGET_TIER_TOO_SMALL");
  });

  test("oplog window shorter than the estimated copy time", async () => {
    const r = rig();
    r.ctx.advance(60_000);
    await seed(r.source, "a", "b", 100, (i) => ({ _id: i, pad: "x".repeat(1000) }));
    const before = process.env.ATLAS_MIGRATE_COPY_MBPS;
    try {
      process.env.ATLAS_MIGRATE_COPY_MBPS = "0.0001"; // ~100 KB at 105 B/s ⇒ ~1000 s > 60 s of history
      const report = await r.engine.preflight(r.spec, r.ctx);
      expect(report.facts.oplogWindowSeconds).toBe(60);
      expect(codes(report.errors)).toContain("OPLOG_WINDOW_TOO_SHORT");
      process.env.ATLAS_MIGRATE_COPY_MBPS = "1000";
      expect(codes((await r.engine.preflight(r.spec, r.ctx)).errors)).not.toContain("OPLOG_WINDOW_TOO_SHORT");
    } finally {
      if (before === undefined) delete process.env.ATLAS_MIGRATE_COPY_MBPS;
      else process.env.ATLAS_MIGRATE_COPY_MBPS = before;
    }
  });
});

describe("source users the target will not have (issue 10: users discovered)", () => {
  test("each source user the program does not declare is named, with the databaseUsers entry to add", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 3);
    addSourceUsers(r.source);
    r.source.addUser("app", "shop", [{ role: "readWrite", db: "shop" }]);
    r.source.addUser("reporting", "admin", [{ role: "read", db: "shop" }, { role: "myCustomRole", db: "admin" }]);
    r.source.addUser("ops", "admin", [{ role: "root", db: "admin" }]);
    const spec = { ...asSource(r, "migrator", ["ops@admin"]), declaredUsers: ["reporting@admin"] };
    const report = await r.engine.preflight(spec, r.ctx);
    const undeclared = report.warnings.filter((w) => w.code === "SOURCE_USER_NOT_DECLARED");
    // app@shop, ops@admin and MemoryCluster's administrator root@admin are named; reporting is declared;
    // migrator is the migration's own user.
    expect(undeclared.map((w) => w.message.split(" ")[2]).sort()).toEqual(["app@shop", "ops@admin", "root@admin"]);
    const app = undeclared.find((w) => w.message.includes("app@shop"))!;
    expect(app.action).toContain('{ username: "app", password: <a secret>, roles: [{ roleName: "readWrite", databaseName: "shop" }] }');
    expect(app.action).toContain("authSource=admin instead of shop");
    expect(undeclared.find((w) => w.message.includes("ops@admin"))!.action).toContain('roleName: "atlasAdmin"');
  });

  test("a custom role is mapped to a CustomDbRole; without declaredUsers (a bare Migration) nothing is listed", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 3);
    addSourceUsers(r.source);
    r.source.addUser("etl", "admin", [{ role: "myCustomRole", db: "admin" }]);
    const declared = { ...asSource(r, "migrator"), declaredUsers: [] as string[] };
    const withList = await r.engine.preflight(declared, r.ctx);
    expect(withList.warnings.find((w) => w.code === "SOURCE_USER_NOT_DECLARED" && w.message.includes("etl@admin"))?.action).toContain("mongodbatlas.CustomDbRole");
    const bare = asSource(r, "migrator");
    const without = await r.engine.preflight(bare, r.ctx);
    expect(without.warnings.map((w) => w.code)).not.toContain("SOURCE_USER_NOT_DECLARED");
  });
});

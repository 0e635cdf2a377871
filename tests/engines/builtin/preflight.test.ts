// Preflight findings: each has a code, a message and an action; errors block, warnings inform.
import { MemoryCluster } from "../../../testing/memory-cluster";
import type { ClusterPort, CollectionStats } from "../../../provider/cluster/port";
import { runPreflight } from "../../../provider/engines/builtin/preflight";
import { rig, seed } from "./helpers";

afterEach(() => MemoryCluster.reset());

function codes(list: Array<{ code: string }>): string[] {
  return list.map((f) => f.code);
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

  test("a source user without read on every namespace or change streams", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 1);
    await seed(r.source, "crm", "contacts", 1);
    const source = Object.create(r.source.connect()) as ClusterPort;
    source.privileges = async () => [
      { resource: { db: "", collection: "" }, actions: ["listCollections", "listIndexes", "collStats"] },
      { resource: { db: "shop", collection: "" }, actions: ["find", "changeStream"] },
    ];
    const report = await runPreflight(r.spec, source, r.target.connect());
    expect(codes(report.errors)).toEqual(["SOURCE_READ_DENIED", "SOURCE_CHANGE_STREAM_DENIED"]);
    expect(report.errors[0].message).toContain("crm.contacts");
    expect(report.errors[0].message).not.toContain("shop.orders");
  });

  test("a user with read on one database cannot open a whole-deployment change stream", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 1);
    r.source.addUser("reader", "admin", [{ role: "read", db: "shop" }]);
    r.source.addUser("migrator", "admin", [{ role: "readAnyDatabase", db: "admin" }]);
    const as = (user: string) => ({ ...r.spec, source: { uri: r.spec.source.uri!.replace("memory://", `memory://${user}@`) } });
    expect(codes((await r.engine.preflight(as("reader"), r.ctx)).errors)).toEqual(["SOURCE_CHANGE_STREAM_DENIED"]);
    expect(codes((await r.engine.preflight(as("migrator"), r.ctx)).errors)).toEqual([]);
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

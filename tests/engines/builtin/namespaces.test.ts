// The namespace filter on its own, and the engine honouring it for the copy and for change events.
import { MemoryCluster } from "../../../testing/memory-cluster";
import { namespaceMatcher, parsePattern } from "../../../provider/engines/builtin/namespaces";
import { exactDocs, rig, seed, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

describe("namespaceMatcher", () => {
  test("empty include means every user namespace; internal and system namespaces never", () => {
    const m = namespaceMatcher({ include: [], exclude: [] });
    expect(m.includes("shop", "orders")).toBe(true);
    expect(m.includes("admin", "users")).toBe(false);
    expect(m.includes("config", "x")).toBe(false);
    expect(m.includes("local", "oplog.rs")).toBe(false);
    expect(m.includes("__atlas_migration", "checkpoints")).toBe(false);
    expect(m.includes("shop", "system.views")).toBe(false);
  });

  test("db.* and db.coll includes; exclude wins", () => {
    const m = namespaceMatcher({ include: ["shop.*", "crm.contacts"], exclude: ["shop.tmp", "crm.*"] });
    expect(m.includes("shop", "orders")).toBe(true);
    expect(m.includes("shop", "tmp")).toBe(false);
    expect(m.includes("crm", "contacts")).toBe(false);
    expect(m.includes("other", "x")).toBe(false);
    expect(m.mayIncludeDatabase("shop")).toBe(true);
    expect(m.mayIncludeDatabase("crm")).toBe(false);
    expect(m.mayIncludeDatabase("other")).toBe(false);
  });

  test("collection names with dots; a pattern is not a prefix match", () => {
    const m = namespaceMatcher({ include: ["a.b.c"], exclude: [] });
    expect(m.includes("a", "b.c")).toBe(true);
    expect(m.includes("a", "b")).toBe(false);
    expect(m.includes("a", "b.cd")).toBe(false);
    expect(parsePattern("a.b.c")).toEqual({ db: "a", coll: "b.c" });
    expect(parsePattern("a.*")).toEqual({ db: "a" });
  });

  test("malformed patterns are rejected", () => {
    for (const bad of ["nodot", ".coll", "db.", ""]) expect(() => parsePattern(bad)).toThrow(/db\.collection/);
  });
});

describe("engine honours the filter", () => {
  test("excluded collections are neither copied nor replayed", async () => {
    const r = rig({ spec: { namespaces: { include: ["shop.*"], exclude: ["shop.sessions"] } } });
    await seed(r.source, "shop", "orders", 10);
    await seed(r.source, "shop", "sessions", 10);
    await seed(r.source, "analytics", "events", 10);
    const { handle } = await syncUntilReady(r);
    await r.source.db("shop").collection<AnyDoc>("sessions").insertOne({ _id: 500 });
    await r.source.db("analytics").collection<AnyDoc>("events").insertOne({ _id: 500 });
    await r.source.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 500 });
    await r.engine.advance(r.spec, handle, r.ctx);
    const names = (await r.target.connect().listCollections()).map((c) => `${c.db}.${c.name}`);
    expect(names).toEqual(["shop.orders"]);
    expect(await exactDocs(r.target, { db: "shop", coll: "orders" })).toHaveLength(11);
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.namespaces.map((n) => n.namespace)).toEqual(["shop.orders"]);
  });
});

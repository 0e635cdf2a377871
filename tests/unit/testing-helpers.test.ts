// The helpers pulumi-atlas-migration/testing offers users (testing/index.ts): captureMigrations under Pulumi's
// mocks, and memoryClustersInHost for Pulumi's real dynamic-provider host.
import * as fs from "fs";
import * as path from "path";
import { captureMigrations, DynamicProviderHost, MEMORY_PRELOAD, memoryClustersInHost } from "pulumi-atlas-migration/testing";

const REPO_ROOT = path.resolve(__dirname, "..", "..");

describe("captureMigrations", () => {
  test("records each Migration's inputs with secrets unwrapped and named, without the serialized provider", async () => {
    const captured = captureMigrations({ project: "p", stack: "s" });
    const { Migration } = await import("pulumi-atlas-migration");
    const migration = new Migration("orders", {
      engine: "mongosync",
      source: { uri: "mongodb://app:S3cret-src@src.example:27017/?replicaSet=rs0" },
      target: { uri: "mongodb+srv://m:S3cret-dst@c0.abcde.mongodb.net" },
      mongosync: { urls: ["http://127.0.0.1:27182"], version: "1.19.0" },
      cutover: false,
    });
    expect(await captured.settled(migration.phase)).toBe("READY_FOR_CUTOVER");
    expect(captured.migrations).toHaveLength(1);
    const [m] = captured.migrations;
    expect(m.name).toBe("orders");
    expect(m.inputs.source.uri).toBe("mongodb://app:S3cret-src@src.example:27017/?replicaSet=rs0");
    expect(m.inputs.cutover).toBe(false);
    expect(m.secretKeys).toEqual(expect.arrayContaining(["source", "target"]));
    expect(m.inputs).not.toHaveProperty("__provider");
    expect(await captured.settled(migration.migrationId)).toBe("orders-mock");
  });
});

describe("memoryClustersInHost", () => {
  test("the compiled preload exists (npm run build)", () => {
    expect(fs.existsSync(MEMORY_PRELOAD)).toBe(true);
  });

  test("creates and seeds memory:// clusters inside the real dynamic-provider host", async () => {
    const docs = Array.from({ length: 25 }, (_, i) => ({ _id: i, sku: `sku-${i}` }));
    const host = await DynamicProviderHost.start({
      cwd: REPO_ROOT,
      ipc: true,
      ...memoryClustersInHost([{ name: "helpers-src", historySeconds: 60, documents: { "shop.orders": docs } }, { name: "helpers-dst" }]),
    });
    const count = (cluster: string) =>
      new Promise<any>((resolve) => {
        host.child.once("message", resolve);
        host.child.send({ op: "count", cluster, db: "shop", coll: "orders" });
      });
    try {
      expect(await count("helpers-src")).toEqual({ op: "count", cluster: "helpers-src", count: 25 });
      expect(await count("helpers-dst")).toEqual({ op: "count", cluster: "helpers-dst", count: 0 });
      expect(await count("nope")).toEqual({ op: "count", cluster: "nope" });
    } finally {
      await host.stop();
    }
  });
});

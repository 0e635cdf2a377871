// The provider as Pulumi serializes it into state (`__provider`): small, credential-free, and runnable in a
// fresh Node process, the way the dynamic-provider host runs it.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { assertBuilt, REPO_ROOT, serializeDirectly, serializeShipped, writeTemp } from "./support/provider-text";

const SECRETS = {
  sourcePassword: "Src-Pa55word-7f3e91",
  targetPassword: "Tgt-Pa55word-c0ffee",
  cloudManagerPassword: "Cm-Pa55word-0ddba11",
};

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

const registered: Registered[] = [];

beforeAll(() => {
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "atlas-migration-test",
    "test",
    false,
  );
});

/** Waits until the mocks have seen `count` registrations (registration is asynchronous). */
async function registrations(count: number): Promise<Registered[]> {
  for (let i = 0; i < 200 && registered.length < count; i++) await new Promise((r) => setTimeout(r, 5));
  return registered;
}

describe("the serialized Migration provider", () => {
  let direct: { text: string; containsSecrets: boolean };
  beforeAll(async () => {
    direct = await serializeDirectly();
  });

  test("as shipped (compiled package, fresh process) it is under 50 KB and captures no secret", () => {
    const shipped = serializeShipped();
    const bytes = Buffer.byteLength(shipped.text);
    console.log(`serialized provider: ${bytes} bytes (limit 51200), containsSecrets=${shipped.containsSecrets}`);
    expect(bytes).toBeLessThan(50 * 1024);
    expect(shipped.containsSecrets).toBe(false);
    expect(direct.containsSecrets).toBe(false);
    expect(shipped.text).toMatch(/\["pulumi-atlas-migration\/provider-runtime", this.runtimeFile\][\s\S]*require\(id\)/);
  });

  test("loads its implementation with require() at call time instead of capturing it", () => {
    expect(direct.text).toMatch(/\["pulumi-atlas-migration\/provider-runtime", this.runtimeFile\][\s\S]*require\(id\)/);
    // Captured zod schemas or driver classes are what breaks serialization (and bloats state).
    expect(direct.text).not.toMatch(/require\("zod/);
    expect(direct.text).not.toMatch(/require\("mongodb/);
    expect(direct.text).not.toMatch(/safeParse|superRefine|MongoClient|ZodObject/);
    // ES #private fields fail when the host require()s the text.
    expect(direct.text).not.toMatch(/#[A-Za-z_]\w*\s*[=;(]/);
  });

  test("what a Migration writes into __provider holds no secret input value, and is the same text", async () => {
    const { Migration } = await import("../../provider/migration");
    new Migration("with-uris", {
      engine: "builtin",
      source: { uri: pulumi.secret(`mongodb://app:${SECRETS.sourcePassword}@src.example:27017/?replicaSet=rs0`) },
      target: { uri: `mongodb+srv://migrator:${SECRETS.targetPassword}@cluster0.abcde.mongodb.net` },
      cutover: false,
    });
    new Migration("with-cloud-manager", {
      engine: "atlas-push",
      source: {
        cloudManager: {
          groupId: "5f1a2b3c4d5e6f7a8b9c0d1e",
          clusterName: "legacy",
          username: "cm-user",
          password: pulumi.secret(SECRETS.cloudManagerPassword),
        },
      },
      target: { atlas: { projectId: "6a1a2b3c4d5e6f7a8b9c0d1e", clusterName: "Cluster0" } },
      atlasPush: { orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", migrationHost: "mh.example" },
    });
    const seen = (await registrations(2)).filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"));
    expect(seen.map((r) => r.name).sort()).toEqual(["with-cloud-manager", "with-uris"]);
    for (const r of seen) {
      expect(r.type).toBe("pulumi-nodejs:dynamic/atlas-migration:Migration");
      const text = r.inputs.__provider as string;
      expect(typeof text).toBe("string");
      // One provider object per process: Pulumi caches by identity, every Migration stores the same text.
      expect(text).toBe(seen[0].inputs.__provider);
      for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    }
    // Nothing resource-specific (names, inputs) leaks into the closure; it only loads the runtime.
    const text = seen[0].inputs.__provider as string;
    expect(text).toMatch(/\["pulumi-atlas-migration\/provider-runtime", this.runtimeFile\][\s\S]*require\(id\)/);
    for (const word of ["with-uris", "with-cloud-manager", "src.example", "legacy", "mh.example"]) expect(text).not.toContain(word);
  });

  test("runs in a fresh Node process: check rejects a bad input by name and accepts a good one", () => {
    assertBuilt();
    const { file, dir } = writeTemp(direct.text);
    // The same steps as cmd/dynamic-provider getProvider(): requireFromString(text).handler(), cwd = program dir.
    const script = `
      const fs = require("fs");
      const provider = require("require-from-string")(fs.readFileSync(process.argv[1], "utf8")).handler();
      (async () => {
        await provider.configure({ config: { get: () => undefined } });
        const good = {
          engine: "builtin",
          source: { uri: "mongodb://app:${SECRETS.sourcePassword}@src.example:27017/?replicaSet=rs0" },
          target: { uri: "mongodb+srv://migrator:${SECRETS.targetPassword}@cluster0.abcde.mongodb.net" },
          namespaces: { include: ["shop.*"] },
        };
        const bad = { ...good, source: { uri: "mongodb+srv://app:${SECRETS.sourcePassword}@src.example:27017" }, engine: "rsync" };
        const ok = await provider.check({}, good);
        const rejected = await provider.check({}, bad);
        const runtimePath = require.resolve("pulumi-atlas-migration/provider-runtime");
        process.stdout.write(JSON.stringify({ ok, rejected, runtimePath }));
      })().catch((e) => { console.error(e && e.stack || e); process.exit(2); });
    `;
    try {
      const run = spawnSync(process.execPath, ["-e", script, file], { cwd: REPO_ROOT, encoding: "utf8", timeout: 30000 });
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      const result = JSON.parse(run.stdout);
      // The fresh process resolves the implementation from the compiled package, as the host would.
      expect(result.runtimePath).toBe(fs.realpathSync(`${REPO_ROOT}/dist/provider/runtime.js`));
      expect(result.ok.failures).toEqual([]);
      const properties = result.rejected.failures.map((f: { property: string }) => f.property).sort();
      expect(properties).toEqual(["engine", "source.uri"]);
      for (const f of result.rejected.failures) expect(f.reason.length).toBeGreaterThan(10);
      // Check returns the inputs as given (the engine stores them, secret); the failure texts must not echo them.
      expect(JSON.stringify(result.rejected.failures)).not.toContain(SECRETS.sourcePassword);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

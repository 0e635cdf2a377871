// Offline checks of what the Automation-API tier relies on (automation.test.ts itself needs a pulumi CLI):
// the project directory resolves what the dynamic-provider host will require, the program builds the
// Migration from stack config, and the "which inputs changed" logic reads engine events correctly.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { StepEventMetadata } from "@pulumi/pulumi/automation";
import { changedKeys, makeProjectDir, MIGRATION_TYPE, programConfig, PROGRAM_DIR, REPO_ROOT, resolvesFrom } from "./support/harness";

describe("the e2e project directory", () => {
  let dir: string;
  beforeAll(() => {
    dir = makeProjectDir();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("lives in the git-ignored .pulumi-local/ of the repository, with the program and a Pulumi.yaml", () => {
    expect(path.relative(REPO_ROOT, dir).startsWith(".pulumi-local")).toBe(true);
    expect(fs.readFileSync(path.join(REPO_ROOT, ".gitignore"), "utf8")).toMatch(/^\.pulumi-local\/$/m);
    expect(fs.readFileSync(path.join(dir, "index.js"), "utf8")).toBe(fs.readFileSync(path.join(PROGRAM_DIR, "index.js"), "utf8"));
    const yaml = fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8");
    expect(yaml).toMatch(/^name: atlas-migration-e2e$/m);
    expect(yaml).toMatch(/^ {2}name: nodejs$/m);
    expect(yaml).toMatch(/^main: index\.js$/m);
  });

  test("resolves the dynamic-provider host and the provider runtime, as the plugin will from its cwd", () => {
    expect(resolvesFrom(dir, "@pulumi/pulumi/cmd/dynamic-provider")).toBe(require.resolve("@pulumi/pulumi/cmd/dynamic-provider"));
    expect(resolvesFrom(dir, "pulumi-atlas-migration/provider-runtime")).toBe(fs.realpathSync(path.join(REPO_ROOT, "dist/provider/runtime.js")));
    expect(resolvesFrom(dir, "pulumi-atlas-migration")).toBe(fs.realpathSync(path.join(REPO_ROOT, "dist/index.js")));
  });

  test("a directory outside the repository would not (why the project is not in /tmp)", () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-outside-"));
    try {
      expect(resolvesFrom(outside, "pulumi-atlas-migration/provider-runtime")).toBeUndefined();
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe("the e2e program under mocks", () => {
  const seen: Array<{ type: string; name: string; inputs: any }> = [];
  beforeAll(() => {
    pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          seen.push({ type: args.type, name: args.name, inputs: args.inputs });
          return { id: `${args.name}-id`, state: { ...args.inputs, phase: "READY_FOR_CUTOVER", migrationId: "e2e-0123456789ab" } };
        },
        call: (args) => args.inputs,
      },
      "atlas-migration-e2e",
      "e2e",
    );
    const config = programConfig({
      mongosyncUrl: "http://127.0.0.1:27182",
      sourceUri: "mongodb://app:pw@src.example:27017/?replicaSet=rs0",
      targetUri: "mongodb+srv://m:pw@c.abcde.mongodb.net",
      cutover: true,
      createMinutes: 0.001,
    });
    const all: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, { value, secret }] of Object.entries(config) as Array<[string, { value: string; secret?: boolean }]>) {
      all[`atlas-migration-e2e:${key}`] = value;
      if (secret) secretKeys.push(`atlas-migration-e2e:${key}`);
    }
    pulumi.runtime.setAllConfig(all, secretKeys);
  });

  test("builds one Migration from stack config, with the connection strings secret", async () => {
    const program = require(path.join(PROGRAM_DIR, "index.js"));
    await new Promise<void>((resolve) => pulumi.output(program.phase).apply(() => resolve()));
    const migrations = seen.filter((r) => r.type === MIGRATION_TYPE);
    expect(migrations).toHaveLength(1);
    const inputs = migrations[0].inputs;
    expect(inputs).toMatchObject({
      engine: "mongosync",
      cutover: true,
      mongosync: { urls: ["http://127.0.0.1:27182"], version: "1.19.0" },
      timeouts: { createMinutes: 0.001, pollSeconds: 1 },
    });
    expect(pulumi.runtime.isRpcSecret(inputs.source)).toBe(true);
    expect(pulumi.runtime.isRpcSecret(inputs.target)).toBe(true);
    expect(await new Promise((r) => pulumi.output(program.phase).apply(r))).toBe("READY_FOR_CUTOVER");
  });
});

describe("changedKeys: which inputs a step changes", () => {
  const step = (over: Partial<StepEventMetadata>): StepEventMetadata =>
    ({ op: "update", urn: "urn", type: MIGRATION_TYPE, provider: "p", ...over }) as StepEventMetadata;
  const state = (inputs: Record<string, unknown>) => ({ type: MIGRATION_TYPE, urn: "urn", id: "i", parent: "", inputs, outputs: {}, provider: "p" });

  test.each([
    ["the provider's diffs when given", step({ diffs: ["cutover", "engine"] }), ["cutover", "engine"]],
    ["top-level keys of a detailed diff", step({ detailedDiff: { "namespaces.include[0]": { diffKind: "update", inputDiff: true }, cutover: { diffKind: "update", inputDiff: true } } as any }), ["cutover", "namespaces"]],
    [
      "old vs new inputs otherwise; unchanged secrets and key order do not count",
      step({
        old: state({ cutover: false, source: "[secret]", timeouts: { pollSeconds: 1, createMinutes: 2 }, __provider: "x" }),
        new: state({ __provider: "x", timeouts: { createMinutes: 2, pollSeconds: 1 }, source: "[secret]", cutover: true }),
      }),
      ["cutover"],
    ],
    [
      "an added and a removed key",
      step({ old: state({ cutover: false, verificationMode: "full" }), new: state({ cutover: false, namespaces: { include: ["a.*"] } }) }),
      ["namespaces", "verificationMode"],
    ],
    ["nothing when both sides are equal", step({ old: state({ cutover: true }), new: state({ cutover: true }) }), []],
  ])("%s", (_title, s, expected) => {
    expect(changedKeys(s)).toEqual(expected);
  });
});

// Offline checks of what the Automation-API tier relies on (automation.test.ts itself needs a pulumi CLI):
// the project directory resolves what the dynamic-provider host will require, and the program builds the
// Migration from stack config.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { spawn } from "child_process";
import { E2eStack, groupsOfTree } from "./support/cli";
import { MIGRATION_TYPE, programConfig, PROGRAM_DIR, REPO_ROOT, resolvesFrom } from "./support/harness";

describe("the e2e project directory", () => {
  let stack: E2eStack;
  beforeAll(() => {
    stack = new E2eStack({ pulumi: "/nonexistent/bin/pulumi", stackName: "t", programFile: path.join(PROGRAM_DIR, "index.js") });
  });
  afterAll(() => {
    fs.rmSync(stack.projectDir, { recursive: true, force: true });
    fs.rmSync(stack.stateDir, { recursive: true, force: true });
  });

  test("lives in the git-ignored .pulumi-local/ of the repository, with the program and a Pulumi.yaml", () => {
    expect(path.relative(REPO_ROOT, stack.projectDir).startsWith(".pulumi-local")).toBe(true);
    expect(fs.readFileSync(path.join(REPO_ROOT, ".gitignore"), "utf8")).toMatch(/^\.pulumi-local\/$/m);
    expect(fs.readFileSync(stack.programPath, "utf8")).toBe(fs.readFileSync(path.join(PROGRAM_DIR, "index.js"), "utf8"));
    expect(fs.readFileSync(path.join(stack.projectDir, "Pulumi.yaml"), "utf8")).toMatch(/^name: atlas-migration-e2e\nruntime: nodejs$/m);
  });

  test("resolves the dynamic-provider host and the provider runtime, as the plugin will from its cwd", () => {
    const dir = stack.projectDir;
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
    const program = require(path.join(PROGRAM_DIR, "index.js"))();
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

describe("the e2e harness's clean-up", () => {
  // The CLI starts plugins in process groups of their own; killing the driver's group alone would orphan them.
  test("finds the process group of a descendant that left its parent's group (as the CLI's plugins do)", async () => {
    const script = `
      const { spawn } = require("child_process");
      const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { detached: true, stdio: "ignore" });
      console.log(child.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ["-e", script], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
    const grandchild = await new Promise<number>((resolve) => parent.stdout!.once("data", (d) => resolve(Number(String(d).trim()))));
    try {
      if (process.platform !== "linux") return; // /proc only
      const groups = groupsOfTree(parent.pid!);
      expect(groups).toContain(parent.pid);
      expect(groups).toContain(grandchild); // detached: it leads a group of its own
    } finally {
      for (const pgid of [grandchild, parent.pid!]) {
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }
  });
});

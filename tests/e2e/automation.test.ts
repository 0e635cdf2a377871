// The Pulumi-CLI tier: the real engine, through the Automation API, on a local file backend with passphrase
// secrets. A tiny program (tests/e2e/program/index.js) holds one Migration; `pulumi preview` / `pulumi up`
// create it, flipping `cutover` previews as an update of exactly that property, the next `up` completes the
// migration, `refresh` keeps it, and `destroy` removes it. A second stack shows the engine-side half of
// partial initialization (which the gRPC-host tests cannot): a create that runs out of its own deadline
// stays in state with init errors, and the next `up` resumes it through update.
//
// The Migration uses the mongosync engine against a MongosyncEmulator running in this test process: it
// outlives every `pulumi up` (each starts a fresh dynamic-provider host), which in-memory clusters would not.
//
// Runs when a `pulumi` CLI is on PATH; otherwise skipped with the reason in its title. Nothing downloads
// the CLI (PulumiCommand.install would need the network).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ConfigMap, EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { MongosyncEmulator } from "../../testing/mongosync-emulator";
import { describeTier, pulumiCliTier } from "../support/tiers";
import { changedKeys, makeProjectDir, MIGRATION_TYPE, plannedSteps, programConfig } from "./support/harness";

const PASSWORDS = ["E2e-Src-Pa55-5190", "E2e-Tgt-Pa55-77aa"];

/** One stack of the e2e program in its own project directory and file backend; `dispose` removes all. */
async function openStack(stackName: string, emulatorUrl: () => string) {
  const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation");
  const projectDir = makeProjectDir();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "atlas-migration-e2e-state-"));
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, workDir: projectDir },
    {
      pulumiCommand: await PulumiCommand.get(),
      envVars: {
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase-not-a-secret",
        PULUMI_SKIP_UPDATE_CHECK: "true",
      },
    },
  );
  const output: string[] = [];
  const onOutput = (text: string) => output.push(text);
  const configure = (cutover: boolean, createMinutes?: number) =>
    stack.setAllConfig(
      programConfig({
        mongosyncUrl: emulatorUrl(),
        sourceUri: `mongodb://app:${PASSWORDS[0]}@src1.example:27017/?replicaSet=rs0`,
        targetUri: `mongodb+srv://migrator:${PASSWORDS[1]}@cluster0.abcde.mongodb.net`,
        cutover,
        createMinutes,
      }) as ConfigMap,
    );
  const dispose = async () => {
    try {
      await stack.destroy({ onOutput });
      await stack.workspace.removeStack(stackName);
    } finally {
      fs.rmSync(projectDir, { recursive: true, force: true });
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  };
  return { stack, output, onOutput, configure, dispose };
}

async function previewSteps(stack: Stack, onOutput: (s: string) => void) {
  const events: EngineEvent[] = [];
  const result = await stack.preview({ onEvent: (e) => events.push(e), onOutput, diff: true });
  return { result, steps: plannedSteps(events), migration: plannedSteps(events).find((s) => s.type === MIGRATION_TYPE) };
}

describeTier(pulumiCliTier(), "Automation API: preview, up, cutover flip, refresh, destroy", () => {
  jest.setTimeout(10 * 60 * 1000);
  let mongosync: MongosyncEmulator;
  let e2e: Awaited<ReturnType<typeof openStack>>;

  beforeAll(async () => {
    mongosync = await MongosyncEmulator.start({ version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 });
    e2e = await openStack("e2e", () => mongosync.url);
    await e2e.configure(false);
  });
  afterAll(async () => {
    try {
      await e2e?.dispose();
    } finally {
      await mongosync?.stop();
    }
  });

  test("preview plans a create of the Migration and starts nothing", async () => {
    const { result, migration } = await previewSteps(e2e.stack, e2e.onOutput);
    expect(migration?.op).toBe("create");
    expect(result.changeSummary.create).toBeGreaterThanOrEqual(1);
    expect(mongosync.count("start")).toBe(0); // check/diff only: preview never calls create
  });

  test("up creates it and syncs until READY_FOR_CUTOVER", async () => {
    const up = await e2e.stack.up({ onOutput: e2e.onOutput });
    expect(up.outputs.phase.value).toBe("READY_FOR_CUTOVER");
    expect(up.outputs.migrationId.value).toMatch(/^e2e-[0-9a-f]{12}$/);
    expect(mongosync.count("start")).toBe(1);
    // Progress lines from the provider reach `pulumi up` output, prefixed with the resource name.
    expect(up.stdout).toMatch(/\[e2e\] /);
  });

  test("a second preview with nothing changed is a no-op", async () => {
    const { migration } = await previewSteps(e2e.stack, e2e.onOutput);
    expect(migration?.op).toBe("same");
  });

  test("flipping cutover previews as an update of exactly `cutover`", async () => {
    await e2e.configure(true);
    const { result, steps, migration } = await previewSteps(e2e.stack, e2e.onOutput);
    expect(migration?.op).toBe("update");
    expect(changedKeys(migration!)).toEqual(["cutover"]);
    // Nothing else in the stack changes.
    for (const s of steps.filter((s) => s !== migration)) expect(s.op).toBe("same");
    expect(result.changeSummary.update).toBe(1);
    expect(mongosync.count("commit")).toBe(0);
  });

  test("up with cutover: true commits and reaches COMPLETE", async () => {
    const up = await e2e.stack.up({ onOutput: e2e.onOutput });
    expect(up.outputs.phase.value).toBe("COMPLETE");
    expect(up.outputs.cutoverCompletedAt.value).toEqual(expect.any(String));
    expect(mongosync.count("commit")).toBe(1);
  });

  test("refresh keeps the finished migration, and a preview after it shows no spurious diff", async () => {
    const refresh = await e2e.stack.refresh({ onOutput: e2e.onOutput });
    expect(refresh.summary.result).toBe("succeeded");
    const { migration } = await previewSteps(e2e.stack, e2e.onOutput);
    expect(migration?.op).toBe("same");
    expect((await e2e.stack.outputs()).phase.value).toBe("COMPLETE");
  });

  test("un-flipping cutover after COMPLETE is refused with the reason", async () => {
    await e2e.configure(false);
    await expect(e2e.stack.preview({ onOutput: e2e.onOutput })).rejects.toThrow(/cannot be undone/);
    await e2e.configure(true);
  });

  test("no password appears in anything the CLI printed, and the state keeps them encrypted", async () => {
    const exported = JSON.stringify(await e2e.stack.exportStack());
    const printed = e2e.output.join("");
    for (const password of PASSWORDS) {
      expect(printed).not.toContain(password);
      expect(exported).not.toContain(password);
    }
  });
});

describeTier(pulumiCliTier(), "Automation API: a create that outlives its deadline is resumed by the next up", () => {
  jest.setTimeout(10 * 60 * 1000);
  let mongosync: MongosyncEmulator;
  let e2e: Awaited<ReturnType<typeof openStack>>;

  beforeAll(async () => {
    // Progress only when the test says so: the first `up` cannot finish, whatever the machine's speed.
    mongosync = await MongosyncEmulator.start({ version: "1.19.0", advanceOnProgress: false });
    e2e = await openStack("e2e-partial", () => mongosync.url);
    await e2e.configure(false, 0.001);
  });
  afterAll(async () => {
    try {
      await e2e?.dispose();
    } finally {
      await mongosync?.stop();
    }
  });

  test("the first up fails with the resource kept in state (partial initialization)", async () => {
    await expect(e2e.stack.up({ onOutput: e2e.onOutput })).rejects.toThrow(/pulumi up/);
    const state = (await e2e.stack.exportStack()).deployment;
    const resource = state.resources.find((r: { type: string }) => r.type === MIGRATION_TYPE);
    expect(resource).toBeDefined();
    expect(resource.initErrors?.length).toBeGreaterThan(0);
    expect(resource.outputs.handle.engine).toBe("mongosync");
    expect(mongosync.count("start")).toBe(1);
  });

  test("the next up resumes it through update (no diff needed) and does not start mongosync again", async () => {
    mongosync.advance(10);
    const { migration } = await previewSteps(e2e.stack, e2e.onOutput);
    expect(migration?.op).toBe("update"); // the engine re-runs update for resources with init errors
    const up = await e2e.stack.up({ onOutput: e2e.onOutput });
    expect(up.outputs.phase.value).toBe("READY_FOR_CUTOVER");
    expect(mongosync.count("start")).toBe(1);
  });
});

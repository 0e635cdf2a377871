// The Pulumi-CLI tier: the real engine, through the Automation API, on a local file backend with passphrase
// secrets. A tiny program (tests/e2e/program/index.js) holds one Migration; `pulumi preview` / `pulumi up`
// create it, flipping `cutover` previews as an update of exactly that property, the next `up` completes the
// migration, and `destroy` removes it.
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

describeTier(pulumiCliTier(), "Automation API: preview, up, cutover flip, destroy", () => {
  jest.setTimeout(10 * 60 * 1000);

  let mongosync: MongosyncEmulator;
  let projectDir: string;
  let stateDir: string;
  let stack: Stack;
  const output: string[] = [];
  const onOutput = (text: string) => output.push(text);

  const config = (cutover: boolean): ConfigMap =>
    programConfig({
      mongosyncUrl: mongosync.url,
      sourceUri: `mongodb://app:${PASSWORDS[0]}@src1.example:27017/?replicaSet=rs0`,
      targetUri: `mongodb+srv://migrator:${PASSWORDS[1]}@cluster0.abcde.mongodb.net`,
      cutover,
    });

  beforeAll(async () => {
    const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation");
    mongosync = await MongosyncEmulator.start({ version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 });
    projectDir = makeProjectDir();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "atlas-migration-e2e-state-"));
    const pulumiCommand = await PulumiCommand.get();
    stack = await LocalWorkspace.createOrSelectStack(
      { stackName: "e2e", workDir: projectDir },
      {
        pulumiCommand,
        envVars: {
          PULUMI_BACKEND_URL: `file://${stateDir}`,
          PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase-not-a-secret",
          PULUMI_SKIP_UPDATE_CHECK: "true",
        },
      },
    );
    await stack.setAllConfig(config(false));
  });

  afterAll(async () => {
    try {
      await stack?.destroy({ onOutput });
      await stack?.workspace.removeStack("e2e");
    } finally {
      await mongosync?.stop();
      if (projectDir) fs.rmSync(projectDir, { recursive: true, force: true });
      if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test("preview plans a create of the Migration and starts nothing", async () => {
    const events: EngineEvent[] = [];
    const preview = await stack.preview({ onEvent: (e) => events.push(e), onOutput });
    const step = plannedSteps(events).find((s) => s.type === MIGRATION_TYPE);
    expect(step?.op).toBe("create");
    expect(preview.changeSummary.create).toBeGreaterThanOrEqual(1);
    expect(mongosync.count("start")).toBe(0); // check/diff only: preview never calls create
  });

  test("up creates it and syncs until READY_FOR_CUTOVER", async () => {
    const up = await stack.up({ onOutput });
    expect(up.outputs.phase.value).toBe("READY_FOR_CUTOVER");
    expect(up.outputs.migrationId.value).toMatch(/^e2e-[0-9a-f]{12}$/);
    expect(mongosync.count("start")).toBe(1);
    // Progress lines from the provider reach `pulumi up` output, prefixed with the resource name.
    expect(up.stdout).toMatch(/\[e2e\] /);
  });

  test("a second up with nothing changed is a no-op", async () => {
    const events: EngineEvent[] = [];
    await stack.preview({ onEvent: (e) => events.push(e), onOutput });
    const step = plannedSteps(events).find((s) => s.type === MIGRATION_TYPE);
    expect(step?.op).toBe("same");
  });

  test("flipping cutover previews as an update of exactly `cutover`", async () => {
    await stack.setAllConfig(config(true));
    const events: EngineEvent[] = [];
    const preview = await stack.preview({ onEvent: (e) => events.push(e), onOutput, diff: true });
    const steps = plannedSteps(events);
    const migration = steps.find((s) => s.type === MIGRATION_TYPE)!;
    expect(migration.op).toBe("update");
    expect(changedKeys(migration)).toEqual(["cutover"]);
    // Nothing else in the stack changes.
    for (const s of steps.filter((s) => s !== migration)) expect(s.op).toBe("same");
    expect(preview.changeSummary.update).toBe(1);
    expect(mongosync.count("commit")).toBe(0);
  });

  test("up with cutover: true commits and reaches COMPLETE", async () => {
    const up = await stack.up({ onOutput });
    expect(up.outputs.phase.value).toBe("COMPLETE");
    expect(up.outputs.cutoverCompletedAt.value).toEqual(expect.any(String));
    expect(mongosync.count("commit")).toBe(1);
  });

  test("un-flipping cutover after COMPLETE is refused with the reason", async () => {
    await stack.setAllConfig(config(false));
    await expect(stack.preview({ onOutput })).rejects.toThrow(/cannot be undone/);
    await stack.setAllConfig(config(true));
  });

  test("no password appears in anything the CLI printed, and the state keeps them encrypted", async () => {
    const exported = JSON.stringify(await stack.exportStack());
    const printed = output.join("");
    for (const password of PASSWORDS) {
      expect(printed).not.toContain(password);
      expect(exported).not.toContain(password);
    }
  });
});

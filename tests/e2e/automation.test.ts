// The Pulumi-CLI tier: the real engine (a `pulumi` built from Pulumi's Go module by scripts/pulumi-cli.sh, or the
// one on PATH), the real dynamic-provider plugin from node_modules, a local file backend with passphrase secrets.
// Each operation is a fresh process running an inline program through the Automation API
// (tests/e2e/support/driver.js), as a user's deployment script would.
//
// The Migration uses the mongosync engine against a MongosyncEmulator running in this test process: it
// outlives every `pulumi up` (each starts a fresh dynamic-provider host), which in-memory clusters would not.
//
// Engine behaviour these tests pin (pulumi/pulumi pkg/resource/deploy at our SDK's version):
// - a create that rejects with an id is kept with init errors, and the next `up` plans an update for it
//   (step_generator.go); a successful refresh clears the init errors (step.go RefreshStep.Apply), so only our
//   diff can ask for the resume after a refresh;
// - refresh calls the provider's Diff after Read with the stored inputs as the new inputs (RefreshStep.Apply):
//   a diff that throws fails the refresh.
import { describeTier } from "../support/tiers";
import { E2eStack, resourceIn, stepsOf } from "./support/cli";
import { MIGRATION_TYPE } from "./support/harness";
import { config, expectOk, exportState, migrationStep, PASSWORDS, stackWithMongosync, tier } from "./support/suite";

/** The lines of `pulumi preview --diff` that show property changes (`~ key: a => b`, `+ key`, `- key`). */
function propertyDiffLines(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => /^\s+[~+-]\s+[A-Za-z_]\w*\s*:/.test(l) && !/pulumi-nodejs:dynamic|pulumi:pulumi:Stack/.test(l));
}

/** The Migration's block of a `--diff` preview: from its header to the stack's outputs or the summary. */
function migrationBlock(stdout: string): string {
  const lines = stdout.split("\n");
  const start = lines.findIndex((l) => l.includes("pulumi-nodejs:dynamic/atlas-migration:Migration:"));
  if (start < 0) return "";
  const end = lines.findIndex((l, i) => i > start && (/--outputs:--|^Resources:/.test(l.trim()) || /^\s*[~+-]?\s*[\w-]+:[\w/-]+:\w+: \(/.test(l)));
  return lines.slice(start, end < 0 ? undefined : end).join("\n");
}

describeTier(tier, "Pulumi CLI: preview, up, the cutover PR, refresh, destroy", () => {
  jest.setTimeout(10 * 60 * 1000);
  const env = stackWithMongosync("lifecycle", { version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 });

  test("preview plans a create of the Migration and starts nothing", async () => {
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync) }));
    expect(migrationStep(preview)?.op).toBe("create");
    expect(env.mongosync.count("start")).toBe(0); // check/diff only: preview never calls create
  });

  test("up creates it and syncs until READY_FOR_CUTOVER; provider lines reach the CLI's output", async () => {
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expect(up.outputs!.migrationId.value).toMatch(/^e2e-[0-9a-f]{12}$/);
    expect(env.mongosync.count("start")).toBe(1);
    expect(up.stdout).toMatch(/\[e2e\] .*READY_FOR_CUTOVER/);
  });

  test("a second preview with nothing changed is a no-op", async () => {
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync) }));
    expect(migrationStep(preview)?.op).toBe("same");
  });

  test("`pulumi preview --diff` of the cutover PR shows exactly `~ cutover: false => true`", async () => {
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync, { cutover: true }), options: { diff: true } }));
    console.log(`cutover PR preview (--diff):\n${preview.stdout}`);
    // As a reviewer reads it in the PR's preview comment.
    expect(propertyDiffLines(migrationBlock(preview.stdout))).toEqual([expect.stringMatching(/^\s+~ cutover\s*: false => true$/)]);
    expect(preview.stdout).toMatch(/~ pulumi-nodejs:dynamic\/atlas-migration:Migration: \(update\)/);
    // Nothing else in the stack changes. Not counted: the stack resource (it only carries the program's outputs) and
    // the default pulumi-nodejs provider, which the engine configures with the whole stack config
    // (pkg/resource/deploy/target.go GetPackageConfig), so this test's config edit updates it; the CLI hides it.
    const others = stepsOf(preview).filter((s) => s.type !== MIGRATION_TYPE && s.type !== "pulumi:pulumi:Stack" && !s.type.startsWith("pulumi:providers:"));
    for (const s of others) expect(s.op).toBe("same");
    expect(preview.stdout).not.toMatch(/pulumi:providers:/);
    expect(preview.summary.update).toBe(1);
    expect(env.mongosync.count("commit")).toBe(0);
  });

  test("up with cutover: true commits and reaches COMPLETE", async () => {
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync, { cutover: true }) }));
    expect(up.outputs!.phase.value).toBe("COMPLETE");
    expect(up.outputs!.cutoverCompletedAt.value).toEqual(expect.any(String));
    expect(env.mongosync.count("commit")).toBe(1);
  });

  test("refresh keeps the finished migration, and a preview after it shows no spurious diff", async () => {
    expectOk(await env.stack.run("refresh", { config: config(env.mongosync, { cutover: true }) }));
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync, { cutover: true }) }));
    expect(migrationStep(preview)?.op).toBe("same");
    expect(expectOk(await env.stack.run("outputs")).outputs!.phase.value).toBe("COMPLETE");
  });

  test("un-flipping cutover after COMPLETE is refused at preview with the reason", async () => {
    const preview = await env.stack.run("preview", { config: config(env.mongosync, { cutover: false }) });
    expect(preview.ok).toBe(false);
    expect(preview.stdout + preview.error).toMatch(/COMPLETE and cannot be undone/);
  });

  test("no password appears in anything the CLI printed, in `pulumi stack export`, or in the raw state file", async () => {
    const exported = await env.stack.cli(["stack", "export"]);
    expect(exported.code).toBe(0);
    const raw = env.stack.rawStateFile();
    expect(raw).toMatch(/"ciphertext"/); // the secrets are there, encrypted
    for (const password of PASSWORDS) {
      expect(env.stack.printed.join("\n")).not.toContain(password);
      expect(exported.stdout).not.toContain(password);
      expect(raw).not.toContain(password);
    }
  });
});

describeTier(tier, "Pulumi CLI: a create that outlives its deadline, then refresh, then up, resumes", () => {
  jest.setTimeout(10 * 60 * 1000);
  // Progress only when the test says so: the first `up` cannot finish, whatever the machine's speed.
  const env = stackWithMongosync("resume", { version: "1.19.0", advanceOnProgress: false });

  test("the first up fails with the resource kept in state (partial initialization)", async () => {
    const up = await env.stack.run("up", { config: config(env.mongosync, { createMinutes: 0.001 }) });
    expect(up.ok).toBe(false);
    expect(up.stdout + up.error).toMatch(/run `pulumi up` again to continue/);
    const resource = resourceIn(await exportState(env.stack), MIGRATION_TYPE);
    expect(resource.initErrors?.length).toBeGreaterThan(0);
    expect(resource.outputs.handle.engine).toBe("mongosync");
    expect(env.mongosync.count("start")).toBe(1);
  });

  test("a refresh succeeds and (as the engine does) clears the init errors", async () => {
    expectOk(await env.stack.run("refresh", { config: config(env.mongosync, { createMinutes: 0.001 }) }));
    const resource = resourceIn(await exportState(env.stack), MIGRATION_TYPE);
    expect(resource.initErrors ?? []).toEqual([]);
    expect(resource.outputs.phase).not.toBe("READY_FOR_CUTOVER");
  });

  test("the preview after the refresh still plans the resume, and says why in words (B1)", async () => {
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync, { createMinutes: 0.001 }) }));
    expect(migrationStep(preview)?.op).toBe("update");
    expect(preview.stdout).toMatch(/\[e2e\] the sync has not caught up yet \([A-Z_]+.*\); `pulumi up` resumes it/);
  });

  test("the next up resumes it (no second /start) and reaches READY_FOR_CUTOVER", async () => {
    env.mongosync.advance(10);
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expect(env.mongosync.count("start")).toBe(1);
  });

  test("a cutover that outlives cutoverMinutes stays CUTTING_OVER; `pulumi up --refresh` resumes and completes it", async () => {
    const first = await env.stack.run("up", { config: config(env.mongosync, { cutover: true, cutoverMinutes: 0.001 }) });
    expect(first.ok).toBe(false);
    expect(resourceIn(await exportState(env.stack), MIGRATION_TYPE).outputs.phase).toBe("CUTTING_OVER");
    expect(env.mongosync.count("commit")).toBe(1);

    // A refresh in between clears the init errors; the stored phase still asks for the resume.
    expectOk(await env.stack.run("refresh", { config: config(env.mongosync, { cutover: true }) }));
    const preview = expectOk(await env.stack.run("preview", { config: config(env.mongosync, { cutover: true }) }));
    expect(migrationStep(preview)?.op).toBe("update");
    expect(preview.stdout).toMatch(/the cutover is not finished/);

    env.mongosync.advance(10);
    const up = expectOk(await env.stack.run("up", { config: config(env.mongosync, { cutover: true }), options: { refresh: true } }));
    expect(up.outputs!.phase.value).toBe("COMPLETE");
  });
});

describeTier(tier, "Pulumi CLI: a migration completed outside Pulumi (mongosync committed by hand)", () => {
  jest.setTimeout(10 * 60 * 1000);
  const env = stackWithMongosync("by-hand", { version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 }, async () => {
    expectOk(await env.stack.run("up", { config: config(env.mongosync) }));
  });

  test("refresh succeeds and shows COMPLETE though the program still says cutover: false (B2)", async () => {
    env.mongosync.setState("COMMITTED");
    const refresh = await env.stack.run("refresh", { config: config(env.mongosync) });
    expectOk(refresh);
    expect(resourceIn(await exportState(env.stack), MIGRATION_TYPE).outputs.phase).toBe("COMPLETE");
  });

  test("the next preview changes nothing and refuses nothing; flipping cutover to true then is a no-op too", async () => {
    expect(migrationStep(expectOk(await env.stack.run("preview", { config: config(env.mongosync) })))?.op).toBe("same");
    expect(migrationStep(expectOk(await env.stack.run("preview", { config: config(env.mongosync, { cutover: true }) })))?.op).toBe("same");
    expect(env.mongosync.count("commit")).toBe(0);
  });
});


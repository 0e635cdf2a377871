// The CrossGuard pack (policy-pack/, rules in policy/index.ts) under the real CLI: `pulumi preview --policy-pack`.
//
// The CLI runs a Node.js pack through the `pulumi-analyzer-policy-nodejs` plugin (`runtime: nodejs` in PulumiPolicy.yaml), which the CLI otherwise downloads and
// a CLI built from the Go module lacks; tests/e2e/support/bin holds a shim that does what the shipped script does
// (runs @pulumi/pulumi's cmd/run-policy-pack from the pack's directory), put on PATH for these operations only.
// The program is the e2e program: a mongosync Migration, on a stack with no `environment` tag (production by the
// pack's rule), first with verificationMode "counts", which the pack refuses there, then with "full".
import * as path from "path";
import { describeTier } from "../support/tiers";
import { REPO_ROOT } from "./support/harness";
import { config, expectOk, migrationStep, stackWithMongosync, tier } from "./support/suite";

const POLICY_PACK = path.join(REPO_ROOT, "policy-pack");
const SHIM_DIR = path.join(__dirname, "support", "bin");
/** Where the stack's PATH finds the dynamic-provider plugin (tests/e2e/support/cli.ts): kept behind the shim. */
const PLUGIN_DIR = path.dirname(require.resolve("@pulumi/pulumi/package.json"));

describeTier(tier, "Pulumi CLI: the CrossGuard pack at preview", () => {
  jest.setTimeout(10 * 60 * 1000);
  const READY = { version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 } as const;
  const env = stackWithMongosync("policy", READY);
  const withShim = () => ({ PATH: [SHIM_DIR, PLUGIN_DIR, process.env.PATH ?? ""].join(path.delimiter) });

  test("a production migration without full verification is refused at preview, naming the rule and the fix", async () => {
    const preview = await env.stack.run("preview", { config: config(env.mongosync, { verificationMode: "counts" }), options: { policyPacks: [POLICY_PACK] }, env: withShim() });
    console.log(`policy preview:\n${preview.stdout}\n${preview.error ?? ""}`);
    expect(preview.ok).toBe(false);
    const text = preview.stdout + (preview.error ?? "");
    expect(text).toMatch(/atlas-migration-full-verification-in-production/);
    expect(text).toMatch(/set verificationMode: "full"/);
    expect(env.mongosync.count("start")).toBe(0);
  });

  test("the same program with verificationMode: \"full\" passes the pack", async () => {
    const preview = expectOk(
      await env.stack.run("preview", { config: config(env.mongosync, { verificationMode: "full" }), options: { policyPacks: [POLICY_PACK] }, env: withShim() }),
    );
    expect(migrationStep(preview)?.op).toBe("create");
  });
});

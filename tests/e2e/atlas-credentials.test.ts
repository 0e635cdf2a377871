// Atlas credentials reaching an atlas-push Migration under the real CLI, against the Atlas API emulator (which
// accepts only the one API key it was started with, with Digest auth: a successful `up` proves that key arrived).
//
// - Stack config: `pulumi config set mongodbatlas:publicKey …` / `--secret mongodbatlas:privateKey …`. The CLI
//   (3.139+) hands every stack config key to the dynamic provider's configure (pulumi/pulumi#17673); this also shows
//   the old-CLI detection (provider/runtime.ts configure) does not fire when the config did arrive.
// - The atlasCredentials input, as AtlasMigration fills it from an explicit mongodbatlas.Provider (the component
//   side is tests/component/provider-credentials.test.ts, under mocks: the mongodbatlas plugin cannot be built
//   here). Secret in state.
// Neither way leaves the private key in the state file or the CLI's output.
import * as path from "path";
import type { AtlasApiEmulator } from "../../testing/atlas-emulator";
import { describeTier } from "../support/tiers";
import { API_KEY, ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID, startEmulator } from "../engines/atlas/fixtures";
import { ConfigValues, E2eStack, killAllSpawned, resourceIn } from "./support/cli";
import { MIGRATION_TYPE } from "./support/harness";
import { expectOk, exportState, tier } from "./support/suite";

const PROGRAM = path.join(__dirname, "program", "atlas-push.js");
const CM_PASSWORD = "Cm-Src-Pa55-41d0";

function baseConfig(emulator: AtlasApiEmulator, clusterName: string): ConfigValues {
  return {
    clusterName: { value: clusterName },
    cmProjectId: { value: CM_PROJECT_ID },
    atlasProjectId: { value: ATLAS_PROJECT_ID },
    orgId: { value: ORG_ID },
    cmPassword: { value: CM_PASSWORD, secret: true },
    atlasBaseUrl: { value: emulator.baseUrl },
  };
}

describeTier(tier, "Pulumi CLI: Atlas credentials reach an atlas-push Migration", () => {
  jest.setTimeout(15 * 60 * 1000);
  let emulator: AtlasApiEmulator;
  const stacks: E2eStack[] = [];
  beforeAll(async () => {
    emulator = await startEmulator();
  });
  afterAll(async () => {
    try {
      for (const stack of stacks) await stack.dispose();
    } finally {
      killAllSpawned();
      await emulator?.stop();
    }
  });

  async function upAndCheck(stackName: string, config: ConfigValues) {
    const stack = new E2eStack({ pulumi: tier.binary!, stackName, programFile: PROGRAM });
    stacks.push(stack);
    const before = emulator.requests.length;
    const up = expectOk(await stack.run("up", { config }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    const used = emulator.requests.slice(before);
    expect(used.some((r) => r.operation === "createMigration" && r.status < 300)).toBe(true);
    expect(new Set(used.filter((r) => r.status !== 401).map((r) => r.auth))).toEqual(new Set(["digest"]));
    expect(resourceIn(await exportState(stack), MIGRATION_TYPE).outputs.phase).toBe("READY_FOR_CUTOVER");
    // `pulumi stack export` as a user runs it (no --show-secrets) and the file backend's own JSON.
    const exported = await stack.cli(["stack", "export"]);
    expect(exported.code).toBe(0);
    for (const text of [stack.rawStateFile(), exported.stdout, ...stack.printed]) {
      expect(text).not.toContain(API_KEY.privateKey);
      expect(text).not.toContain(CM_PASSWORD);
    }
    return stack;
  }

  test("from stack config (mongodbatlas:baseUrl, publicKey, secret privateKey)", async () => {
    await upAndCheck("stack-config", {
      ...baseConfig(emulator, "FromConfig"),
      "mongodbatlas:baseUrl": { value: emulator.baseUrl },
      "mongodbatlas:publicKey": { value: API_KEY.publicKey },
      "mongodbatlas:privateKey": { value: API_KEY.privateKey, secret: true },
    });
  });

  test("from the atlasCredentials input (what AtlasMigration passes from an explicit mongodbatlas.Provider), secret in state", async () => {
    const stack = await upAndCheck("explicit", {
      ...baseConfig(emulator, "FromInput"),
      explicitPublicKey: { value: API_KEY.publicKey },
      explicitPrivateKey: { value: API_KEY.privateKey, secret: true },
    });
    // Stored as a secret: Pulumi's secret signature with ciphertext, in inputs and outputs.
    const resource = resourceIn(JSON.parse(stack.rawStateFile()).checkpoint.latest, MIGRATION_TYPE);
    for (const where of [resource.inputs, resource.outputs]) {
      expect(where.atlasCredentials).toEqual({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: expect.any(String) });
    }
  });
});

// What every Pulumi-CLI suite shares: the tier, the program's stack config, and one stack per suite beside the
// mongosync emulator its program talks to (started first, stopped last, every spawned process killed at the end).
import * as path from "path";
import { MongosyncEmulator, type MongosyncEmulatorOptions } from "../../../testing/mongosync-emulator";
import { pulumiCliTier } from "../../support/tiers";
import { ConfigValues, E2eStack, E2eStackOptions, killAllSpawned, OpResult, stepsOf } from "./cli";
import { MIGRATION_TYPE, programConfig } from "./harness";

export const tier = pulumiCliTier();
export const PROGRAM = path.join(__dirname, "..", "program", "index.js");
export const PASSWORDS = ["E2e-Src-Pa55-5190", "E2e-Tgt-Pa55-77aa"];

export function config(mongosync: MongosyncEmulator, over: { cutover?: boolean; createMinutes?: number; cutoverMinutes?: number } & Record<string, unknown> = {}): ConfigValues {
  const { cutover = false, createMinutes, cutoverMinutes, ...rest } = over;
  const values = programConfig({
    mongosyncUrl: mongosync.url,
    sourceUri: `mongodb://app:${PASSWORDS[0]}@src1.example:27017/?replicaSet=rs0`,
    targetUri: `mongodb+srv://migrator:${PASSWORDS[1]}@cluster0.abcde.mongodb.net`,
    cutover,
    createMinutes,
  });
  if (cutoverMinutes !== undefined) values.cutoverMinutes = { value: String(cutoverMinutes) };
  for (const [k, v] of Object.entries(rest)) values[k] = { value: String(v) };
  return values;
}

export function expectOk(result: OpResult): OpResult {
  if (!result.ok) throw new Error(`operation failed: ${result.error}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
  return result;
}

export function migrationStep(result: OpResult) {
  return stepsOf(result).find((s) => s.type === MIGRATION_TYPE);
}

export async function exportState(stack: E2eStack): Promise<any> {
  return expectOk(await stack.run("export")).deployment;
}

/**
 * A suite's stack and the mongosync emulator its program talks to: the emulator starts first, the stack is
 * destroyed and removed after the suite, the emulator stopped last. `prepare` runs once both exist.
 */
export function stackWithMongosync(
  stackName: string,
  emulator: MongosyncEmulatorOptions,
  prepare?: () => Promise<void>,
  stackOptions: Partial<E2eStackOptions> | (() => Partial<E2eStackOptions>) = {},
) {
  const env = {} as { mongosync: MongosyncEmulator; stack: E2eStack };
  beforeAll(async () => {
    env.mongosync = await MongosyncEmulator.start(emulator);
    const extra = typeof stackOptions === "function" ? stackOptions() : stackOptions;
    env.stack = new E2eStack({ pulumi: tier.binary!, stackName, programFile: PROGRAM, ...extra });
    await prepare?.();
  });
  afterAll(async () => {
    try {
      await env.stack?.dispose();
    } finally {
      killAllSpawned(); // also when setup failed before the stack existed
      await env.mongosync?.stop();
    }
  });
  return env;
}


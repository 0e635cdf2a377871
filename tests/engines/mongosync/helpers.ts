// Shared set-up for the mongosync engine tests: emulators that are stopped after each test, and a spec.
import type { MigrationSpec, MongosyncOptions } from "../../../provider/engines/engine";
import { MongosyncEmulator, type MongosyncEmulatorOptions } from "../../../testing/mongosync-emulator";
import { makeSpec } from "../../support/spec";

const running: MongosyncEmulator[] = [];

export async function emulator(options: MongosyncEmulatorOptions = {}): Promise<MongosyncEmulator> {
  const e = await MongosyncEmulator.start(options);
  running.push(e);
  return e;
}

/** Several mongosyncs of one migration (one per source shard); /commit and /reverse block across them. */
export async function emulatorGroup(members: MongosyncEmulatorOptions[], opts: { coordinator?: number } = {}): Promise<MongosyncEmulator[]> {
  const group = await MongosyncEmulator.startGroup(members, opts);
  running.push(...group);
  return group;
}

export async function stopEmulators(): Promise<void> {
  await Promise.all(running.splice(0).map((e) => e.stop()));
}

export function mongosyncSpec(urls: string[], mongosync: Partial<MongosyncOptions> = {}, overrides: Partial<MigrationSpec> = {}): MigrationSpec {
  return makeSpec({
    engine: "mongosync",
    source: { uri: "mongodb://admin:s3cr3t-pw@source.example:27017" },
    target: { uri: "mongodb+srv://app:t4rget-pw@orders.abcde.mongodb.net" },
    mongosync: { urls, reversible: false, enableVerification: true, version: "1.22.0", ...mongosync },
    ...overrides,
  });
}

/** A URL where nothing listens (a port that was free a moment ago). */
export async function deadUrl(): Promise<string> {
  const e = await MongosyncEmulator.start();
  const url = e.url;
  await e.stop();
  return url;
}

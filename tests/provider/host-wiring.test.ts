// The runtime's delete wiring inside Pulumi's real dynamic-provider host, as `pulumi destroy` runs it: the builtin
// engine over memory:// clusters that a preloaded fixture creates inside the host (support/memory-fixture.js).
// A cutover that blocked source writes and then stopped (its verification finds a document the source never had)
// is deleted: the delete gives the source its writes back and keeps the target data.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DynamicProviderHost, HostCallError, migrationUrn, type HostProps } from "../../testing/pulumi-host";
import { FixtureClient, fixtureEnv, MEMORY_FIXTURE } from "./support/fixture-client";
import { assertBuilt, REPO_ROOT, serializeShipped } from "./support/provider-text";

let providerText: string;
let tmp: string;
let host: DynamicProviderHost;
let fixture: FixtureClient;

beforeAll(async () => {
  assertBuilt();
  providerText = serializeShipped().text;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "host-wiring-"));
  const portFile = path.join(tmp, "fixture-port");
  host = await DynamicProviderHost.start({
    cwd: REPO_ROOT,
    preload: [MEMORY_FIXTURE],
    // Cutover verification retries twice with a 2 s pause before it gives up: room for that per RPC.
    callTimeoutMs: 60_000,
    env: fixtureEnv(
      [
        { name: "wire-src", historySeconds: 3600, seed: { db: "shop", coll: "orders", count: 120 } },
        { name: "wire-dst" },
      ],
      portFile,
    ),
  });
  fixture = await FixtureClient.connect(portFile);
  await host.configure({});
});

afterAll(async () => {
  await host?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const name = "wired";
const urn = migrationUrn(name);
const inputs = {
  engine: "builtin",
  source: { uri: "memory://wire-src" },
  target: { uri: "memory://wire-dst" },
  namespaces: { include: ["shop.*"] },
  cutover: false,
  resourceName: name,
  timeouts: { pollSeconds: 0.05 },
};
const withProvider = (p: HostProps) => ({ ...p, __provider: providerText });

test("destroy of a migration whose cutover blocked source writes and stopped gives the source its writes back", async () => {
  const created = await host.create(urn, (await host.check(urn, {}, withProvider(inputs))).inputs);
  expect(created.properties.phase).toBe("READY_FOR_CUTOVER");
  expect(created.properties.statusCheckedAt).toEqual(expect.any(String));

  // Someone wrote into the target directly: the cutover blocks source writes, drains, and its verification fails.
  await fixture.insert("wire-dst", "shop", "orders", [{ _id: "written-on-atlas-by-hand", sku: "x", qty: 0 }]);
  const news = (await host.check(urn, inputs, withProvider({ ...inputs, cutover: true }))).inputs;
  const failure = await host.update(urn, created.id, created.properties, news).then(
    () => undefined,
    (err: unknown) => err as HostCallError,
  );
  const kept = failure?.initFailure;
  if (!kept) throw failure ?? new Error("the cutover unexpectedly succeeded");
  expect(kept.properties.phase).toBe("CUTTING_OVER");
  expect(kept.reasons[0]).toMatch(/verification failed.*SOURCE WRITES ARE BLOCKED/);
  expect((await fixture.writesBlocked("wire-src")).blocked).toBe(true);

  await host.delete(urn, created.id, kept.properties);
  expect((await fixture.writesBlocked("wire-src")).blocked).toBe(false);
  await host.waitForLine(new RegExp(`^\\[${name}\\] source writes unblocked \\(setUserWriteBlockMode\\)`));
  await host.waitForLine(new RegExp(`^\\[${name}\\] removed from the stack; target data is kept`));
  expect((await fixture.summary("wire-dst", "shop", "orders")).count).toBe(121);
});

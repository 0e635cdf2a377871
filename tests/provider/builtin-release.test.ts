// Deleting a builtin migration whose cutover blocked source writes (issue 8 H2): `pulumi destroy`, or the delete
// half of a delete-before-replace, gives the source its writes back, and when it cannot, the delete fails with
// the commands that undo it — the source is never left write-blocked silently. The real runtime and the real
// builtin engine over MemoryClusters; the only addition is the engine's own crash hook, to stop a cutover after
// it blocked writes.
const crash: { at?: string } = {};
jest.mock("../../provider/engines/registry", () => {
  const actual = jest.requireActual("../../provider/engines/registry");
  return {
    engineFor: (name: string) =>
      name === "builtin"
        ? require("../../provider/engines/builtin").createBuiltinEngine({
            hooks: {
              beforeCutoverStep: (step: string) => {
                if (crash.at === step) throw new Error(`simulated crash as cutover step ${step} starts`);
              },
            },
          })
        : actual.engineFor(name),
  };
});

import { Int32 } from "mongodb";
import * as runtime from "../../provider/runtime";
import { MemoryCluster } from "../../testing/memory-cluster";
import { rejectionOf } from "./support/expect-rejection";

let n = 0;
let logged: string[] = [];

beforeEach(() => {
  crash.at = undefined;
  logged = [];
  jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
});
afterEach(() => jest.restoreAllMocks());


/** A migration synced to READY_FOR_CUTOVER whose cutover then stopped right after blocking and draining. */
async function blockedMidCutover() {
  n++;
  const source = MemoryCluster.create(`rel-src-${n}`);
  const target = MemoryCluster.create(`rel-dst-${n}`);
  await source.db("shop").collection<any>("orders").insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: i, qty: new Int32(i) })));
  const inputs = {
    __provider: "p",
    resourceName: `rel-${n}`,
    providerVersion: "0.1.0",
    source: { uri: `memory://rel-src-${n}` },
    target: { uri: `memory://rel-dst-${n}` },
    cutover: false,
  };
  const { id, outs } = await runtime.create(inputs);
  expect(outs.phase).toBe("READY_FOR_CUTOVER");
  crash.at = "VERIFYING";
  const err = await rejectionOf(runtime.update(id, outs, { ...inputs, cutover: true }));
  crash.at = undefined;
  expect(source.writesBlocked).toBe(true);
  expect(err.properties.phase).toBe("CUTTING_OVER");
  // Every message while the source is blocked says so, and how to undo it.
  expect(err.message).toMatch(/SOURCE WRITES ARE BLOCKED.*setUserWriteBlockMode: 1, global: false/);
  return { source, target, inputs, id, stored: err.properties };
}

test("destroy of a migration stopped mid-cutover unblocks the source, keeps the target data, and says so", async () => {
  const { source, target, id, stored } = await blockedMidCutover();
  await runtime.destroy(id, stored);
  expect(source.writesBlocked).toBe(false);
  expect(logged.join("\n")).toMatch(new RegExp(`\\[${stored.resourceName}\\] source writes unblocked \\(setUserWriteBlockMode\\)`));
  expect(await target.db("shop").collection("orders").countDocuments({})).toBe(40);
  // The application can write to its database again.
  await source.db("shop").collection<any>("orders").insertOne({ _id: 1000 });
});

test("the delete of a delete-before-replace (new namespaces) unblocks the old migration's source", async () => {
  const { source, inputs, id, stored } = await blockedMidCutover();
  // diff refuses calling the cutover off while it runs; a new scope is a replacement, the old one deleted first.
  expect(runtime.diff(id, stored, { ...inputs, cutover: true, namespaces: { include: ["shop.*"] } })).toMatchObject({
    replaces: ["namespaces"],
    deleteBeforeReplace: true,
  });
  await runtime.destroy(id, stored);
  expect(source.writesBlocked).toBe(false);
});

test("when the source cannot be unblocked the delete fails with the exact commands, and a retry unblocks it", async () => {
  const { source, id, stored } = await blockedMidCutover();
  source.faults.failNext("setUserWriteBlocking", 1);
  const err = await rejectionOf(runtime.destroy(id, stored));
  expect(err.code).toBe("SOURCE_MAY_BE_WRITE_BLOCKED");
  expect(err.message).toMatch(/not deleted: .*SOURCE WRITES MAY STILL BE BLOCKED/);
  expect(err.message).toContain(`atlas-migrate unblock ${stored.migrationId}`);
  expect(err.message).toContain("db.adminCommand({ setUserWriteBlockMode: 1, global: false })");
  expect(source.writesBlocked).toBe(true);
  await runtime.destroy(id, stored);
  expect(source.writesBlocked).toBe(false);
});

test("after COMPLETE the source stays blocked on purpose, and destroy says so and how to undo it", async () => {
  const { source, inputs, id, stored } = await blockedMidCutover();
  const { outs: done } = await runtime.update(id, stored, { ...inputs, cutover: true });
  expect(done.phase).toBe("COMPLETE");
  logged = [];
  await runtime.destroy(id, done);
  expect(source.writesBlocked).toBe(true);
  expect(logged.join("\n")).toMatch(/COMPLETE, so source writes stay blocked on purpose.*setUserWriteBlockMode: 1, global: false/);
});

test("destroy before any cutover does not need the source (nothing was blocked)", async () => {
  n++;
  const source = MemoryCluster.create(`rel-src-${n}`);
  MemoryCluster.create(`rel-dst-${n}`);
  await source.db("shop").collection<any>("orders").insertOne({ _id: 1 });
  const inputs = { __provider: "p", resourceName: `early-${n}`, source: { uri: `memory://rel-src-${n}` }, target: { uri: `memory://rel-dst-${n}` }, cutover: false };
  const { id, outs } = await runtime.create(inputs);
  source.faults.failNext("setUserWriteBlocking", 5);
  await expect(runtime.destroy(id, outs)).resolves.toBeUndefined();
  expect(logged.join("\n")).not.toMatch(/could not check or undo/);
});

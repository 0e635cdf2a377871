// mongosync's reverse sync after COMPLETE, through the runtime against the MongosyncEmulator: a reviewed PR sets
// mongosync.rollback (diff plans an update, update sends /reverse once and drives it until caught up), a second
// PR sets rollbackCutover (update commits the reverse direction and verifies it with our own comparison of the
// two clusters). Plus M9 against the emulator: a /commit that mongosync refuses leaves the migration syncing.
import * as runtime from "../../provider/runtime";
import { MemoryCluster } from "../../testing/memory-cluster";
import { MongosyncEmulator } from "../../testing/mongosync-emulator";
import { rejectionOf } from "./support/expect-rejection";

let mongosync: MongosyncEmulator;
let logged: string[] = [];
let n = 0;

beforeEach(() => {
  logged = [];
  jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
});
afterEach(async () => {
  jest.restoreAllMocks();
  await mongosync?.stop();
});


/**
 * Two MemoryClusters holding the same documents stand for the clusters mongosync syncs (the emulator moves no
 * data): our own verification of the reverse sync compares them for real.
 */
async function clusters() {
  n++;
  const source = MemoryCluster.create(`ms-src-${n}`);
  const target = MemoryCluster.create(`ms-dst-${n}`);
  const docs = Array.from({ length: 30 }, (_, i) => ({ _id: i, sku: `sku-${i}` }));
  await source.db("shop").collection<any>("orders").insertMany(docs.map((d) => ({ ...d })));
  await target.db("shop").collection<any>("orders").insertMany(docs.map((d) => ({ ...d })));
  return { sourceUri: `memory://ms-src-${n}`, targetUri: `memory://ms-dst-${n}` };
}

function inputsFor(uris: { sourceUri: string; targetUri: string }, over: Record<string, any> = {}, mongosyncOver: Record<string, any> = {}) {
  return {
    __provider: "p",
    resourceName: "orders",
    providerVersion: "0.1.0",
    engine: "mongosync",
    source: { uri: uris.sourceUri },
    target: { uri: uris.targetUri },
    mongosync: { urls: [mongosync.url], version: "1.19.0", reversible: true, ...mongosyncOver },
    timeouts: { pollSeconds: 0.02, createMinutes: 1, cutoverMinutes: 1 },
    cutover: false,
    ...over,
  };
}

test("rollback round trip: COMPLETE → rollback (one /reverse, caught up) → rollbackCutover (commit, verified)", async () => {
  mongosync = await MongosyncEmulator.start({ version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1, reverseTicks: 1 });
  const uris = await clusters();
  const { id, outs } = await runtime.create(inputsFor(uris));
  expect(outs.phase).toBe("READY_FOR_CUTOVER");
  const { outs: done } = await runtime.update(id, outs, inputsFor(uris, { cutover: true }));
  expect(done).toMatchObject({ phase: "COMPLETE", rollback: null });
  expect(mongosync.count("commit")).toBe(1);

  // The rollback PR: preview plans an update (a COMPLETE migration otherwise changes nothing).
  const asked = inputsFor(uris, { cutover: true }, { rollback: true });
  expect(runtime.check(done, asked).failures).toEqual([]);
  expect(runtime.diff(id, done, asked)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  const { outs: reversed } = await runtime.update(id, done, asked);
  expect(mongosync.count("reverse")).toBe(1);
  expect(reversed.phase).toBe("COMPLETE");
  expect(reversed.rollback).toMatchObject({ state: "READY_TO_COMMIT", direction: "cluster1 → cluster0", committedAt: null });
  // Caught up: nothing more to do until the commit PR; and a started reverse sync cannot be called off.
  expect(runtime.diff(id, reversed, asked).changes).toBe(false);
  expect(() => runtime.diff(id, reversed, inputsFor(uris, { cutover: true }))).toThrow(/mongosync cannot call it off; keep mongosync.rollback: true/);

  // A refresh follows the reverse sync.
  const refreshed = (await runtime.read(id, reversed)).props;
  expect(refreshed.rollback.state).toBe("READY_TO_COMMIT");
  expect(typeof refreshed.rollback.lagSeconds).toBe("number");
  expect(runtime.diff(id, refreshed, asked).changes).toBe(false); // the refresh's own diff (stored inputs)

  // Removing the Migration now would leave mongosync syncing in reverse: destroy says so (and sends nothing).
  const before = mongosync.requests.filter((r) => r.endpoint !== "progress").length;
  await runtime.destroy(id, refreshed);
  expect(logged.join("\n")).toMatch(/mongosync keeps syncing in reverse \(rollback READY_TO_COMMIT\); removing the Migration does not stop it/);
  expect(mongosync.requests.filter((r) => r.endpoint !== "progress").length).toBe(before);

  const commit = inputsFor(uris, { cutover: true }, { rollback: true, rollbackCutover: true });
  expect(runtime.diff(id, refreshed, commit).changes).toBe(true);
  const { outs: rolledBack } = await runtime.update(id, refreshed, commit);
  expect(mongosync.count("commit")).toBe(2);
  expect(mongosync.count("reverse")).toBe(1);
  expect(rolledBack.rollback).toMatchObject({ state: "COMMITTED", committedAt: expect.any(String), verification: { passed: true } });
  expect(rolledBack.rollback.verification.namespaces).toEqual([expect.objectContaining({ namespace: "shop.orders", sourceCount: 30, targetCount: 30, match: true })]);
  expect(rolledBack.warnings.join("\n")).toMatch(/rolled back: the old source takes the writes again/);

  // Done: the same inputs again change nothing; refresh does not query; destroy pauses nothing.
  expect(runtime.diff(id, rolledBack, commit).changes).toBe(false);
  const requests = mongosync.requests.length;
  await runtime.read(id, rolledBack);
  expect(mongosync.requests.length).toBe(requests);
  await runtime.destroy(id, rolledBack);
  expect(mongosync.count("pause")).toBe(0);
});

test("a rollback mongosync refuses (not started reversible) is reported with the reason and changes nothing", async () => {
  mongosync = await MongosyncEmulator.start({ version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 });
  const uris = await clusters();
  const { id, outs } = await runtime.create(inputsFor(uris, {}, { reversible: false }));
  const { outs: done } = await runtime.update(id, outs, inputsFor(uris, { cutover: true }, { reversible: false }));
  // check refuses it at preview already; an update that gets there anyway is refused before anything is sent.
  const asked = inputsFor(uris, { cutover: true }, { reversible: false, rollback: true });
  expect(runtime.check(done, asked).failures.map((f) => f.property)).toEqual(["mongosync.rollback"]);
  const err = await rejectionOf(runtime.update(id, done, asked));
  expect(err.message).toMatch(/mongosync.rollback/);
  expect(mongosync.count("reverse")).toBe(0);
});

test("M9 against mongosync: a refused /commit leaves the migration READY, and cutover: false is accepted again", async () => {
  mongosync = await MongosyncEmulator.start({ version: "1.19.0", copyTicks: 1, catchUpTicks: 1, verifierTicks: 0, commitTicks: 1 });
  const uris = await clusters();
  const { id, outs } = await runtime.create(inputsFor(uris));
  mongosync.inject({ endpoint: "commit", times: 5, fault: { kind: "envelope", status: 400, error: "InvalidStateError", errorDescription: "canCommit is false" } });
  const err = await rejectionOf(runtime.update(id, outs, inputsFor(uris, { cutover: true })));
  expect(mongosync.state).toBe("RUNNING");
  expect(err.properties.phase).not.toBe("CUTTING_OVER");
  expect(err.message).toMatch(/Nothing was committed/);
  expect(() => runtime.diff(id, err.properties, inputsFor(uris))).not.toThrow();
});

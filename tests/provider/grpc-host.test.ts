// The Migration provider inside the real dynamic-provider host from @pulumi/pulumi, driven over gRPC as the
// Pulumi engine drives it: configure → check → create → diff → update → read → delete.
//
// The host is a separate Node process started like the CLI starts it (cwd = the program directory, which is
// this repository), and the provider is the serialized text Pulumi stores in `__provider`. Two real engines
// run across that process boundary:
//   - builtin, over memory:// clusters created inside the host by a preloaded fixture (memory-fixture.js);
//     the fixture's control API then proves the data moved (counts and content hashes on the target);
//   - mongosync, against a MongosyncEmulator in this test process, with real-looking connection strings
//     whose passwords must never show up in what the host prints.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MongosyncEmulator } from "../../testing/mongosync-emulator";
import { COMPUTED_KEYS } from "../../provider/runtime";
import { UNKNOWN } from "../../provider/schema";
import { DynamicProviderHost, HostCallError, migrationUrn, type HostProps } from "../../testing/pulumi-host";
import { FixtureClient, fixtureEnv, MEMORY_FIXTURE } from "./support/fixture-client";
import { assertBuilt, REPO_ROOT, serializeShipped } from "./support/provider-text";

let providerText: string;
let tmp: string;

beforeAll(async () => {
  assertBuilt();
  // The text users get in state: serialized from the compiled package in a fresh process.
  providerText = serializeShipped().text;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-host-"));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** What the engine sends to check: the program's inputs plus the serialized provider. */
function withProvider(inputs: HostProps): HostProps {
  return { ...inputs, __provider: providerText };
}

/** Properties minus `__provider`, for readable assertions. */
function plain(props: HostProps): HostProps {
  const { __provider: _p, ...rest } = props;
  return rest;
}

describe("the dynamic-provider host: configure and check (no engine)", () => {
  let host: DynamicProviderHost;
  beforeAll(async () => {
    host = await DynamicProviderHost.start({ cwd: REPO_ROOT });
  });
  afterAll(async () => {
    await host?.stop();
  });

  const valid = {
    engine: "builtin",
    source: { uri: "mongodb://app:Pw-check-1@src.example:27017/?replicaSet=rs0" },
    target: { uri: "mongodb+srv://migrator:Pw-check-2@cluster0.abcde.mongodb.net" },
    namespaces: { include: ["shop.*"] },
    cutover: false,
    resourceName: "checked",
  };

  test("configure: the host declines secrets and previews, as the engine expects of dynamic providers", async () => {
    const answer = await host.configure({ "atlas-migration-test:anything": "x", "mongodbatlas:publicKey": "pubkey" });
    expect(answer).toEqual({ acceptSecrets: false, supportsPreview: false });
  });

  test("check: valid inputs pass and come back with __provider", async () => {
    const result = await host.check(migrationUrn("checked"), {}, withProvider(valid));
    expect(result.failures).toEqual([]);
    expect(result.inputs.__provider).toBe(providerText);
    expect(plain(result.inputs)).toEqual(valid);
  });

  test("check: bad inputs fail with the property named and a reason", async () => {
    const bad = {
      ...valid,
      engine: "rsync",
      source: { uri: "mongodb+srv://app:Pw-check-1@src.example:27017" },
      namespaces: { include: ["shop"] },
      cutover: "yes",
    };
    const result = await host.check(migrationUrn("checked"), {}, withProvider(bad));
    const byProperty = Object.fromEntries(result.failures.map((f) => [f.property, f.reason]));
    expect(Object.keys(byProperty).sort()).toEqual(["cutover", "engine", "namespaces.include[0]", "source.uri"]);
    expect(byProperty["source.uri"]).toMatch(/connection string/);
    expect(JSON.stringify(result.failures)).not.toContain("Pw-check-1");
  });

  test("check: values unknown during preview are not failures", async () => {
    const previewInputs = { ...valid, target: { uri: UNKNOWN }, namespaces: UNKNOWN, cutover: UNKNOWN };
    const result = await host.check(migrationUrn("checked"), {}, withProvider(previewInputs));
    expect(result.failures).toEqual([]);
  });

  test("check: an unknown __provider (changed provider in preview) falls back to the old one", async () => {
    const olds = withProvider(valid);
    const result = await host.check(migrationUrn("checked"), olds, { ...valid, __provider: UNKNOWN });
    expect(result.failures).toEqual([]);
  });
});

describe("the builtin engine over memory:// clusters inside the host process", () => {
  let host: DynamicProviderHost;
  let fixture: FixtureClient;
  const name = "mem-migration";
  const urn = migrationUrn(name);
  const inputs = {
    engine: "builtin",
    source: { uri: "memory://grpc-src" },
    target: { uri: "memory://grpc-dst" },
    namespaces: { include: ["shop.*"] },
    cutover: false,
    resourceName: name,
    timeouts: { pollSeconds: 0.05 },
  };

  beforeAll(async () => {
    const portFile = path.join(tmp, "fixture-port");
    host = await DynamicProviderHost.start({
      cwd: REPO_ROOT,
      preload: [MEMORY_FIXTURE],
      env: fixtureEnv(
        [
          { name: "grpc-src", historySeconds: 3600, seed: { db: "shop", coll: "orders", count: 300 } },
          { name: "grpc-dst" },
          { name: "slow-src", historySeconds: 86400, seed: { db: "shop", coll: "orders", count: 20000, padBytes: 200 } },
          { name: "slow-dst" },
          { name: "par-a-src", historySeconds: 3600, seed: { db: "shop", coll: "orders", count: 400 } },
          { name: "par-a-dst" },
          { name: "par-b-src", historySeconds: 3600, seed: { db: "shop", coll: "orders", count: 700 } },
          { name: "par-b-dst" },
        ],
        portFile,
      ),
    });
    fixture = await FixtureClient.connect(portFile);
    await host.configure({});
  });
  afterAll(async () => {
    await host?.stop();
  });

  let created: { id: string; properties: HostProps };

  test("create: preflight, copy and catch-up run in the host; every output comes back with the inputs", async () => {
    const checked = await host.check(urn, {}, withProvider(inputs));
    expect(checked.failures).toEqual([]);
    created = await host.create(urn, checked.inputs);
    expect(created.id).toMatch(new RegExp(`^${name}-[0-9a-f]{12}$`));
    const outs = created.properties;
    expect(outs.__provider).toBe(providerText);
    for (const key of COMPUTED_KEYS) expect(outs).toHaveProperty(key);
    expect(outs).toMatchObject({ ...inputs, migrationId: created.id, phase: "READY_FOR_CUTOVER", engine: "builtin" });
    expect(outs.handle).toMatchObject({ engine: "builtin", id: created.id });
    expect(outs.progress).toMatchObject({ copiedDocuments: 300, totalDocuments: 300, percent: 100 });

    const source = await fixture.summary("grpc-src", "shop", "orders");
    const target = await fixture.summary("grpc-dst", "shop", "orders");
    expect(target).toEqual(source);
    expect(target.count).toBe(300);
    // Progress lines reach the host's stdout (which the CLI shows in `pulumi up`), prefixed with the resource.
    await host.waitForLine(new RegExp(`^\\[${name}\\] .*READY_FOR_CUTOVER`));
  });

  test("diff: the cutover flip is an in-place update; a new source is a delete-before-replace", async () => {
    const olds = created.properties;
    const flip = await host.diff(urn, created.id, olds, withProvider({ ...inputs, cutover: true }));
    expect(flip).toEqual({ changes: "DIFF_SOME", replaces: [], deleteBeforeReplace: false, stables: [] });

    const moved = await host.diff(urn, created.id, olds, withProvider({ ...inputs, source: { uri: "memory://slow-src" } }));
    expect(moved).toMatchObject({ changes: "DIFF_SOME", replaces: ["source"], deleteBeforeReplace: true });

    const previewing = await host.diff(urn, created.id, olds, withProvider({ ...inputs, cutover: UNKNOWN, namespaces: UNKNOWN }));
    expect(previewing.changes).toBe("DIFF_SOME");
  });

  test("diff: the same inputs again (every later `pulumi up`) are no change", async () => {
    const same = await host.diff(urn, created.id, created.properties, withProvider(inputs));
    expect(same).toEqual({ changes: "DIFF_NONE", replaces: [], deleteBeforeReplace: false, stables: [] });
  });

  let completed: HostProps;

  test("update with cutover: writes made since create are replayed, then the migration is COMPLETE and verified", async () => {
    const late = Array.from({ length: 25 }, (_, i) => ({ _id: 1000 + i, sku: `late-${i}`, qty: i }));
    await fixture.insert("grpc-src", "shop", "orders", late);
    const news = (await host.check(urn, plain(created.properties), withProvider({ ...inputs, cutover: true }))).inputs;
    const updated = await host.update(urn, created.id, created.properties, news);
    completed = updated.properties;
    expect(completed).toMatchObject({ phase: "COMPLETE", cutover: true, migrationId: created.id, lagSeconds: 0 });
    expect(completed.cutoverCompletedAt).toEqual(expect.any(String));
    expect(completed.verification).toMatchObject({ passed: true });
    expect(completed.__provider).toBe(providerText);

    const source = await fixture.summary("grpc-src", "shop", "orders");
    const target = await fixture.summary("grpc-dst", "shop", "orders");
    expect(target.count).toBe(325);
    expect(target.hash).toBe(source.hash);
    await host.waitForLine(new RegExp(`^\\[${name}\\] cutover COMPLETE`));
  });

  test("diff: cutover true→false after COMPLETE is an error that says why", async () => {
    const attempt = host.diff(urn, created.id, completed, withProvider({ ...inputs, cutover: false }));
    await expect(attempt).rejects.toThrow(/COMPLETE and cannot be undone/);
  });

  test("a provider upgrade reaches a finished migration: diff reports it and update stores the new __provider", async () => {
    // What a new package version looks like to the engine: another providerVersion and another provider text.
    const upgradedText = `${providerText}\n// upgraded provider build\n`;
    const news = { ...plain(completed), ...inputs, cutover: true, providerVersion: "99.0.0", __provider: upgradedText };
    for (const key of COMPUTED_KEYS) if (key !== "engine") delete (news as HostProps)[key];
    const upgrade = await host.diff(urn, created.id, completed, news);
    expect(upgrade).toMatchObject({ changes: "DIFF_SOME", replaces: [] });
    const updated = await host.update(urn, created.id, completed, news);
    // read and delete run the code stored in state: from now on, the upgraded text.
    expect(updated.properties.__provider).toBe(upgradedText);
    expect(updated.properties).toMatchObject({ phase: "COMPLETE", providerVersion: "99.0.0", cutoverCompletedAt: completed.cutoverCompletedAt });
    // A finished migration is not driven again by the upgrade.
    expect((await fixture.summary("grpc-dst", "shop", "orders")).count).toBe(325);
    completed = updated.properties;
  });

  test("read (refresh) keeps the finished migration and returns inputs without computed keys", async () => {
    const read = await host.read(urn, created.id, completed, plain(created.properties));
    expect(read.id).toBe(created.id);
    expect(read.properties).toMatchObject({ phase: "COMPLETE", migrationId: created.id });
    expect(read.properties.__provider).toBe(completed.__provider);
    expect(read.inputs).toBeDefined();
    for (const key of COMPUTED_KEYS.filter((k) => k !== "engine")) expect(read.inputs).not.toHaveProperty(key);
    expect(read.inputs).toMatchObject({ source: inputs.source, target: inputs.target, cutover: true });
  });

  test("delete keeps the target data", async () => {
    await host.delete(urn, created.id, completed);
    expect((await fixture.summary("grpc-dst", "shop", "orders")).count).toBe(325);
    await host.waitForLine(new RegExp(`^\\[${name}\\] removed from the stack; target data is kept`));
  });

  test("one host serves several migrations at once (the engine runs up to 16 operations in parallel)", async () => {
    const one = (letter: string) => ({
      ...inputs,
      source: { uri: `memory://par-${letter}-src` },
      target: { uri: `memory://par-${letter}-dst` },
      resourceName: `par-${letter}`,
    });
    const [a, b] = await Promise.all(
      ["a", "b"].map(async (letter) => {
        const news = (await host.check(migrationUrn(`par-${letter}`), {}, withProvider(one(letter)))).inputs;
        return host.create(migrationUrn(`par-${letter}`), news);
      }),
    );
    expect(a.properties).toMatchObject({ phase: "READY_FOR_CUTOVER", resourceName: "par-a", progress: { copiedDocuments: 400 } });
    expect(b.properties).toMatchObject({ phase: "READY_FOR_CUTOVER", resourceName: "par-b", progress: { copiedDocuments: 700 } });
    expect(a.id).not.toBe(b.id);
    for (const letter of ["a", "b"]) {
      expect(await fixture.summary(`par-${letter}-dst`, "shop", "orders")).toEqual(await fixture.summary(`par-${letter}-src`, "shop", "orders"));
    }
    // Each line names the migration it is about: a's copy count never shows up under b's prefix and back.
    expect(host.stdout.filter((l) => l.startsWith("[par-a]") && l.includes("700 documents"))).toEqual([]);
    expect(host.stdout.filter((l) => l.startsWith("[par-b]") && l.includes("400 documents"))).toEqual([]);
    expect(host.stdout.some((l) => l.startsWith("[par-b]") && l.includes("700 documents"))).toBe(true);
  });

  test("a create that runs out of its own deadline returns the partial-initialization shape; updates resume it", async () => {
    const slowName = "slow-migration";
    const slowUrn = migrationUrn(slowName);
    const slowInputs = {
      ...inputs,
      source: { uri: "memory://slow-src" },
      target: { uri: "memory://slow-dst" },
      resourceName: slowName,
      timeouts: { createMinutes: 0.001, pollSeconds: 0.05 },
    };
    const news = (await host.check(slowUrn, {}, withProvider(slowInputs))).inputs;
    const failure = await host.create(slowUrn, news).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(HostCallError);
    const init = (failure as HostCallError).initFailure!;
    if (!init) throw failure; // a plain error: show it
    expect(init.id).toMatch(new RegExp(`^${slowName}-[0-9a-f]{12}$`));
    expect(init.reasons.length).toBeGreaterThan(0);
    expect(init.reasons[0]).toMatch(/pulumi up/);
    expect(init.properties.__provider).toBe(providerText);
    expect(init.properties.handle).toMatchObject({ engine: "builtin", id: init.id });
    expect(init.properties.phase).not.toBe("READY_FOR_CUTOVER");

    // The engine saves those properties and calls update on the next `pulumi up`, even with no diff. Each
    // update drives the same migration further (same handle), never from scratch.
    let state = init.properties;
    const copied: number[] = [state.progress?.copiedDocuments ?? 0];
    let partials = 1;
    for (let round = 0; round < 200 && state.phase !== "READY_FOR_CUTOVER"; round++) {
      try {
        state = (await host.update(slowUrn, init.id, state, news)).properties;
      } catch (err) {
        const again = (err as HostCallError).initFailure;
        if (!again) throw err;
        expect(again.id).toBe(init.id);
        state = again.properties;
        partials++;
      }
      expect(state.handle.id).toBe(init.properties.handle.id);
      copied.push(state.progress?.copiedDocuments ?? 0);
    }
    expect(state.phase).toBe("READY_FOR_CUTOVER");
    expect(copied).toEqual([...copied].sort((a, b) => a - b));
    expect(copied[copied.length - 1]).toBe(20000);
    console.log(`slow create: 1 partial create, ${partials - 1} partial updates before READY_FOR_CUTOVER`);
    const source = await fixture.summary("slow-src", "shop", "orders");
    expect(await fixture.summary("slow-dst", "shop", "orders")).toEqual(source);
  });
});

describe("the mongosync engine, host process → MongosyncEmulator in this process", () => {
  const PASSWORDS = ["Src-Grpc-Pa55-41d7", "Tgt-Grpc-Pa55-93be"];
  let host: DynamicProviderHost;
  let mongosync: MongosyncEmulator;
  const name = "sync-migration";
  const urn = migrationUrn(name);
  let inputs: HostProps;

  beforeAll(async () => {
    // advanceOnProgress off: the test decides when mongosync makes progress, so nothing depends on timing.
    mongosync = await MongosyncEmulator.start({ version: "1.19.0", advanceOnProgress: false, commitTicks: 1 });
    inputs = {
      engine: "mongosync",
      source: { uri: `mongodb://app:${PASSWORDS[0]}@src1.example:27017,src2.example:27017/?replicaSet=rs0` },
      target: { uri: `mongodb+srv://migrator:${PASSWORDS[1]}@cluster0.abcde.mongodb.net` },
      mongosync: { urls: [mongosync.url], version: "1.19.0" },
      cutover: false,
      resourceName: name,
      timeouts: { createMinutes: 0.001, pollSeconds: 1 },
    };
    host = await DynamicProviderHost.start({ cwd: REPO_ROOT });
    await host.configure({});
  });
  afterAll(async () => {
    await host?.stop();
    await mongosync?.stop();
  });

  let state: HostProps;
  let id: string;

  test("create returns partial initialization while mongosync copies; the next update finds it caught up", async () => {
    const news = (await host.check(urn, {}, withProvider(inputs))).inputs;
    const failure = await host.create(urn, news).then(
      () => undefined,
      (err: unknown) => err as HostCallError,
    );
    expect(failure).toBeInstanceOf(HostCallError);
    const init = failure!.initFailure!;
    if (!init) throw failure; // a plain error: show it
    expect(mongosync.count("start")).toBe(1);
    expect(init.properties).toMatchObject({ engine: "mongosync", handle: { engine: "mongosync" } });
    expect(init.properties.__provider).toBe(providerText);
    id = init.id;

    mongosync.advance(10); // copy, catch-up and verifier done
    state = (await host.update(urn, id, init.properties, news)).properties;
    expect(state).toMatchObject({ phase: "READY_FOR_CUTOVER", migrationId: id, engine: "mongosync" });
    expect(mongosync.count("start")).toBe(1); // resumed, not started again
  });

  test("update with cutover commits through mongosync and stores COMPLETE", async () => {
    mongosync.machine.options.advanceOnProgress = true;
    const news = (await host.check(urn, plain(state), withProvider({ ...inputs, cutover: true, timeouts: { pollSeconds: 1 } }))).inputs;
    const flip = await host.diff(urn, id, state, news);
    expect(flip).toMatchObject({ changes: "DIFF_SOME", replaces: [] });
    state = (await host.update(urn, id, state, news)).properties;
    expect(state).toMatchObject({ phase: "COMPLETE", cutover: true });
    expect(state.verification).toMatchObject({ mode: "engine", passed: true });
    expect(mongosync.count("commit")).toBe(1);
  });

  test("read and delete work from the stored state", async () => {
    const read = await host.read(urn, id, state);
    expect(read.properties.phase).toBe("COMPLETE");
    await host.delete(urn, id, state);
  });

  test("what the host printed is prefixed with the resource name and holds no password", async () => {
    await host.waitForLine(new RegExp(`^\\[${name}\\] cutover COMPLETE`));
    const printed = host.output();
    for (const password of PASSWORDS) expect(printed).not.toContain(password);
    const providerLines = host.stdout.slice(1).filter((l) => l.trim() !== "");
    expect(providerLines.length).toBeGreaterThan(3);
    for (const line of providerLines) expect(line).toMatch(new RegExp(`^\\[${name}\\] `));
  });
});

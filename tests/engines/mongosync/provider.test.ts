// The mongosync engine behind the real Migration provider runtime (create → read → cutover update → delete),
// against emulators. The runtime uses the real clock, so polls are set to 20 ms and emulators advance per poll.
import * as runtime from "../../../provider/runtime";
import type { MongosyncEmulator } from "../../../testing/mongosync-emulator";
import { emulator, stopEmulators } from "./helpers";

const SRC = "mongodb://app:s3cretPw@src1.example.com:27017/?replicaSet=rs0";
const TGT = "mongodb+srv://migrator:t4rgetPw@orders.abcde.mongodb.net/";

function inputs(urls: string[], over: Record<string, unknown> = {}) {
  return {
    __provider: "serialized-provider-text",
    resourceName: "orders",
    providerVersion: "0.1.0",
    engine: "mongosync",
    source: { uri: SRC },
    target: { uri: TGT },
    mongosync: { urls, version: "1.22.0" },
    timeouts: { pollSeconds: 0.02, createMinutes: 1, cutoverMinutes: 1 },
    cutover: false,
    ...over,
  };
}

let logged: string[] = [];
beforeEach(() => {
  logged = [];
  jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    logged.push(args.join(" "));
  });
});
afterEach(async () => {
  jest.restoreAllMocks();
  await stopEmulators();
});

function calls(emulators: MongosyncEmulator[], from: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  emulators.forEach((e, i) => {
    for (const r of e.requests.slice(from[i])) out[r.endpoint] = (out[r.endpoint] ?? 0) + 1;
  });
  return out;
}

describe("Migration provider with engine mongosync", () => {
  it.each([1, 2])("create → read → cutover → delete with %i mongosync instance(s)", async (n) => {
    const emulators: MongosyncEmulator[] = [];
    for (let i = 0; i < n; i++) emulators.push(await emulator({ id: `ms-${i}`, shareOfCopy: 1 / n }));
    const urls = emulators.map((e) => e.url);
    const mark = () => emulators.map((e) => e.requests.length);
    const perStep: string[] = [];

    let at = mark();
    const { id, outs } = await runtime.create(inputs(urls));
    perStep.push(`create=${JSON.stringify(calls(emulators, at))}`);
    expect(outs).toMatchObject({ engine: "mongosync", phase: "READY_FOR_CUTOVER", lagSeconds: 2 });
    expect(outs.handle).toMatchObject({ engine: "mongosync", data: { instances: n } });
    expect(JSON.stringify(outs.handle)).not.toContain("127.0.0.1");

    at = mark();
    const refreshed = await runtime.read(id, outs);
    perStep.push(`read=${JSON.stringify(calls(emulators, at))}`);
    expect(refreshed.props.phase).toBe("READY_FOR_CUTOVER");
    expect(calls(emulators, at)).toEqual({ progress: n });

    at = mark();
    const { outs: done } = await runtime.update(id, outs, inputs(urls, { cutover: true }));
    perStep.push(`update(cutover)=${JSON.stringify(calls(emulators, at))}`);
    expect(done).toMatchObject({ phase: "COMPLETE", verification: { mode: "engine", passed: true } });
    expect(emulators.map((e) => e.state)).toEqual(emulators.map(() => "COMMITTED"));
    expect(emulators.map((e) => e.count("commit"))).toEqual(emulators.map(() => 1));

    at = mark();
    await runtime.destroy(id, done);
    perStep.push(`delete=${JSON.stringify(calls(emulators, at))}`);
    expect(calls(emulators, at)).toEqual({}); // COMPLETE: forget, no call
    expect(logged.join("\n")).not.toMatch(/s3cretPw|t4rgetPw/);
    process.stdout.write(`mongosync via provider, ${n} instance(s): ${perStep.join("; ")}\n`);
  });

  it("delete before cutover pauses mongosync and keeps the data", async () => {
    const e = await emulator();
    const { id, outs } = await runtime.create(inputs([e.url]));
    await runtime.destroy(id, outs);
    expect(e.state).toBe("PAUSED");
    expect(logged.join("\n")).toContain("paused mongosync");
  });

  it("a create that runs out of time is kept (partial) and the next update resumes without a second /start", async () => {
    const e = await emulator({ advanceOnProgress: false });
    const err = (await runtime.create(inputs([e.url], { timeouts: { pollSeconds: 0.02, createMinutes: 0.005 } })).catch((x: unknown) => x)) as {
      id: string;
      properties: Record<string, any>;
      message: string;
    };
    expect(err.message).toContain("not caught up");
    expect(err.properties.handle.engine).toBe("mongosync");
    e.advance(10);
    e.machine.options.advanceOnProgress = true;
    const { outs } = await runtime.update(err.id, err.properties, inputs([e.url]));
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
    expect(e.count("start")).toBe(1);
  });

  it("preflight refuses an unknown mongosync version with write blocking, and nothing is started", async () => {
    const e = await emulator();
    const err = (await runtime.create(inputs([e.url], { mongosync: { urls: [e.url] } })).catch((x: unknown) => x)) as Error;
    expect(err.message).toContain("MONGOSYNC_VERSION_UNKNOWN");
    expect(err.message).toContain("mongosync --version");
    expect(e.count("start")).toBe(0);
  });
});

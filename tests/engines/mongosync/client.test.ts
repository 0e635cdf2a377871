// The mongosync HTTP client against the emulator: envelopes, retries, redaction and multi-instance fan-out.
import * as http from "http";
import type { AddressInfo } from "net";
import { MongosyncApiError, MongosyncFanOutError, MongosyncClient, MongosyncInstance, MongosyncUnreachableError } from "../../../provider/engines/mongosync/client";
import { combineProgress } from "../../../provider/engines/mongosync/progress";
import type { MongosyncProgress } from "../../../provider/engines/mongosync/types";
import { makeContext } from "../../support/context";
import { deadUrl, emulator, stopEmulators } from "./helpers";

afterEach(stopEmulators);

function clientFor(urls: string[], deadlineMs = 60_000) {
  const ctx = makeContext({ deadlineMs });
  const client = new MongosyncClient(urls, { clock: ctx, deadline: ctx.deadline, log: (l) => ctx.log(l), random: () => 0.5 });
  return { ctx, client };
}

describe("MongosyncInstance", () => {
  it("reads progress and sends commands with a JSON body, {} when body-less", async () => {
    const e = await emulator({ advanceOnProgress: false });
    const { client } = clientFor([e.url]);
    const [first] = await client.progressEach();
    expect(first.progress.state).toBe("IDLE");
    await client.commandEach("start", { source: "cluster0", destination: "cluster1" });
    await client.commandEach("pause");
    expect(e.requests.map((r) => [r.method, r.endpoint, r.body])).toEqual([
      ["GET", "progress", undefined],
      ["POST", "start", { source: "cluster0", destination: "cluster1" }],
      ["POST", "pause", {}],
    ]);
    expect(e.state).toBe("PAUSED");
  });

  it("accepts a URL that already ends in /api/v1", async () => {
    const e = await emulator();
    const { client } = clientFor([`${e.url}/api/v1/`]);
    await client.progressEach();
    expect(e.requests[0].path).toBe("/api/v1/progress");
  });

  it("turns an error envelope into MongosyncApiError with mongosync's words and what to do, without retrying", async () => {
    const e = await emulator();
    const { client } = clientFor([e.url]);
    const err = await client.commandEach("commit").catch((x: unknown) => x);
    expect(err).toBeInstanceOf(MongosyncApiError);
    const api = err as MongosyncApiError;
    expect(api.httpStatus).toBe(400);
    expect(api.mongosyncError).toBe("InvalidStateTransition");
    expect(api.message).toContain("POST /api/v1/commit");
    expect(api.message).toContain("/commit requires RUNNING");
    expect(api.message).toContain("canCommit: true"); // the action
    expect(e.count("commit")).toBe(1);
  });

  it("redacts cluster credentials that mongosync quotes in an error", async () => {
    const e = await emulator();
    e.inject({
      endpoint: "start",
      fault: { kind: "envelope", error: "ConnectionFailed", errorDescription: "could not connect to mongodb://admin:hunter22@db.internal:27017/?authSource=admin" },
    });
    const { client } = clientFor([e.url]);
    const err = (await client.commandEach("start", { source: "cluster0", destination: "cluster1" }).catch((x: unknown) => x)) as MongosyncApiError;
    expect(err.message).toContain("mongodb://admin:****@db.internal:27017");
    expect(err.message).not.toContain("hunter22");
    expect(err.description).not.toContain("hunter22");
  });

  it("retries 500s without an envelope and connection resets, then succeeds", async () => {
    const e = await emulator({ advanceOnProgress: false });
    e.inject({ endpoint: "progress", times: 2, fault: { kind: "http500" } });
    e.inject({ endpoint: "progress", fault: { kind: "reset" } });
    const { client, ctx } = clientFor([e.url]);
    const started = ctx.now();
    const [p] = await client.progressEach();
    expect(p.progress.state).toBe("IDLE");
    expect(e.count("progress")).toBe(4);
    expect(ctx.now()).toBeGreaterThan(started); // it backed off on the virtual clock
    expect(ctx.lines.filter((l) => l.includes("retrying"))).toHaveLength(3);
  });

  it("retries a 5xx error envelope on a read, but never on a command", async () => {
    const e = await emulator();
    e.inject({ endpoint: "progress", fault: { kind: "envelope", status: 503, error: "NotReady", errorDescription: "still initializing" } });
    e.inject({ endpoint: "start", fault: { kind: "envelope", status: 503, error: "NotReady", errorDescription: "still initializing" } });
    const { client } = clientFor([e.url]);
    await client.progressEach();
    expect(e.count("progress")).toBe(2);
    await expect(client.commandEach("start", { source: "cluster0", destination: "cluster1" })).rejects.toBeInstanceOf(MongosyncApiError);
    expect(e.count("start")).toBe(1);
  });

  it("says the URL looks wrong when the answer is not the API, without retrying", async () => {
    const e = await emulator();
    e.inject({ fault: { kind: "html" } });
    const { client } = clientFor([e.url]);
    const err = (await client.progressEach().catch((x: unknown) => x)) as MongosyncApiError;
    expect(err).toBeInstanceOf(MongosyncApiError);
    expect(err.mongosyncError).toBe("UnexpectedResponse");
    expect(err.message).toContain("is this URL a mongosync API?");
    expect(e.count()).toBe(1);
  });

  it("gives up on an unreachable mongosync at the deadline with an actionable error", async () => {
    const url = await deadUrl();
    const { client, ctx } = clientFor([url], 30_000);
    const err = (await client.progressEach().catch((x: unknown) => x)) as MongosyncUnreachableError;
    expect(err).toBeInstanceOf(MongosyncUnreachableError);
    expect(err.attempts).toBeGreaterThan(1);
    expect(err.message).toContain("ECONNREFUSED");
    expect(err.message).toContain("27182");
    expect(ctx.now()).toBeLessThanOrEqual(ctx.deadline);
  });

  it("times a hung request out and retries it", async () => {
    let calls = 0;
    const server = http.createServer((req, res) => {
      calls += 1;
      if (calls === 1) return; // never answer the first request
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ success: true, progress: { state: "IDLE", canCommit: false } }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const ctx = makeContext();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const instance = new MongosyncInstance(url, { clock: ctx, deadline: ctx.deadline, requestTimeoutMs: 100 });
      expect((await instance.progress()).state).toBe("IDLE");
      expect(calls).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("refuses URLs that are not http(s)", () => {
    const ctx = makeContext();
    expect(() => new MongosyncClient(["mongodb://user:pw@host:27017"], { clock: ctx, deadline: ctx.deadline })).toThrow(/must start with http/);
    expect(() => new MongosyncClient(["mongodb://user:pw@host:27017"], { clock: ctx, deadline: ctx.deadline })).not.toThrow(/pw@/);
    expect(() => new MongosyncClient([], { clock: ctx, deadline: ctx.deadline })).toThrow(/urls is empty/);
  });
});

describe("MongosyncClient fan-out over several instances", () => {
  it("sends a command to every instance and reads progress from all", async () => {
    const a = await emulator();
    const b = await emulator();
    const { client } = clientFor([a.url, b.url]);
    await client.commandEach("start", { source: "cluster0", destination: "cluster1" });
    expect([a.state, b.state]).toEqual(["RUNNING", "RUNNING"]);
    const each = await client.progressEach();
    expect(each.map((i) => i.index)).toEqual([0, 1]);
    expect(a.count("progress") + b.count("progress")).toBe(2);
  });

  it("only to the chosen instances", async () => {
    const a = await emulator();
    const b = await emulator();
    const { client } = clientFor([a.url, b.url]);
    await client.commandEach("start", { source: "cluster0", destination: "cluster1" }, [1]);
    expect([a.state, b.state]).toEqual(["IDLE", "RUNNING"]);
  });

  it("waits for every instance before reporting, and says what each instance did", async () => {
    const a = await emulator();
    const b = await emulator();
    const c = await emulator();
    b.setState("RUNNING");
    c.setState("RUNNING");
    const { client } = clientFor([a.url, b.url, c.url]);
    const err = (await client.commandEach("start", { source: "cluster0", destination: "cluster1" }).catch((x: unknown) => x)) as Error;
    expect(err).toBeInstanceOf(MongosyncFanOutError);
    expect((err as MongosyncFanOutError).outcomes.map((o) => o.outcome)).toEqual(["accepted", "refused", "refused"]);
    expect(err.message).toContain(`instance 1 (${b.url}) refused it`);
    expect(a.state).toBe("RUNNING"); // the healthy instance still got its call
  });
});

describe("combineProgress", () => {
  const p = (over: Partial<MongosyncProgress>): MongosyncProgress => ({ state: "RUNNING", canCommit: true, canWrite: false, info: "change event application", ...over });
  const combine = (...ps: MongosyncProgress[]) => combineProgress(ps.map((progress, index) => ({ index, url: `u${index}`, progress })));

  it("takes the slowest state, canCommit only when all can, the largest lag and summed copy bytes", () => {
    const c = combine(
      p({ lagTimeSeconds: 3, collectionCopy: { estimatedTotalBytes: 1000, estimatedCopiedBytes: 600 } }),
      p({ canCommit: false, lag: { overallLagSeconds: 40 }, lagTimeSeconds: 40, collectionCopy: { estimatedTotalBytes: 1000, estimatedCopiedBytes: 400 } }),
    );
    expect(c.state).toBe("RUNNING");
    expect(c.canCommit).toBe(false);
    expect(c.lagSeconds).toBe(40);
    expect(c.copiedBytes).toBe(1000);
    expect(c.totalBytes).toBe(1000);
  });

  it("mixed states resolve to the least advanced one, a paused instance pauses the whole", () => {
    expect(combine(p({ state: "COMMITTED" }), p({ state: "COMMITTING" })).state).toBe("COMMITTING");
    expect(combine(p({ state: "RUNNING" }), p({ state: "PAUSED" })).state).toBe("PAUSED");
    expect(combine(p({ state: "IDLE" }), p({ state: "RUNNING" })).state).toBe("IDLE");
    expect(combine(p({ state: "RUNNING" }), p({ state: "EXPLODED" })).state).toBe("EXPLODED");
  });

  it("M14: trusts only the coordinator's canWrite, wherever it is listed, and the least advanced verifier phase", () => {
    const side = (phase: string, lag: number) => ({ phase, lagTimeSeconds: lag });
    const ids = (own: string) => ({ mongosyncID: own, coordinatorID: "coord" });
    const c = combine(
      p({ state: "COMMITTING", canWrite: true, ...ids("other"), verification: { source: side("stream hashing", 1), destination: side("stream hashing", 2) } }),
      p({ state: "COMMITTING", canWrite: false, ...ids("coord"), verification: { source: side("initial hashing", 9), destination: side("stream hashing", 1) } }),
    );
    expect(c.coordinatorIndex).toBe(1);
    expect(c.canWrite).toBe(false); // the first URL says true, but it is not the coordinator
    expect(combine(p({ state: "COMMITTING", canWrite: false, ...ids("other") }), p({ state: "COMMITTING", canWrite: true, ...ids("coord") })).canWrite).toBe(true);
    // No coordinator known (pre-1.3): writable only once every instance COMMITTED.
    expect(combine(p({ state: "COMMITTING", canWrite: true }), p({ state: "COMMITTING", canWrite: true })).canWrite).toBe(false);
    expect(c.verifier).toEqual({ present: true, phase: "initial hashing", lagSeconds: 9 });
  });

  it("treats the 1/0 byte placeholder before the copy as unknown", () => {
    const c = combine(p({ collectionCopy: { estimatedTotalBytes: 1, estimatedCopiedBytes: 0 } }));
    expect(c.copiedBytes).toBeUndefined();
    expect(c.totalBytes).toBeUndefined();
  });
});

// MongosyncEmulator: a local HTTP server that behaves like one mongosync process's /api/v1/* API, for tests.
//
//   const mongosync = await MongosyncEmulator.start({ version: "1.19.0" });
//   … spec.mongosync.urls = [mongosync.url] …
//   mongosync.inject({ endpoint: "progress", kind: "http500" });   // the next /progress fails once
//   expect(mongosync.count("commit")).toBe(1);
//   await mongosync.stop();
//
// The state machine (states, canCommit/canWrite, lag, copy bytes, verifier, version quirks) is in
// mongosync-emulator/machine.ts; this file adds the HTTP surface, fault injection and the request log.
// Error envelopes are `{success:false, error, errorDescription}` as documented; their HTTP status (400 for a
// refused command, 404 for an unknown path) is UNCONFIRMED — the docs only describe the JSON.
import * as http from "http";
import type { AddressInfo, Socket } from "net";
import { MongosyncGroup, MongosyncMachine, type BlockingAnswer, type EmulatedState, type MongosyncEmulatorOptions } from "./mongosync-emulator/machine";

export type { EmulatedState, MongosyncEmulatorOptions } from "./mongosync-emulator/machine";
export { MongosyncGroup, MongosyncMachine } from "./mongosync-emulator/machine";

export type MongosyncEndpoint = "start" | "pause" | "resume" | "commit" | "reverse" | "progress" | "info";

/**
 * A failure served instead of (or after) the normal handling of one matching request.
 * - http500: `500` with a plain-text body (no envelope): a crashed handler or a proxy in front of mongosync.
 * - reset: the connection is destroyed without an answer. With `after: true` the command is applied first
 *   (the answer is lost, the state changed), which is what makes retried commands interesting.
 * - envelope: an error envelope with the given status, e.g. a refusal mongosync would not normally send.
 * - html: a `200` HTML page, as if the URL pointed at something that is not mongosync.
 */
export type MongosyncFault =
  | { kind: "http500" }
  | { kind: "reset"; after?: boolean }
  | { kind: "envelope"; status?: number; error: string; errorDescription: string }
  | { kind: "html" };

export interface InjectedFault {
  /** Only requests to this endpoint match; any endpoint when omitted. */
  endpoint?: MongosyncEndpoint;
  /** How many matching requests fail. Default 1. */
  times?: number;
  /** Let this many matching requests through first. Default 0. */
  skip?: number;
  fault: MongosyncFault;
}

export interface LoggedRequest {
  method: string;
  path: string;
  endpoint: string;
  body?: unknown;
  status: number | "reset";
  /** The `progress` document served, for GET /progress. */
  progress?: Record<string, unknown>;
  /** The state after the request was handled. */
  stateAfter: string;
  fault?: MongosyncFault["kind"];
}

export class MongosyncEmulator {
  readonly machine: MongosyncMachine;
  readonly requests: LoggedRequest[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private faults: Array<{ endpoint?: MongosyncEndpoint; skip: number; remaining: number; fault: MongosyncFault }> = [];
  private port = 0;

  private constructor(options: MongosyncEmulatorOptions) {
    this.machine = new MongosyncMachine(options);
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  /**
   * Several mongosync processes of one migration (one per source shard): /commit and /reverse block until every
   * one of them received the command (see machine.ts, MongosyncGroup). The first is the coordinator unless the
   * options say otherwise: every member reports the coordinator's id as coordinatorID.
   */
  static async startGroup(members: MongosyncEmulatorOptions[], opts: { coordinator?: number } = {}): Promise<MongosyncEmulator[]> {
    const group = new MongosyncGroup();
    const ids = members.map((m, i) => m.id ?? `mongosync-shard-${i}-${Math.random().toString(16).slice(2, 8)}`);
    const coordinatorId = ids[opts.coordinator ?? 0];
    const emulators = await Promise.all(
      members.map((m, i) => MongosyncEmulator.start({ ...m, id: ids[i], coordinatorId: m.coordinatorId ?? coordinatorId, sharded: m.sharded ?? true })),
    );
    for (const e of emulators) group.join(e.machine);
    return emulators;
  }

  /** Starts a server on 127.0.0.1 at a free port. */
  static async start(options: MongosyncEmulatorOptions = {}): Promise<MongosyncEmulator> {
    const emulator = new MongosyncEmulator(options);
    await new Promise<void>((resolve, reject) => {
      emulator.server.once("error", reject);
      emulator.server.listen(0, "127.0.0.1", () => resolve());
    });
    emulator.port = (emulator.server.address() as AddressInfo).port;
    return emulator;
  }

  /** Base URL, e.g. http://127.0.0.1:41234 (the API lives under /api/v1). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get state(): string {
    return this.machine.progress().state as string;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Lets `ticks` units of time pass (see machine.ts). */
  advance(ticks = 1): void {
    for (let i = 0; i < ticks; i++) this.machine.tick();
  }

  setState(state: EmulatedState, opts: { runTicks?: number; source?: "cluster0" | "cluster1" } = {}): void {
    this.machine.setState(state, opts);
  }

  /** Queues a fault for the next matching request(s). */
  inject(fault: InjectedFault): void {
    this.faults.push({ endpoint: fault.endpoint, skip: fault.skip ?? 0, remaining: fault.times ?? 1, fault: fault.fault });
  }

  /** Requests received, optionally only those to one endpoint (faulted ones included). */
  count(endpoint?: MongosyncEndpoint): number {
    return endpoint === undefined ? this.requests.length : this.requests.filter((r) => r.endpoint === endpoint).length;
  }

  private takeFault(endpoint: string): MongosyncFault | undefined {
    const index = this.faults.findIndex((f) => f.remaining > 0 && (f.endpoint === undefined || f.endpoint === endpoint));
    if (index < 0) return undefined;
    const entry = this.faults[index];
    if (entry.skip > 0) {
      entry.skip -= 1;
      return undefined;
    }
    entry.remaining -= 1;
    if (entry.remaining === 0) this.faults.splice(index, 1);
    return entry.fault;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0];
      const endpoint = path.startsWith("/api/v1/") ? path.slice("/api/v1/".length) : path;
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      let badJson = false;
      if (text !== "") {
        try {
          body = JSON.parse(text);
        } catch {
          badJson = true;
        }
      }
      const entry: LoggedRequest = { method: req.method ?? "GET", path, endpoint, body, status: 0, stateAfter: "" };
      this.requests.push(entry);
      const reply = (status: number, payload: unknown, contentType = "application/json") => {
        entry.status = status;
        entry.stateAfter = this.state;
        const out = typeof payload === "string" ? payload : JSON.stringify(payload);
        res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(out) });
        res.end(out);
      };
      const resetConnection = () => {
        entry.status = "reset";
        entry.stateAfter = this.state;
        req.socket.destroy();
      };

      const fault = this.takeFault(endpoint);
      if (fault) {
        entry.fault = fault.kind;
        if (fault.kind === "http500") return reply(500, "Internal Server Error", "text/plain");
        if (fault.kind === "html") return reply(200, "<html><body>Welcome to nginx!</body></html>", "text/html");
        if (fault.kind === "envelope") {
          // Before 1.8 a failed /progress answers only `error`, "a detailed description" (v1.7 progress-error-response.rst).
          if (endpoint === "progress" && !this.machine.progressHasSuccess) return reply(fault.status ?? 400, { error: `${fault.error}: ${fault.errorDescription}` });
          return reply(fault.status ?? 400, { success: false, error: fault.error, errorDescription: fault.errorDescription });
        }
        if (fault.kind === "reset" && !fault.after) return resetConnection();
      }
      const after = fault?.kind === "reset" ? resetConnection : undefined;

      if (badJson) return reply(400, { success: false, error: "InvalidRequest", errorDescription: "request body is not valid JSON" });
      const refusalOrOk = (refusal: ReturnType<MongosyncMachine["start"]>) => {
        if (after) return after();
        if (refusal) return reply(refusal.httpStatus, { success: false, error: refusal.error, errorDescription: refusal.errorDescription });
        return reply(200, { success: true });
      };
      // /commit and /reverse answer only once every instance of the group has the command (machine.ts).
      const blocking = (answer: BlockingAnswer) => {
        if ("refusal" in answer) return refusalOrOk(answer.refusal);
        if (after) return after(); // applied (or waiting), the answer lost
        void answer.accepted.then(() => {
          if (!res.writableEnded && !res.destroyed) reply(200, { success: true });
        });
      };

      const method = req.method ?? "GET";
      if (method === "GET" && endpoint === "progress") {
        const progress = this.machine.progress();
        entry.progress = progress;
        if (this.machine.options.advanceOnProgress) this.machine.tick();
        if (after) return after();
        // No top-level `success` before 1.8 (machine.ts, progressHasSuccess).
        return reply(200, this.machine.progressHasSuccess ? { success: true, progress } : { progress });
      }
      if (method === "GET" && endpoint === "info" && this.machine.options.infoEndpoint) {
        if (after) return after();
        return reply(200, { success: true, version: this.machine.version });
      }
      if (method === "POST") {
        // Body-less endpoints still need a JSON body (documented); an absent body is refused like bad JSON.
        if (body === undefined) return reply(400, { success: false, error: "InvalidRequest", errorDescription: "a JSON body is required; send {}" });
        switch (endpoint) {
          case "start":
            return refusalOrOk(this.machine.start(body));
          case "pause":
            return refusalOrOk(this.machine.pause());
          case "resume":
            return refusalOrOk(this.machine.resume());
          case "commit":
            return blocking(this.machine.commit());
          case "reverse":
            return blocking(this.machine.reverse());
          default:
            break;
        }
      }
      return reply(404, { success: false, error: "NotFound", errorDescription: `no endpoint ${method} ${path}` });
    });
  }
}

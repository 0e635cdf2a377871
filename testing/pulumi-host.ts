// Drives Pulumi's own dynamic-provider host over gRPC, the way the Pulumi engine does during `pulumi up`.
//
// When a program uses a dynamic resource, the Pulumi CLI runs `node @pulumi/pulumi/cmd/dynamic-provider
// <engine address>` with the program directory as its working directory, reads the port the host prints on
// its first stdout line, and sends ResourceProvider RPCs: Configure, Check, Diff, Create, Update, Read,
// Delete. Every request carries `__provider`, the provider code Pulumi serialized into state, which the host
// deserializes and runs. DynamicProviderHost does the same with the same host, so a test (or the offline demo)
// runs the Migration provider exactly where `pulumi up` would: a separate Node process that resolves
// `require("pulumi-atlas-migration/provider-runtime")` from the program directory.
//
// Not covered: what the engine itself adds (secret stripping, the preview short-circuit, saving state) is Go
// code in the CLI; tests/e2e exercises that when a CLI is installed.
//
// The gRPC and protobuf modules are loaded with require() on first use, not imported at the top: importing
// pulumi-atlas-migration/testing for MemoryCluster or the emulators must not load a gRPC stack it never uses.
import { spawn, type ChildProcess } from "child_process";
import * as path from "path";
import type * as GrpcJs from "@grpc/grpc-js";
import type * as StructPb from "google-protobuf/google/protobuf/struct_pb";
import type * as ProviderGrpcPb from "@pulumi/pulumi/proto/provider_grpc_pb";
import type * as ProviderPb from "@pulumi/pulumi/proto/provider_pb";
import type * as StatusPb from "@pulumi/pulumi/proto/status_pb";

/** Resource properties as plain JSON values (what a protobuf Struct carries). */
export type HostProps = Record<string, any>;

export interface HostOptions {
  /** The program directory: the host resolves the serialized provider's require() calls from here. */
  cwd: string;
  /** Added to this process's environment for the host. */
  env?: NodeJS.ProcessEnv;
  /** Modules loaded into the host before it starts (`node --require …`), e.g. a fixture seeding MemoryClusters. */
  preload?: string[];
  /** Open a Node IPC channel to the host (`host.child.send` / `"message"`): a preloaded module can talk to
   *  this process without writing to the host's stdout, whose first line the engine protocol reserves. */
  ipc?: boolean;
  /** Called with every line the host prints, except the port line (typically the provider's progress). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Deadline of each RPC, so a host that never answers fails the caller instead of hanging it. Default 10 min: a
   *  create or cutover runs for up to its createMinutes/cutoverMinutes; set it above those. */
  callTimeoutMs?: number;
}

/** A create/update the provider rejected with an `id`: Pulumi keeps the resource with these properties. */
export interface InitFailure {
  id: string;
  properties: HostProps;
  reasons: string[];
}

/** A failed RPC: the gRPC status code and message plus, when present, the decoded ErrorResourceInitFailed. */
export class HostCallError extends Error {
  constructor(
    readonly method: string,
    message: string,
    readonly code: number,
    readonly initFailure?: InitFailure,
  ) {
    super(message);
    this.name = "HostCallError";
  }
}

export interface DiffAnswer {
  changes: "DIFF_UNKNOWN" | "DIFF_NONE" | "DIFF_SOME";
  replaces: string[];
  deleteBeforeReplace: boolean;
  stables: string[];
}

/** The part of grpc-js's Metadata that decodeInitFailure reads (kept structural so callers need no grpc types). */
export interface MetadataLike {
  get(key: string): Array<string | Buffer>;
}

interface Wire {
  grpc: typeof GrpcJs;
  Struct: typeof StructPb.Struct;
  providerGrpc: typeof ProviderGrpcPb;
  providerPb: typeof ProviderPb;
  statusPb: typeof StatusPb;
}

let wire: Wire | undefined;

function loadWire(): Wire {
  if (wire) return wire;
  // @grpc/grpc-js and google-protobuf are dependencies of @pulumi/pulumi, so they are always installed. Resolve
  // them from @pulumi/pulumi's folder to get the very copies its generated code uses: grpc-js rejects
  // credentials made by another copy of itself.
  const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  const fromPulumi = (id: string) => require(require.resolve(id, { paths: [pulumiDir] }));
  wire = {
    grpc: fromPulumi("@grpc/grpc-js"),
    Struct: fromPulumi("google-protobuf/google/protobuf/struct_pb").Struct,
    // These generated files are internal to @pulumi/pulumi, not its public API: their paths are pinned by the
    // @pulumi/pulumi version in our package.json, and a bump must re-run tests/provider.
    providerGrpc: require("@pulumi/pulumi/proto/provider_grpc_pb"),
    providerPb: require("@pulumi/pulumi/proto/provider_pb"),
    statusPb: require("@pulumi/pulumi/proto/status_pb"),
  };
  return wire;
}

/**
 * The kept resource of a failed create/update: the host packs it into `grpc-status-details-bin` as a
 * google.rpc.Status whose details hold a pulumirpc.ErrorResourceInitFailed.
 */
export function decodeInitFailure(metadata: MetadataLike | undefined): InitFailure | undefined {
  const raw = metadata?.get("grpc-status-details-bin")?.[0];
  if (!raw || typeof raw === "string") return undefined;
  const { providerPb, statusPb } = loadWire();
  const status = statusPb.Status.deserializeBinary(new Uint8Array(raw));
  for (const detail of status.getDetailsList()) {
    if (!detail.getTypeUrl().endsWith("pulumirpc.ErrorResourceInitFailed")) continue;
    const failed = providerPb.ErrorResourceInitFailed.deserializeBinary(detail.getValue_asU8());
    return {
      id: failed.getId(),
      properties: (failed.getProperties()?.toJavaScript() ?? {}) as HostProps,
      reasons: failed.getReasonsList(),
    };
  }
  return undefined;
}

/** A Migration's URN as the engine sends it, for a resource named `name` in the given stack and project. */
export function migrationUrn(name: string, stack = "test", project = "atlas-migration-test"): string {
  return `urn:pulumi:${stack}::${project}::pulumi-nodejs:dynamic/atlas-migration:Migration::${name}`;
}

export class DynamicProviderHost {
  /** Every line the host printed on stdout (the first is its port) and on stderr, in order. */
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  /** Called after each new stdout line; waitForLine uses it instead of polling. */
  private readonly stdoutWatchers = new Set<() => void>();
  private client: ProviderGrpcPb.ResourceProviderClient | undefined;
  private listeningOn = 0;

  private constructor(
    /** The host process; with `ipc: true`, use `child.send` and `child.on("message")` to reach a preload. */
    readonly child: ChildProcess,
    private readonly callTimeoutMs: number,
  ) {}

  static async start(options: HostOptions): Promise<DynamicProviderHost> {
    const { grpc, providerGrpc } = loadWire();
    const hostScript = require.resolve("@pulumi/pulumi/cmd/dynamic-provider");
    // The engine address is never dialled by the host for these RPCs; any address will do.
    const args = [...(options.preload ?? []).flatMap((file) => ["--require", file]), hostScript, "127.0.0.1:1"];
    const child = spawn(process.execPath, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: options.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
    });
    const host = new DynamicProviderHost(child, options.callTimeoutMs ?? 600_000);

    const port = new Promise<number>((resolve, reject) => {
      const onLine = (line: string, stream: "stdout" | "stderr") => {
        if (stream === "stderr") {
          host.stderr.push(line);
          options.onLine?.(line, stream);
          return;
        }
        host.stdout.push(line);
        if (host.stdout.length === 1) {
          const port = Number(line.trim());
          if (Number.isInteger(port) && port > 0) resolve(port);
          else reject(new Error(`the dynamic-provider host printed ${JSON.stringify(line)} instead of its port:\n${host.output()}`));
        } else {
          options.onLine?.(line, stream);
        }
        for (const watcher of host.stdoutWatchers) watcher();
      };
      splitLines(child.stdout!, (line) => onLine(line, "stdout"));
      splitLines(child.stderr!, (line) => onLine(line, "stderr"));
      child.once("error", reject);
      child.once("exit", (code, signal) =>
        reject(new Error(`the dynamic-provider host exited (${code ?? signal}) before printing its port:\n${host.stderr.join("\n")}`)),
      );
    });
    try {
      host.listeningOn = await port;
    } catch (err) {
      await host.stop(); // a host that printed garbage instead of its port must not outlive the caller
      throw err;
    }
    host.client = new providerGrpc.ResourceProviderClient(`127.0.0.1:${host.listeningOn}`, grpc.credentials.createInsecure());
    return host;
  }

  /** The port the host listens on (its first stdout line). */
  get port(): number {
    return this.listeningOn;
  }

  /** Everything the host printed, for failure messages and for "no password in the output" checks. */
  output(): string {
    return [...this.stdout, ...this.stderr].join("\n");
  }

  /** One unary RPC with a deadline; errors become HostCallError with the kept resource decoded. */
  private call<Res>(method: string, request: unknown): Promise<Res> {
    const { grpc } = loadWire();
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + this.callTimeoutMs);
      (this.client as any)[method](request, new grpc.Metadata(), { deadline }, (err: GrpcJs.ServiceError | null, response: Res) => {
        if (err?.code === grpc.status.DEADLINE_EXCEEDED) {
          const stderr = this.stderr.join("\n");
          reject(new HostCallError(method, `${method}: the host did not answer within ${this.callTimeoutMs} ms; host stderr:\n${stderr}`, err.code));
        } else if (err) {
          reject(new HostCallError(method, err.details || err.message, err.code, decodeInitFailure(err.metadata)));
        } else {
          resolve(response);
        }
      });
    });
  }

  /** Stack config as the engine sends it: every key namespaced (`project:key`), values as strings. */
  async configure(config: Record<string, string> = {}): Promise<{ acceptSecrets: boolean; supportsPreview: boolean }> {
    const { providerPb, Struct } = loadWire();
    const req = new providerPb.ConfigureRequest();
    req.setArgs(Struct.fromJavaScript(config));
    const res = await this.call<ProviderPb.ConfigureResponse>("configure", req);
    return { acceptSecrets: res.getAcceptsecrets(), supportsPreview: res.getSupportspreview() };
  }

  async check(urn: string, olds: HostProps, news: HostProps): Promise<{ inputs: HostProps; failures: Array<{ property: string; reason: string }> }> {
    const { providerPb, Struct } = loadWire();
    const req = new providerPb.CheckRequest();
    req.setUrn(urn);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<ProviderPb.CheckResponse>("check", req);
    return {
      inputs: (res.getInputs()?.toJavaScript() ?? {}) as HostProps,
      failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(urn: string, id: string, olds: HostProps, news: HostProps): Promise<DiffAnswer> {
    const { providerPb, Struct } = loadWire();
    const req = new providerPb.DiffRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<ProviderPb.DiffResponse>("diff", req);
    const names: Record<number, DiffAnswer["changes"]> = {
      [providerPb.DiffResponse.DiffChanges.DIFF_NONE]: "DIFF_NONE",
      [providerPb.DiffResponse.DiffChanges.DIFF_SOME]: "DIFF_SOME",
    };
    return {
      changes: names[res.getChanges()] ?? "DIFF_UNKNOWN",
      replaces: res.getReplacesList(),
      deleteBeforeReplace: res.getDeletebeforereplace(),
      stables: res.getStablesList(),
    };
  }

  async create(urn: string, properties: HostProps): Promise<{ id: string; properties: HostProps }> {
    const { providerPb, Struct } = loadWire();
    const req = new providerPb.CreateRequest();
    req.setUrn(urn);
    req.setProperties(Struct.fromJavaScript(properties));
    const res = await this.call<ProviderPb.CreateResponse>("create", req);
    return { id: res.getId(), properties: (res.getProperties()?.toJavaScript() ?? {}) as HostProps };
  }

  async update(urn: string, id: string, olds: HostProps, news: HostProps): Promise<{ properties: HostProps }> {
    const { providerPb, Struct } = loadWire();
    const req = new providerPb.UpdateRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<ProviderPb.UpdateResponse>("update", req);
    return { properties: (res.getProperties()?.toJavaScript() ?? {}) as HostProps };
  }

  /** `pulumi refresh`; `inputs` are the last inputs in state, when the engine has them. */
  async read(urn: string, id: string, properties: HostProps, inputs?: HostProps): Promise<{ id: string; properties: HostProps; inputs?: HostProps }> {
    const { providerPb, Struct } = loadWire();
    const req = new providerPb.ReadRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(Struct.fromJavaScript(properties));
    if (inputs) req.setInputs(Struct.fromJavaScript(inputs));
    const res = await this.call<ProviderPb.ReadResponse>("read", req);
    return {
      id: res.getId(),
      properties: (res.getProperties()?.toJavaScript() ?? {}) as HostProps,
      inputs: res.getInputs()?.toJavaScript() as HostProps | undefined,
    };
  }

  async delete(urn: string, id: string, properties: HostProps): Promise<void> {
    const { providerPb, Struct } = loadWire();
    const req = new providerPb.DeleteRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(Struct.fromJavaScript(properties));
    await this.call("delete", req);
  }

  /**
   * The first stdout line matching `match`, waiting up to `timeoutMs` of real time for it: the host writes
   * the provider's console output asynchronously, so a line can arrive after the RPC that printed it.
   */
  waitForLine(match: RegExp, timeoutMs = 2000): Promise<string> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const line = this.stdout.find((l) => match.test(l));
        if (line === undefined) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no host stdout line matches ${match} within ${timeoutMs} ms; got:\n${this.output()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.stdoutWatchers.delete(look);
      };
      this.stdoutWatchers.add(look);
      look();
    });
  }

  async stop(): Promise<void> {
    this.client?.close();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGTERM");
    });
  }
}

/** Calls `onLine` for each complete line of `stream`, and for a last line without a newline when it ends. */
function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = "";
  stream.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  stream.on("end", () => {
    if (pending) onLine(pending);
    pending = "";
  });
}

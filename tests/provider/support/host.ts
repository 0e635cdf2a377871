// Drives the dynamic-provider host that ships in @pulumi/pulumi over gRPC, the way the Pulumi engine does.
//
// The Pulumi CLI starts `pulumi-resource-pulumi-nodejs`, a shell script that runs
// `node @pulumi/pulumi/cmd/dynamic-provider <engine address>` with the program directory as cwd, reads the
// port from its first stdout line and talks ResourceProvider gRPC to it. This driver does the same, so the
// provider text under test is deserialized and run exactly where `pulumi up` runs it: a separate Node
// process that resolves `require("pulumi-atlas-migration/provider-runtime")` from the program directory.
//
// What the engine adds on top (secret stripping/annotation, the preview short-circuit, saving state) is Go code
// and not exercised here; the e2e tier (tests/e2e) covers that when a CLI is installed.
import { spawn, type ChildProcess } from "child_process";
import * as grpc from "@grpc/grpc-js";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as providerGrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as providerPb from "@pulumi/pulumi/proto/provider_pb";
import * as statusPb from "@pulumi/pulumi/proto/status_pb";

export type Props = Record<string, any>;

export interface HostOptions {
  /** The program directory: where the host resolves the serialized provider's require()s. */
  cwd: string;
  /** Modules loaded into the host before it starts (`node -r …`), e.g. a fixture seeding MemoryClusters. */
  preload?: string[];
  env?: NodeJS.ProcessEnv;
}

/** A create/update rejected with an object carrying `id`: Pulumi keeps the resource with these properties. */
export interface InitFailure {
  id: string;
  properties: Props;
  reasons: string[];
}

/** A failed RPC: the gRPC error plus, when present, the decoded ErrorResourceInitFailed detail. */
export class HostCallError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly initFailure?: InitFailure,
  ) {
    super(message);
    this.name = "HostCallError";
  }
}

export interface DiffAnswer {
  /** "DIFF_UNKNOWN" | "DIFF_NONE" | "DIFF_SOME" */
  changes: string;
  replaces: string[];
  deleteBeforeReplace: boolean;
  stables: string[];
}

const DIFF_NAMES: Record<number, string> = {
  [providerPb.DiffResponse.DiffChanges.DIFF_UNKNOWN]: "DIFF_UNKNOWN",
  [providerPb.DiffResponse.DiffChanges.DIFF_NONE]: "DIFF_NONE",
  [providerPb.DiffResponse.DiffChanges.DIFF_SOME]: "DIFF_SOME",
};

/** Decodes `grpc-status-details-bin` as the host packs it in grpcResponseFromError. */
export function decodeInitFailure(metadata: grpc.Metadata | undefined): InitFailure | undefined {
  const raw = metadata?.get("grpc-status-details-bin")?.[0];
  if (!raw) return undefined;
  const status = statusPb.Status.deserializeBinary(new Uint8Array(raw as Buffer));
  for (const any of status.getDetailsList()) {
    if (!any.getTypeUrl().endsWith("pulumirpc.ErrorResourceInitFailed")) continue;
    const detail = providerPb.ErrorResourceInitFailed.deserializeBinary(any.getValue_asU8());
    return {
      id: detail.getId(),
      properties: (detail.getProperties()?.toJavaScript() ?? {}) as Props,
      reasons: detail.getReasonsList(),
    };
  }
  return undefined;
}

export class DynamicProviderHost {
  /** Every line the host printed on stdout (the first is the port) and stderr, in order. */
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  private exitCode: number | null | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly client: providerGrpc.ResourceProviderClient,
    readonly port: number,
  ) {}

  static async start(options: HostOptions): Promise<DynamicProviderHost> {
    const hostScript = require.resolve("@pulumi/pulumi/cmd/dynamic-provider");
    const args = [...(options.preload ?? []).flatMap((p) => ["-r", p]), hostScript, "127.0.0.1:1"];
    const child = spawn(process.execPath, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    const collect = (into: string[]) => {
      let pending = "";
      return (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        into.push(...lines);
      };
    };
    child.stdout!.on("data", collect(stdout));
    child.stderr!.on("data", collect(stderr));

    const port = await new Promise<number>((resolve, reject) => {
      const timer = setInterval(() => {
        if (stdout.length > 0) {
          clearInterval(timer);
          const port = Number(stdout[0].trim());
          if (Number.isInteger(port) && port > 0) resolve(port);
          else reject(new Error(`dynamic-provider host printed ${JSON.stringify(stdout[0])} instead of a port`));
        }
      }, 10);
      child.once("exit", (code) => {
        clearInterval(timer);
        reject(new Error(`dynamic-provider host exited with ${code} before printing its port:\n${stderr.join("\n")}`));
      });
    });
    const client = new providerGrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const host = new DynamicProviderHost(child, client, port);
    // Share the line buffers collected since spawn.
    (host as { stdout: string[] }).stdout = stdout;
    (host as { stderr: string[] }).stderr = stderr;
    child.once("exit", (code) => {
      host.exitCode = code;
    });
    return host;
  }

  /** Everything the host printed, for failure messages and for "no password in the output" checks. */
  output(): string {
    return [...this.stdout, ...this.stderr].join("\n");
  }

  /**
   * One unary RPC with a deadline: an RPC the host never answers (e.g. when building its error response
   * throws) must fail the test with the host's stderr, not hang it.
   */
  private call<Req, Res>(method: string, request: Req, timeoutMs = 10_000): Promise<Res> {
    return new Promise((resolve, reject) => {
      const options = { deadline: new Date(Date.now() + timeoutMs) };
      (this.client as any)[method](request, new grpc.Metadata(), options, (err: grpc.ServiceError | null, response: Res) => {
        if (err?.code === grpc.status.DEADLINE_EXCEEDED) {
          reject(new HostCallError(`${method}: the host did not answer within ${timeoutMs} ms; host stderr:\n${this.stderr.join("\n")}`, err.code));
        } else if (err) reject(new HostCallError(err.details || err.message, err.code, decodeInitFailure(err.metadata)));
        else resolve(response);
      });
    });
  }

  /** Stack config as the engine sends it: every key namespaced (`project:key`), values as strings. */
  async configure(config: Record<string, string> = {}): Promise<{ acceptSecrets: boolean; supportsPreview: boolean }> {
    const req = new providerPb.ConfigureRequest();
    req.setArgs(Struct.fromJavaScript(config));
    const res = await this.call<providerPb.ConfigureRequest, providerPb.ConfigureResponse>("configure", req);
    return { acceptSecrets: res.getAcceptsecrets(), supportsPreview: res.getSupportspreview() };
  }

  async check(urn: string, olds: Props, news: Props): Promise<{ inputs: Props; failures: Array<{ property: string; reason: string }> }> {
    const req = new providerPb.CheckRequest();
    req.setUrn(urn);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<providerPb.CheckRequest, providerPb.CheckResponse>("check", req);
    return {
      inputs: (res.getInputs()?.toJavaScript() ?? {}) as Props,
      failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(urn: string, id: string, olds: Props, news: Props): Promise<DiffAnswer> {
    const req = new providerPb.DiffRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<providerPb.DiffRequest, providerPb.DiffResponse>("diff", req);
    return {
      changes: DIFF_NAMES[res.getChanges()] ?? String(res.getChanges()),
      replaces: res.getReplacesList(),
      deleteBeforeReplace: res.getDeletebeforereplace(),
      stables: res.getStablesList(),
    };
  }

  async create(urn: string, properties: Props): Promise<{ id: string; properties: Props }> {
    const req = new providerPb.CreateRequest();
    req.setUrn(urn);
    req.setProperties(Struct.fromJavaScript(properties));
    const res = await this.call<providerPb.CreateRequest, providerPb.CreateResponse>("create", req);
    return { id: res.getId(), properties: (res.getProperties()?.toJavaScript() ?? {}) as Props };
  }

  async update(urn: string, id: string, olds: Props, news: Props): Promise<{ properties: Props }> {
    const req = new providerPb.UpdateRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<providerPb.UpdateRequest, providerPb.UpdateResponse>("update", req);
    return { properties: (res.getProperties()?.toJavaScript() ?? {}) as Props };
  }

  async read(urn: string, id: string, properties: Props, inputs?: Props): Promise<{ id: string; properties: Props; inputs?: Props }> {
    const req = new providerPb.ReadRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(Struct.fromJavaScript(properties));
    if (inputs) req.setInputs(Struct.fromJavaScript(inputs));
    const res = await this.call<providerPb.ReadRequest, providerPb.ReadResponse>("read", req);
    return {
      id: res.getId(),
      properties: (res.getProperties()?.toJavaScript() ?? {}) as Props,
      inputs: res.getInputs()?.toJavaScript() as Props | undefined,
    };
  }

  async delete(urn: string, id: string, properties: Props): Promise<void> {
    const req = new providerPb.DeleteRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(Struct.fromJavaScript(properties));
    await this.call("delete", req);
  }

  /** Waits (briefly, real time) until a stdout line matches; the host flushes console output asynchronously. */
  async waitForLine(match: RegExp, timeoutMs = 2000): Promise<string> {
    const started = Date.now();
    for (;;) {
      const line = this.stdout.find((l) => match.test(l));
      if (line !== undefined) return line;
      if (Date.now() - started > timeoutMs) throw new Error(`no host stdout line matches ${match}; got:\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.client.close();
    if (this.exitCode !== undefined) return;
    await new Promise<void>((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGTERM");
    });
  }
}

/** A URN as the engine would send it for a Migration named `name`. */
export function migrationUrn(name: string, stack = "test", project = "atlas-migration-test"): string {
  return `urn:pulumi:${stack}::${project}::pulumi-nodejs:dynamic/atlas-migration:Migration::${name}`;
}

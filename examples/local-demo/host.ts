// Talks to Pulumi's dynamic-provider host over gRPC, the way the Pulumi engine does during `pulumi up`.
//
// When a program uses a dynamic resource, the CLI starts `@pulumi/pulumi/cmd/dynamic-provider` as a separate
// Node process (its working directory is the program's), reads the port it prints on its first stdout line,
// and sends ResourceProvider RPCs: Configure, Check, Diff, Create, Update, Read, Delete. Each request carries
// the resource's properties, including `__provider`, the provider code serialized into state, which the host
// deserializes and runs. This class does the same with the same host, so the demo runs the provider exactly
// where `pulumi up` would. What the engine adds on top (saving state, showing the plan) is left to the demo.
import { spawn, type ChildProcess } from "child_process";
import * as grpc from "@grpc/grpc-js";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as providerRpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provider from "@pulumi/pulumi/proto/provider_pb";
import * as status from "@pulumi/pulumi/proto/status_pb";

export type Props = Record<string, any>;

/** A create or update the provider rejected but Pulumi keeps (partial initialization): id, state, reasons. */
export interface KeptResource {
  id: string;
  properties: Props;
  reasons: string[];
}

export class ProviderCallError extends Error {
  constructor(
    readonly method: string,
    message: string,
    readonly kept?: KeptResource,
  ) {
    super(`${method}: ${message}`);
    this.name = "ProviderCallError";
  }
}

export interface DiffResult {
  changes: "DIFF_UNKNOWN" | "DIFF_NONE" | "DIFF_SOME";
  replaces: string[];
  deleteBeforeReplace: boolean;
}

const CHANGES: Record<number, DiffResult["changes"]> = {
  [provider.DiffResponse.DiffChanges.DIFF_UNKNOWN]: "DIFF_UNKNOWN",
  [provider.DiffResponse.DiffChanges.DIFF_NONE]: "DIFF_NONE",
  [provider.DiffResponse.DiffChanges.DIFF_SOME]: "DIFF_SOME",
};

/** The host reports a kept resource as an ErrorResourceInitFailed detail in the gRPC status. */
function keptResource(metadata: grpc.Metadata | undefined): KeptResource | undefined {
  const raw = metadata?.get("grpc-status-details-bin")?.[0];
  if (!raw) return undefined;
  for (const detail of status.Status.deserializeBinary(new Uint8Array(raw as Buffer)).getDetailsList()) {
    if (!detail.getTypeUrl().endsWith("ErrorResourceInitFailed")) continue;
    const failed = provider.ErrorResourceInitFailed.deserializeBinary(detail.getValue_asU8());
    return { id: failed.getId(), properties: (failed.getProperties()?.toJavaScript() ?? {}) as Props, reasons: failed.getReasonsList() };
  }
  return undefined;
}

export interface HostStart {
  /** The program directory: the host resolves the serialized provider's require() calls from here. */
  cwd: string;
  /** Scripts loaded into the host before it starts (`node -r`). */
  preload?: string[];
  /** Every line the host prints after its port line (the provider's progress lines). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

export class ProviderHost {
  private constructor(
    readonly child: ChildProcess,
    private readonly client: providerRpc.ResourceProviderClient,
  ) {}

  static async start(options: HostStart): Promise<ProviderHost> {
    const script = require.resolve("@pulumi/pulumi/cmd/dynamic-provider");
    const args = [...(options.preload ?? []).flatMap((file) => ["-r", file]), script, "127.0.0.1:1"];
    // "ipc" lets a preloaded script talk to this process without touching the host's stdout.
    const child = spawn(process.execPath, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    const port = await new Promise<number>((resolve, reject) => {
      let portLine: string | undefined;
      const stderr: string[] = [];
      const lines = (stream: "stdout" | "stderr") => {
        let pending = "";
        return (chunk: Buffer) => {
          pending += chunk.toString("utf8");
          const parts = pending.split("\n");
          pending = parts.pop() ?? "";
          for (const line of parts) {
            if (stream === "stdout" && portLine === undefined) {
              portLine = line.trim();
              const n = Number(portLine);
              if (Number.isInteger(n) && n > 0) resolve(n);
              else reject(new Error(`the dynamic-provider host printed "${portLine}" instead of its port`));
              continue;
            }
            if (stream === "stderr" && portLine === undefined) stderr.push(line);
            options.onLine?.(line, stream);
          }
        };
      };
      child.stdout!.on("data", lines("stdout"));
      child.stderr!.on("data", lines("stderr"));
      child.once("exit", (code) => reject(new Error(`the dynamic-provider host exited (${code}) before it listened:\n${stderr.join("\n")}`)));
    });
    const client = new providerRpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return new ProviderHost(child, client);
  }

  private call<Res>(method: string, request: unknown): Promise<Res> {
    return new Promise((resolve, reject) => {
      (this.client as any)[method](request, (err: grpc.ServiceError | null, response: Res) => {
        if (err) reject(new ProviderCallError(method, err.details || err.message, keptResource(err.metadata)));
        else resolve(response);
      });
    });
  }

  /** Stack config, keys namespaced as the engine sends them ("project:key"). */
  async configure(config: Record<string, string>): Promise<void> {
    const req = new provider.ConfigureRequest();
    req.setArgs(Struct.fromJavaScript(config));
    await this.call("configure", req);
  }

  async check(urn: string, olds: Props, news: Props): Promise<{ inputs: Props; failures: Array<{ property: string; reason: string }> }> {
    const req = new provider.CheckRequest();
    req.setUrn(urn);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<provider.CheckResponse>("check", req);
    return {
      inputs: (res.getInputs()?.toJavaScript() ?? {}) as Props,
      failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(urn: string, id: string, olds: Props, news: Props): Promise<DiffResult> {
    const req = new provider.DiffRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<provider.DiffResponse>("diff", req);
    return { changes: CHANGES[res.getChanges()] ?? "DIFF_UNKNOWN", replaces: res.getReplacesList(), deleteBeforeReplace: res.getDeletebeforereplace() };
  }

  async create(urn: string, properties: Props): Promise<{ id: string; properties: Props }> {
    const req = new provider.CreateRequest();
    req.setUrn(urn);
    req.setProperties(Struct.fromJavaScript(properties));
    const res = await this.call<provider.CreateResponse>("create", req);
    return { id: res.getId(), properties: (res.getProperties()?.toJavaScript() ?? {}) as Props };
  }

  async update(urn: string, id: string, olds: Props, news: Props): Promise<Props> {
    const req = new provider.UpdateRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(Struct.fromJavaScript(news));
    const res = await this.call<provider.UpdateResponse>("update", req);
    return (res.getProperties()?.toJavaScript() ?? {}) as Props;
  }

  async read(urn: string, id: string, properties: Props): Promise<Props> {
    const req = new provider.ReadRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(Struct.fromJavaScript(properties));
    const res = await this.call<provider.ReadResponse>("read", req);
    return (res.getProperties()?.toJavaScript() ?? {}) as Props;
  }

  async delete(urn: string, id: string, properties: Props): Promise<void> {
    const req = new provider.DeleteRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(Struct.fromJavaScript(properties));
    await this.call("delete", req);
  }

  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGTERM");
    });
  }
}

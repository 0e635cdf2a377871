// The parts of testing/pulumi-host.ts that the provider tests (grpc-host.test.ts) and the demo do not check
// on their own: decoding a kept resource from gRPC metadata byte for byte, the URN a real Migration gets,
// and the start options (preload, env, ipc, onLine) plus the two ways a host can fail to start.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { Any } from "google-protobuf/google/protobuf/any_pb";
import * as providerPb from "@pulumi/pulumi/proto/provider_pb";
import * as statusPb from "@pulumi/pulumi/proto/status_pb";
import { decodeInitFailure, DynamicProviderHost, migrationUrn } from "../../testing/pulumi-host";

/** The trailer the host sends for a kept resource: a google.rpc.Status whose details pack `details`. */
function statusMetadata(details: Array<{ typeUrl: string; value: Uint8Array }>): grpc.Metadata {
  const status = new statusPb.Status();
  status.setCode(grpc.status.UNKNOWN);
  status.setMessage("creating failed");
  for (const d of details) {
    const any = new Any();
    any.setTypeUrl(d.typeUrl);
    any.setValue(d.value);
    status.addDetails(any);
  }
  const metadata = new grpc.Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(status.serializeBinary()));
  return metadata;
}

function initFailedBytes(id: string, properties: Record<string, unknown>, reasons: string[]): Uint8Array {
  const failed = new providerPb.ErrorResourceInitFailed();
  failed.setId(id);
  failed.setProperties(Struct.fromJavaScript(properties as any));
  failed.setReasonsList(reasons);
  return failed.serializeBinary();
}

describe("decodeInitFailure", () => {
  test("reads id, properties and reasons of an ErrorResourceInitFailed detail", () => {
    const properties = { phase: "COPYING", progress: { copied: 12, total: 40 }, warnings: ["slow"], reason: null };
    const metadata = statusMetadata([
      // The host may put other details first; only the ErrorResourceInitFailed one counts.
      { typeUrl: "type.googleapis.com/google.rpc.DebugInfo", value: new Uint8Array([1, 2, 3]) },
      { typeUrl: "type.googleapis.com/pulumirpc.ErrorResourceInitFailed", value: initFailedBytes("mig-7", properties, ["still copying", "retry"]) },
    ]);
    expect(decodeInitFailure(metadata)).toEqual({ id: "mig-7", properties, reasons: ["still copying", "retry"] });
  });

  test("is undefined without the trailer, without that detail, or without metadata", () => {
    expect(decodeInitFailure(new grpc.Metadata())).toBeUndefined();
    expect(decodeInitFailure(statusMetadata([]))).toBeUndefined();
    expect(decodeInitFailure(statusMetadata([{ typeUrl: "type.googleapis.com/google.rpc.DebugInfo", value: new Uint8Array() }]))).toBeUndefined();
    expect(decodeInitFailure(undefined)).toBeUndefined();
  });
});

describe("migrationUrn", () => {
  test("is the URN Pulumi gives a Migration of that name in that stack and project", async () => {
    pulumi.runtime.setMocks(
      { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
      "urn-project",
      "urn-stack",
    );
    const { Migration } = await import("../../provider/migration");
    const migration = new Migration("urn-check", {
      engine: "builtin",
      source: { uri: "memory://urn-src" },
      target: { uri: "memory://urn-dst" },
      cutover: false,
    });
    const urn = await new Promise<string>((resolve) => migration.urn.apply(resolve));
    expect(migrationUrn("urn-check", "urn-stack", "urn-project")).toBe(urn);
    expect(migrationUrn("m")).toBe("urn:pulumi:test::atlas-migration-test::pulumi-nodejs:dynamic/atlas-migration:Migration::m");
  });
});

describe("DynamicProviderHost.start", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-host-"));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function preload(name: string, source: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, source);
    return file;
  }

  test("preload, env, ipc and onLine reach the host; RPCs work; stop ends the process", async () => {
    const file = preload(
      "echo.js",
      // stdout's first line is the port, so the preload speaks on stderr and over IPC only.
      `console.error("preload saw " + process.env.PULUMI_HOST_TEST_VALUE);
       process.on("message", (m) => process.send({ echo: m, cwd: process.cwd() }));`,
    );
    const lines: Array<[string, string]> = [];
    const host = await DynamicProviderHost.start({
      cwd: dir,
      preload: [file],
      env: { PULUMI_HOST_TEST_VALUE: "v-42" },
      ipc: true,
      onLine: (line, stream) => lines.push([stream, line]),
    });
    try {
      expect(host.port).toBe(Number(host.stdout[0]));
      const reply = await new Promise<any>((resolve) => {
        host.child.once("message", resolve);
        host.child.send({ ping: 1 });
      });
      expect(reply).toEqual({ echo: { ping: 1 }, cwd: fs.realpathSync(dir) });
      expect(lines).toContainEqual(["stderr", "preload saw v-42"]);
      expect(lines.some(([, line]) => line === host.stdout[0])).toBe(false); // the port line is not forwarded
      expect(await host.configure()).toEqual({ acceptSecrets: false, supportsPreview: false });
    } finally {
      await host.stop();
    }
    expect(host.child.exitCode !== null || host.child.signalCode !== null).toBe(true);
  });

  test("a host that dies before listening rejects with its stderr", async () => {
    const file = preload("broken.js", `throw new Error("fixture broke on purpose");`);
    await expect(DynamicProviderHost.start({ cwd: dir, preload: [file] })).rejects.toThrow(/exited \(1\) before printing its port[\s\S]*fixture broke on purpose/);
  });

  test("a first stdout line that is not a port rejects and names the line", async () => {
    const file = preload("chatty.js", `console.log("hello from a careless preload");`);
    await expect(DynamicProviderHost.start({ cwd: dir, preload: [file] })).rejects.toThrow(/printed "hello from a careless preload" instead of its port/);
  });
});

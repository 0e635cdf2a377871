// Every output that can carry a credential is secret, and no error or log line shows one.
//
// Resource side: `Migration` built under pulumi.runtime.setMocks, inspecting what it registers (inputs and
// the final resource options, via a transformation). Provider side: the runtime driving the real mongosync
// engine against a MongosyncEmulator that echoes the connection strings back in its errors and warnings, as
// real servers do ("could not connect to mongodb://user:pass@…").
import * as pulumi from "@pulumi/pulumi";
import { MongosyncEmulator } from "../../testing/mongosync-emulator";

const SOURCE_PASSWORD = "Src-S3cret-pw-8841";
const TARGET_PASSWORD = "T@rget/s3cret pw"; // needs percent-encoding in a URI
const SOURCE_URI = `mongodb://app:${SOURCE_PASSWORD}@src1.example:27017,src2.example:27017/?replicaSet=rs0`;
const TARGET_URI = `mongodb+srv://migrator:${encodeURIComponent(TARGET_PASSWORD)}@cluster0.abcde.mongodb.net`;

interface Registration {
  type: string;
  name: string;
  inputs: Record<string, any>;
}
const registrations: Registration[] = [];

beforeAll(() => {
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registrations.push({ type: args.type, name: args.name, inputs: args.inputs });
        // The provider is not run under mocks: answer as a create would, echoing inputs plus computed keys.
        return { id: `${args.name}-id`, state: { ...args.inputs, phase: "READY_FOR_CUTOVER", linkToken: "lt-0123456789abcdef" } };
      },
      call: (args) => args.inputs,
    },
    "atlas-migration-test",
    "test",
  );
});

function isRpcSecret(value: unknown): boolean {
  return pulumi.runtime.isRpcSecret(value);
}

async function isSecretOutput(output: pulumi.Output<unknown>): Promise<boolean> {
  return (await (output as any).isSecret) === true;
}

describe("Migration under mocks", () => {
  let migration: import("../../provider/migration").Migration;
  let finalOptions: pulumi.CustomResourceOptions | undefined;

  beforeAll(async () => {
    const { Migration } = await import("../../provider/migration");
    migration = new Migration(
      "secrets",
      // Deliberately NOT wrapped in pulumi.secret: the resource must make them secret itself.
      { engine: "builtin", source: { uri: SOURCE_URI }, target: { uri: TARGET_URI }, cutover: false },
      { transformations: [(args) => ((finalOptions = args.opts), undefined)] },
    );
    await new Promise<void>((resolve) => migration.urn.apply(() => resolve()));
  });

  test("source and target are registered as secrets even when the program passed plain strings", () => {
    const reg = registrations.find((r) => r.name === "secrets")!;
    expect(reg.type).toBe("pulumi-nodejs:dynamic/atlas-migration:Migration");
    expect(isRpcSecret(reg.inputs.source)).toBe(true);
    expect(isRpcSecret(reg.inputs.target)).toBe(true);
    expect(pulumi.runtime.unwrapRpcSecret(reg.inputs.source)).toEqual({ uri: SOURCE_URI });
    // Everything else is plain, so `pulumi preview` shows a readable diff of cutover and options.
    expect(isRpcSecret(reg.inputs.cutover)).toBe(false);
    expect(isRpcSecret(reg.inputs.engine)).toBe(false);
  });

  test("outputs carrying credentials are listed in additionalSecretOutputs (the engine re-marks them)", () => {
    expect(finalOptions?.additionalSecretOutputs).toEqual(expect.arrayContaining(["linkToken", "source", "target"]));
  });

  test("every output the provider computes is declared on the resource, so Pulumi resolves it", async () => {
    const { COMPUTED_KEYS } = await import("../../provider/runtime");
    for (const key of COMPUTED_KEYS) expect(pulumi.Output.isInstance((migration as any)[key])).toBe(true);
    // …and resolves to what the provider returned (here: the mock's answer).
    expect(await new Promise((r) => migration.phase.apply(r))).toBe("READY_FOR_CUTOVER");
  });

  test("the caller's own options survive the merge", async () => {
    const { Migration } = await import("../../provider/migration");
    let opts: pulumi.CustomResourceOptions | undefined;
    new Migration(
      "with-options",
      { source: { uri: SOURCE_URI }, target: { uri: TARGET_URI } },
      { protect: true, additionalSecretOutputs: ["warnings"], transformations: [(args) => ((opts = args.opts), undefined)] },
    );
    expect(opts?.protect).toBe(true);
    expect(opts?.additionalSecretOutputs).toEqual(expect.arrayContaining(["warnings", "linkToken", "source", "target"]));
  });

  test("source/target outputs resolve as secrets, other outputs stay readable", async () => {
    expect(await isSecretOutput((migration as any).source)).toBe(true);
    expect(await isSecretOutput((migration as any).target)).toBe(true);
    expect(await isSecretOutput(migration.phase)).toBe(false);
  });
});

describe("redaction through a real engine whose server echoes credentials", () => {
  let mongosync: MongosyncEmulator;
  let logged: string[];

  beforeEach(async () => {
    mongosync = await MongosyncEmulator.start({ version: "1.19.0" });
    logged = [];
    jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      logged.push(args.join(" "));
    });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await mongosync.stop();
  });

  const inputs = () => ({
    engine: "mongosync",
    source: { uri: SOURCE_URI },
    target: { uri: TARGET_URI },
    mongosync: { urls: [mongosync.url], version: "1.19.0" },
    resourceName: "echo",
    timeouts: { createMinutes: 0.05, pollSeconds: 1 },
  });

  test("a refused /start that quotes both connection strings becomes a redacted error and redacted log lines", async () => {
    const runtime = await import("../../provider/runtime");
    mongosync.inject({
      endpoint: "start",
      times: 10,
      fault: {
        kind: "envelope",
        status: 400,
        error: "InvalidRequest",
        errorDescription: `cannot connect to cluster0 at ${SOURCE_URI} or cluster1 at ${TARGET_URI}: password=${SOURCE_PASSWORD}`,
      },
    });
    const error = await runtime.create(inputs()).then(
      () => undefined,
      (err: any) => err,
    );
    expect(error).toBeDefined();
    const everything = [String(error?.message), JSON.stringify(error), ...logged].join("\n");
    expect(everything).not.toContain(SOURCE_PASSWORD);
    expect(everything).not.toContain(TARGET_PASSWORD);
    expect(everything).not.toContain(encodeURIComponent(TARGET_PASSWORD));
    // Still useful: the user sees which deployment and user were involved.
    expect(everything).toMatch(/mongodb:\/\/app:\*\*\*\*@src1\.example/);
    for (const line of logged) expect(line).toMatch(/^\[echo\] /);
  });

  test("engine warnings quoting a credential are stored redacted in outputs", async () => {
    await mongosync.stop();
    mongosync = await MongosyncEmulator.start({
      version: "1.19.0",
      copyTicks: 1,
      catchUpTicks: 1,
      verifierTicks: 0,
      warnings: [`slow reads from ${SOURCE_URI}`],
    });
    const runtime = await import("../../provider/runtime");
    let outs: Record<string, any>;
    try {
      outs = (await runtime.create(inputs())).outs;
    } catch (err: any) {
      if (!err?.properties) throw err;
      outs = err.properties; // partial initialization carries the same outputs
    }
    const stored = JSON.stringify(outs.warnings);
    expect(stored).toContain("mongodb://app:****@src1.example");
    expect(stored).not.toContain(SOURCE_PASSWORD);
    // The inputs are returned under their own keys (so Pulumi keeps them secret); nothing else holds them.
    const { source: _s, target: _t, ...rest } = outs;
    expect(JSON.stringify(rest)).not.toContain(SOURCE_PASSWORD);
    expect(JSON.stringify(rest)).not.toContain(encodeURIComponent(TARGET_PASSWORD));
  });
});

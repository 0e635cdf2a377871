// Unit-testing a program that declares migrations, without the CLI: `captureMigrations()` installs Pulumi's mocks
// (`pulumi.runtime.setMocks`) and records what every Migration (and any other resource) was registered with,
// secrets unwrapped and named, so a test can assert on inputs as the provider would receive them.
//
//   const captured = captureMigrations();                 // before the program's resources are constructed
//   const { AtlasMigration } = await import("pulumi-atlas-migration");
//   const orders = new AtlasMigration("orders", { … });
//   await captured.settled(orders.phase);
//   expect(captured.migrations[0].inputs.cutover).toBe(false);
//   expect(captured.migrations[0].secretKeys).toEqual(expect.arrayContaining(["source", "target"]));
import * as pulumi from "@pulumi/pulumi";

/** The type token of the Migration resource. */
export const MIGRATION_TYPE = "pulumi-nodejs:dynamic/atlas-migration:Migration";

export interface CapturedResource {
  type: string;
  name: string;
  /** The registered inputs, secrets unwrapped; the serialized provider (`__provider`) left out. */
  inputs: Record<string, any>;
  /** Top-level input keys that were registered as secrets. */
  secretKeys: string[];
  provider?: string;
}

export interface CaptureOptions {
  project?: string;
  stack?: string;
  /** Called for resources other than the Migration (and for it after the default state): its answer wins. */
  newResource?: pulumi.runtime.Mocks["newResource"];
  call?: pulumi.runtime.Mocks["call"];
  /** The state a mocked Migration reports back (default: its inputs, phase READY_FOR_CUTOVER, a migrationId). */
  migrationState?: (name: string, inputs: Record<string, any>) => Record<string, any>;
}

export interface Captured {
  /** Every Migration registered so far, in registration order. */
  migrations: CapturedResource[];
  /** Every custom resource registered so far (Migrations included). */
  resources: CapturedResource[];
  /** Resolves once `output` (e.g. a component's phase) has a value: by then its resources are registered. */
  settled<T>(output: pulumi.Input<T>): Promise<T>;
}

function unwrap(value: unknown): unknown {
  if (pulumi.runtime.isRpcSecret(value)) return unwrap(pulumi.runtime.unwrapRpcSecret(value));
  if (Array.isArray(value)) return value.map(unwrap);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
  return value;
}

/** Installs Pulumi's mocks and records registrations. Call it before the program constructs resources. */
export function captureMigrations(options: CaptureOptions = {}): Captured {
  const migrations: CapturedResource[] = [];
  const resources: CapturedResource[] = [];
  pulumi.runtime.setMocks(
    {
      newResource: async (args) => {
        const raw: Record<string, any> = { ...args.inputs };
        delete raw.__provider;
        const record: CapturedResource = {
          type: args.type,
          name: args.name,
          inputs: unwrap(raw) as Record<string, any>,
          secretKeys: Object.keys(raw).filter((k) => pulumi.runtime.isRpcSecret(raw[k])),
          provider: args.provider,
        };
        resources.push(record);
        if (args.type === MIGRATION_TYPE) {
          migrations.push(record);
          const state = options.migrationState?.(args.name, record.inputs) ?? {
            ...args.inputs,
            phase: "READY_FOR_CUTOVER",
            migrationId: `${args.name}-mock`,
            warnings: [],
          };
          const custom = await options.newResource?.(args);
          return custom ?? { id: `${args.name}-id`, state };
        }
        return (await options.newResource?.(args)) ?? { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => (options.call ? options.call(args) : args.inputs),
    },
    options.project ?? "project",
    options.stack ?? "stack",
  );
  return {
    migrations,
    resources,
    settled: <T>(output: pulumi.Input<T>) => new Promise<T>((resolve) => pulumi.output(output).apply((v) => resolve(v as T))),
  };
}

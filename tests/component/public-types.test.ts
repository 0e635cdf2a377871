// The package's public declarations compile in a user's project as `pulumi new` sets it up (commonjs, no
// esModuleInterop, no skipLibCheck), and they do not drag zod's declarations into that compile: zod is an
// implementation detail of `check`, and its .d.ts files need compiler settings users do not have.
// Compiles against dist/ (`npm run build` first; `npm test` does it).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as ts from "typescript";

const root = path.resolve(__dirname, "../..");

/** The compilerOptions of the `pulumi new typescript` template's tsconfig.json. */
const PULUMI_NEW_TSCONFIG: ts.CompilerOptions = {
  strict: true,
  outDir: "bin",
  target: ts.ScriptTarget.ES2020,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  sourceMap: true,
  experimentalDecorators: true,
  pretty: false,
  noFallthroughCasesInSwitch: true,
  noImplicitReturns: true,
  forceConsistentCasingInFileNames: true,
  noEmit: true,
};

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import {
  AtlasMigration, AtlasMigrationArgs, AccessListEntry, DatabaseUserArgs, NewClusterArgs, TargetCluster, EngineChoice,
  VerificationMode, ShardingEntry, MigrationProgress, VerificationReport, CutoverReadinessArgs, AtlasCredentialsArgs,
} from "pulumi-atlas-migration";

const cfg = new pulumi.Config();
const accessList: AccessListEntry[] = [{ ip: "198.51.100.7", temporary: true }];
const users: DatabaseUserArgs[] = [{ username: "app", password: cfg.requireSecret("appPassword"), roles: [{ roleName: "readWrite", databaseName: "shop" }] }];
const cluster: NewClusterArgs = { name: "shop", tier: "M10", provider: "AWS", region: "EU_WEST_1" };
const engine: EngineChoice = "builtin";
const verificationMode: VerificationMode = "full";
const sharding: ShardingEntry[] = [{ database: "shop", collection: "orders", key: [{ userId: 1 }] }];
const cutoverReadiness: CutoverReadinessArgs = { maxLagSeconds: 5 };
const atlasCredentials: AtlasCredentialsArgs = { publicKey: cfg.get("pub") };
const args: AtlasMigrationArgs = {
  projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
  source: { uri: cfg.requireSecret("sourceUri") },
  target: { cluster },
  accessList,
  databaseUsers: users,
  migrationUser: { username: "migrator", password: cfg.requireSecret("migratorPassword") },
  migration: { engine, verificationMode, cutover: cfg.getBoolean("cutover") ?? false, cutoverReadiness, mongosync: undefined },
  atlasCredentials,
};
void sharding;
const m = new AtlasMigration("shop", args);
export const phase: pulumi.Output<string> = m.phase;
export const progress: pulumi.Output<MigrationProgress | null> = m.progress;
export const verification: pulumi.Output<VerificationReport | null> = m.verification;
export const isTarget = (r: unknown): boolean => r instanceof TargetCluster;
`;

test("a consumer compiled with the `pulumi new` tsconfig gets 0 errors and loads no zod declaration", () => {
  expect(fs.existsSync(path.join(root, "dist/index.d.ts"))).toBe(true); // run `npm run build` first
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "consumer-"));
  try {
    fs.mkdirSync(path.join(dir, "node_modules"));
    // The package as installed (its package.json "types"/"exports" point into dist/), and the SDKs it names.
    fs.symlinkSync(root, path.join(dir, "node_modules", "pulumi-atlas-migration"), "dir");
    fs.symlinkSync(path.join(root, "node_modules", "@pulumi"), path.join(dir, "node_modules", "@pulumi"), "dir");
    fs.symlinkSync(path.join(root, "node_modules", "@types"), path.join(dir, "node_modules", "@types"), "dir");
    const file = path.join(dir, "index.ts");
    fs.writeFileSync(file, PROGRAM);
    const program = ts.createProgram([file], PULUMI_NEW_TSCONFIG);
    const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(errors).toEqual([]);
    const zodFiles = program.getSourceFiles().filter((f) => /[\\/]zod[\\/]/.test(f.fileName)).map((f) => f.fileName);
    expect(zodFiles).toEqual([]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

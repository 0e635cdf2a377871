// The detached worker: started with the URIs in its environment only (argv is visible to every local user),
// detached and unref'd so `pulumi up` can exit; and the compiled CLI never prints a credential.
import { spawnSync } from "child_process";
import { existsSync } from "fs";
import { join } from "path";
import { makeSpec } from "../../support/spec";

jest.mock("child_process", () => {
  const actual = jest.requireActual("child_process");
  return { ...actual, spawn: jest.fn(() => ({ pid: 4242, unref: jest.fn() })) };
});

describe("startDetachedWorker", () => {
  test("passes URIs through the environment, not argv; detached and unref'd", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startDetachedWorker, SOURCE_URI_ENV, TARGET_URI_ENV } = require("../../../provider/engines/builtin/worker");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const cp = require("child_process");
    const spec = makeSpec({
      migrationId: "mig-detached",
      source: { uri: "mongodb://app:s3cretSource@src.example:27017/?replicaSet=rs0" },
      target: { uri: "mongodb+srv://admin:s3cretTarget@cluster0.example.mongodb.net/" },
    });
    const started = startDetachedWorker(spec);
    expect(started.pid).toBe(4242);
    const [command, args, options] = cp.spawn.mock.calls[0];
    expect(command).toBe(process.execPath);
    expect(args.slice(-2)).toEqual(["sync", "mig-detached"]);
    expect(JSON.stringify(args)).not.toMatch(/s3cret/);
    expect(options.detached).toBe(true);
    expect(options.env[SOURCE_URI_ENV]).toBe(spec.source.uri);
    expect(options.env[TARGET_URI_ENV]).toBe(spec.target.uri);
    const child = cp.spawn.mock.results[0].value;
    expect(child.unref).toHaveBeenCalled();
  });
});

const bin = join(__dirname, "..", "..", "..", "dist", "bin", "atlas-migrate.js");
const describeBuilt = existsSync(bin) ? describe : describe.skip;

describeBuilt(`atlas-migrate CLI (${existsSync(bin) ? "dist built" : "skipped: run npm run build first"})`, () => {
  test("refuses to run without the URI environment variables", () => {
    const env = { ...process.env };
    delete env.ATLAS_MIGRATE_SOURCE_URI;
    delete env.ATLAS_MIGRATE_TARGET_URI;
    const r = spawnSync(process.execPath, [bin, "sync", "mig-x"], { env, encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ATLAS_MIGRATE_SOURCE_URI is not set/);
  });

  test("an unreachable target fails without printing the password", () => {
    const r = spawnSync(process.execPath, [bin, "status", "mig-x"], {
      env: {
        ...process.env,
        ATLAS_MIGRATE_TARGET_URI: "mongodb://admin:TopSecretPw1@127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
      },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toContain("TopSecretPw1");
  });
});

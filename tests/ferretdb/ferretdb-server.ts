// FerretDB instances for the ferretdb tier: the real `ferretdb` binary (v1, SQLite backend), one process per
// instance, each on its own free loopback port with its own SQLite directory and state directory.
//
// Flags, from FerretDB v1.24's cmd/ferretdb/main.go:
//   --handler=sqlite --sqlite-url=file:<dir>/   the SQLite backend, one database file per MongoDB database
//   --listen-addr=127.0.0.1:<port>              loopback only
//   --debug-addr=-                              no metrics/pprof HTTP listener (its default, :8088, would clash)
//   --telemetry=disable                         no reports to beacon.ferretdb.com
//   --state-dir=<dir>                           where it keeps its instance id (default is the cwd)
//   --repl-set-name=<name>                      optional: hello then reports setName/hosts like a replica set
//                                               member, although there is no oplog and no change stream —
//                                               the case capability detection exists for.
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { MongoClient } from "mongodb";

export interface FerretInstance {
  /** mongodb://127.0.0.1:<port>/ (plus ?replicaSet=… when started with a replica set name). */
  uri: string;
  port: number;
  dataDir: string;
  /** Everything the process wrote, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export interface FerretOptions {
  binary: string;
  /** Report a replica set name in hello (no oplog behind it). */
  replSetName?: string;
  label?: string;
}

/** A port the kernel just handed out on 127.0.0.1 (closed again before FerretDB binds it). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function answers(uri: string): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500, directConnection: true });
  try {
    await client.connect();
    await client.db("admin").command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => undefined);
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Starts one instance and waits until it answers ping; throws with its log if it exits first. */
export async function startFerretDB(options: FerretOptions): Promise<FerretInstance> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `ferretdb-${options.label ?? "x"}-`));
  const dataDir = path.join(root, "data");
  const stateDir = path.join(root, "state");
  fs.mkdirSync(dataDir);
  fs.mkdirSync(stateDir);
  // A port picked here can be taken by someone else before FerretDB binds it: try a few.
  let lastLog = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeLoopbackPort();
    const args = [
      "--handler=sqlite",
      `--sqlite-url=file:${dataDir}/`,
      `--listen-addr=127.0.0.1:${port}`,
      "--debug-addr=-",
      "--telemetry=disable",
      `--state-dir=${stateDir}`,
      "--log-level=warn",
      ...(options.replSetName ? [`--repl-set-name=${options.replSetName}`] : []),
    ];
    const child = spawn(options.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    // A test process that exits without stopping it (a crash, process.exit in a script) takes it along.
    const reap = () => void (exited(child) || child.kill("SIGKILL"));
    process.once("exit", reap);
    child.once("exit", () => process.removeListener("exit", reap));
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const base = `mongodb://127.0.0.1:${port}/`;
    const uri = options.replSetName ? `${base}?replicaSet=${options.replSetName}` : base;
    const stop = async (): Promise<void> => {
      if (exited(child)) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    };
    // Readiness is polled (no fixed sleep): up to ~60 tries, stopping early if the process died.
    for (let i = 0; i < 60 && !exited(child); i++) {
      if (await answers(base)) {
        return { uri, port, dataDir, log: () => output, stop };
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await stop();
    lastLog = output;
  }
  throw new Error(`ferretdb did not start (${options.binary}); its last output:\n${lastLog}`);
}

/** Stops whatever started, ignoring instances that never did (afterAll runs even when beforeAll failed). */
export async function stopAll(instances: Array<FerretInstance | undefined>): Promise<void> {
  await Promise.all(instances.map((i) => i?.stop().catch(() => undefined)));
}

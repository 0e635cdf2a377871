// Talks to the control API of memory-fixture.js running inside the dynamic-provider host process.
import * as fs from "fs";
import * as http from "http";

export interface FixtureCluster {
  name: string;
  /** Seconds of change history before the seed (an oplog window the builtin preflight accepts). */
  historySeconds?: number;
  seed?: { db: string; coll: string; count: number; padBytes?: number };
}

export const MEMORY_FIXTURE = require.resolve("./memory-fixture.js");

export function fixtureEnv(clusters: FixtureCluster[], portFile: string): NodeJS.ProcessEnv {
  return { MEMORY_FIXTURE_CLUSTERS: JSON.stringify(clusters), MEMORY_FIXTURE_PORT_FILE: portFile };
}

export class FixtureClient {
  constructor(private readonly port: number) {}

  static async connect(portFile: string, timeoutMs = 5000): Promise<FixtureClient> {
    const started = Date.now();
    while (!fs.existsSync(portFile) || fs.readFileSync(portFile, "utf8") === "") {
      if (Date.now() - started > timeoutMs) throw new Error(`the memory fixture did not write ${portFile}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return new FixtureClient(Number(fs.readFileSync(portFile, "utf8")));
  }

  call<T = any>(command: string, body: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: this.port, path: `/${command}`, method: "POST" }, (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          const parsed = JSON.parse(text);
          if (res.statusCode !== 200) reject(new Error(`fixture ${command}: ${parsed.error}`));
          else resolve(parsed);
        });
      });
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });
  }

  summary(cluster: string, db: string, coll: string): Promise<{ count: number; hash: string; firstIds: string[] }> {
    return this.call("summary", { cluster, db, coll });
  }

  insert(cluster: string, db: string, coll: string, docs: unknown[]): Promise<{ inserted: number }> {
    return this.call("insert", { cluster, db, coll, docs });
  }

  writesBlocked(cluster: string): Promise<{ blocked: boolean }> {
    return this.call("writesBlocked", { cluster });
  }
}

// One fresh provider process as the Pulumi dynamic-provider host drives it (@pulumi/pulumi
// cmd/dynamic-provider/index.js getProvider: deserialize, `configure` once, then `check`): prints, as JSON,
// how long loading the runtime, configure, the first check and the later checks took. Spawned by
// bench/index.ts, so "first" really is the process's first call.
import { performance } from "perf_hooks";

const inputs = (name: string) => ({
  __provider: "serialized-provider-text",
  resourceName: name,
  providerVersion: "0.1.0",
  source: { uri: "mongodb://app:pw@src1.example.com:27017/?replicaSet=rs0" },
  target: { uri: "mongodb+srv://migrator:pw@orders.abcde.mongodb.net/" },
  cutover: false,
});

let t = performance.now();
// eslint-disable-next-line @typescript-eslint/no-var-requires
const runtime = require("../provider/runtime") as typeof import("../provider/runtime");
const loadMs = performance.now() - t;
t = performance.now();
runtime.configure({ get: () => undefined });
const configureMs = performance.now() - t;
const checks: number[] = [];
for (let i = 0; i < 21; i++) {
  t = performance.now();
  const { failures } = runtime.check({}, inputs(`orders-${i}`));
  checks.push(performance.now() - t);
  if (failures.length > 0) throw new Error(`bench inputs failed check: ${JSON.stringify(failures)}`);
}
process.stdout.write(JSON.stringify({ loadMs, configureMs, firstMs: checks[0], laterMs: checks.slice(1) }));

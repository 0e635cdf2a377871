// What a ferretdb binary can do, asked once per binary through probe-child.js (a throwaway instance) and kept
// in a temp file keyed by the binary's path, size and mtime, so every FerretDB suite declares its skips from
// the same probe answers without starting its own probe server.
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Capability, ServerCapabilities } from "../../provider/cluster/capabilities";
import type { ConformanceCapabilities, ConformanceNeed } from "../conformance/cluster-port.conformance";

export interface FerretProbe {
  caps: ServerCapabilities;
  /** Which BSON values the server stores and gives back unchanged. */
  types: Record<"minMaxKeys" | "decimal128" | "javascript" | "nestedArrays" | "negativeZero" | "regexFlags" | "infinity" | "dollarFields" | "documentSizeLimit", Capability>;
  /** Which collection options createCollection accepts. */
  catalog: Record<"validators" | "collations" | "views" | "cappedCollections" | "ttlIndexes" | "timeseries", Capability>;
}

export function probeFerretDB(binary: string): FerretProbe {
  const st = fs.statSync(binary);
  const key = crypto.createHash("sha256").update(`${path.resolve(binary)}:${st.size}:${st.mtimeMs}:v6`).digest("hex").slice(0, 16);
  const cache = path.join(os.tmpdir(), `ferretdb-probe-${key}.json`);
  try {
    return JSON.parse(fs.readFileSync(cache, "utf8")) as FerretProbe;
  } catch {
    /* not probed yet */
  }
  const out = execFileSync(process.execPath, [path.join(__dirname, "probe-child.js"), binary], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 120_000,
  });
  const probe = JSON.parse(out.trim().split("\n").pop()!) as FerretProbe;
  fs.writeFileSync(`${cache}.${process.pid}`, JSON.stringify(probe));
  fs.renameSync(`${cache}.${process.pid}`, cache);
  return probe;
}

/** The conformance suite's declarations for this server: each missing need with the probe's answer. */
export function conformanceCapabilities(binary: string): ConformanceCapabilities {
  const { caps, types, catalog } = probeFerretDB(binary);
  const lacks: Partial<Record<ConformanceNeed, string>> = {};
  const note = (need: ConformanceNeed, c: Capability) => {
    if (!c.supported) lacks[need] = c.answer;
  };
  note("changeStreams", caps.changeStreams);
  note("userWriteBlocking", caps.userWriteBlocking);
  note("minMaxKeys", types.minMaxKeys);
  note("decimal128", types.decimal128);
  note("nestedArrays", types.nestedArrays);
  note("negativeZero", types.negativeZero);
  note("validators", catalog.validators);
  note("collations", catalog.collations);
  note("views", catalog.views);
  note("cappedCollections", catalog.cappedCollections);
  note("ttlIndexes", catalog.ttlIndexes);
  note("infinity", types.infinity);
  note("dollarFields", types.dollarFields);
  note("documentSizeLimit", types.documentSizeLimit);
  note("timeseries", catalog.timeseries);
  note("indexBounds", caps.indexBounds);
  // The FerretDB tier runs without authentication (tests/ferretdb/ferretdb-server.ts).
  return { writeBlocking: caps.userWriteBlocking.supported, truncation: false, accessControl: false, lacks };
}

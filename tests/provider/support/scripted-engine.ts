// An engine written for provider tests: it does what each test scripts and records every call.
// It is injected with jest.mock of the registry; the production registry has no way to hold it.
import type {
  CancelReport,
  CutoverReport,
  EngineContext,
  MigrationEngine,
  MigrationHandle,
  MigrationSpec,
  MigrationStatus,
  PreflightReport,
} from "../../../provider/engines/engine";
import { DeadlineExceededError } from "../../../provider/errors";

export interface Script {
  preflight?: PreflightReport;
  /** Returned by successive advance() calls; the last one repeats; "throw" makes that call fail. */
  advance: Array<MigrationStatus | "throw">;
  status?: MigrationStatus | "throw";
  /**
   * "deadline" makes that cutover() call throw DeadlineExceededError; "error" a plain failure; "refused" the
   * mongosync engine's MongosyncCommitNotAcceptedError with nothing committed (the sync runs on, READY).
   */
  cutover: Array<"ok" | "deadline" | "error" | "refused">;
  cancel?: CancelReport | "throw";
  linkToken?: string;
}

export const calls: Array<{ op: string; spec: MigrationSpec; handle?: MigrationHandle; deadlineInMs?: number; stored?: EngineContext["stored"] }> = [];
export let script: Script = defaultScript();

export function defaultScript(): Script {
  return { advance: [ready()], cutover: ["ok"] };
}

export function setScript(s: Partial<Script>): void {
  script = { ...defaultScript(), ...s };
  calls.length = 0;
}

export function ready(lag = 1): MigrationStatus {
  return { phase: "READY_FOR_CUTOVER", lagSeconds: lag, readyForCutover: true, copiedDocuments: 10, totalDocuments: 10, warnings: [] };
}

export function copying(copied: number, total: number): MigrationStatus {
  return { phase: "COPYING", lagSeconds: null, readyForCutover: false, copiedDocuments: copied, totalDocuments: total, warnings: [] };
}

export function failed(reason: string): MigrationStatus {
  return { phase: "FAILED", lagSeconds: null, readyForCutover: false, reason, warnings: [] };
}

let advanceIndex = 0;
let cutoverIndex = 0;

export function resetCounters(): void {
  advanceIndex = 0;
  cutoverIndex = 0;
}

export function createScriptedEngine(): MigrationEngine {
  const record = (op: string, spec: MigrationSpec, ctx: EngineContext, handle?: MigrationHandle) =>
    calls.push({ op, spec, handle, deadlineInMs: ctx.deadline - Date.now(), stored: ctx.stored });
  return {
    name: "builtin",
    async preflight(spec, ctx) {
      record("preflight", spec, ctx);
      return script.preflight ?? { ok: true, errors: [], warnings: [], facts: {} };
    },
    async start(spec, ctx) {
      record("start", spec, ctx);
      if (script.linkToken) ctx.publishSecret("linkToken", script.linkToken);
      ctx.log(`connecting to ${spec.source.uri}`);
      return { engine: "builtin", id: spec.migrationId, startedAt: "2026-11-25T12:00:00.000Z", data: { checkpoint: "on-target" } };
    },
    async advance(spec, handle, ctx) {
      record("advance", spec, ctx, handle);
      const status = script.advance[Math.min(advanceIndex, script.advance.length - 1)];
      advanceIndex++;
      if (status === "throw") throw new Error("target write failed at mongodb://migrator:t4rgetPw@orders.abcde.mongodb.net");
      return status;
    },
    async status(spec, handle, ctx) {
      record("status", spec, ctx, handle);
      if (script.status === "throw") throw new Error("connect ECONNREFUSED mongodb://app:s3cretPw@src1.example.com");
      return script.status ?? ready(3);
    },
    async cutover(spec, handle, ctx): Promise<CutoverReport> {
      record("cutover", spec, ctx, handle);
      const step = script.cutover[Math.min(cutoverIndex, script.cutover.length - 1)];
      cutoverIndex++;
      if (step === "deadline") throw new DeadlineExceededError("draining the last changes", { ...ready(2), phase: "CUTTING_OVER", readyForCutover: false });
      if (step === "error") throw new Error(`verification could not read mongodb://app:s3cretPw@src1.example.com`);
      if (step === "refused") {
        const { MongosyncCommitNotAcceptedError } = require("../../../provider/engines/mongosync") as typeof import("../../../provider/engines/mongosync");
        throw new MongosyncCommitNotAcceptedError("mongosync refused /commit: canCommit is false. Nothing was committed: the sync keeps running", ready(4), true);
      }
      return {
        phase: "COMPLETE",
        cutoverCompletedAt: "2026-11-25T13:00:00.000Z",
        verification: { mode: "full", passed: true, summary: "2 namespaces, 10 documents, hashes equal", namespaces: [] },
        warnings: ["source writes stay blocked"],
      };
    },
    async cancel(spec, handle, ctx) {
      record("cancel", spec, ctx, handle);
      if (script.cancel === "throw") throw new Error("source unreachable at mongodb://app:s3cretPw@src1.example.com");
      return script.cancel ?? { warnings: ["stopped"] };
    },
  };
}

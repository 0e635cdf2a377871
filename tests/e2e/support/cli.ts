// The real Pulumi CLI, driven the way users drive it: each operation is a fresh process (tests/e2e/support/driver.js,
// the Automation API with an inline program), on a local file backend with passphrase secrets, and `pulumi` itself
// for the commands that need no program (`stack export`). Nothing here is a double: the engine, the dynamic-provider
// plugin (pulumi-resource-pulumi-nodejs from node_modules) and the state file are Pulumi's own.
//
// Operations are spawned asynchronously on purpose: the emulators the programs talk to run in the test process,
// and a synchronous spawn would stop them answering.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { EngineEvent, OutputMap, StepEventMetadata } from "@pulumi/pulumi/automation";
import { REPO_ROOT } from "./harness";

export type Op = "preview" | "up" | "refresh" | "destroy" | "export" | "outputs" | "removeStack";
export type ConfigValues = Record<string, { value: string; secret?: boolean }>;

export interface OpResult {
  ok: boolean;
  error?: string;
  stdout: string;
  stderr: string;
  events: EngineEvent[];
  summary?: any;
  outputs?: OutputMap;
  deployment?: any;
}

const DRIVER = path.join(__dirname, "driver.js");
const PLUGIN_DIR = path.dirname(require.resolve("@pulumi/pulumi/package.json"));

export interface E2eStackOptions {
  /** The CLI binary (from the pulumi-cli tier). */
  pulumi: string;
  stackName: string;
  /** A module exporting `() => outputs`: the inline program. Copied into the project directory. */
  programFile: string;
  /** Where the project directory goes; its node_modules must resolve the package (default: under the repo). */
  root?: string;
  projectName?: string;
  /** Extra environment for every operation. */
  env?: Record<string, string>;
  /** Write no program: the caller lays out the project directory (its node_modules, its program.js). */
  bareProject?: boolean;
}

/**
 * How long one operation may take before it is killed and the test fails saying so. Generous on purpose (the
 * machine is shared): it bounds a hang, it is not a speed assertion.
 */
export const OP_TIMEOUT_MS = 6 * 60 * 1000;

/** Every process group this file started and has not seen exit: killed by `killAllSpawned` (afterAll). */
const liveGroups = new Set<number>();

/**
 * The process groups of `pid` and of every process descended from it (Linux /proc). The CLI starts each plugin in
 * a process group of its own (pulumi sdk/go/common/resource/plugin/plugin.go, RegisterProcessGroup), so killing
 * the driver's group alone would orphan the dynamic-provider host; its group has to be found while the CLI lives.
 */
export function groupsOfTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  const groupOf = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [pid];
  }
  for (const e of entries) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so split after the last ")".
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      const [, , ppid, pgrp] = stat.slice(stat.lastIndexOf(")") + 1).split(" ");
      parentOf.set(Number(e), Number(ppid));
      groupOf.set(Number(e), Number(pgrp));
    } catch {
      /* exited meanwhile */
    }
  }
  const groups = new Set<number>([pid]);
  const tree = new Set<number>([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [child, parent] of parentOf) {
      if (tree.has(parent) && !tree.has(child)) {
        tree.add(child);
        groups.add(groupOf.get(child) ?? child);
        grew = true;
      }
    }
  }
  return [...groups];
}

/** SIGKILLs the process group `pgid` and the groups of everything it started. */
function killTree(pgid: number): void {
  for (const group of groupsOfTree(pgid)) {
    try {
      process.kill(-group, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

/** SIGKILLs every process group an E2eStack started that is still running (drivers, CLIs and their plugins). */
export function killAllSpawned(): void {
  for (const pgid of liveGroups) killTree(pgid);
  liveGroups.clear();
}

/** One stack in its own project directory and file backend. `dispose()` destroys it and removes everything. */
export class E2eStack {
  readonly projectDir: string;
  readonly stateDir: string;
  readonly projectName: string;
  /** Everything every operation printed, for secret checks. */
  readonly printed: string[] = [];
  private readonly env: Record<string, string>;

  constructor(private readonly opts: E2eStackOptions) {
    this.projectName = opts.projectName ?? "atlas-migration-e2e";
    const base = path.join(opts.root ?? REPO_ROOT, ".pulumi-local");
    fs.mkdirSync(base, { recursive: true });
    this.projectDir = fs.mkdtempSync(path.join(base, "e2e-"));
    this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "atlas-migration-e2e-state-"));
    if (!opts.bareProject) fs.copyFileSync(opts.programFile, path.join(this.projectDir, "program.js"));
    fs.writeFileSync(
      path.join(this.projectDir, "Pulumi.yaml"),
      [`name: ${this.projectName}`, "runtime: nodejs", ""].join("\n"),
    );
    const home = path.join(this.stateDir, "pulumi-home");
    fs.mkdirSync(home, { recursive: true });
    this.env = {
      PULUMI_BACKEND_URL: `file://${this.stateDir}`,
      PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase-not-a-secret",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
      // Its own plugin cache: nothing from the machine's ~/.pulumi, nothing downloaded.
      PULUMI_HOME: home,
      // The dynamic-provider plugin ships in @pulumi/pulumi; the CLI finds bundled plugins on PATH.
      PATH: `${PLUGIN_DIR}${path.delimiter}${process.env.PATH ?? ""}`,
      ...(opts.env ?? {}),
    };
  }

  get programPath(): string {
    return path.join(this.projectDir, "program.js");
  }

  /** Runs one operation in a fresh driver process. */
  async run(
    op: Op,
    opts: { config?: ConfigValues; options?: Record<string, unknown>; env?: Record<string, string>; signalAfter?: (text: string) => boolean; timeoutMs?: number } = {},
  ): Promise<OpResult> {
    const dir = fs.mkdtempSync(path.join(this.stateDir, "op-"));
    const requestFile = path.join(dir, "request.json");
    const resultFile = path.join(dir, "result.json");
    fs.writeFileSync(
      requestFile,
      JSON.stringify({
        op,
        projectDir: this.projectDir,
        projectName: this.projectName,
        stackName: this.opts.stackName,
        program: this.programPath,
        pulumiRoot: path.dirname(path.dirname(this.opts.pulumi)),
        envVars: { ...this.env, ...(opts.env ?? {}) },
        config: opts.config,
        options: opts.options,
      }),
    );
    const timeoutMs = opts.timeoutMs ?? OP_TIMEOUT_MS;
    let timedOut = false;
    let seen = "";
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [DRIVER, requestFile, resultFile], {
        cwd: this.projectDir,
        env: { ...process.env, ...this.env, ...(opts.env ?? {}) },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true, // its own process group, so a Ctrl-C can be sent to it as a terminal would
      });
      const pgid = child.pid!;
      liveGroups.add(pgid);
      const killer = setTimeout(() => {
        timedOut = true;
        killTree(pgid);
      }, timeoutMs);
      let signalled = false;
      // Checked on every chunk of output and a few times a second: the condition may be about an emulator.
      const check = () => {
        if (!signalled && opts.signalAfter?.(seen)) {
          signalled = true;
          try {
            process.kill(-child.pid!, "SIGINT");
          } catch {
            /* already gone */
          }
        }
      };
      const timer = opts.signalAfter ? setInterval(check, 200) : undefined;
      child.on("exit", () => {
        if (timer) clearInterval(timer);
        clearTimeout(killer);
        // The driver is the group leader; the CLI and its plugins may outlive it for a moment. Anything of the
        // group still running after the driver is gone is a leftover: end it now rather than at afterAll.
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {
          /* the whole group is gone */
        }
        liveGroups.delete(pgid);
      });
      child.stdout.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        check();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        check();
      });
      child.on("error", reject);
      child.on("exit", (c) => resolve(c));
    });
    let result: OpResult;
    if (timedOut) {
      result = {
        ok: false,
        error: `e2e harness: \`${op}\` did not finish within ${timeoutMs / 1000}s and was killed (with its CLI and plugins); what it printed:\n${seen}`,
        stdout: seen,
        stderr: "",
        events: [],
      };
    } else {
      try {
        result = JSON.parse(fs.readFileSync(resultFile, "utf8"));
      } catch {
        result = { ok: false, error: `driver exited ${code} without a result; it printed:\n${seen}`, stdout: seen, stderr: "", events: [] };
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    this.printed.push(result.stdout, result.stderr, result.error ?? "");
    return result;
  }

  /** Runs the CLI itself (no program), in the project directory, with this stack's backend. */
  async cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.opts.pulumi, [...args, "--stack", this.opts.stackName, "--non-interactive"], {
        cwd: this.projectDir,
        env: { ...process.env, ...this.env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      const pgid = child.pid!;
      liveGroups.add(pgid);
      let stdout = "";
      let stderr = "";
      const killer = setTimeout(() => {
        stderr += `\ne2e harness: \`pulumi ${args.join(" ")}\` did not finish within ${OP_TIMEOUT_MS / 1000}s and was killed`;
        killTree(pgid);
      }, OP_TIMEOUT_MS);
      child.stdout.on("data", (c) => (stdout += c));
      child.stderr.on("data", (c) => (stderr += c));
      child.on("error", reject);
      child.on("exit", (code) => {
        clearTimeout(killer);
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {
          /* the whole group is gone */
        }
        liveGroups.delete(pgid);
        this.printed.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** The raw state file of the file backend, as it sits on disk. */
  rawStateFile(): string {
    const file = path.join(this.stateDir, ".pulumi", "stacks", this.projectName, `${this.opts.stackName}.json`);
    return fs.readFileSync(file, "utf8");
  }

  async dispose(): Promise<void> {
    try {
      await this.run("destroy");
      await this.run("removeStack");
    } finally {
      killAllSpawned();
      fs.rmSync(this.projectDir, { recursive: true, force: true });
      fs.rmSync(this.stateDir, { recursive: true, force: true });
    }
  }
}

/** The step of each resource a preview/up planned, from its resourcePreEvents. */
export function stepsOf(result: OpResult): StepEventMetadata[] {
  return result.events.filter((e) => e.resourcePreEvent).map((e) => e.resourcePreEvent!.metadata);
}

/** A resource's state in an exported deployment, by type and name. */
export function resourceIn(deployment: any, type: string, name?: string): any {
  return (deployment?.deployment?.resources ?? deployment?.resources ?? []).find(
    (r: { type: string; urn: string }) => r.type === type && (name === undefined || r.urn.endsWith(`::${name}`)),
  );
}

#!/usr/bin/env node
// One Pulumi operation through the Automation API, in a plain Node process, as a user's deployment script runs it.
//
// Why a separate process: the program is an inline program (the CLI reaches it over `--client`, so no
// pulumi-language-nodejs binary is needed) and it must load this package from dist/ through real Node module
// resolution, the way a user's program does — not through jest's module registry and TypeScript transform.
// Each operation gets a fresh process, like each `pulumi up` a user runs.
//
// Usage: node driver.js <request.json> <result.json>
// request: { op, projectDir, stackName, projectName, program, pulumiRoot, envVars, config, options }
//   op: "preview" | "up" | "refresh" | "destroy" | "export" | "outputs" | "removeStack"
//   program: path of a module exporting `(config) => outputs`, run as the inline program
//   config: stack config (keys without the project prefix; { value, secret }) set before the operation
// result: { ok, summary, outputs, stdout, stderr, events, error }
"use strict";
const fs = require("fs");
const path = require("path");

// Ctrl-C in a terminal reaches every process of the foreground group: the CLI, its plugins, and the program's host.
// Tests send SIGINT to this driver's group the same way; like a language host, the program side keeps running
// and lets the CLI decide what a cancel means.
process.on("SIGINT", () => undefined);

async function main() {
  const [requestFile, resultFile] = process.argv.slice(2);
  const req = JSON.parse(fs.readFileSync(requestFile, "utf8"));
  // Resolve the SDK from the project directory, as the program itself would.
  const automation = require(require.resolve("@pulumi/pulumi/automation", { paths: [req.projectDir] }));
  const out = { ok: false, stdout: "", stderr: "", events: [] };
  const write = () => fs.writeFileSync(resultFile, JSON.stringify(out));
  try {
    const pulumiCommand = await automation.PulumiCommand.get({ root: req.pulumiRoot, skipVersionCheck: true });
    const program = async () => {
      const run = require(req.program);
      return run();
    };
    const stack = await automation.LocalWorkspace.createOrSelectStack(
      { stackName: req.stackName, projectName: req.projectName, program },
      { workDir: req.projectDir, pulumiCommand, envVars: req.envVars },
    );
    if (req.config) await stack.setAllConfig(req.config);
    const opts = {
      ...(req.options || {}),
      onOutput: (s) => {
        out.stdout += s;
        process.stdout.write(s); // live, so a test can act on what the CLI has printed so far
      },
      onError: (s) => (out.stderr += s),
      onEvent: (e) => out.events.push(e),
    };
    switch (req.op) {
      case "preview": {
        const r = await stack.preview(opts);
        out.summary = r.changeSummary;
        break;
      }
      case "up": {
        const r = await stack.up(opts);
        out.summary = r.summary;
        out.outputs = r.outputs;
        break;
      }
      case "refresh": {
        const r = await stack.refresh(opts);
        out.summary = r.summary;
        break;
      }
      case "destroy": {
        const r = await stack.destroy(opts);
        out.summary = r.summary;
        break;
      }
      case "export":
        out.deployment = await stack.exportStack();
        break;
      case "outputs":
        out.outputs = await stack.outputs();
        break;
      case "removeStack":
        await stack.workspace.removeStack(req.stackName, { force: true });
        break;
      default:
        throw new Error(`driver: unknown op ${req.op}`);
    }
    out.ok = true;
  } catch (err) {
    out.error = String((err && err.message) || err);
    if (err && typeof err.stdout === "string" && !out.stdout) out.stdout = err.stdout;
    if (err && typeof err.stderr === "string") out.stderr += err.stderr;
  }
  write();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

// The package as users get it: `npm pack` of this repository (dist/ must be built), and the tarball laid out in a
// node_modules directory the way npm lays out a tarball dependency (its `package/` folder becomes the package
// directory). No registry is contacted: the tarball's own dependencies come from wherever the layout points.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "./harness";

export interface PackedFile {
  path: string;
  size: number;
}

const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

/** What `npm pack` would put in the tarball (`npm pack --dry-run --json`), without writing it. */
export function packedFiles(): PackedFile[] {
  const out = execFileSync(NPM, ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return JSON.parse(out)[0].files;
}

/** Packs the repository into `dir`; returns the tarball's path. */
export function packTarball(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const out = execFileSync(NPM, ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return path.join(dir, JSON.parse(out)[0].filename);
}

/**
 * Installs `tarball` as `<nodeModules>/pulumi-atlas-migration`, replacing what was there (an upgrade replaces the
 * directory the same way), and optionally stamps another version into its package.json — what a newer release
 * of the same code looks like to Pulumi: the provider reads its version from there.
 */
export function installTarball(tarball: string, nodeModules: string, opts: { version?: string } = {}): string {
  const dir = path.join(nodeModules, "pulumi-atlas-migration");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", dir, "--strip-components=1"]);
  if (opts.version) {
    const file = path.join(dir, "package.json");
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    pkg.version = opts.version;
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  }
  return dir;
}

/**
 * Links every top-level package of the repository's node_modules into `nodeModules`, except `omit`: a hoisted
 * install of our dependencies (one @pulumi/pulumi, as in a user's project) without the repository's own
 * self-link, so that only what a test installs can be found as "pulumi-atlas-migration".
 */
export function linkDependencies(nodeModules: string, omit: string[] = ["pulumi-atlas-migration"]): void {
  fs.mkdirSync(nodeModules, { recursive: true });
  const source = path.join(REPO_ROOT, "node_modules");
  for (const entry of fs.readdirSync(source)) {
    if (entry.startsWith(".") || omit.includes(entry)) continue;
    if (entry.startsWith("@")) {
      fs.mkdirSync(path.join(nodeModules, entry), { recursive: true });
      for (const scoped of fs.readdirSync(path.join(source, entry))) {
        if (omit.includes(`${entry}/${scoped}`)) continue;
        fs.symlinkSync(path.join(source, entry, scoped), path.join(nodeModules, entry, scoped));
      }
    } else {
      fs.symlinkSync(path.join(source, entry), path.join(nodeModules, entry));
    }
  }
}

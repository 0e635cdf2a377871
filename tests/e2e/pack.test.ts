// What the tarball ships (`npm pack`, package.json "files"): what users need to run and type-check the package, and
// nothing else — no examples, benchmarks, tests or TypeScript sources, and no source maps (they would point at
// sources the tarball does not carry; stack traces then name the shipped .js files, which are there to read).
// Needs dist/ (npm test builds it first). No CLI, no network.
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "./support/harness";
import { packedFiles } from "./support/package";

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));

describe("the packed tarball", () => {
  let files: string[];
  beforeAll(() => {
    if (!fs.existsSync(path.join(REPO_ROOT, "dist", "index.js"))) throw new Error("dist/ is not built: run `npm run build` first");
    files = packedFiles().map((f) => f.path);
  });

  test("ships no examples, benchmarks, tests, sources or source maps", () => {
    const unwanted = files.filter(
      (f) => /^dist\/(examples|bench|tests)\//.test(f) || /^(tests|examples|bench|scripts|\.ci)\//.test(f) || /\.test\.|\.map$/.test(f) || (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)),
    );
    expect(unwanted).toEqual([]);
  });

  test("ships every entry point package.json names: main, types, exports, bin, and the policy pack", () => {
    const targets = new Set<string>([pkg.main, pkg.types, ...Object.values(pkg.bin as Record<string, string>)]);
    for (const entry of Object.values(pkg.exports as Record<string, string | Record<string, string>>)) {
      for (const target of typeof entry === "string" ? [entry] : Object.values(entry)) targets.add(target);
    }
    const missing = [...targets].map((t) => t.replace(/^\.\//, "")).filter((t) => !files.includes(t));
    expect(missing).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(["README.md", "package.json", "policy-pack/PulumiPolicy.yaml", "policy-pack/index.js", "policy-pack/package.json"]));
  });

  test("the policy pack carries the package.json @pulumi/policy reads its version from, at the package's version", () => {
    // @pulumi/policy PolicyPack: require(`${process.cwd()}/package.json`).version, cwd being the pack's directory.
    const packJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "policy-pack", "package.json"), "utf8"));
    expect(packJson.version).toBe(pkg.version);
  });

  test("every relative require of a shipped file resolves inside the tarball", () => {
    const shipped = new Set(files);
    const broken: string[] = [];
    for (const file of files.filter((f) => f.endsWith(".js"))) {
      const text = fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
      for (const m of text.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
        const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]));
        const candidates = [base, `${base}.js`, `${base}.json`, `${base}/index.js`];
        if (!candidates.some((c) => shipped.has(c))) broken.push(`${file} → ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

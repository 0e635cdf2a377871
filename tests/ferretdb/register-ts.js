// For child processes of the FerretDB tier (probe-child.js, crash-child.ts): lets plain `node` require the
// TypeScript sources, transpiled on the fly like jest's ts-jest does (types are checked by `npm run typecheck:tests`).
"use strict";
const fs = require("fs");
const ts = require("typescript");

require.extensions[".ts"] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, "utf8"), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: filename,
  });
  module._compile(out.outputText, filename);
};

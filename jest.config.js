// Tests are TypeScript run through ts-jest (transpile only: `npm run build` type-checks the package first).
// Self-references to the package name resolve to the sources, so a test and the provider it drives share one
// copy of every module. Tests that must run the *serialized* provider spawn a fresh Node process on dist/.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.test.json" }] },
  moduleNameMapper: {
    "^pulumi-atlas-migration$": "<rootDir>/index.ts",
    "^pulumi-atlas-migration/testing$": "<rootDir>/testing/index.ts",
    "^pulumi-atlas-migration/provider-runtime$": "<rootDir>/provider/runtime.ts",
  },
  testTimeout: 60000,
  maxWorkers: 2,
};

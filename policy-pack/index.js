// The CrossGuard pack of pulumi-atlas-migration: `pulumi preview --policy-pack <this directory>`.
// The rules live in dist/policy (source: policy/index.ts); @pulumi/policy must be installed next to the package.
"use strict";
const { PolicyPack } = require("@pulumi/policy");
const { atlasMigrationPolicies } = require("../dist/policy");

new PolicyPack("atlas-migration", {
  description: "MongoDB → Atlas migrations declared with pulumi-atlas-migration",
  policies: atlasMigrationPolicies(),
});

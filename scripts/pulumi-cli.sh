#!/usr/bin/env bash
# Prints the path of a Pulumi CLI at least as new as the @pulumi/pulumi this package resolves.
#
# Order: `pulumi` on PATH (a laptop with Pulumi installed never builds), then a cached build keyed by version,
# then a build from Pulumi's own Go module at exactly our SDK's version (needs `go` and the Go module proxy).
# Everything but the path goes to stderr, so callers can do: PULUMI="$(scripts/pulumi-cli.sh)".
#
#   PULUMI_CLI_CACHE  where builds are kept (default: ~/.cache/pulumi-atlas-migration/pulumi-cli)
#   PULUMI_CLI_BUILD=0  never build; exit 3 if no suitable CLI exists
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

want="$(cd "$here" && node -p "require('@pulumi/pulumi/package.json').version" 2>/dev/null || true)"
if [ -z "$want" ]; then
  echo "pulumi-cli: @pulumi/pulumi is not installed here; run 'npm ci' first" >&2
  exit 2
fi

# version_ge A B: A >= B for plain x.y.z versions.
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

if command -v pulumi >/dev/null 2>&1; then
  have="$(pulumi version 2>/dev/null | sed -e 's/^v//' -e 's/[-+].*//' || true)"
  if [ -n "$have" ] && version_ge "$have" "$want"; then
    command -v pulumi
    exit 0
  fi
  echo "pulumi-cli: pulumi on PATH is ${have:-of unknown version}, older than our @pulumi/pulumi $want; using a build" >&2
fi

cache="${PULUMI_CLI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-atlas-migration/pulumi-cli}"
bin="$cache/v$want/bin/pulumi"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

if [ "${PULUMI_CLI_BUILD:-1}" = "0" ]; then
  echo "pulumi-cli: no pulumi >= $want on PATH or in $cache, and PULUMI_CLI_BUILD=0" >&2
  exit 3
fi
if ! command -v go >/dev/null 2>&1; then
  echo "pulumi-cli: no pulumi >= $want on PATH and no Go toolchain to build one; install Pulumi (https://www.pulumi.com/docs/install/)" >&2
  exit 3
fi

start=$(date +%s)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# A private module cache keeps the download measurable and leaves the user's GOPATH alone.
export GOMODCACHE="${PULUMI_CLI_GOMODCACHE:-$cache/gomod}"
export GOFLAGS="-mod=mod"
echo "pulumi-cli: building the Pulumi CLI v$want from its Go module (once per version; this takes minutes)" >&2
(
  cd "$scratch"
  go mod init pulumi-cli-build >/dev/null 2>&1
  go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$want" -require="github.com/pulumi/pulumi/sdk/v3@v$want"
  # pkg/v3's own go.mod may carry replace directives its build depends on; a dependency's replaces do not apply
  # to us, so copy the non-local ones (local ones point into Pulumi's repository, which we do not have).
  go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$want" >"$scratch/pkg.json"
  pkgmod="$(node -p "JSON.parse(require('fs').readFileSync('$scratch/pkg.json','utf8')).GoMod")"
  node - "$pkgmod" <<'JS' | while read -r line; do [ -n "$line" ] && go mod edit -replace="$line"; done
const text = require("fs").readFileSync(process.argv[2], "utf8");
const lines = [];
const add = (l) => {
  const m = l.trim().match(/^(\S+)(?:\s+(\S+))?\s*=>\s*(\S+)(?:\s+(\S+))?$/);
  if (!m) return;
  const [, from, fromV, to, toV] = m;
  if (to.startsWith(".") || to.startsWith("/")) return; // local path: not usable outside their repo
  lines.push(`${from}${fromV ? "@" + fromV : ""}=${to}${toV ? "@" + toV : ""}`);
};
let block = false;
for (const raw of text.split("\n")) {
  const l = raw.replace(/\/\/.*$/, "").trim();
  if (block) { if (l === ")") block = false; else add(l); continue; }
  if (l === "replace (") { block = true; continue; }
  if (l.startsWith("replace ")) add(l.slice("replace ".length));
}
console.log(lines.join("\n"));
JS
  go mod tidy >/dev/null 2>&1 || true
  go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$want" >&2
  mkdir -p "$cache/v$want/bin"
  go build -trimpath -o "$bin.tmp" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$want" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
  mv "$bin.tmp" "$bin"
)
took=$(( $(date +%s) - start ))
size="$(du -sh "$GOMODCACHE" 2>/dev/null | cut -f1 || echo '?')"
echo "pulumi-cli: built $bin in ${took}s (module cache $GOMODCACHE: $size)" >&2
echo "$bin"

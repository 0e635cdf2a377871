#!/usr/bin/env bash
# Builds an older revision's dist for the bench's "before" side (bench/index.ts BENCH_BASELINE) and prints its
# path. Default: aaf27ce, the builtin engine as it was when the performance issue (issue 11) measured it.
#
#   BENCH_BASELINE=$(bash scripts/bench-baseline.sh) npm run bench
#
# Cached by revision under .cache/bench-baseline/<rev> (a detached worktree using this checkout's node_modules).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rev="$(git -C "$root" rev-parse --short "${1:-aaf27ce}")"
dir="$root/.cache/bench-baseline/$rev"
if [ ! -f "$dir/dist/provider/engines/builtin/index.js" ]; then
  rm -rf "$dir"
  git -C "$root" worktree prune
  git -C "$root" worktree add --detach --force "$dir" "$rev" >&2
  ln -s "$root/node_modules" "$dir/node_modules"
  (cd "$dir" && npx tsc -p . --outDir dist) >&2
fi
echo "$dir/dist"

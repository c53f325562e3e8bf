#!/usr/bin/env bash
# Regenerates every generated file from Protos/: protoc-c C code, then the Swift bindings.
# proto.sh check: regenerates into a scratch copy and fails if the committed output differs.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = check ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  ./deploy/scripts/gen-c.sh "$tmp/CMessages"
  diff -r Sources/CMessages "$tmp/CMessages" >/dev/null || { echo "stale: Sources/CMessages differs from Protos/ (run make proto)" >&2; diff -r Sources/CMessages "$tmp/CMessages" | sed -n 1,20p >&2; exit 1; }
  swift build --product nexa-protogen -q
  "$(swift build --show-bin-path)/nexa-protogen" "$tmp/Generated" >/dev/null
  diff -r Sources/Messages/Generated "$tmp/Generated" >/dev/null || { echo "stale: Sources/Messages/Generated differs from Protos/ (run make proto)" >&2; diff -r Sources/Messages/Generated "$tmp/Generated" | sed -n 1,20p >&2; exit 1; }
  echo "generated code is up to date"
else
  ./deploy/scripts/gen-c.sh
  swift build --product nexa-protogen -q
  "$(swift build --show-bin-path)/nexa-protogen" Sources/Messages/Generated
fi

#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing (libFuzzer) of the frame decoders and protobuf-c message
# decoding, for FUZZ_SECONDS (default 60), with memory and per-input time limits. A crash, a leak
# past the limit or a slow input stops it non-zero and leaves the input in .data/fuzz-findings.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
corpus=.data/fuzz-corpus findings=.data/fuzz-findings
mkdir -p "$corpus" "$findings"
swift build --product nexa-fuzz -q
"$(swift build --show-bin-path)/nexa-fuzz" --write-seeds "$corpus"
# gold cannot link libFuzzer builds here; the toolchain's lld can.
toolchain=$(dirname "$(readlink -f "$(command -v swift)")")
toolset=$(mktemp); trap 'rm -f "$toolset"' EXIT
cat > "$toolset" <<JSON
{ "schemaVersion": "1.0",
  "swiftCompiler": { "extraCLIOptions": ["-sanitize=fuzzer", "-DLIBFUZZER", "-use-ld=lld"] },
  "linker": { "path": "$toolchain/ld.lld" } }
JSON
swift build -c release --product nexa-fuzz --scratch-path .build-fuzz --toolset "$toolset"
"$(swift build -c release --scratch-path .build-fuzz --show-bin-path)/nexa-fuzz" \
  -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=1024 -timeout=5 -artifact_prefix="$findings/" \
  -print_final_stats=1 "$corpus"

#!/usr/bin/env bash
# The main job on a bundled Reference model: installs what is missing, builds qverify in release
# mode, runs it on Reference/lenet and writes its output under Reports/lenet/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product qverify 2>&1 | grep -E "error|warning: unre|Compiling qverify|Build complete" || true
bin=.build/release/qverify
model=Reference/lenet/aidge_quantized_folded.onnx
out=Reports/lenet
mkdir -p "$out"
"$bin" inspect "$model" | tee "$out/inspect.txt"
"$bin" inspect --json "$model" > "$out/inspect.json"
echo "wrote $out/inspect.txt and $out/inspect.json"

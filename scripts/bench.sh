#!/usr/bin/env bash
# Benchmark qverify against onnxruntime, Aidge's CPU backend and onnx.reference (one thread each,
# same inputs, one run) and print the ratios, memory and per-op profile. See README "Performance".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --aidge
export PATH=/opt/swift/usr/bin:$PATH
scripts/build.sh -c release --static-swift-stdlib --product qverify
exec .venv/bin/python scripts/bench.py .build/release/qverify "$@"

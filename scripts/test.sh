#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what is missing, builds, runs
# `swift test` (unit, golden, CLI and bad-input tests) and the onnx/onnxruntime round-trip check.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH

echo "--- swift format lint (.swift-format: 120 columns, layout only; swift format format --in-place fixes it)"
swift format lint --strict --parallel --configuration .swift-format $(git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Package.swift' 2>/dev/null || find Sources Tests -name '*.swift')

# Optimized build with testable imports: the suite runs the same code users run (5× faster than a
# debug build, whose -Onone Swift dominated the CLI tests). build.sh recovers from a cache built
# before setup.sh installed the libraries.
build=(-c release -Xswiftc -enable-testing)
scripts/build.sh "${build[@]}" --build-tests
swift test "${build[@]}" --skip-build 2>&1 | tee .build/test-output.txt | grep -E "error:|failed|Executed .* tests" | tail -n 40
grep -q "with 0 failures" <(grep "Executed" .build/test-output.txt | tail -n 1) || { echo "swift test failed" >&2; exit 1; }

bin=.build/release/qverify

echo "--- geometry sweep against onnxruntime, bit for bit, on every kernel path this CPU has (scripts/sweep_ops.py)"
.venv/bin/python scripts/sweep_ops.py "$bin" --count "${SWEEP_COUNT:-40}" --seed "${SWEEP_SEED:-1}"
echo "--- the same at ORT_ENABLE_ALL (qverify --ort-level enable): onnxruntime's fusions of QDQ and quantized models"
.venv/bin/python scripts/sweep_ops.py "$bin" --level enable --count "${SWEEP_COUNT:-40}" --seed "${SWEEP_SEED:-1}" \
  --ops qdqconv,qdqconv2,qlinearconv,depthwise,qgemm,qlinearmatmul,qlinearaveragepool,qlinearglobalaveragepool,qlinearlookup,qlinearconcat,qdqunary,convtransposeq,qlinearsoftmax,binary

if grep -qw avx512f /proc/cpuinfo; then
  echo "--- AVX-512 host: the sweep above ran the AVX-512 and VNNI kernels themselves"
  if grep -qw avx512_vnni /proc/cpuinfo; then
    echo "--- VNNI host: the Reference goldens recorded on a VNNI host through its own kernels (scripts/check_vnni_goldens.py)"
    .venv/bin/python scripts/check_vnni_goldens.py "$bin"
  fi
else
  echo "--- the AVX-512 and VNNI kernels, emulated through SIMDe on this AVX2 host (scripts/emulated_avx512.sh)"
  scripts/emulated_avx512.sh --count "${SWEEP_COUNT:-40}" --seed "${SWEEP_SEED:-1}"
fi

echo "--- full-size ResNet-18 and MobileNetV2 at 224x224 from real Aidge: every tensor against Aidge's CPU backend and onnxruntime, verify's figures against onnxruntime vs Aidge (scripts/check_full_size.py)"
scripts/setup.sh --aidge
.venv/bin/python scripts/check_full_size.py "$bin"

echo "--- round trip through qverify's IR (onnx.checker + onnxruntime)"
.venv/bin/python scripts/check_roundtrip.py "$bin" Reference

echo "--- qverify convert: every Aidge-form Reference model to QDQ and QOP (onnx.checker full_check + onnxruntime)"
.venv/bin/python scripts/check_conversions.py "$bin" Reference

echo "--- junit.xml read by a CI JUnit reader (junitparser, Jenkins xunit junit-10 flavor): one failed testcase per cause"
jdir=$(mktemp -d)
"$bin" compare Reference/lenet/aidge_quantized.onnx Reference/lenet/aidge_qdq.onnx --inputs Reference/lenet/calib_inputs.npy --report-dir "$jdir/lenet_aidge_qdq" >/dev/null || true
"$bin" verify Reference/mobilenet/aidge_quantized_folded.onnx --inputs Reference/mobilenet/calib_inputs.npy --targets none \
  --aidge-scaling-factors Reference/mobilenet/aidge_quantized_folded.sf.json --report-dir "$jdir/mobilenet_folded" >/dev/null || true
"$bin" verify Reference/cnn/aidge_quantized.onnx --inputs Reference/cnn/calib_inputs.npy --targets none --report-dir "$jdir/cnn" >/dev/null || true
.venv/bin/python scripts/check_junit.py "$jdir/lenet_aidge_qdq" "$jdir/mobilenet_folded" "$jdir/cnn"
rm -rf "$jdir"

echo "--- coverage-guided fuzzing of the file readers (libFuzzer + ASan), 60 s per target from the committed corpus"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

echo "--- value fuzz: degenerate scales and zero points in the Reference models (exit 0/1/2, never a crash)"
FUZZ_RUNS=${FUZZ_RUNS:-50} .venv/bin/python scripts/fuzz_values.py "$bin"

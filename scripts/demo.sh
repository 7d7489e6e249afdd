#!/usr/bin/env bash
# The main job on bundled Reference models: installs what is missing, builds qverify in release
# mode, then
#   1. verifies Reference/lenet's Aidge-form export: converts it to QDQ and QOP, runs all three
#      on the calibration inputs and writes the report to Reports/lenet/ (expected: equivalent, with isa-saturation warnings for onnxruntime on
#      x86 without VNNI at ORT_ENABLE_ALL, and the per-target table);
#   2. compares Aidge's own QDQ export of lenet with the Aidge-form model, writing
#      Reports/lenet_aidge_qdq/ (expected: discrepancy, Aidge's zero-bias bug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH
scripts/build.sh -c release --static-swift-stdlib --product qverify
bin=.build/release/qverify

echo "== qverify verify Reference/lenet/aidge_quantized_folded.onnx"
"$bin" verify Reference/lenet/aidge_quantized_folded.onnx --inputs Reference/lenet/calib_inputs.npy --report-dir Reports/lenet

echo
echo "== qverify compare: Aidge's own QDQ export against the Aidge-form model"
status=0
"$bin" compare Reference/lenet/aidge_quantized.onnx Reference/lenet/aidge_qdq.onnx --inputs Reference/lenet/calib_inputs.npy \
  --report-dir Reports/lenet_aidge_qdq || status=$?
[ "$status" = 1 ] && echo "(exit 1 as expected: the discrepancy above is Aidge's zero-bias bug)"
[ "$status" = 1 ] || { echo "unexpected exit $status" >&2; exit 1; }
echo
echo "Open Reports/lenet/report.html and Reports/lenet_aidge_qdq/report.html in a browser."

#!/usr/bin/env bash
# Coverage-guided fuzzing of qverify's readers of untrusted files with libFuzzer + AddressSanitizer.
#   scripts/fuzz.sh [SECONDS] [TARGET…]   run each target (default: onnx npy npz sf) for SECONDS
#                                         (default 60) from the committed corpus
#   scripts/fuzz.sh --replay              replay the committed corpus and past crashes (no fuzzing)
# Corpora: Tests/Fixtures/fuzz/<target>/ (seeded from Reference/ and Tests/Fixtures; new inputs
# libFuzzer finds go to .build/fuzz/corpus/<target>). A crash leaves its input in
# .build/fuzz/crash-* and fails the script; fixed crashes are kept in Tests/Fixtures/fuzz/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH=/opt/swift/usr/bin:$PATH
corpus=Tests/Fixtures/fuzz
targets=(onnx npy npz sf)

seed() {  # the starting corpus, from real files
  mkdir -p "$corpus"/{onnx,npy,npz,sf}
  [ -n "$(ls -A "$corpus/onnx")" ] && return 0
  for f in Reference/lenet/*.onnx Reference/lenet4bit/aidge_quantized.onnx Reference/single_shift/aidge_quantized.onnx Tests/Fixtures/bad/*.onnx; do
    cp "$f" "$corpus/onnx/$(echo "$f" | tr / _)"; done
  for f in Reference/lenet/calib_inputs.npy Reference/lenet/aidge_cpu_folded.npy Reference/lenet/aidge_folded_inputs.npy Reference/digits/labels.npy; do
    [ -f "$f" ] && cp "$f" "$corpus/npy/$(echo "$f" | tr / _)"; done
  for f in Reference/lenet/*.npz; do cp "$f" "$corpus/npz/$(echo "$f" | tr / _)"; done
  for f in Reference/*/aidge_quantized*.sf.json; do cp "$f" "$corpus/sf/$(echo "$f" | tr / _)"; done
}

if [ "${1:-}" = "--replay" ]; then
  scripts/build.sh --product qverify-fuzz
  for t in "${targets[@]}"; do .build/debug/qverify-fuzz "$t" "$corpus/$t"/*; done
  exit 0
fi

seconds=${1:-60}
shift || true
[ $# -gt 0 ] && targets=("$@")
seed
# libFuzzer and ASan instrument qverify's Swift code; the C kernels are not involved in reading.
swift build -c debug --product qverify-fuzz --build-path .build/fuzz-build \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -D -Xswiftc FUZZING -Xcc -fsanitize=address 2>&1 | grep -E "error|Compiling qverify-fuzz|Build complete" || true
bin=.build/fuzz-build/debug/qverify-fuzz
[ -x "$bin" ] || { echo "fuzz: build failed" >&2; exit 2; }
mkdir -p .build/fuzz
status=0
for t in "${targets[@]}"; do
  mkdir -p ".build/fuzz/corpus/$t"
  echo "== $t: ${seconds}s"
  if ! LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp QVERIFY_FUZZ_TARGET=$t "$bin" -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=4096 -timeout=20 \
       -artifact_prefix=".build/fuzz/$t-" -print_final_stats=1 ".build/fuzz/corpus/$t" "$corpus/$t" 2>".build/fuzz/$t.log"; then
    status=1
    echo "fuzz: $t found a crash (input in .build/fuzz/$t-crash-*); log: .build/fuzz/$t.log" >&2
  fi
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb" ".build/fuzz/$t.log" | sed "s/^/  $t /" || true
done
exit $status

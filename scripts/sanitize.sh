#!/usr/bin/env bash
# The test suite under the tools that find memory and concurrency bugs:
#   scripts/sanitize.sh address [FILTER]   AddressSanitizer + UndefinedBehaviorSanitizer (Swift and
#                                          the C kernels, leaks included) on the XCTest suite
#   scripts/sanitize.sh thread [FILTER]    ThreadSanitizer on the tests that run threads
#   scripts/sanitize.sh                    both
# Separate build folders (.build/asan, .build/tsan); exit 1 on any report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH=/opt/swift/usr/bin:$PATH
mode=${1:-all}
filter=${2:-}
status=0
run() {  # $1 build folder, $2 log name, rest: extra build flags
  local dir=$1 log=$2; shift 2
  echo "== $log: building"
  if ! swift build --build-tests --build-path "$dir" "$@" >".build/$log-build.log" 2>&1; then
    grep -E "error" ".build/$log-build.log" | head -5
    echo "sanitize: the $log build failed (.build/$log-build.log)" >&2
    status=2
    return
  fi
  echo "== $log: testing${filter:+ ($filter)}"
  # CLI tests run commands in-process; the few process smoke tests start the qverify of this build
  # (TestPaths finds it next to the test bundle).
  if ! swift test --skip-build --build-path "$dir" ${filter:+--filter "$filter"} >".build/$log.log" 2>&1; then status=1; fi
  grep -E "Executed .* tests" ".build/$log.log" | tail -1 || true
  # Reports go to files (log_path): CLI tests capture the in-process command's stderr.
  # (A report file holding only LeakSanitizer's "Suppressions used" table is no finding.)
  if cat "$reports"/* ".build/$log.log" 2>/dev/null | grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer|Illegal instruction|signal 4"; then
    status=1
    cat "$reports"/* ".build/$log.log" 2>/dev/null | grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer|SUMMARY" | sort | uniq -c | head -20
    echo "   reports: $reports/"
  else
    echo "   no sanitizer report"
  fi
}
reports=$PWD/.build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
export TSAN_OPTIONS="halt_on_error=1:log_path=$reports/tsan"
if [ "$mode" = address ] || [ "$mode" = all ]; then
  # swiftc has no UBSan on Linux: the C kernels get it with traps (undefined behaviour stops the
  # test with SIGILL at the faulting instruction; no runtime library needed).
  # -Xcc -O2: the C kernels optimized as in a release build (the suite at -O0 C is slow).
  run .build/asan asan -Xcc -O2 -Xswiftc -sanitize=address -Xcc -fsanitize=address -Xcc -fsanitize=undefined -Xcc -fsanitize-trap=undefined
fi
if [ "$mode" = thread ] || [ "$mode" = all ]; then
  # The tests that run batches on several threads (inOrderParallel, shared weight caches).
  filter=${filter:-"RunTests|BatchTests|HarnessTests|VerifyTests.testSharded|ZeroSizedTensorTests"}
  run .build/tsan tsan -Xcc -O2 -Xswiftc -sanitize=thread -Xcc -fsanitize=thread
fi
exit $status

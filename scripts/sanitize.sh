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
  if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer|Illegal instruction|signal 4" ".build/$log.log"; then
    status=1
    grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer|SUMMARY" ".build/$log.log" | sort | uniq -c | head -20
  else
    echo "   no sanitizer report"
  fi
}
mkdir -p .build
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1"
if [ "$mode" = address ] || [ "$mode" = all ]; then
  # swiftc has no UBSan on Linux: the C kernels get it with traps (undefined behaviour stops the
  # test with SIGILL at the faulting instruction; no runtime library needed).
  run .build/asan asan -Xswiftc -sanitize=address -Xcc -fsanitize=address -Xcc -fsanitize=undefined -Xcc -fsanitize-trap=undefined
fi
if [ "$mode" = thread ] || [ "$mode" = all ]; then
  # The tests that run batches on several threads (inOrderParallel, shared weight caches).
  filter=${filter:-"RunTests|BatchTests|HarnessTests|VerifyTests.testSharded"}
  run .build/tsan tsan -Xswiftc -sanitize=thread -Xcc -fsanitize=thread
fi
exit $status

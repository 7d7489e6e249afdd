#!/usr/bin/env bash
# swift build "$@", recovering from a build cache made before scripts/setup.sh installed the
# Debian packages: SwiftPM keeps the failed link state, so after the install the build still fails
# with "undefined reference to protobuf_c_message_unpack" until .build is removed. This notices
# that (or any missing system library at link time), removes .build once and builds again.
# Progress lines are filtered; errors and warnings are shown. Exit code: swift build's.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
show() { grep -vE '^\[[0-9]+/[0-9]+\]|^Building|^Compiling|^Write|^Linking|^Emitting|^Planning' "$log" || true; }
if swift build "$@" >"$log" 2>&1; then show; exit 0; fi
if grep -qE "undefined reference to .?(protobuf_c_|cblas_|openblas_)|cannot find -l(protobuf-c|openblas)|protobuf-c/protobuf-c.h.* not found|cblas.h.* not found" "$log"; then
  echo "build: the build cache predates the system libraries (libprotobuf-c, libopenblas: scripts/setup.sh installs them); removing .build and building again" >&2
  rm -rf .build
  if swift build "$@" >"$log" 2>&1; then show; exit 0; fi
fi
show >&2
exit 1

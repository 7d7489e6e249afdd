#!/usr/bin/env bash
# Installs everything qverify needs on a fresh Debian machine (idempotent; quiet when done):
#   Debian: libopenblas-dev, libprotobuf-c-dev, protobuf-c-compiler, pkg-config, libsimde-dev (the
#   emulated AVX-512 test build, scripts/emulated_avx512.sh)
#   Python venv .venv: onnx, onnxruntime, numpy (round-trip/golden checks) and, with --aidge,
#   the Eclipse Aidge 0.10.1 packages and scikit-learn (fixture generation: real data, benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."

want_aidge=0
[ "${1:-}" = "--aidge" ] && want_aidge=1

missing=()
for p in libopenblas-dev libprotobuf-c-dev protobuf-c-compiler pkg-config libsimde-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { [ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH; }
command -v swift >/dev/null || { echo "setup: no Swift toolchain on PATH" >&2; exit 2; }

py=python3
[ -x .venv/bin/python ] || { echo "setup: creating .venv" >&2; $py -m venv .venv; }
pkgs=(numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 junitparser==5.0.3)
[ $want_aidge = 1 ] && pkgs+=(aidge-core==0.10.1 aidge-backend-cpu==0.10.1 aidge-onnx==0.10.1 aidge-quantization==0.10.1 scikit-learn==1.9.1)
if ! .venv/bin/python - "${pkgs[@]}" >/dev/null 2>&1 <<'PY'
import sys, importlib.metadata as md
for spec in sys.argv[1:]:
    name, ver = spec.split("==")
    assert md.version(name) == ver, spec
PY
then
  echo "setup: installing ${pkgs[*]} into .venv" >&2
  .venv/bin/pip install -q --disable-pip-version-check "${pkgs[@]}"
fi

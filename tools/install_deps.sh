#!/usr/bin/env bash
# Installs everything the build, tests, benchmarks and recipes need on Debian 12, then
# fetches the local real data (tools/fetch_data.sh). Idempotent: installed packages and
# verified downloads are skipped. Run as root (or with sudo available).
#
#   bash tools/install_deps.sh            # packages + data
#   bash tools/install_deps.sh --no-data  # packages only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FETCH_DATA=1
for arg in "$@"; do
  case "$arg" in
    --no-data) FETCH_DATA=0 ;;
    *) echo "install_deps.sh: unknown argument '$arg' (known: --no-data)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  g++ libc6-dev                       # the C++ toolchain Bazel drives
  bazel-bootstrap bazel-rules-java    # Bazel 4.2.3 and its Java rules (offline)
  libtorch-dev                        # LibTorch 1.13 C++ API
  libopenblas0-openmp                 # the BLAS LibTorch should call (70x the reference),
                                      # built on OpenMP like LibTorch and oneDNN (see below)
  libdnnl-dev                         # oneDNN: INT8 / fp32 GEMMs
  libsentencepiece-dev                # sentencepiece tokenizer + trainer
  libabsl-dev libbenchmark-dev libgtest-dev libgmock-dev
  libyaml-cpp-dev nlohmann-json3-dev  # recipes (YAML), configs and reports (JSON)
  zlib1g-dev                          # gzipped IDX files (datasets/vision)
  dataset-fashion-mnist               # Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist
  libgloo-dev                         # Gloo headers c10d's ProcessGroupGloo.hpp includes (distributed)
  libonnx-dev libprotobuf-dev         # ONNX protobuf classes + checker (export/)
  clang libclang-rt-dev               # libFuzzer + sanitizer runtimes (--config=fuzz / asan)
  iproute2                            # ip netns / veth: the two-host test (recipes:multi_host_test)
  ca-certificates
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)                # npm fetches the local corpora and the node clients
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install_deps.sh: run as root (missing packages: ${missing[*]:-none})" >&2; exit 1
  fi
fi

if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "install_deps: all ${#PACKAGES[@]} packages already installed"
fi

# Debian's LibTorch calls whatever libblas.so.3 the alternatives system selects. Select the
# OpenMP build of OpenBLAS: it shares libgomp's thread pool with LibTorch and oneDNN, where
# the pthread build's threads fight OpenMP's spinning ones for the cores (measured here:
# BERT-base INT8 encoder 2.84x fp32 with it, 1.53x with the pthread build).
ARCH_LIB=/usr/lib/x86_64-linux-gnu
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  wanted="$ARCH_LIB/openblas-openmp/$lib"
  if [[ -e "$wanted" && "$(readlink -f "$ARCH_LIB/$lib")" != "$(readlink -f "$wanted")" ]]; then
    $SUDO update-alternatives --quiet --set "$lib-x86_64-linux-gnu" "$wanted"
  fi
done
blas="$(readlink -f "$ARCH_LIB/libblas.so.3" || true)"
case "$blas" in
  *openblas-openmp*) echo "install_deps: BLAS is OpenBLAS (OpenMP build: $blas)" ;;
  *openblas*) echo "install_deps: BLAS is OpenBLAS ($blas)" ;;
  *) echo "install_deps: WARNING: libblas.so.3 is $blas, not OpenBLAS; matrix products will" \
          "be ~70x slower. Fix: apt-get install libopenblas0-openmp" >&2 ;;
esac

# The real clients the conformance tests run our saved models and tokenizers with
# (tools/node_clients): transformers.js and ONNX Runtime for Node, at the versions and
# integrity hashes (sha512) pinned in its package-lock.json, which `npm ci` verifies.
# --ignore-scripts: onnxruntime-node's install script downloads GPU builds (and fails
# offline); its CPU library ships inside the package. Skipped while the stamp records the
# current lockfile's sha256 and both packages load.
NODE_CLIENTS="$ROOT/tools/node_clients"
node_clients_load() {
  (cd "$NODE_CLIENTS" && node -e "require('onnxruntime-node'); require('@huggingface/transformers')") \
    >/dev/null 2>&1
}
lock_sum="$(sha256sum "$NODE_CLIENTS/package-lock.json" | cut -d ' ' -f 1)"
stamp="$NODE_CLIENTS/installed.stamp"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_sum" ]] && node_clients_load; then
  echo "install_deps: node clients already installed ($NODE_CLIENTS/node_modules)"
elif ! command -v npm >/dev/null 2>&1 || ((node_major < 20)); then
  # transformers.js needs node >= 20; without it the real-client tests skip, saying why.
  echo "install_deps: skipping the node clients: they need node >= 20 and npm (found node" \
       "$(node --version 2>/dev/null || echo none)); //tests:real_clients_test will skip" >&2
else
  rm -f "$stamp"
  if ! (cd "$NODE_CLIENTS" && NPM_CONFIG_UPDATE_NOTIFIER=false npm ci --ignore-scripts \
        --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "install_deps.sh: npm ci in $NODE_CLIENTS failed (see npm's message above)" >&2
    exit 1
  fi
  node_clients_load || {
    echo "install_deps.sh: $NODE_CLIENTS/node_modules was installed but does not load in node" \
         "$(node --version 2>&1) (transformers.js needs node >= 20)" >&2
    exit 1
  }
  echo "$lock_sum" >"$stamp"
  echo "install_deps: installed onnxruntime-node and @huggingface/transformers (integrity verified)"
fi

if ((FETCH_DATA)); then
  if [[ -x "$ROOT/tools/fetch_data.sh" || -f "$ROOT/tools/fetch_data.sh" ]]; then
    bash "$ROOT/tools/fetch_data.sh"
  fi
fi
echo "install_deps: done"

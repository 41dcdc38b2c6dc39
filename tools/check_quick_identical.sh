#!/usr/bin/env bash
# Checks that two output directories of the same recipe run (e.g. `bazel run
# //recipes:prune_once_for_all -- --quick --output_dir=DIR` on two commits) hold byte-identical
# models and identical metrics:
#  - models and configs (*.safetensors, config.json, latest_checkpoint) must match by sha256;
#  - optimizer state (*.pt, a torch::save zip) must hold the same tensor blobs: LibTorch writes
#    them in an order that differs from run to run of the same binary (measured: two runs of
#    one commit), so the sorted sha256s of the archive's data entries are compared;
#  - every JSON / JSONL file must match after replacing each run's output directory by <OUT>
#    and dropping the fields that legitimately vary between runs: wall-clock timings
#    (seconds, stages_seconds, steps_per_second, latency_ms_*), linear_kernels (deploy
#    picks the faster kernel per layer by timing it at load) and the crc32 checksums that
#    trainer_state.json records (one covers optimizer.pt, whose bytes vary as above; the
#    files they cover are compared themselves).
# results.md and the SVG plots carry the same numbers plus timings, so they are not compared.
#
#   tools/check_quick_identical.sh OUT_BEFORE OUT_AFTER     # exit 0 iff identical
set -euo pipefail
if [[ $# -ne 2 || ! -d "$1" || ! -d "$2" ]]; then
  echo "usage: $0 OUT_DIR_BEFORE OUT_DIR_AFTER" >&2
  exit 2
fi
exec python3 - "$1" "$2" <<'PY'
import hashlib, json, os, re, sys, zipfile

before, after = (os.path.abspath(d).rstrip("/") for d in sys.argv[1:3])
VARYING = re.compile(r"^(seconds|stages_seconds|steps_per_second|latency_ms_.*|"
                     r"linear_kernels|crc32)$")
BINARY = re.compile(r"(\.safetensors|/config\.json|/latest_checkpoint)$")


def files(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def blobs(path):
    with zipfile.ZipFile(path) as z:
        return sorted(hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()
                      if "/data/" in n)


def strip(value, root):
    if isinstance(value, dict):
        return {k: strip(v, root) for k, v in value.items() if not VARYING.match(k)}
    if isinstance(value, list):
        return [strip(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<OUT>")
    return value


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'after' if k in b else 'before'}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {a!r} != {b!r}")


def load(path):
    with open(path) as f:
        if path.endswith(".jsonl"):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


fa, fb = files(before), files(after)
problems = [f"only in {before}: {p}" for p in sorted(fa - fb)]
problems += [f"only in {after}: {p}" for p in sorted(fb - fa)]
binaries = jsons = 0
for rel in sorted(fa & fb):
    pa, pb = os.path.join(before, rel), os.path.join(after, rel)
    if BINARY.search("/" + rel):
        binaries += 1
        if sha(pa) != sha(pb):
            problems.append(f"{rel}: sha256 differs")
    elif rel.endswith(".pt"):
        binaries += 1
        if blobs(pa) != blobs(pb):
            problems.append(f"{rel}: tensor data differs")
    elif rel.endswith((".json", ".jsonl")):
        jsons += 1
        out = []
        diff(strip(load(pa), before), strip(load(pb), after), rel, out)
        problems += out[:5] + ([f"{rel}: ... {len(out) - 5} more"] if len(out) > 5 else [])
for p in problems:
    print("DIFF", p)
print(f"{binaries} model/optimizer files compared by sha256, {jsons} JSON files by value: "
      + ("IDENTICAL" if not problems else f"{len(problems)} differences"))
sys.exit(1 if problems else 0)
PY

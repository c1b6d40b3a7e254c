#!/usr/bin/env bash
# Idempotent set-up of .venv/ for cxr-mm on a CPU machine (see README "Install").
#
# Order matters:
#   1. pip/setuptools pinned (mmcv 2.1.0's setup.py imports pkg_resources, gone after 80.9)
#   2. torch/torchvision (mmcv ops are compiled against this torch)
#   3. mmcv 2.1.0 wheel: built once with ops, cached outside the checkout, keyed by
#      mmcv + torch + python versions; torch 2.14 headers need C++20, mmcv hard-codes
#      -std=c++14/17, so a compiler wrapper rewrites that flag
#   4. the rest of requirements.txt, then openmim WITHOUT its openxlab/opendatalab
#      dependency (it pins setuptools 60 and old requests)
#   5. cxr_mm itself, editable
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CXR_MM_VENV:-$ROOT/.venv}"
PY_BOOT="${PYTHON:-python3}"
CACHE="${CXR_MM_CACHE:-$HOME/.cache/cxr-mm}"
MMCV_VERSION=2.1.0
TORCH_VERSION=2.14.1
STAMP="$VENV/.cxr-mm-installed"

req_hash() { cat "$ROOT/requirements.txt" "$ROOT/requirements/"*.txt "$ROOT/tools/setup_env.sh" "$ROOT/pyproject.toml" 2>/dev/null | sha1sum | cut -d' ' -f1; }

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(req_hash)" ]]; then
  echo "[setup] $VENV is up to date"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV"
  "$PY_BOOT" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

"${PIP[@]}" install -q "pip>=24,<26" "setuptools==80.9.0" wheel ninja
"${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==0.29.1"

PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEELDIR="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-cpu"
if ! ls "$WHEELDIR"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
  echo "[setup] building mmcv $MMCV_VERSION with CPU ops (about 15 min on 2 cores, once)"
  mkdir -p "$WHEELDIR" "$CACHE/ccwrap"
  # Compiler wrappers: rewrite -std=c++14/17 to c++20 (torch >= 2.10 headers need it).
  for cc in gcc g++ cc c++; do
    real="$(command -v $cc)"
    cat > "$CACHE/ccwrap/$cc" <<WRAP
#!/usr/bin/env bash
args=()
for a in "\$@"; do
  case "\$a" in -std=c++14|-std=c++17|-std=gnu++14|-std=gnu++17) a=-std=c++20;; esac
  args+=("\$a")
done
exec $real "\${args[@]}"
WRAP
    chmod +x "$CACHE/ccwrap/$cc"
  done
  BUILD_TMP="$(mktemp -d)"
  (
    cd "$BUILD_TMP"
    PATH="$CACHE/ccwrap:$VENV/bin:$PATH" CC="$CACHE/ccwrap/gcc" CXX="$CACHE/ccwrap/g++" \
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" TORCH_CUDA_ARCH_LIST="" \
      "${PIP[@]}" wheel --no-deps --no-build-isolation --no-binary mmcv \
      "mmcv==$MMCV_VERSION" -w "$BUILD_TMP/out"
    mv "$BUILD_TMP"/out/mmcv-*.whl "$WHEELDIR/"
  )
  rm -rf "$BUILD_TMP"
fi

# Everything pinned in requirements.txt except torch/mmcv (done above).
grep -vE '^\s*(#|$)|^(torch|torchvision|mmcv|grad-cam)==' "$ROOT/requirements.txt" | sed 's/#.*//' > "$CACHE/reqs-rest.txt"
grep -vE '^\s*(#|$)|^coco-froc-analysis==' "$ROOT/requirements/tests.txt" | sed 's/#.*//' > "$CACHE/reqs-tests.txt"
"${PIP[@]}" install -q "$WHEELDIR"/mmcv-"$MMCV_VERSION"-*.whl -r "$CACHE/reqs-rest.txt" -r "$CACHE/reqs-tests.txt"
# coco-froc-analysis (a FROC cross-check in the tests) declares numpy<2 and flake8 but
# runs on our numpy 2: install it without dependencies (it needs only numpy/scipy/
# matplotlib/tqdm, all pinned).
"${PIP[@]}" install -q --no-deps "$(grep -E '^coco-froc-analysis==' "$ROOT/requirements/tests.txt" | sed 's/#.*//' | tr -d ' ')"
# grad-cam asks for opencv-python-headless while mmcv and mmengine ask for opencv-python:
# both would write the same cv2/ folder. Keep one cv2 (opencv-python) and install
# grad-cam without dependencies; its other needs (ttach, scipy, ...) are pinned.
if "${PIP[@]}" show -q opencv-python-headless >/dev/null 2>&1; then
  "${PIP[@]}" uninstall -q -y opencv-python-headless
  "${PIP[@]}" install -q --no-deps --force-reinstall "$(grep -E '^opencv-python==' "$ROOT/requirements.txt" | sed 's/#.*//' | tr -d ' ')"
fi
"${PIP[@]}" install -q --no-deps "$(grep -E '^grad-cam==' "$ROOT/requirements.txt" | sed 's/#.*//' | tr -d ' ')"
# openmim without openxlab/opendatalab (they would downgrade setuptools and requests).
"${PIP[@]}" install -q --no-deps "openmim==0.3.9" "model-index==0.1.11"
"${PIP[@]}" install -q click colorama rich tabulate requests
# mmpretrain 1.2.0 breaks at import when transformers is present.
"${PIP[@]}" uninstall -q -y transformers 2>/dev/null || true
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

"$PY" - <<'PY'
import mmcv, mmcv.ops, mmdet, mmpretrain, mmengine, torch
print(f"[setup] torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (ops), "
      f"mmdet {mmdet.__version__}, mmpretrain {mmpretrain.__version__}")
PY
req_hash > "$STAMP"
echo "[setup] done: $VENV"

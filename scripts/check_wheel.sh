#!/usr/bin/env bash
# Build cnnlstm's wheel, install it with [all] into a fresh virtual environment outside the
# checkout, and run it from an empty folder: the shipped configs (package data), the console
# script and the extras work without the source tree, as they do for a user of `pip install`.
#   bash scripts/check_wheel.sh        (.ci/run runs it; a few minutes, most of it pip)
# The wheel is built from the files git tracks, copied to a temporary folder, so nothing stale
# in the checkout (build/, *.egg-info) can end up in it.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$(pwd -P)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH
start=$SECONDS

mkdir "$work/source"
git ls-files -z src pyproject.toml README.md LICENSE | xargs -0 cp --parents -t "$work/source"
"$python" -m pip wheel --quiet --no-deps -w "$work/wheel" "$work/source"
wheels=("$work"/wheel/cnnlstm-*.whl)
echo "built ${wheels[0]##*/} ($((SECONDS - start)) s)"

"$python" -m venv "$work/venv"
# PyTorch first and pinned, as scripts/setup.sh does: a bare `torch` would pull a CUDA build
"$work/venv/bin/pip" install --quiet "torch==${CNNLSTM_TORCH_VERSION:-2.13.0}"
"$work/venv/bin/pip" install --quiet "${wheels[0]}[all]"
echo "installed it with [all] in a fresh environment ($((SECONDS - start)) s)"

mkdir "$work/elsewhere"
cd "$work/elsewhere"
"$work/venv/bin/python" - "$checkout" <<'EOF'
import sys
from pathlib import Path

import cnnlstm

where = Path(cnnlstm.__file__).resolve()
print(f"cnnlstm {cnnlstm.__version__} from {where}")
if Path(sys.argv[1]) in where.parents or "site-packages" not in where.parts:
    sys.exit(f"the checkout's cnnlstm was imported, not the installed wheel: {where}")
EOF
"$work/venv/bin/cnnlstm" configs
# one short epoch (not --trainer.fast_dev_run, which writes no run folder and no checkpoint)
"$work/venv/bin/cnnlstm" fit --config digit_clips --trainer.max_epochs 1 \
    --trainer.limit_train_batches 1 --trainer.limit_val_batches 1
test -f runs/digit_clips/checkpoints/last.ckpt \
    || { echo "no checkpoint: runs/digit_clips/checkpoints/last.ckpt" >&2; exit 1; }
echo "the wheel ran cnnlstm fit --config digit_clips from $(pwd) ($((SECONDS - start)) s in all)"

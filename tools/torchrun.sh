#!/usr/bin/env bash
# torchrun with this checkout's interpreter (the repo .venv when present) and
# multi-node settings from the environment; dist_train.sh and dist_test.sh call it.
#   tools/torchrun.sh NPROC_PER_NODE SCRIPT [script args...]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 PORT=29500 (defaults: one node, local)
NPROC=$1
SCRIPT=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
VENV_PY="$(dirname "$0")/../.venv/bin/python"
[ -x "$VENV_PY" ] || VENV_PY=python
PYTHON=${PYTHON:-$VENV_PY}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$SCRIPT" "${@:3}"

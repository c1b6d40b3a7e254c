#!/usr/bin/env bash
# Multi-GPU / multi-node training through torchrun (PyTorch DDP via mmengine).
#   tools/dist_train.sh CONFIG GPUS [train.py args...]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 tools/dist_train.sh CONFIG 8
CONFIG=$1
GPUS=$2
exec "$(dirname "$0")/torchrun.sh" "$GPUS" "$(dirname "$0")/train.py" \
    "$CONFIG" --launcher pytorch "${@:3}"

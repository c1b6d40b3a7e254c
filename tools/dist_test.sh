#!/usr/bin/env bash
# Multi-GPU evaluation through torchrun.
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
exec "$(dirname "$0")/torchrun.sh" "$GPUS" "$(dirname "$0")/test.py" \
    "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"

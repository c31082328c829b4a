#!/usr/bin/env bash
# Session 22, calls 14 and 15: the placement table of one shape, run as session 21's call 10
# (tests/gpu/run-placement-bench.sh), copied to gpu-bundle/diag/call10.sh:
#   call 14: SHAPES=mixtral-8x7b GEN=32 BUDGETS="6 8 12 16 24 all cpumoe" DEADLINE_S=560 bash gpu-bundle/diag/call10.sh
#   call 15: SHAPES=qwen3-30b-a3b GEN=64 BUDGETS="6 8 12 16 24 all cpumoe" DEADLINE_S=530 bash gpu-bundle/diag/call10.sh
exec bash "$(dirname "$0")/../session3/call10.sh" "$@"

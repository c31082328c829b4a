#!/usr/bin/env bash
# One command from a fresh clone to generated text: installs build dependencies, builds the
# release binary, writes a small MoE test model (no download needed) and generates from it
# with the experts kept in host memory.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --locked -p shimmy-host

bin="${CARGO_TARGET_DIR:-target}/release/shimmy-host"
"$bin" --version
"$bin" make-test-model models/tiny-moe.gguf --moe
"$bin" probe tiny-moe --cpu-moe
"$bin" generate --model tiny-moe --cpu-moe --max-tokens 32 \
  --prompt "<|im_start|>user
Hello!<|im_end|>
<|im_start|>assistant
"
echo
echo "Ready: $bin (try '$bin --help'). Real models: put .gguf files in ./models or pass --model PATH."

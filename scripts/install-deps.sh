#!/usr/bin/env bash
# Installs what building shimmy-host needs on a fresh Debian/Ubuntu machine:
# cmake and clang/libclang (llama-cpp-sys-2 builds llama.cpp and runs bindgen), plus the
# Rust toolchain pieces. Safe to run again: it only installs what is missing.
set -euo pipefail

packages=(cmake clang libclang-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust from https://rustup.rs first" >&2
  exit 1
fi

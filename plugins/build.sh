#!/usr/bin/env bash
# Builds every plugin of this workspace as a WebAssembly component (wasm32-wasip2, release) and
# lists the results. Usage: plugins/build.sh [extra cargo args, e.g. -j1]
#
#   target/wasm32-wasip2/release/<lib name>.wasm   one component per plugin crate
#   target/plugins/<plugin name>/plugin.toml       each plugin's manifest ...
#   target/plugins/<plugin name>/plugin.wasm       ... beside its component (a ready plugin dir)
#
# Needs the target once: rustup target add wasm32-wasip2
set -euo pipefail
cd "$(dirname "$0")"

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

cargo build --release --target wasm32-wasip2 --workspace "$@"

out=target/wasm32-wasip2/release
dist=target/plugins
rm -rf "$dist"
status=0
printf '%-16s %-10s %10s  %s\n' plugin kind bytes component
for manifest in */*/plugin.toml; do
    dir=$(dirname "$manifest")
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -1)
    kind=$(sed -n 's/^kind *= *"\(.*\)"/\1/p' "$manifest" | head -1)
    lib=$(sed -n '/^\[lib\]/,/^\[/s/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)
    wasm="$out/$lib.wasm"
    if [ ! -f "$wasm" ]; then
        echo "missing $wasm for $dir" >&2
        status=1
        continue
    fi
    # A component starts with \0asm 0d 00 01 00; a core module with \0asm 01 00 00 00.
    header=$(head -c 8 "$wasm" | od -An -tx1 | tr -d ' \n')
    case "$header" in
        0061736d0d000100) what=yes ;;
        0061736d01000000) what="NO (core module)"; status=1 ;;
        *) what="NO (header $header)"; status=1 ;;
    esac
    mkdir -p "$dist/$name"
    cp "$manifest" "$dist/$name/plugin.toml"
    cp "$wasm" "$dist/$name/plugin.wasm"
    printf '%-16s %-10s %10s  %s  %s\n' "$name" "$kind" "$(stat -c %s "$wasm")" "$what" "$wasm"
done
exit $status

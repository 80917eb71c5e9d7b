#!/usr/bin/env bash
# Installs vggt-lab into a fresh prefix, builds the sample plugin against it
# with find_package(vggt_lab), and checks the installed vggt-lab loads it.
# Usage: out_of_tree_plugin.sh BUILD_DIR SAMPLE_SOURCE WORK_DIR
set -euo pipefail
build=$1 sample=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$sample" -B "$work/sample" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/sample" >/dev/null
plugin_dir="$work/sample/plugins"
listing=$("$work/prefix/bin/vggt-lab" plugins --kind placement --plugin-path "$plugin_dir")
echo "$listing"
grep -q "placement round-robin" <<<"$listing"
grep -q "vggt_lab_plugin_round_robin.so" <<<"$listing"
# The installed plugin folder holds the built-in plugins.
grep -q "placement single" <<<"$listing"
echo "out-of-tree plugin built against the installed SDK and loaded"

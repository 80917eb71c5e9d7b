#!/usr/bin/env bash
# Installs vggt-lab into a fresh prefix, builds the sample plugin against it
# with find_package(vggt_lab), and checks the installed vggt-lab loads it.
# Usage: out_of_tree_plugin.sh BUILD_DIR SAMPLE_SOURCE WORK_DIR EXPERIMENTS_DIR
set -euo pipefail
build=$1 sample=$2 work=$3 experiments=$4
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

# The scaffold builds against the installed SDK and plans the model.
"$work/prefix/bin/vggt-lab" plugins new placement my-layout --dir "$work/scaffold"
cmake -S "$work/scaffold/my-layout" -B "$work/scaffold/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/scaffold/build" >/dev/null
plan=$("$work/prefix/bin/vggt-lab" plan "$experiments/balanced.toml" --plugin-path "$work/scaffold/build/plugins" \
       --set placement.plugin=my-layout)
echo "$plan" | head -3
grep -q "plan: my-layout on 4 logical device(s)" <<<"$plan"
echo "scaffolded placement plugin built and planned"

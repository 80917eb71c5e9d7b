#!/usr/bin/env bash
# Installs vggt-lab into a fresh prefix; builds against it, with
# find_package(vggt_lab), the sample plugin and a scaffold of every kind
# `plugins new` writes, as one project that adds each plugin's own folder;
# checks the installed vggt-lab loads them, plans with the placement and
# trains (and resumes bit-exactly) with the data source, gradient policy and
# optimizer.
# Usage: out_of_tree_plugin.sh BUILD_DIR SAMPLE_SOURCE WORK_DIR EXPERIMENTS_DIR
set -euo pipefail
build=$1 sample=$2 work=$3 experiments=$4
rm -rf "$work"
mkdir -p "$work/project"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
vggt_lab="$work/prefix/bin/vggt-lab"
cp -r "$sample" "$work/project/sample"
kinds=(placement data gradient optimizer)
for kind in "${kinds[@]}"; do
  "$vggt_lab" plugins new "$kind" "my-$kind" --dir "$work/project" >/dev/null
done
cat >"$work/project/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(plugins LANGUAGES CXX)
foreach(folder sample my-placement my-data my-gradient my-optimizer)
  add_subdirectory(${folder})
endforeach()
EOF
cmake -S "$work/project" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null 2>&1
cmake --build "$work/build" >/dev/null
plugins="$work/build/plugins"

listing=$("$vggt_lab" plugins --plugin-path "$plugins")
grep -q "placement round-robin" <<<"$listing"
grep -q "vggt_lab_plugin_round_robin.so" <<<"$listing"
for kind in "${kinds[@]}"; do grep -q "$kind my-$kind" <<<"$listing"; done
grep -q "placement single" <<<"$listing"  # the installed plugin folder holds the built-in plugins
echo "the sample and every scaffold built against the installed SDK and loaded"

plan=$("$vggt_lab" plan "$experiments/balanced.toml" --plugin-path "$plugins" --set placement.plugin=my-placement)
grep -q "plan: my-placement on 4 logical device(s)" <<<"$plan"
echo "the scaffolded placement planned"

train() {
  "$vggt_lab" -q run "$experiments/single.toml" --plugin-path "$plugins" --set data.plugin=my-data \
    --set gradient.plugin=my-gradient --set optim.plugin=my-optimizer --set train.steps=4 \
    --set train.checkpoint_every=2 --set train.eval_scenes=0 --set train.frames=2 --set train.image_height=56 \
    --set train.image_width=56 "$@"
}
train --out "$work/run"
grep -q '"grad_norms":{"all":' "$work/run/metrics.jsonl"
grep -q '"lr":0.001,' "$work/run/metrics.jsonl"
train --out "$work/resumed" --resume "$work/run/checkpoints/step-000002"
cmp "$work/run/checkpoints/step-000004/model.safetensors" "$work/resumed/checkpoints/step-000004/model.safetensors"
echo "the scaffolded data source, gradient policy and optimizer trained, and resumed bit-exactly"

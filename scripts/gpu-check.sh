#!/usr/bin/env bash
# Run on a bare GPU machine: PyTorch 2.x with CUDA in python3, CMake, ninja,
# nvcc; no package manager, no network. Unpacks the .deb files that
# scripts/gpu-prepare.sh downloaded into a private prefix, configures against
# PyTorch's LibTorch with CUDA, builds, runs the whole test suite (the GPU
# tests run here instead of skipping) and the GPU benchmarks, and writes logs
# and summary.md into $OUT.
#   OUT=/path scripts/gpu-check.sh [build] [test] [bench]   (default: all three)
# Phases run in that order; a later call can run what an earlier one left, as
# long as the build folder is still there. The benchmark stops after
# VGGT_LAB_BENCH_TIMEOUT seconds (default 300); bench.log keeps its rows so far.
# Environment: VGGT_LAB_DEBS (default .gpu-debs), VGGT_LAB_PREFIX, VGGT_LAB_BUILD_DIR.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:?set OUT to the folder that receives the logs}
debs=${VGGT_LAB_DEBS:-$root/.gpu-debs}
prefix=${VGGT_LAB_PREFIX:-/tmp/vggt-lab-prefix}
build=${VGGT_LAB_BUILD_DIR:-$root/build-gpu}
phases=" ${*:-build test bench} "
mkdir -p "$out"
summary=$out/summary.md
start=$(date +%s)

note() { echo "$*" | tee -a "$summary"; }
# step NAME LOG COMMAND...: runs it, records the status and the time taken.
step() {
  local name=$1 log=$2 t0=$(date +%s)
  shift 2
  "$@" >>"$log" 2>&1
  local status=$? result
  case $status in
    0) result=ok ;;
    124) result="stopped at its time limit (see $(basename "$log"))" ;;
    *) result="FAILED (status $status, see $(basename "$log"))" ;;
  esac
  note "- $name: $result, $(($(date +%s) - t0)) s"
  return $status
}

echo "# vggt-lab GPU check, $(date -u +%Y-%m-%dT%H:%MZ)" >"$summary"
nvidia-smi >"$out/gpu.txt" 2>&1
note "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)"
torch_info=$(python3 -c 'import torch, torch.utils; print(torch.__version__, torch.version.cuda, torch.utils.cmake_prefix_path)')
note "PyTorch, CUDA, CMake prefix: $torch_info"
torch_prefix=${torch_info##* }
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')

ls "$debs"/*.deb >/dev/null 2>&1 || { note "no .deb files in $debs: run scripts/gpu-prepare.sh here and carry them"; exit 2; }
mkdir -p "$prefix"
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$prefix"; done
multiarch=$prefix/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$multiarch:$torch_lib:${LD_LIBRARY_PATH:-}"
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}

if [[ $phases == *" build "* ]]; then
  step configure "$out/build.log" cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$torch_prefix;$prefix/usr" "-DCMAKE_LIBRARY_PATH=$multiarch" \
    "-DVGGT_LAB_GTEST_SOURCE=$prefix/usr/src/googletest" || exit 1
  grep -q "VGGT_LAB_WITH_CUDA=1" "$build/build.ninja" 2>/dev/null || note "- warning: LibTorch was found without CUDA"
  step build "$out/build.log" cmake --build "$build" -j "$(nproc)" || exit 1
fi
[ -x "$build/bin/vggt-lab" ] || { note "no build in $build: run the build phase first"; exit 1; }
if [[ $phases == *" test "* ]]; then
  (cd "$build" && step tests "$out/test.log" ctest --output-on-failure -j 4 --timeout 600)
  grep -E "tests passed|tests failed" "$out/test.log" | tail -1 | sed 's/^/  /' | tee -a "$summary"
fi
if [[ $phases == *" bench "* ]]; then
  (cd "$root" && step "bench gpu" "$out/bench.log" timeout "${VGGT_LAB_BENCH_TIMEOUT:-300}" \
    "$build/bin/vggt-lab" bench gpu --json "$out/bench-gpu.json")
fi
note "total: $(($(date +%s) - start)) s"

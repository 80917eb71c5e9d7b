#!/usr/bin/env bash
# Two data-parallel ranks as two hosts run them: each in a network namespace
# of its own, joined by a veth pair (10.231.7.1 and 10.231.7.2), MASTER_ADDR
# the first's, Gloo on the veth interfaces. Needs root (ip netns).
#   scripts/two-hosts.sh VGGT_LAB_EXE RUN_DIR EXPERIMENT.toml [--set ...]
# Exit status: the first failing rank's, else 0.
set -euo pipefail
exe=${1:?usage: two-hosts.sh VGGT_LAB_EXE RUN_DIR EXPERIMENT.toml [run options]}
out=${2:?run folder}
shift 2
a=vl-a-$$ b=vl-b-$$           # namespaces
ia=vla$$ ib=vlb$$             # interfaces (15 characters at most)
cleanup() {
  ip netns pids "$a" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids "$b" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip link add "$ia" type veth peer name "$ib"
ip link set "$ia" netns "$a"
ip link set "$ib" netns "$b"
ip -n "$a" addr add 10.231.7.1/24 dev "$ia"
ip -n "$b" addr add 10.231.7.2/24 dev "$ib"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "$ia" up
ip -n "$b" link set "$ib" up

rank() {  # RANK NAMESPACE INTERFACE run-arguments...
  local r=$1 ns=$2 interface=$3
  shift 3
  ip netns exec "$ns" env WORLD_SIZE=2 RANK="$r" LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 \
    MASTER_ADDR=10.231.7.1 MASTER_PORT=29517 GLOO_SOCKET_IFNAME="$interface" "$exe" run "$@" --out "$out"
}
rank 0 "$a" "$ia" "${@}" &
first=$!
rank 1 "$b" "$ib" "${@}" &
second=$!
status=0
wait "$first" || status=$?
wait "$second" || { s=$?; ((status)) || status=$s; }
exit "$status"

#!/bin/bash
# Data parallel across two "hosts" on this machine: two network namespaces joined by a veth
# pair (10.231.0.1/24 and 10.231.0.2/24, nothing else: no route out, no real network), one
# tools/launch.sh per namespace, one rank each (--nnodes=2 --node_rank=0|1
# --master_addr=10.231.0.1). The tiny two-stage recipe of data_parallel_test_recipe.sh
#   1. runs on one host with --nproc_per_node=2 (loopback): the reference;
#   2. runs on the two hosts: the final checkpoint and both stage models must equal the
#      reference byte for byte (same world size, shards, seeds, one thread per rank);
#   3. runs again, and the link is cut (`ip link set ... down`) after the pruning stage's
#      first checkpoint: both ranks must fail within the collective timeout (--dist_timeout)
#      with a one-line error naming the other rank and its address;
#   4. after the link is back, --resume on both hosts must skip the first stage, continue
#      the second from its checkpoint and end with the reference's files, byte for byte.
# Needs root (CAP_NET_ADMIN) and iproute2; without them it prints "SKIPPED: <why>" and
# passes (.ci/run lists the skipped tests). The namespaces are removed on every exit path.
set -u
RUN="$1"
LAUNCH="$2"
source "$3"  # write_data_parallel_recipe, same_final_state
T="${TEST_TMPDIR:-$(mktemp -d)}"
TIMEOUT=10  # --dist_timeout: rendezvous and every collective
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIPPED: $*"; exit 0; }

# Names no concurrent run can share (pid, plus randomness: a sandbox may have its own pids).
tag="$$$RANDOM"; tag="${tag:0:9}"
NS_A="bc-a-$tag" NS_B="bc-b-$tag" IF_A="va$tag" IF_B="vb$tag"
ADDR_A=10.231.0.1 ADDR_B=10.231.0.2
made=()
cleanup() {
  local ns
  for ns in "${made[@]}"; do
    # Every process left in our namespace is ours (a rank of this test).
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns del "$ns" 2>/dev/null  # Removes its end of the veth pair, and so the pair.
  done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[[ "$(id -u)" == 0 ]] || skip "needs root (CAP_NET_ADMIN) for network namespaces; uid is $(id -u)"
command -v ip > /dev/null || skip "no 'ip' command (Debian package iproute2)"
for ns in "$NS_A" "$NS_B"; do
  if ! err=$(ip netns add "$ns" 2>&1); then skip "'ip netns add' fails here: $err"; fi
  made+=("$ns")
done
if ! err=$(ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B" 2>&1); then
  skip "cannot create a veth pair here: $err"
fi
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A" && ip -n "$NS_B" addr add "$ADDR_B/24" dev "$IF_B" \
  && ip -n "$NS_A" link set "$IF_A" up && ip -n "$NS_B" link set "$IF_B" up \
  && ip -n "$NS_A" link set lo up && ip -n "$NS_B" link set lo up \
  || fail "cannot configure the veth pair"

write_data_parallel_recipe "$T"
export OMP_NUM_THREADS=1
COMMON=(--recipe="$T/recipe.yaml" --dist_timeout="$TIMEOUT")

# One launcher per host, each in the background; `$1`: output directory, `$2`: TCPStore
# port (the namespaces have their own port spaces), the rest: more runner flags.
start_hosts() {
  local out="$1" port="$2"; shift 2
  local node ns
  pids=()
  for node in 0 1; do
    ns=$([[ $node == 0 ]] && echo "$NS_A" || echo "$NS_B")
    ip netns exec "$ns" "$LAUNCH" --nnodes=2 --node_rank="$node" --master_addr="$ADDR_A" \
      --master_port="$port" --nproc_per_node=1 -- "$RUN" "${COMMON[@]}" --output_dir="$out" "$@" \
      > "$out.host$node.log" 2>&1 &
    pids+=($!)
  done
}
# Waits for both launchers; sets status0/status1.
wait_hosts() { wait "${pids[0]}"; status0=$?; wait "${pids[1]}"; status1=$?; }
show_logs() { cat "$1.host0.log" "$1.host1.log"; }

# 1. The reference: one host, two ranks on loopback.
"$RUN" "${COMMON[@]}" --nproc_per_node=2 --output_dir="$T/one_host" > "$T/one_host.log" 2>&1 \
  || { cat "$T/one_host.log"; fail "the one-host two-rank run failed"; }

# 2. Two hosts, uninterrupted.
started=$(date +%s%N)
start_hosts "$T/two_hosts" 29500
wait_hosts
((status0 == 0 && status1 == 0)) || { show_logs "$T/two_hosts"; fail "the two-host run failed ($status0, $status1)"; }
echo "two-host run: $((($(date +%s%N) - started) / 1000000)) ms"
# The gradients went through the veth pair (the model has ~30k parameters: 120 kB per step).
sent=$(ip netns exec "$NS_A" cat "/sys/class/net/$IF_A/statistics/tx_bytes")
((sent > 1000000)) || fail "only $sent bytes left host 0 over the veth pair"
echo "host 0 sent $sent bytes over the veth pair"
same_final_state "$T/one_host" "$T/two_hosts"

# 3. Two hosts; the link is cut after the pruning stage's first checkpoint. Rank 1 is
# stopped first (SIGSTOP), so rank 0 cannot get past its next all-reduce and the cut lands
# mid-stage however fast the steps are; it continues right after the cut.
rank_pid() {  # $1: namespace; the runner process in it
  local p
  for p in $(ip netns pids "$1"); do
    [[ "$(readlink "/proc/$p/exe" 2>/dev/null)" == "$RUN_BINARY" ]] && echo "$p"
  done
}
RUN_BINARY=$(readlink -f "$RUN")
start_hosts "$T/cut" 29501
hosts_alive() { kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null; }
stop_rank1_at_first_checkpoint "$T/cut" "rank_pid $NS_B" hosts_alive \
  || { show_logs "$T/cut"; fail "never saw rank 1 and the first checkpoint"; }
ip -n "$NS_A" link set "$IF_A" down || fail "cannot take the link down"
cut_at=$(date +%s%N)
kill -CONT "$rank1"
for node in 0 1; do
  wait "${pids[$node]}"
  status[$node]=$?
  took[$node]=$((($(date +%s%N) - cut_at) / 1000000))
done
ip -n "$NS_A" link set "$IF_A" up || fail "cannot bring the link back up"
show_logs "$T/cut" | grep -E "error|launch.sh"
for node in 0 1; do
  log="$T/cut.host$node.log"
  ((status[node] != 0)) || { cat "$log"; fail "host $node's job succeeded although the link was cut"; }
  echo "host $node failed ${took[$node]} ms after the link was cut (timeout ${TIMEOUT} s)"
  # Within the timeout: the collective in flight waits at most TIMEOUT s; 5 s for the
  # step in progress and the exit.
  ((took[node] < (TIMEOUT + 5) * 1000)) || { cat "$log"; fail "host $node took ${took[$node]} ms to fail"; }
  peer=$((1 - node)) peer_addr=$([[ $node == 0 ]] && echo "$ADDR_B" || echo "$ADDR_A")
  errors=$(grep -c "error:" "$log")
  ((errors == 1)) || { cat "$log"; fail "host $node printed $errors error lines, expected 1"; }
  line=$(grep "error:" "$log")
  [[ "$line" =~ ^\[$node\]\ error:\ .*rank\ $node\ of\ 2:\ (all-reduce|broadcast|barrier)\ of\ .*\ failed\ after\ [0-9.]+\ s\ \(timeout\ $TIMEOUT\ s\):\ a\ peer\ rank\ died,\ hung\ or\ left\ the\ job\ \(rank\ $peer\ at\ ${peer_addr//./\\.}\) ]] \
    || { cat "$log"; fail "host $node's error does not name the collective and rank $peer at $peer_addr: $line"; }
  # One line: nothing of the rank follows it (c10's backtrace, a second message).
  [[ "$(grep "^\[$node\] " "$log" | tail -n 1)" == "$line" ]] \
    || { cat "$log"; fail "host $node's error is not its rank's last line"; }
  grep -q "launch.sh: a rank (pid [0-9]*) exited with status [1-9]" "$log" \
    || { cat "$log"; fail "host $node's launcher did not report the failed rank"; }
done

# 4. The link is back: --resume on both hosts finishes with the reference's result.
start_hosts "$T/cut" 29502 --resume
wait_hosts
((status0 == 0 && status1 == 0)) || { show_logs "$T/cut"; fail "the resumed run failed ($status0, $status1)"; }
grep -q "dense: finished in an earlier run, skipped" "$T/cut.host0.log" || { show_logs "$T/cut"; fail "dense not skipped"; }
grep -Eq "resuming from .*checkpoint-(8|16|24|32|40)" "$T/cut.host0.log" \
  || { show_logs "$T/cut"; fail "the pruned stage did not resume from a checkpoint"; }
same_final_state "$T/one_host" "$T/cut"
echo PASS

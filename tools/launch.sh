#!/usr/bin/env bash
# Starts a data-parallel job the way torchrun does: N local processes of one program, each
# with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set (the program joins the
# c10d process group from them: compressor/distributed/process_group.h). When one process
# fails, the others are stopped and the launcher exits with the failing status.
#
#   tools/launch.sh --nproc_per_node=2 -- bazel-bin/recipes/run --recipe=...
#   # two machines, one launcher each:
#   tools/launch.sh --nnodes=2 --node_rank=0 --master_addr=10.0.0.1 --nproc_per_node=2 -- prog
#   tools/launch.sh --nnodes=2 --node_rank=1 --master_addr=10.0.0.1 --nproc_per_node=2 -- prog
# Host i runs ranks i*nproc_per_node ..; --master_addr is host 0's address, the same on all.
# The recipe runner needs the same shared --output_dir on every host (README, "Data-parallel
# training"); //recipes:multi_host_test runs this path on two network namespaces.
#
# Output of rank r goes to stderr/stdout prefixed with "[r] ".
set -uo pipefail

NPROC=1 NNODES=1 NODE_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500
while (($#)); do
  case "$1" in
    --nproc_per_node=*) NPROC="${1#*=}" ;;
    --nnodes=*) NNODES="${1#*=}" ;;
    --node_rank=*) NODE_RANK="${1#*=}" ;;
    --master_addr=*) MASTER_ADDR="${1#*=}" ;;
    --master_port=*) MASTER_PORT="${1#*=}" ;;
    --) shift; break ;;
    *) echo "launch.sh: unknown argument '$1' (flags: --nproc_per_node=N --nnodes=N" \
            "--node_rank=I --master_addr=HOST --master_port=PORT -- program args...)" >&2
       exit 2 ;;
  esac
  shift
done
if (($# == 0)); then echo "launch.sh: no program given after --" >&2; exit 2; fi
for v in NPROC NNODES NODE_RANK MASTER_PORT; do
  if ! [[ "${!v}" =~ ^[0-9]+$ ]]; then echo "launch.sh: $v='${!v}' is not a number" >&2; exit 2; fi
done
if ((NPROC < 1 || NODE_RANK >= NNODES)); then
  echo "launch.sh: need nproc_per_node >= 1 and node_rank < nnodes" >&2; exit 2
fi

WORLD_SIZE=$((NPROC * NNODES))
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap 'stop_all; exit 130' INT TERM
for ((local = 0; local < NPROC; ++local)); do
  rank=$((NODE_RANK * NPROC + local))
  (
    export RANK=$rank WORLD_SIZE LOCAL_RANK=$local MASTER_ADDR MASTER_PORT
    # Each rank gets an equal share of this machine's cores unless told otherwise.
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))}"
    exec "$@" > >(sed -u "s/^/[$rank] /") 2> >(sed -u "s/^/[$rank] /" >&2)
  ) &
  pids+=($!)
done

status=0
remaining=${#pids[@]}
while ((remaining > 0)); do
  wait -n -p done_pid "${pids[@]}" 2>/dev/null
  rc=$?
  if [[ -z "${done_pid:-}" ]]; then break; fi
  remaining=$((remaining - 1))
  if ((rc != 0 && status == 0)); then
    status=$rc
    echo "launch.sh: a rank (pid $done_pid) exited with status $rc; stopping the others" >&2
    stop_all
  fi
  done_pid=""
done
exit $status

#!/usr/bin/env bash
# tests/cluster/scenarios.sh BUILD_DIR NAME - one multi-host test, on the cluster that
# tests/cluster/cluster.sh built (3 namespace hosts h1..h3 with sshd and slurmd; the head node,
# where parrun runs, is the root namespace). CTest runs each NAME as its own entry (label
# "cluster", tests/cluster/CMakeLists.txt) between the cluster's `up` and `down` fixtures.
# Exit 0: passed; 77: skipped (not root / no cluster); anything else: failed, with the reason.
set -uo pipefail
BUILD=${1:?usage: scenarios.sh BUILD_DIR NAME}
NAME=${2:?usage: scenarios.sh BUILD_DIR NAME}
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the cluster tests need root (network namespaces)"; exit 77; }
STATE=${PARRUN_CLUSTER_DIR:-/tmp/parrun-cluster}
[ -f "$STATE/env" ] || { echo "FAIL: no cluster is up ($STATE/env missing)"; exit 1; }
# shellcheck disable=SC1091
source "$STATE/env"

PARRUN=$BUILD/bin/parrun
HELLO=$BUILD/examples/00_hello
POOL=$BUILD/examples/05_pool_primes
P2P=$BUILD/tests/integration/test_p2p
COLL=$BUILD/tests/integration/test_collectives
CHAN=$BUILD/tests/integration/test_channels
JOB=$BUILD/tests/integration/launcher_job
FOREIGN=$BUILD/tests/cluster/foreign_client
export PARRUN_SSH=$PARRUN_CLUSTER_SSH
# Faults are found within seconds, not the default 10.
export PARRUN_HOST_TIMEOUT=3
OUT=$(mktemp -d /tmp/parrun-scenario.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

fail() { echo "FAIL [$NAME]: $*"; for f in "$OUT"/*; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done; exit 1; }
expect_in() { grep -Eq -- "$2" "$1" || fail "expected /$2/ in $(basename "$1")"; }
expect_not_in() { ! grep -Eq -- "$2" "$1" || fail "did not expect /$2/ in $(basename "$1")"; }
# run FILE TIMEOUT CMD...: CMD's stdout+stderr into $OUT/FILE; sets RC.
run() {
  local file=$1 limit=$2
  shift 2
  local started=$SECONDS
  timeout -k 5 "$limit" "$@" >"$OUT/$file" 2>&1
  RC=$?
  # 124 is also parrun's own --timeout code: only a run that took the whole limit was cut off.
  if { [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; } && [ $((SECONDS - started)) -ge "$limit" ]; then
    fail "'$*' did not finish within $limit s"
  fi
}
expect_rc() { [ "$RC" -eq "$1" ] || fail "exit code $RC, expected $1"; }
# Nothing of the job may be left on any host (a zombie waiting for PID 1 counts as gone).
expect_no_orphans() {
  local deadline=$((SECONDS + ${1:-8})) left
  while :; do
    left=""
    for pid in $(pgrep -f "$JOB|$P2P|$HELLO|parrun --agent" || true); do
      state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
      [ "$state" = Z ] || left="$left $pid"
    done
    [ -z "$left" ] && return 0
    [ $SECONDS -ge $deadline ] && fail "processes left behind:$(for p in $left; do echo; cat /proc/$p/cmdline 2>/dev/null | tr '\0' ' '; done)"
    sleep 0.2
  done
}
# The hostname each rank printed ("hello from rank R of N on HOST").
expect_hello() {
  local file=$1 n=$2
  shift 2
  for ((r = 0; r < n; r++)); do
    local want=${1:?}
    shift
    expect_in "$file" "hello from rank $r of $n on $want\$"
  done
}
wait_for() {  # wait_for FILE REGEX COUNT SECONDS
  local deadline=$((SECONDS + $4))
  until [ "$(grep -Ec -- "$2" "$1" 2>/dev/null)" -ge "$3" ] 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && fail "waited $4 s for $3 x /$2/ in $(basename "$1")"
    sleep 0.1
  done
}
host_of_pid() { ip netns identify "$1" 2>/dev/null; }

case $NAME in
  ssh_hello)
    run out 60 "$PARRUN" --host h1:2,h2:2,h3:2 "$HELLO"
    expect_rc 0
    expect_hello "$OUT/out" 6 h1 h1 h2 h2 h3 h3
    run node 60 "$PARRUN" --host h1:2,h2:2,h3:2 --map-by node -n 4 "$HELLO"
    expect_rc 0
    expect_hello "$OUT/node" 4 h1 h2 h3 h1
    ;;
  relative_paths)  # a program named relative to the working directory, which the ranks share
    (cd "$BUILD" && timeout -k 5 60 bin/parrun --host h1,h2 examples/00_hello) >"$OUT/out" 2>&1
    RC=$?
    expect_rc 0
    expect_hello "$OUT/out" 2 h1 h2
    ;;
  ssh_with_head)  # the head node's own ranks are forked by the launcher, the others by agents
    run out 60 "$PARRUN" --host localhost:1,h2:2 "$HELLO"
    expect_rc 0
    expect_hello "$OUT/out" 3 "$(hostname)" h2 h2
    # This machine named by one of its addresses is this host too (no ssh to itself).
    run byaddr 60 "$PARRUN" --host 10.77.0.1:1,h2:1 "$HELLO"
    expect_rc 0
    expect_hello "$OUT/byaddr" 2 "$(hostname)" h2
    ;;
  ssh_programs)  # the p2p, collectives, channels and pool programs across 3 hosts
    for prog in "$P2P" "$COLL" "$CHAN"; do
      run "$(basename "$prog")" 240 "$PARRUN" --host h1:2,h2:2,h3:2 "$prog"
      expect_rc 0
      expect_in "$OUT/$(basename "$prog")" "PASSED"
    done
    run pool 120 "$PARRUN" --host h1:2,h2:2,h3:2 "$POOL" 200000 300
    expect_rc 0
    expect_in "$OUT/pool" "primes below N \(blocks of 1000\): same as sequential, result 17984"
    ;;
  ssh_stdio_exit)  # stdin reaches rank 0 on a remote host; a rank's exit status is the job's
    printf 'line one\nline two\n' >"$OUT/in"
    run stdin 60 "$PARRUN" --host h1:1,h2:1 "$JOB" stdin <"$OUT/in"
    expect_rc 0
    expect_in "$OUT/stdin" "rank 0 stdin=pipe:.* bytes=18 .*head=line one\|line two"
    expect_in "$OUT/stdin" "rank 1 stdin=/dev/null bytes=0"
    run fail 60 "$PARRUN" --host h1:2,h2:2,h3:2 "$JOB" fail exit 4 5
    expect_rc 5
    expect_in "$OUT/fail" "rank 4 \(pid [0-9]+ on h3\) exited with status 5; terminated 5 other ranks"
    run tagged 60 "$PARRUN" --host h1,h2 --tag-output "$JOB" flood 200
    expect_rc 0
    # Line-atomic: every line is whole, and every rank's 200 lines arrived.
    [ "$(grep -Ec '^\[[01]\] ' "$OUT/tagged")" -eq 800 ] || fail "expected 800 tagged lines"
    expect_no_orphans
    ;;
  timeout_report)  # --timeout asks every rank on every host where it is blocked
    run out 60 "$PARRUN" --host h1:2,h2:2,h3:2 --timeout 2 "$JOB" block
    expect_rc 124
    expect_in "$OUT/out" "timed out after 2.0 s; terminating 6 running ranks"
    for r in 0 1 2 3 4 5; do
      h=h$((r / 2 + 1))
      expect_in "$OUT/out" "rank $r \(pid [0-9]+ on $h\): recv\(source=$(((r + 1) % 6)), tag=7\) for"
    done
    expect_no_orphans
    ;;
  no_secrets_on_command_lines)  # the job's secret and keys are in no process's argv, anywhere
    timeout -k 5 60 "$PARRUN" --host h1:2,h2:2 "$JOB" block >"$OUT/out" 2>&1 &
    job=$!
    wait_for "$OUT/out" "^ready " 4 30
    rank=$(awk '/^ready 3 /{print $3}' "$OUT/out")
    secret=$(tr '\0' '\n' <"/proc/$rank/environ" | sed -n 's/^PARRUN_SECRET=//p')
    key=$(tr '\0' '\n' <"/proc/$rank/environ" | sed -n 's/^PARRUN_CURVE_SECRET=//p')
    [ -n "$secret" ] && [ -n "$key" ] || fail "rank 3 has no PARRUN_SECRET / PARRUN_CURVE_SECRET"
    for f in /proc/[0-9]*/cmdline; do
      if tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -e "$secret" -e "$key"; then
        fail "a secret is on the command line of $(tr '\0' ' ' <"$f")"
      fi
    done
    # Nor in a file others can read: the environment of a rank is its user's alone.
    [ "$(stat -c %a "/proc/$rank/environ")" = 400 ] || fail "/proc/$rank/environ is readable by others"
    kill -TERM "$job"
    wait "$job"
    expect_no_orphans
    ;;
  launch_agent)
    run out 60 "$PARRUN" --host h1:2,h3:2 --launch-agent "$PARRUN_CLUSTER_RUN" "$HELLO"
    expect_rc 0
    expect_hello "$OUT/out" 4 h1 h1 h3 h3
    run p2p 240 "$PARRUN" --host h1:2,h3:2 --launch-agent "$PARRUN_CLUSTER_RUN" "$P2P"
    expect_rc 0
    ;;
  ports_iface)  # every listening port from the range, on the bridge's address only
    run out 60 "$PARRUN" --host h1:2,h2:2 --ports 47100-47199 --iface 10.77.0.0/24 "$JOB" env PARRUN_RENDEZVOUS
    expect_rc 0
    expect_in "$OUT/out" "PARRUN_RENDEZVOUS=tcp://10\.77\.0\.1:471[0-9][0-9]$"
    run bad 30 "$PARRUN" --host h1 --iface nosuchif0 "$HELLO"
    expect_rc 125
    expect_in "$OUT/bad" "--iface nosuchif0: no interface"
    ;;
  salloc)
    run out 120 salloc -N3 --ntasks-per-node=2 --quiet "$PARRUN" "$HELLO"
    expect_rc 0
    expect_hello "$OUT/out" 6 h1 h1 h2 h2 h3 h3
    run p2p 240 salloc -N3 --ntasks-per-node=2 --quiet "$PARRUN" "$P2P"
    expect_rc 0
    run fail 60 salloc -N3 --ntasks-per-node=2 --quiet "$PARRUN" "$JOB" fail exit 5 3
    expect_rc 3
    expect_in "$OUT/fail" "rank 5 .*on h3\) exited with status 3"
    ;;
  sbatch)  # the batch script runs on h1: parrun forks h1's ranks, srun starts the others' agents
    cat >"$OUT/job.sh" <<EOF
#!/bin/sh
exec $PARRUN $HELLO
EOF
    chmod +x "$OUT/job.sh"
    run submit 120 sbatch --wait -N3 --ntasks-per-node=2 --quiet -o "$OUT/batch.out" "$OUT/job.sh"
    expect_rc 0
    expect_hello "$OUT/batch.out" 6 h1 h1 h2 h2 h3 h3
    ;;
  srun_pmix)  # direct launch: no parrun
    srun --mpi=list 2>&1 | grep -q pmix || fail "this Slurm has no pmix plugin"
    run hello 60 srun --mpi=pmix -N3 --ntasks-per-node=2 "$HELLO"
    expect_rc 0
    expect_hello "$OUT/hello" 6 h1 h1 h2 h2 h3 h3
    for prog in "$P2P" "$COLL" "$CHAN"; do
      run "$(basename "$prog")" 240 srun --mpi=pmix -N3 --ntasks-per-node=2 "$prog"
      expect_rc 0
      expect_in "$OUT/$(basename "$prog")" "PASSED"
    done
    run fail 60 srun --mpi=pmix -N3 --ntasks-per-node=2 "$JOB" fail throw 4
    [ "$RC" -ne 0 ] || fail "a rank that threw did not fail the step"
    expect_in "$OUT/fail" "rank 4 .*uncaught exception.*boom from rank 4"
    ;;
  kill_agent)  # an agent killed mid-run: the job ends, naming the host and its ranks
    timeout -k 5 60 "$PARRUN" --host h1:2,h2:2,h3:2 "$JOB" block >"$OUT/out" 2>&1 &
    job=$!
    wait_for "$OUT/out" "^ready " 6 30
    victim=""  # h2's agent: not its watchdog, a child of the agent with the same command line
    for pid in $(pgrep -f "parrun --agent"); do
      [ "$(host_of_pid "$pid")" = h2 ] || continue
      parent=$(awk '{print $4}' "/proc/$pid/stat")
      tr '\0' ' ' <"/proc/$parent/cmdline" | grep -q "parrun --agent" || victim=$pid
    done
    [ -n "$victim" ] || fail "no agent found on h2"
    start=$SECONDS
    kill -9 "$victim"
    wait "$job"
    RC=$?
    [ $((SECONDS - start)) -le 15 ] || fail "the job took $((SECONDS - start)) s to end"
    expect_rc 255
    expect_in "$OUT/out" "was lost with host h2 \(its agent .*ranks 2 and 3 lost\); terminated 4 other ranks"
    expect_no_orphans
    ;;
  link_down)  # a host unplugged: no heartbeat, the job ends in bounded time; its agent cleans up
    timeout -k 5 60 "$PARRUN" --host h1:2,h2:2,h3:2 "$JOB" block >"$OUT/out" 2>&1 &
    job=$!
    wait_for "$OUT/out" "^ready " 6 30
    start=$SECONDS
    "$HERE/cluster.sh" link-down h3 >/dev/null
    wait "$job"
    RC=$?
    elapsed=$((SECONDS - start))
    "$HERE/cluster.sh" link-up h3 >/dev/null
    [ $elapsed -le 15 ] || fail "the job took $elapsed s to end"
    expect_rc 255
    expect_in "$OUT/out" "was lost with host h3 \(no heartbeat from its agent"
    # h3's agent lost the launcher too (3 s) and killed its ranks.
    expect_no_orphans 12
    ;;
  loss_and_rate)  # 5% packet loss into h2: slower, still correct; then an 8 Mbit/s link to h3
    "$HERE/cluster.sh" drop h2 0.05 >/dev/null
    run coll 300 "$PARRUN" --host h1:2,h2:2 "$COLL"
    rc_coll=$RC
    run p2p 300 "$PARRUN" --host h1:2,h2:2 "$P2P"
    rc_p2p=$RC
    "$HERE/cluster.sh" clear-faults h2 >/dev/null
    "$HERE/cluster.sh" rate h3 8mbit >/dev/null
    run tour 300 "$PARRUN" --host h1:2,h3:2 "$BUILD/examples/03_collectives"
    rc_tour=$RC
    "$HERE/cluster.sh" clear-faults h3 >/dev/null
    RC=$rc_coll expect_rc 0
    RC=$rc_p2p expect_rc 0
    RC=$rc_tour expect_rc 0
    expect_in "$OUT/tour" "results: 26.0 28.5 31.0 33.5"
    ;;
  foreign_client)  # without the job's key nobody gets a message in, at any of its ports
    timeout -k 5 60 "$PARRUN" --host h1:2,h2:2 --ports 47200-47299 "$JOB" block >"$OUT/out" 2>&1 &
    job=$!
    wait_for "$OUT/out" "^ready " 4 30
    run foreign 60 "$FOREIGN" 10.77.0.1,10.77.0.11,10.77.0.12 47200-47299
    expect_rc 0
    expect_in "$OUT/foreign" "open ports: [1-9]"
    expect_in "$OUT/foreign" "handshakes accepted: 0$"
    kill -TERM "$job"
    wait "$job"
    expect_not_in "$OUT/out" "ended with|was lost|malformed"
    expect_no_orphans
    ;;
  unreachable)  # a host that cannot be reached fails the launch in bounded time, naming it
    start=$SECONDS
    run out 60 "$PARRUN" --host h1,nosuchhost "$HELLO"
    [ "$RC" -ne 0 ] || fail "a job with an unreachable host succeeded"
    [ $((SECONDS - start)) -le 30 ] || fail "it took $((SECONDS - start)) s"
    expect_in "$OUT/out" "nosuchhost"
    expect_no_orphans
    ;;
  check_hosts)
    run ok 60 "$PARRUN" --check-hosts --host h1,h2,h3 "$HELLO"
    expect_rc 0
    for h in h1 h2 h3; do expect_in "$OUT/ok" "check-hosts: $h: ok"; done
    # A program only the head node has: a tmpfs mounted in the head's mount namespace after the
    # hosts' sshds made theirs (private), so they see the empty directory under it.
    mkdir -p "$STATE/head-only"
    mount -t tmpfs none "$STATE/head-only" || fail "cannot mount a tmpfs"
    cp "$HELLO" "$STATE/head-only/hello"
    run missing 60 "$PARRUN" --check-hosts --host localhost,h2,nosuchhost "$STATE/head-only/hello"
    umount "$STATE/head-only"
    expect_rc 1
    expect_in "$OUT/missing" "check-hosts: localhost: ok"
    expect_in "$OUT/missing" "check-hosts: h2: FAILED: missing $STATE/head-only/hello"
    expect_in "$OUT/missing" "check-hosts: nosuchhost: FAILED"
    ;;
  *)
    echo "unknown scenario $NAME"
    exit 2
    ;;
esac
echo "PASS [$NAME]"

#!/usr/bin/env bash
# tests/cluster/cluster.sh - a throw-away multi-host "cluster" on one machine, for parrun's tests.
#
# Every "host" is a network namespace h1..hN on a bridge; the head node (where the tests run
# parrun) is the root namespace.  Optionally each host gets a real OpenSSH sshd (--ssh) and a
# slurmd, with munged + slurmctld on the head (--slurm).  Needs root; exits 77 (CTest's skip code)
# when not root, when network namespaces are unavailable, or when a requested package is missing.
#
#   cluster.sh up N [--ssh] [--slurm]  build it (calls `down` first; N in 1..200)
#   cluster.sh down                    tear everything down (safe when nothing is up)
#   cluster.sh status                  what is up (exit 1 if nothing)
#   cluster.sh check                   smoke tests of what is up (ssh, srun, salloc, sbatch, pmix)
#   cluster.sh run hI CMD...           run CMD "on" hI: its net namespace + hostname hI (launch agent)
#   cluster.sh link-down hI | link-up hI      unplug / replug hI (root-side veth prv-hI down / up)
#   cluster.sh drop hI PROB            drop incoming packets on hI's eth0 from 10.77.0.0/24 with
#                                      probability PROB (0..1); replaces an earlier drop; 0 = none
#   cluster.sh rate hI RATE [BURST]    tc tbf on hI's eth0 (egress) AND on prv-hI (traffic towards
#                                      hI), e.g. RATE=8mbit; BURST default 32kbit
#   cluster.sh clear-faults hI         undo drop/rate/link-down on hI
#
# Layout: bridge prbr0 = 10.77.0.1/24 (name "prhead"); host hI = namespace hI, eth0 =
# 10.77.0.(10+I)/24, root-side veth prv-hI, lo up, no default route (nothing leaves the machine).
# /etc/hosts gets "10.77.0.1 prhead" and "10.77.0.(10+I) hI" between "# parrun-cluster begin/end".
# --ssh: sshd on every hI (hostname hI) and one on prhead (10.77.0.1, root net namespace, hostname
# prhead); `$STATE/ssh hI CMD` works as root with a generated key.  --slurm: munged + slurmctld on
# the head (slurmctld as hostname prhead), slurmd on every hI; partition "debug" = h[1-N], 8 CPUs
# per node.  Only one cluster per machine (bridge, names, /etc/hosts are global): `up` with another
# PARRUN_CLUSTER_DIR first takes down the one that is up (/run/parrun-cluster.active).
# `down` kills everything inside the namespaces, our daemons, and head-side clients of this
# cluster (ssh -F $STATE/ssh_config; srun/salloc/sbatch... with our SLURM_CONF, and their children).
#
# State in ${PARRUN_CLUSTER_DIR:-/tmp/parrun-cluster} (absolute path, no spaces):
#   env          `source` it: PARRUN_CLUSTER_DIR, PARRUN_CLUSTER_HOSTS, PARRUN_CLUSTER_N,
#                PARRUN_CLUSTER_HEAD[_IP], PARRUN_CLUSTER_RUN, [PARRUN_CLUSTER_SSH], [SLURM_CONF]
#   ssh          (--ssh) executable: exec ssh -F $STATE/ssh_config "$@"  -> use as the ssh command
#   ssh_config, known_hosts, sshd/ (keys, per-host sshd_config), slurm/ (slurm.conf, logs, spool),
#   munge/ (key, socket), pids/*.pid, log/*.out (daemons' stdout/stderr)
# Knobs: PARRUN_CLUSTER_TIMEOUT (s, default 20) bounds every wait; PARRUN_CLUSTER_KEEP_ON_FAILURE=1
# keeps a half-built cluster for inspection; PARRUN_CLUSTER_DEBUG=1 prints timestamped phases;
# PARRUN_CLUSTER_SLURMCTLD_PORT / _SLURMD_PORT
# (default 16817 / 16818).
#
# Pitfalls found while building this (keep in mind when changing it):
# - Bring lo up in every namespace: otherwise connecting to the host's own 10.77.0.x hangs.
# - Delete the root-side veth explicitly before `ip netns del`: namespace destruction is
#   asynchronous in the kernel, and a veth that lingers makes an immediate `up` fail "File exists".
# - Kill what runs inside a namespace (`ip netns pids`) before deleting it: `ip netns del` only
#   removes the name; the namespace (and its sshd/slurmstepd/ranks) would live on, unreachable.
# - Daemons must not inherit the flock fd (they would hold the lock forever and the next up/down
#   would block) nor CTest's stdout/stderr pipes (CTest waits for the pipes to close -> the `up`
#   test would hang until its timeout).  Hence `9>&-`, </dev/null and log files in spawn().
# - On this VM PID 1 reaps orphans late: a killed daemon stays a zombie for ~2 s, so "dead" means
#   "gone or state Z" (/proc/PID/stat), not `kill -0` failing.
# - slurmd must be started with `nsenter --net=/run/netns/hI`, not `ip netns exec` (that remounts
#   /sys and slurmd then fails in its cgroup plugin).  slurmds share /tmp, so TmpFS points at a
#   directory that each slurmd's private mount namespace bind-mounts to a per-node directory
#   (PMIx puts its rendezvous files there; shared, they collide).
# - slurmctld runs in its own UTS namespace with hostname prhead so it recognises itself as
#   SlurmctldHost whatever the machine's real hostname is.
# - munged is picky: key mode 0600 owned by its user, socket directory mode 0755 (not
#   group/world-writable); hence umask 022 here.  Clients find the private socket through
#   AuthInfo=socket=... in slurm.conf, so SLURM_CONF is all they need.
# - Every sshd needs its own PidFile (default /run/sshd.pid is shared and sshds would clobber each
#   other) and /run/sshd must exist.  MaxStartups is raised: the default 10:30:100 randomly drops
#   connections when a test starts >10 ssh sessions at once.
# - The image's /root/.bashrc runs `pyenv init` (~0.7 s per `ssh host cmd`, racy in parallel);
#   each sshd runs in a private mount namespace with a trivial .bashrc bind-mounted over it.
# - sshd sessions get sshd's default PATH and none of the caller's environment: pass absolute
#   paths and variables on the command line, or `ssh -o SendEnv=PARRUN_*` (AcceptEnv PARRUN_* is
#   set; ssh_config deliberately does NOT SendEnv, so tests see whether parrun forwards env itself).
# - This kernel has no netem (tc ... netem: "Specified qdisc kind is unknown"): loss is an iptables
#   statistic DROP in the *receiving* namespace (DROP in the sender's OUTPUT makes send() fail with
#   EPERM instead of losing packets), rate is tbf, partition is link-down.
# - bridge-nf-call-iptables is 1 here: bridged traffic between hosts crosses the root namespace's
#   FORWARD chain.  If INPUT/FORWARD are not plain ACCEPT, `up` inserts tagged ACCEPT rules for
#   prbr0 (removed by `down`).
# - /etc/hosts may be a bind mount (containers): it is rewritten in place, never replaced by mv.
# - Debian's slurm daemons are /usr/sbin/slurm{ctld,d,stepd}-wlm behind alternatives: match
#   /proc/PID/exe with that in mind.  slurmctld forks "slurmctld: slurmscriptd" whose command line
#   does not name the state dir; it is found as a descendant.
# - srun needs two SIGTERMs, salloc ignores SIGTERM, slurmstepd is slow on SIGTERM: `down` SIGKILLs
#   those at once (a graceful scancel first costs KillWait + seconds).  srun/salloc left running
#   after their slurmctld vanished would otherwise retry for minutes.
# - munged logs "Unauthorized credential for client UID=0 GID=0" once per node per step: harmless
#   noise of Slurm's UID-restricted credentials when everything runs as root (dun/munge#120).
# - `source env` in bash searches PATH first (finds /usr/bin/env!): use `source "$STATE/env"`.
# - sinfo/srun against a dead or wedged controller hang for MessageTimeout: every client call
#   here is under `timeout`.

set -uo pipefail
umask 022
export LC_ALL=C

PROG=cluster.sh
STATE=${PARRUN_CLUSTER_DIR:-/tmp/parrun-cluster}
TIMEOUT=${PARRUN_CLUSTER_TIMEOUT:-20}
CTLD_PORT=${PARRUN_CLUSTER_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${PARRUN_CLUSTER_SLURMD_PORT:-16818}
BR=prbr0
NET=10.77.0
HEAD_IP=$NET.1
HEAD_NAME=prhead
MARK_BEGIN='# parrun-cluster begin'
MARK_END='# parrun-cluster end'
IPT_TAG=parrun-cluster
LOCK=/run/parrun-cluster.lock
ACTIVE=/run/parrun-cluster.active  # state dir of the cluster that is up (bridge etc. are global)
SBIN=/usr/sbin
MAX_HOSTS=200

say() { echo "$PROG: $*" >&2; }
dbg() { [[ -z ${PARRUN_CLUSTER_DEBUG:-} ]] || say "[$(date +%T.%N | cut -c1-12)] $*"; }
die() {
	say "error: $*"
	if [[ ${UP_IN_PROGRESS:-0} == 1 ]]; then
		show_logs
		if [[ ${PARRUN_CLUSTER_KEEP_ON_FAILURE:-0} == 1 ]]; then
			say "keeping the half-built cluster (PARRUN_CLUSTER_KEEP_ON_FAILURE=1); state: $STATE"
		else
			UP_IN_PROGRESS=0
			do_down >/dev/null 2>&1
		fi
	fi
	exit 1
}
skip() { say "SKIP: $*"; exit 77; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
ip_of() { echo "$NET.$((10 + $1))"; }

show_logs() {
	local f
	for f in "$STATE"/log/*.out "$STATE"/log/*.log; do
		[[ -s $f ]] || continue
		say "---- last lines of $f ----"
		tail -n 15 "$f" >&2
	done
}

# ---- preflight -----------------------------------------------------------------------------

preflight() {
	[[ $(id -u) == 0 ]] || skip "needs root (network namespaces, /etc/hosts)"
	command -v ip >/dev/null || skip "iproute2 (ip) not installed"
	ip netns list >/dev/null 2>&1 || skip "'ip netns' unavailable"
	command -v nsenter >/dev/null && command -v unshare >/dev/null || skip "util-linux nsenter/unshare missing"
	unshare --net --uts --mount true 2>/dev/null || skip "cannot create net/uts/mount namespaces here"
	[[ $STATE == /* && $STATE != / && $STATE != *[[:space:]]* ]] ||
		die "PARRUN_CLUSTER_DIR must be an absolute path without spaces (got '$STATE')"
}

need_bins() {  # need_bins WHAT BIN...
	local what=$1 b; shift
	for b; do
		[[ -x $b ]] || command -v "$b" >/dev/null || skip "$what needs '$b' (not installed)"
	done
}

take_lock() {
	exec 9>"$LOCK" || die "cannot open $LOCK"
	flock -w 60 9 || die "another cluster.sh up/down holds $LOCK for > 60 s"
}

# ---- processes -----------------------------------------------------------------------------

alive() {  # gone or zombie -> dead
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# spawn NAME NETNS|- HOSTNAME|- PRELUDE CMD...
# Starts CMD detached (new session, no inherited pipes/lock fd) in netns NETNS (root if -), in a
# new UTS namespace with HOSTNAME and private mount namespace (none if -) after running the shell
# snippet PRELUDE there.  nsenter/unshare/setsid/sh all exec in place, so $! is the daemon's pid.
spawn() {
	local name=$1 ns=$2 host=$3 prelude=$4; shift 4
	local pre=()
	[[ $ns != - ]] && pre=(nsenter "--net=/run/netns/$ns")
	if [[ $host != - ]]; then
		pre+=(unshare --uts --mount --propagation private -- sh -c \
			"hostname '$host' && $prelude && exec \"\$@\"" "$name")
	fi
	setsid "${pre[@]}" "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 9>&- &
	echo $! >"$STATE/pids/$name.pid"
}

pid_of() { cat "$STATE/pids/$1.pid" 2>/dev/null; }

# Is PID one of ours?  Its command line names the state dir (all our daemons get config paths
# under it) - protects against pid reuse after a crash.
ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$STATE/"; }

kill_and_wait() {  # kill_and_wait PID...  (TERM, up to 1.5 s, then KILL, up to 3 s)
	local pids=("$@") p left i sig
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null
	for sig in KILL none; do
		local polls=60
		[[ $sig == KILL ]] && polls=30
		for ((i = 0; i < polls; i++)); do
			left=()
			for p in "${pids[@]}"; do alive "$p" && left+=("$p"); done
			((${#left[@]})) || return 0
			sleep 0.05
		done
		[[ $sig == none ]] && break
		dbg "SIGKILL for: $(for p in "${left[@]}"; do echo -n "$p:$(cat "/proc/$p/comm" 2>/dev/null) "; done)"
		kill -KILL "${left[@]}" 2>/dev/null
		pids=("${left[@]}")
	done
	say "warning: processes still alive after SIGKILL: ${left[*]}"
	return 1
}

# ---- down ----------------------------------------------------------------------------------

our_namespaces() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $ns =~ ^h[0-9]+$ ]] || continue
		# ours if a prv-<ns> veth exists, or the state dir says so
		if ip link show "prv-$ns" >/dev/null 2>&1 ||
			{ [[ -f $STATE/nhosts ]] && ((${ns#h} <= $(cat "$STATE/nhosts"))); }; then
			echo "$ns"
		fi
	done
}

ancestors() {  # " pid ppid ... " of this script
	local anc=" " q=$$
	while [[ $q =~ ^[0-9]+$ && $q != 0 && $q != 1 ]]; do
		anc+="$q "
		q=$(awk '{ print $4 }' "/proc/$q/stat" 2>/dev/null)
	done
	echo "$anc"
}

# Pids (one a line) on the head that belong to this cluster although no pid file names them:
# our daemon binaries whose command line names the state dir (state lost after a crash; note
# Debian's slurm binaries are /usr/sbin/slurm*-wlm behind alternatives), and clients:
# ssh -F $STATE/ssh_config, srun & co. whose environment has our SLURM_CONF.  Once the daemons
# are gone the clients would hang (srun retries for minutes and ignores a single SIGTERM).
scan_head() {  # scan_head ANCESTORS
	local anc=$1 f p
	local exe
	while read -r f exe; do  # one find instead of a readlink per process
		p=${f#/proc/}; p=${p%/exe}
		[[ $anc == *" $p "* || $p == "$BASHPID" ]] && continue
		case $exe in
		*/sshd | */munged | */slurmctld* | */slurmd* | */slurmstepd* | */ssh) ours "$p" && echo "$p" ;;
		*/srun | */salloc | */sbatch | */sattach | */scancel | */squeue | */sinfo | */scontrol)
			if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$STATE/slurm/slurm.conf"; then
				echo "$p"
			fi
			;;
		esac
	done < <(find /proc/[0-9]*/exe -maxdepth 0 -printf '%p %l\n' 2>/dev/null |
		grep -E '/(sshd|munged|slurmctld|slurmd|slurmstepd|ssh|srun|salloc|sbatch|sattach|scancel|squeue|sinfo|scontrol)(-wlm)?$')
}

# descendants ANCESTORS PID... : the PIDs and all their descendants, except ANCESTORS (e.g. an
# salloc's command, slurmctld's slurmscriptd - whose command lines do not name the state dir)
descendants() {
	local anc=$1; shift
	ps -eo pid=,ppid= | awk -v roots="$*" -v anc="$anc" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
		{ parent[$1] = $2 }
		END {
			do { changed = 0
				for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
			} while (changed)
			for (p in keep) if (index(anc, " " p " ") == 0) print p
		}'
}

do_down() {
	local pids=() p f ns link i
	local nss
	nss=$(our_namespaces)
	dbg "down: start (namespaces: $(echo $nss))"
	# 1. everything running inside our namespaces: sshd + sessions, slurmd, slurmstepd, ranks
	for ns in $nss; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$p"); done
	done
	# The network is global, so `up` with another PARRUN_CLUSTER_DIR must also take down the
	# cluster that is up (recorded in $ACTIVE): clean both state dirs.
	local dirs=("$STATE") d anc
	d=$(cat "$ACTIVE" 2>/dev/null)
	[[ -n $d && $d != "$STATE" && -f $d/.parrun-cluster ]] && dirs+=("$d")
	anc=$(ancestors)
	for d in "${dirs[@]}"; do
		local STATE=$d  # dynamic scope: ours/scan_head look at this dir
		# 2. daemons in the root namespace (munged, slurmctld) from pid files
		for f in "$STATE"/pids/*.pid; do
			[[ -f $f ]] || continue
			p=$(cat "$f")
			[[ $p =~ ^[0-9]+$ ]] && alive "$p" && ours "$p" && pids+=("$p")
		done
		# 3. the rest on the head (see scan_head)
		for p in $(scan_head "$anc"); do pids+=("$p"); done
	done
	# ... and everything below what we found
	((${#pids[@]})) && for p in $(descendants "$anc" "${pids[@]}"); do pids+=("$p"); done
	if ((${#pids[@]})); then
		mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un)
		# srun needs two SIGTERMs, salloc ignores SIGTERM and slurmstepd takes its time: SIGKILL
		# them at once (no point in a graceful job cancel: everything goes away anyway)
		local now=()
		for p in "${pids[@]}"; do
			case $(cat "/proc/$p/comm" 2>/dev/null) in
			srun | salloc | sbatch | slurmstepd) now+=("$p") ;;
			esac
		done
		((${#now[@]})) && kill -KILL "${now[@]}" 2>/dev/null
		dbg "killing ${#pids[@]} processes"
		kill_and_wait "${pids[@]}"
	fi
	dbg "processes gone"
	# 4. network: root-side veths first (synchronous), then namespaces, then the bridge
	for link in $(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -E '^prv-h[0-9]+$'); do
		ip link del "$link" 2>/dev/null
	done
	for ns in $nss; do ip netns del "$ns" 2>/dev/null; done
	ip link show "$BR" >/dev/null 2>&1 && ip link del "$BR" 2>/dev/null
	dbg "network gone"
	# 5. /etc/hosts block
	hosts_remove
	# 6. our root-namespace iptables rules (tagged); rules inside namespaces died with them
	if command -v iptables >/dev/null; then
		local chain rule
		for chain in INPUT FORWARD; do
			iptables -w 5 -S "$chain" 2>/dev/null | grep -F -- "--comment $IPT_TAG" |
				while read -r rule; do
					eval "iptables -w 5 ${rule/#-A/-D}" 2>/dev/null
				done
		done
	fi
	# 7. state dirs (only if they are ours)
	for d in "${dirs[@]}"; do
		if [[ -f $d/.parrun-cluster ]]; then
			# a test may have left a mount under the state dir (rm -rf would empty it, then fail)
			local mnt
			for mnt in $(awk -v d="$d/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
				umount -l "$mnt" 2>/dev/null || say "warning: cannot unmount $mnt"
			done
			rm -rf -- "$d"
		elif [[ -d $d && -n $(ls -A "$d" 2>/dev/null) ]]; then
			say "warning: $d is not a parrun cluster state dir; left alone"
		elif [[ -d $d ]]; then
			rmdir -- "$d" 2>/dev/null
		fi
	done
	rm -f "$ACTIVE"
	return 0
}

hosts_remove() {
	grep -qxF "$MARK_BEGIN" /etc/hosts 2>/dev/null || return 0
	local tmp
	tmp=$(awk -v b="$MARK_BEGIN" -v e="$MARK_END" '
		$0 == b { skip = 1; next }
		$0 == e { skip = 0; next }
		!skip' /etc/hosts) || return 1
	printf '%s\n' "$tmp" >/etc/hosts  # in place: /etc/hosts may be a bind mount
}

hosts_add() {  # hosts_add N
	local i block
	hosts_remove
	block="$MARK_BEGIN"$'\n'"$HEAD_IP $HEAD_NAME"
	for ((i = 1; i <= $1; i++)); do block+=$'\n'"$(ip_of "$i") h$i"; done
	block+=$'\n'"$MARK_END"
	# make sure the file ends with a newline before appending
	[[ -s /etc/hosts && $(tail -c1 /etc/hosts | od -An -c | tr -d ' ') != '\n' ]] && echo >>/etc/hosts
	printf '%s\n' "$block" >>/etc/hosts
}

# ---- up: network ---------------------------------------------------------------------------

net_up() {  # net_up N
	local n=$1 i h
	ip link add "$BR" type bridge stp_state 0 forward_delay 0 || die "cannot create bridge $BR"
	ip addr add "$HEAD_IP/24" dev "$BR" || die "cannot address $BR"
	ip link set "$BR" up || die "cannot bring $BR up"
	for ((i = 1; i <= n; i++)); do
		h=h$i
		ip netns add "$h" || die "ip netns add $h failed"
		ip link add "prv-$h" type veth peer name eth0 netns "$h" || die "cannot create veth prv-$h"
		ip link set "prv-$h" master "$BR" up || die "cannot attach prv-$h to $BR"
		ip -n "$h" addr add "$(ip_of "$i")/24" dev eth0 || die "cannot address eth0 in $h"
		ip -n "$h" link set lo up || die "cannot bring lo up in $h"
		ip -n "$h" link set eth0 up || die "cannot bring eth0 up in $h"
	done
	# Only touch the root firewall if it could get in the way (bridged traffic crosses FORWARD).
	if command -v iptables >/dev/null; then
		local chain
		for chain in INPUT FORWARD; do
			if [[ $(iptables -w 5 -S "$chain" 2>/dev/null) != "-P $chain ACCEPT" ]]; then
				iptables -w 5 -I "$chain" -i "$BR" -m comment --comment "$IPT_TAG" -j ACCEPT ||
					die "cannot add ACCEPT rule for $BR to $chain"
			fi
		done
	fi
}

# ---- up: ssh -------------------------------------------------------------------------------

ssh_up() {  # ssh_up N
	local n=$1 i h d key pats
	local S=$STATE/sshd
	mkdir -p "$S" /run/sshd && chmod 755 /run/sshd || die "cannot create $S or /run/sshd"
	ssh-keygen -q -t ed25519 -N '' -C parrun-cluster-client -f "$S/client_key" || die "ssh-keygen (client) failed"
	cp "$S/client_key.pub" "$S/authorized_keys"
	printf '# trivial .bashrc for parrun cluster hosts (bind-mounted over /root/.bashrc)\n' >"$S/bashrc"
	: >"$STATE/known_hosts"
	pats=""
	# i = 0: an sshd on the head too (root net namespace, hostname prhead), for tests that
	# launch "remotely" on the head node
	local addr ns
	for ((i = 0; i <= n; i++)); do
		if ((i == 0)); then h=$HEAD_NAME addr=$HEAD_IP ns=-; else h=h$i addr=$(ip_of "$i") ns=h$i; fi
		d=$S/$h
		mkdir -p "$d"
		ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/host_key" || die "ssh-keygen (host $h) failed"
		read -r key < <(cut -d' ' -f1,2 "$d/host_key.pub")
		echo "$h,$addr $key" >>"$STATE/known_hosts"
		pats+="${pats:+ }$h $addr"
		cat >"$d/sshd_config" <<-EOF
			ListenAddress $addr
			Port 22
			HostKey $d/host_key
			PidFile $STATE/pids/sshd-$h.sshd-pid
			AuthorizedKeysFile $S/authorized_keys
			PermitRootLogin prohibit-password
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			UseDNS no
			PrintMotd no
			PrintLastLog no
			X11Forwarding no
			AcceptEnv PARRUN_*
			MaxStartups 200:30:400
			MaxSessions 100
			LogLevel INFO
			Subsystem sftp internal-sftp
		EOF
		"$SBIN/sshd" -t -f "$d/sshd_config" || die "sshd rejects $d/sshd_config"
		local prelude=true
		[[ -f /root/.bashrc ]] && prelude="mount --bind '$S/bashrc' /root/.bashrc"
		spawn "sshd-$h" "$ns" "$h" "$prelude" "$SBIN/sshd" -D -f "$d/sshd_config" -E "$STATE/log/sshd-$h.log"
	done
	cat >"$STATE/ssh_config" <<-EOF
		# generated by tests/cluster/cluster.sh; use via $STATE/ssh
		Host $pats
		    User root
		    IdentityFile $S/client_key
		    IdentitiesOnly yes
		    UserKnownHostsFile $STATE/known_hosts
		    GlobalKnownHostsFile /dev/null
		    StrictHostKeyChecking no
		    BatchMode yes
		    LogLevel ERROR
		    ConnectTimeout 5
	EOF
	printf '#!/bin/sh\nexec ssh -F %s/ssh_config "$@"\n' "$STATE" >"$STATE/ssh"
	chmod 755 "$STATE/ssh"
}

ssh_wait() {  # ssh_wait N
	local n=$1 i h deadline jobs=() names=() bad=()
	deadline=$(($(date +%s) + TIMEOUT))
	for ((i = 0; i <= n; i++)); do
		((i == 0)) && h=$HEAD_NAME || h=h$i
		(
			while :; do
				out=$(timeout 5 "$STATE/ssh" -o ConnectTimeout=2 "$h" hostname 2>&1) && [[ $out == "$h" ]] && exit 0
				alive "$(pid_of "sshd-$h")" || { say "sshd on $h died (see $STATE/log/sshd-$h.*)"; exit 2; }
				(($(date +%s) >= deadline)) && { say "ssh $h: no success within ${TIMEOUT}s (last: $out)"; exit 1; }
				sleep 0.1
			done
		) 9>&- &
		jobs+=($!) names+=("$h")
	done
	for ((i = 0; i < ${#jobs[@]}; i++)); do wait "${jobs[i]}" || bad+=("${names[i]}"); done
	((${#bad[@]} == 0)) || die "ssh not working on: ${bad[*]}"
}

# ---- up: slurm -----------------------------------------------------------------------------

slurm_up() {  # slurm_up N
	local n=$1 i h
	local M=$STATE/munge S=$STATE/slurm
	mkdir -p "$M" "$S"/{state,spool,run,log,tmpfs,nodes} || die "cannot create $S"
	chmod 755 "$M"
	"$SBIN/mungekey" -c -k "$M/munge.key" || die "mungekey failed"
	chmod 600 "$M/munge.key"
	spawn munged - - - "$SBIN/munged" -F --key-file="$M/munge.key" --socket="$M/munge.socket.2" \
		--pid-file="$M/munged.pid" --log-file="$M/munged.log" --seed-file="$M/munged.seed"
	cat >"$S/slurm.conf" <<-EOF
		# generated by tests/cluster/cluster.sh
		ClusterName=parrun-test
		SlurmctldHost=$HEAD_NAME($HEAD_IP)
		SlurmctldPort=$CTLD_PORT
		SlurmdPort=$SLURMD_PORT
		AuthType=auth/munge
		CredType=cred/munge
		AuthInfo=socket=$M/munge.socket.2
		SlurmUser=root
		SlurmdUser=root
		StateSaveLocation=$S/state
		SlurmdSpoolDir=$S/spool/%n
		SlurmctldPidFile=$S/run/slurmctld.pid
		SlurmdPidFile=$S/run/slurmd-%n.pid
		SlurmctldLogFile=$S/log/slurmctld.log
		SlurmdLogFile=$S/log/slurmd-%n.log
		SlurmctldDebug=info
		SlurmdDebug=info
		TmpFS=$S/tmpfs
		ProctrackType=proctrack/linuxproc
		TaskPlugin=task/none
		JobAcctGatherType=jobacct_gather/none
		AccountingStorageType=accounting_storage/none
		JobCompType=jobcomp/none
		SlurmdParameters=config_overrides
		MpiDefault=none
		SelectType=select/cons_tres
		SelectTypeParameters=CR_Core
		ReturnToService=2
		MailProg=/bin/true
		InactiveLimit=0
		KillWait=2
		MinJobAge=60
	EOF
	for ((i = 1; i <= n; i++)); do
		echo "NodeName=h$i NodeHostname=h$i NodeAddr=$(ip_of "$i") CPUs=8 State=UNKNOWN" >>"$S/slurm.conf"
	done
	echo "PartitionName=debug Nodes=h[1-$n] Default=YES MaxTime=INFINITE State=UP" >>"$S/slurm.conf"
	export SLURM_CONF=$S/slurm.conf

	# munged must answer before slurmctld starts (it authenticates every RPC)
	local deadline=$(($(date +%s) + TIMEOUT))
	until munge -n -S "$M/munge.socket.2" 2>/dev/null | unmunge -S "$M/munge.socket.2" >/dev/null 2>&1; do
		alive "$(pid_of munged)" || die "munged died"
		(($(date +%s) >= deadline)) && die "munged not answering within ${TIMEOUT}s"
		sleep 0.05
	done
	spawn slurmctld - "$HEAD_NAME" true "$SBIN/slurmctld" -D -f "$S/slurm.conf"
	for ((i = 1; i <= n; i++)); do
		h=h$i
		mkdir -p "$S/nodes/$h/tmp" "$S/spool/$h"  # slurmd does not create a %n spool dir
		spawn "slurmd-$h" "$h" "$h" "mount --bind '$S/nodes/$h/tmp' '$S/tmpfs'" \
			"$SBIN/slurmd" -D -N "$h" -f "$S/slurm.conf"
	done
}

slurm_wait() {  # slurm_wait N : until sinfo shows N idle nodes
	local n=$1 i out idle deadline=$(($(date +%s) + TIMEOUT))
	while :; do
		for p in munged slurmctld $(for ((i = 1; i <= n; i++)); do echo "slurmd-h$i"; done); do
			alive "$(pid_of "$p")" || die "$p died (see $STATE/log/$p.out)"
		done
		out=$(timeout 3 sinfo -h -N -o '%N %T' 2>&1)
		idle=$(awk '$2 == "idle"' <<<"$out" | sort -u | wc -l)
		((idle == n)) && return 0
		(($(date +%s) >= deadline)) && die "sinfo: $idle of $n nodes idle after ${TIMEOUT}s: $(echo $out)"
		sleep 0.1
	done
}

write_env() {  # write_env N SSH SLURM
	local n=$1 i hosts=""
	for ((i = 1; i <= n; i++)); do hosts+="${hosts:+ }h$i"; done
	{
		echo "# generated by tests/cluster/cluster.sh; source it"
		echo "export PARRUN_CLUSTER_DIR=$STATE"
		echo "export PARRUN_CLUSTER_N=$n"
		echo "export PARRUN_CLUSTER_HOSTS='$hosts'"
		echo "export PARRUN_CLUSTER_HEAD=$HEAD_NAME"
		echo "export PARRUN_CLUSTER_HEAD_IP=$HEAD_IP"
		echo "export PARRUN_CLUSTER_RUN='$(readlink -f "$0") run'"
		[[ $2 == 1 ]] && echo "export PARRUN_CLUSTER_SSH=$STATE/ssh"
		[[ $3 == 1 ]] && echo "export SLURM_CONF=$STATE/slurm/slurm.conf"
	} >"$STATE/env"
}

cmd_up() {
	local n="" ssh=0 slurm=0 a t0
	for a; do
		case $a in
		--ssh) ssh=1 ;;
		--slurm) slurm=1 ;;
		*[!0-9]* | "") die "usage: $PROG up N [--ssh] [--slurm] (bad argument '$a')" ;;
		*) n=$a ;;
		esac
	done
	[[ -n $n ]] && ((n >= 1 && n <= MAX_HOSTS)) || die "usage: $PROG up N [--ssh] [--slurm] with 1 <= N <= $MAX_HOSTS"
	preflight
	((ssh)) && need_bins --ssh "$SBIN/sshd" ssh ssh-keygen
	((slurm)) && need_bins --slurm "$SBIN/munged" "$SBIN/mungekey" munge unmunge "$SBIN/slurmctld" "$SBIN/slurmd" srun sinfo
	[[ $CTLD_PORT =~ ^[0-9]+$ && $SLURMD_PORT =~ ^[0-9]+$ ]] && ((CTLD_PORT < 65536 && SLURMD_PORT < 65536)) ||
		die "bad PARRUN_CLUSTER_SLURMCTLD_PORT/_SLURMD_PORT"
	[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "PARRUN_CLUSTER_TIMEOUT must be whole seconds"
	if [[ -e $STATE && ! -f $STATE/.parrun-cluster && -n $(ls -A "$STATE" 2>/dev/null) ]]; then
		die "$STATE exists and is not a cluster state dir; remove it or set PARRUN_CLUSTER_DIR"
	fi
	take_lock
	t0=$(now)
	do_down
	[[ -e $STATE ]] && rmdir -- "$STATE" 2>/dev/null
	[[ -e $STATE ]] && die "cannot clear $STATE"
	UP_IN_PROGRESS=1
	mkdir -p "$STATE"/{pids,log} || die "cannot create $STATE"
	chmod 755 "$STATE"
	: >"$STATE/.parrun-cluster"
	echo "$STATE" >"$ACTIVE"
	echo "$n" >"$STATE/nhosts"
	dbg "up: state dir ready"
	net_up "$n"
	dbg "up: network ready"
	hosts_add "$n" || die "cannot edit /etc/hosts"
	((ssh)) && ssh_up "$n"
	((slurm)) && slurm_up "$n"
	write_env "$n" "$ssh" "$slurm"
	dbg "up: daemons started"
	((ssh)) && ssh_wait "$n" && dbg "up: ssh works on all hosts"
	((slurm)) && slurm_wait "$n" && dbg "up: all slurm nodes idle"
	UP_IN_PROGRESS=0
	say "up: $n hosts$( ((ssh)) && echo ', sshd')$( ((slurm)) && echo ', slurm') in $(elapsed "$t0") s; source $STATE/env"
}

cmd_down() {
	preflight
	take_lock
	do_down
	say "down"
}

# ---- status / check ------------------------------------------------------------------------

cmd_status() {
	preflight
	[[ -f $STATE/nhosts ]] || { say "no cluster in $STATE"; return 1; }
	local n f p
	n=$(cat "$STATE/nhosts")
	echo "state: $STATE  hosts: $n"
	for f in "$STATE"/pids/*.pid; do
		[[ -f $f ]] || continue
		p=$(cat "$f")
		printf '  %-16s pid %-8s %s\n' "$(basename "$f" .pid)" "$p" "$(alive "$p" && echo running || echo DEAD)"
	done
	[[ -f $STATE/slurm/slurm.conf ]] && SLURM_CONF=$STATE/slurm/slurm.conf timeout 5 sinfo -N
	return 0
}

cmd_check() {
	preflight
	[[ -f $STATE/nhosts ]] || die "no cluster in $STATE"
	local n i out want fails=0
	n=$(cat "$STATE/nhosts")
	ok() { echo "ok   $*"; }
	bad() { echo "FAIL $*"; fails=$((fails + 1)); }
	want=$(for ((i = 1; i <= n; i++)); do echo "h$i"; done)
	for ((i = 1; i <= n; i++)); do
		out=$("$0" run "h$i" hostname 2>&1)
		[[ $out == "h$i" ]] && ok "run h$i hostname" || bad "run h$i hostname -> $out"
	done
	if [[ -x $STATE/ssh ]]; then
		if ((n >= 2)); then
			out=$(timeout 5 "$0" run h1 bash -c "exec 3<>/dev/tcp/$(ip_of 2)/22" 2>&1) &&
				ok "tcp h1 -> h2:22" || bad "tcp h1 -> h2:22: $out"
		fi
		for ((i = 1; i <= n; i++)); do
			out=$(timeout 10 "$STATE/ssh" "h$i" hostname 2>&1)
			[[ $out == "h$i" ]] && ok "ssh h$i hostname" || bad "ssh h$i hostname -> $out"
		done
		out=$(timeout 10 "$STATE/ssh" "$HEAD_NAME" hostname 2>&1)
		[[ $out == "$HEAD_NAME" ]] && ok "ssh $HEAD_NAME hostname" || bad "ssh $HEAD_NAME hostname -> $out"
		out=$(PARRUN_CHECK=42 timeout 10 "$STATE/ssh" -o SendEnv=PARRUN_CHECK h1 'echo $PARRUN_CHECK' 2>&1)
		[[ $out == 42 ]] && ok "ssh SendEnv PARRUN_*" || bad "ssh SendEnv PARRUN_* -> $out"
	fi
	if [[ -f $STATE/slurm/slurm.conf ]]; then
		export SLURM_CONF=$STATE/slurm/slurm.conf
		out=$(timeout 30 srun -N "$n" -n "$n" hostname 2>&1 | sort)
		[[ $out == "$want" ]] && ok "srun -N $n -n $n hostname" || bad "srun -N $n -n $n hostname -> $(echo $out)"
		out=$(timeout 10 srun --mpi=list 2>&1)
		grep -qw pmix <<<"$out" && ok "srun --mpi=list has pmix" || bad "srun --mpi=list has no pmix: $(echo $out)"
		if ((n >= 2)); then
			out=$(timeout 30 salloc -N2 srun hostname 2>/dev/null | sort)
			[[ $out == "$(printf 'h1\nh2')" ]] && ok "salloc -N2 srun hostname" || bad "salloc -N2 srun hostname -> $(echo $out)"
		fi
		out=$(cd "$STATE/slurm" && timeout 30 sbatch --wait -N1 -o "$STATE/slurm/check-%j.out" --wrap 'hostname; exit 3' 2>&1)
		local rc=$?
		local f
		f=$(ls -t "$STATE"/slurm/check-*.out 2>/dev/null | head -1)
		[[ $rc == 3 && -n $f && $(cat "$f") == h[0-9]* ]] && ok "sbatch --wait (exit code 3 passed through, ran on $(cat "$f"))" ||
			bad "sbatch --wait -> rc $rc, $out, output: $(cat "$f" 2>/dev/null)"
	fi
	((fails == 0)) && echo "all checks passed" || { echo "$fails check(s) failed"; return 1; }
}

# ---- per-host commands ---------------------------------------------------------------------

host_arg() {  # validates hI, sets H
	H=${1:-}
	[[ $H =~ ^h[0-9]+$ && -e /run/netns/$H ]] || die "no such host '$H' (is the cluster up?)"
}

in_host() { nsenter "--net=/run/netns/$H" "$@"; }

fault_chain() {  # ensure chain PARRUN-FAULT hooked into INPUT inside H
	in_host iptables -w 5 -N PARRUN-FAULT 2>/dev/null
	in_host iptables -w 5 -C INPUT -j PARRUN-FAULT 2>/dev/null ||
		in_host iptables -w 5 -I INPUT -j PARRUN-FAULT || die "iptables in $H failed"
}

cmd_fault() {
	local what=$1; shift
	[[ $(id -u) == 0 ]] || skip "needs root"
	host_arg "${1:-}"
	case $what in
	link-down) ip link set "prv-$H" down || die "link-down $H failed" ;;
	link-up) ip link set "prv-$H" up || die "link-up $H failed" ;;
	drop)
		local p=${2:-}
		[[ $p =~ ^(0|1|0?\.[0-9]+|1\.0*)$ ]] || die "usage: $PROG drop hI PROB (0..1)"
		command -v iptables >/dev/null || die "iptables not installed"
		fault_chain
		in_host iptables -w 5 -F PARRUN-FAULT
		if [[ $p != 0 && ! $p =~ ^0?\.0*$ ]]; then
			in_host iptables -w 5 -A PARRUN-FAULT -i eth0 -s "$NET.0/24" -m statistic --mode random \
				--probability "$p" -j DROP || die "iptables drop rule in $H failed"
		fi
		;;
	rate)
		local r=${2:-} b=${3:-32kbit}
		[[ -n $r ]] || die "usage: $PROG rate hI RATE [BURST]   (e.g. 8mbit)"
		in_host tc qdisc replace dev eth0 root tbf rate "$r" burst "$b" latency 100ms || die "tc in $H failed"
		tc qdisc replace dev "prv-$H" root tbf rate "$r" burst "$b" latency 100ms || die "tc on prv-$H failed"
		;;
	clear-faults)
		if command -v iptables >/dev/null; then in_host iptables -w 5 -F PARRUN-FAULT 2>/dev/null; fi
		in_host tc qdisc del dev eth0 root 2>/dev/null
		tc qdisc del dev "prv-$H" root 2>/dev/null
		ip link set "prv-$H" up || die "link-up $H failed"
		;;
	esac
	return 0
}

cmd_run() {
	[[ $(id -u) == 0 ]] || skip "needs root"
	host_arg "${1:-}"; shift
	(($#)) || die "usage: $PROG run hI CMD..."
	exec nsenter "--net=/run/netns/$H" unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$H" "$@"
}

usage() { sed -n '2,/^# Layout/{/^# Layout/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
check) cmd_check ;;
run) shift; cmd_run "$@" ;;
link-down | link-up | drop | rate | clear-faults) cmd_fault "$@" ;;
*) usage ;;
esac

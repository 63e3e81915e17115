#!/bin/bash
# cpu_per_message.sh: what a server spends per message, beside its throughput.
#
#   cd bench && cserver/cpu_per_message.sh [-r ROUNDS] [-m cpu|sys] APP:SIZE:CONNS:DEPTH...
#   cd bench && flock -x /tmp/quiet.lock cserver/cpu_per_message.sh -r 4 echo:64:100:1 echo:4096:1000:1
#
# Each server runs pinned to CPU 0 with one loop, the generator
# (cmd/loadgen, GOMAXPROCS=1) pinned to CPU 1, 200 ms of warm-up and 2 s
# measured; within a round the servers take turns, the order rotating each
# round. Over 1.5 s inside the measured window it records, with -m cpu (the
# default), the server's run time and context switches (the schedstat of
# every thread: nanoseconds on a CPU, exact), its user and system split
# (/proc/PID/stat, ticks), and each CPU's idle+iowait and softirq time
# (/proc/stat); with -m sys, perf stat of its system calls. Per message is
# that figure over the run's throughput times 1.5 s. A line per run, then a
# summary per case and server: the best run's throughput, the medians per
# message.
#
# SERVERS replaces the servers: NAME:COMMAND entries separated by ";" (the
# commands take -app, -addr and -loops), in which $BIN, left unexpanded,
# names the directory the binaries are built into, for instance
#   SERVERS='c:$BIN/epoll_server;c-uring:$BIN/uring_server;batched:$BIN/uring_server -batch 64:200' \
#     cserver/cpu_per_message.sh echo:64:1000:1
set -e
rounds=3 mode=cpu
while getopts r:m: o; do
	case $o in
	r) rounds=$OPTARG ;;
	m) mode=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# = 0 ] || [ ! -f go.mod ] || ! grep -q eventpoll/bench go.mod; then
	echo "usage: cd bench && $0 [-r ROUNDS] [-m cpu|sys] APP:SIZE:CONNS:DEPTH..." >&2
	exit 2
fi
BIN=$(mktemp -d /tmp/cpu_per_message.XXXXXX)
trap 'rm -rf $BIN' EXIT
go build -o $BIN/loadgen ./cmd/loadgen
go build -o $BIN/peerserver ./cmd/peerserver
gcc -O2 -Wall -o $BIN/epoll_server cserver/c/epoll_server.c -lpthread
gcc -O2 -Wall -o $BIN/uring_server cserver/c/uring_server.c -lpthread
echo "# binaries in $BIN; $(uname -r), $(nproc) CPUs, $(date -u +'%F %T UTC')"
IFS=';' read -r -a servers <<<"${SERVERS:-c:$BIN/epoll_server;c-uring:$BIN/uring_server;eventpoll:$BIN/peerserver -impl eventpoll;gnet:$BIN/peerserver -impl gnet}"
tick=$(getconf CLK_TCK)
events='raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_pwait2,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,context-switches'

# sample PID: the figures over 1.5 s, starting 0.7 s after the generator.
sample() {
	local pid=$1
	sleep 0.7
	if [ $mode = sys ]; then
		perf stat -x, -e "$events" -p $pid -- sleep 1.5 2>&1 |
			awk -F, '$3 != "" {sub(/^syscalls:sys_enter_/, "", $3); sub(/^raw_syscalls:sys_enter$/, "syscalls", $3); printf "%s=%s ", $3, $1}'
		return
	fi
	snap() { cat /proc/$pid/task/*/schedstat | awk '{r += $1; n += $3} END {print r, n}'; }
	local a c0 c1 d0 d1 u0 k0 ns0 sw0 ns1 sw1
	read -r -a a </proc/$pid/stat
	u0=${a[13]} k0=${a[14]}
	read -r ns0 sw0 < <(snap)
	read -r -a c0 < <(grep '^cpu0 ' /proc/stat)
	read -r -a d0 < <(grep '^cpu1 ' /proc/stat)
	sleep 1.5
	read -r -a a </proc/$pid/stat
	read -r ns1 sw1 < <(snap)
	read -r -a c1 < <(grep '^cpu0 ' /proc/stat)
	read -r -a d1 < <(grep '^cpu1 ' /proc/stat)
	echo "run_us=$(((ns1 - ns0) / 1000)) switches=$((sw1 - sw0))" \
		"user_ms=$(((a[13] - u0) * 1000 / tick)) sys_ms=$(((a[14] - k0) * 1000 / tick))" \
		"cpu0_idle_ms=$(((c1[4] - c0[4] + c1[5] - c0[5]) * 1000 / tick)) cpu0_si_ms=$(((c1[7] - c0[7]) * 1000 / tick))" \
		"cpu1_idle_ms=$(((d1[4] - d0[4] + d1[5] - d0[5]) * 1000 / tick)) cpu1_si_ms=$(((d1[7] - d0[7]) * 1000 / tick))"
}

for ((r = 0; r < rounds; r++)); do
	for cs in "$@"; do
		IFS=: read -r app size conns depth <<<"$cs"
		for ((i = 0; i < ${#servers[@]}; i++)); do
			s=${servers[$(((i + r) % ${#servers[@]}))]}
			name=${s%%:*} cmd=${s#*:}
			cmd=${cmd//\$BIN/$BIN}
			coproc SRV { exec taskset -c 0 $cmd -app $app -addr 127.0.0.1:0 -loops 1; }
			pid=$SRV_PID
			read -r _ addr <&"${SRV[0]}"
			sample $pid >$BIN/side &
			side=$!
			out=$(GOMAXPROCS=1 taskset -c 1 $BIN/loadgen -addr $addr -app $app -c $conns -size $size -depth $depth -d 2s -warmup 200ms 2>&1) || true
			wait $side
			echo "$r $cs $name ${out%% p50*} $(cat $BIN/side)"
			echo stop >&"${SRV[1]}"
			wait $pid || true
		done
	done
done | tee $BIN/runs

# The summary: per case and server, the best throughput and the medians per
# message (µs of CPU, its user and kernel parts, context switches; or system
# calls).
awk -v mode=$mode '
function median(s,   n, v, i, j, t) {
	n = split(s, v, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
	return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
$5 == "ops/s" {
	k = $2 " " $3
	if (!(k in best)) order[++nk] = k
	if ($4 > best[k]) best[k] = $4
	msgs = $4 * 1.5
	if (msgs == 0) next
	for (f = 6; f <= NF; f++) { split($f, kv, "="); x[kv[1]] = kv[2] }
	if (mode == "cpu") {
		cpu = x["run_us"] / msgs
		user = x["user_ms"] + x["sys_ms"] > 0 ? x["user_ms"] / (x["user_ms"] + x["sys_ms"]) : 0
		c[k] = c[k] " " cpu; u[k] = u[k] " " cpu * user; s[k] = s[k] " " cpu * (1 - user); w[k] = w[k] " " x["switches"] / msgs
	} else {
		line[k] = sprintf("syscalls %.2f read %.2f write %.2f epoll %.2f io_uring_enter %.2f futex %.3f nanosleep %.3f switches %.3f",
			x["syscalls"] / msgs, x["read"] / msgs, x["write"] / msgs, (x["epoll_wait"] + x["epoll_pwait"] + x["epoll_pwait2"]) / msgs,
			x["io_uring_enter"] / msgs, x["futex"] / msgs, x["nanosleep"] / msgs, x["context-switches"] / msgs)
	}
	delete x
}
END {
	print "\ncase server: best ops/s; per message (medians)"
	for (i = 1; i <= nk; i++) {
		k = order[i]
		if (mode == "cpu")
			printf "%-24s %9d ops/s  cpu %.2f us (user %.2f, kernel %.2f)  switches %.3f\n", k, best[k], median(c[k]), median(u[k]), median(s[k]), median(w[k])
		else
			printf "%-24s %9d ops/s  %s\n", k, best[k], line[k]
	}
}' $BIN/runs

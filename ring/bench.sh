#!/usr/bin/env bash
# bench.sh runs the `perf bench epoll wait` workload (one writer writing 1
# into each eventfd in turn with a 500 ns nanosleep between rounds; each
# consumer waits for an event and then reads that eventfd) with four
# consumers, interleaved round by round so that a noisy machine hurts all
# alike, and prints the median throughput of each:
#
#   C           perf bench epoll wait (epoll_wait with one event per call)
#   C-noaff     the same with -n (no CPU pinning: perf pins its writer and
#               its worker to the same CPU by default)
#   go-epoll    epoll.Instance.Wait with one event per call (level-triggered)
#   ring        ring.Ring, EngineMultishot, Wait with up to 64 events
#   ring-epoll  ring.Ring, EngineEpollWait
#
# Then it counts, from outside the process with perf's syscall tracepoints,
# the io_uring_enter / epoll_wait* calls per delivered event. Every
# consumer also makes one read(2) per event: that is part of the workload.
#
# Usage: ring/bench.sh [seconds per run] [rounds] [fds] [extra waitbench flags]
# Run from the module root.
set -euo pipefail
secs=${1:-3}
rounds=${2:-3}
fds=${3:-64}
extra=${4:-}
bin=$(mktemp -d)/waitbench
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./ring/internal/waitbench

declare -A res
for ((i = 1; i <= rounds; i++)); do
	v=$(perf bench epoll wait -r "$secs" -f "$fds" -t 1 2>&1 | awk '/Averaged/ {print $2}')
	res[C]+="$v "
	v=$(perf bench epoll wait -r "$secs" -f "$fds" -t 1 -n 2>&1 | awk '/Averaged/ {print $2}')
	res[C-noaff]+="$v "
	for c in epoll ring ring-epoll; do
		v=$("$bin" -consumer "$c" -t 1 -f "$fds" -r "${secs}s" $extra | sed -n 's/.*ops\/sec=\([0-9]*\).*/\1/p')
		name=$c
		[ "$c" = epoll ] && name=go-epoll
		res[$name]+="$v "
	done
	echo "round $i of $rounds done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cmed=$(echo "${res[C]}" | median)
printf '%-11s %12s %8s   runs (ops/s)\n' consumer median "x C"
for k in C C-noaff go-epoll ring ring-epoll; do
	m=$(echo "${res[$k]}" | median)
	printf '%-11s %12s %8s   %s\n' "$k" "$m" "$(awk -v a="$m" -v b="$cmed" 'BEGIN {printf "%.2f", a/b}')" "${res[$k]}"
done

echo
echo "system calls per delivered event (perf stat, ${secs}s runs):"
ev='syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_pwait2,syscalls:sys_enter_read'
out=$(perf stat -x, -e "$ev" perf bench epoll wait -r "$secs" -f "$fds" -t 1 2>&1)
ops=$(echo "$out" | awk '/Averaged/ {print $2 * '"$secs"'}')
echo "$out" | awk -F, -v ops="$ops" -v who=C '/syscalls:/ {split($3, n, ":"); printf "  %-10s %-28s %6.3f per event\n", who, n[2], $1 / ops}'
for c in epoll ring ring-epoll; do
	out=$(perf stat -x, -e "$ev" "$bin" -consumer "$c" -t 1 -f "$fds" -r "${secs}s" $extra 2>&1)
	n=$(echo "$out" | sed -n 's/.* events=\([0-9]*\).*/\1/p')
	echo "$out" | awk -F, -v ops="$n" -v who="$c" '/syscalls:/ {split($3, n, ":"); printf "  %-10s %-28s %6.3f per event\n", who, n[2], $1 / ops}'
done

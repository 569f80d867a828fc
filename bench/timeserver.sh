#!/usr/bin/env bash
# Load-test the time server on this machine, over loopback only.
#
# Builds ./timeserver, starts it on 127.0.0.1 with a port the kernel picks
# (read back from the server's start log line, so there is no race for a
# "free" port), and loads GET /api/time for a bounded time with a bounded
# number of connections, using wrk if installed, else hey. Without either it
# runs the Go benchmarks instead. Prints requests/s.
#
# Settings (environment):
#   DURATION     seconds of load, 1-60            (default 5)
#   CONNECTIONS  concurrent connections, 1-1024   (default 64)
#   THREADS      wrk threads                      (default 2)
#   ZONE         zone asked for                   (default Asia/Seoul)
#   TOOL         wrk, hey or go to force one      (default: first found)
#
# Usage: bench/timeserver.sh
set -euo pipefail

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ZONE=${ZONE:-Asia/Seoul}
TOOL=${TOOL:-}

die() { echo "bench/timeserver.sh: $*" >&2; exit 1; }
# in_range NAME VALUE MIN MAX: dies unless VALUE is an integer in [MIN, MAX].
in_range() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then
		die "$1 must be an integer from $3 to $4"
	fi
}
in_range DURATION "$DURATION" 1 60
in_range CONNECTIONS "$CONNECTIONS" 1 1024
in_range THREADS "$THREADS" 1 64
((THREADS <= CONNECTIONS)) || THREADS=$CONNECTIONS
[[ $ZONE =~ ^[A-Za-z0-9/_+-]+$ ]] || die "ZONE must look like Area/City"

if [[ -z $TOOL ]]; then
	if command -v wrk >/dev/null; then TOOL=wrk
	elif command -v hey >/dev/null; then TOOL=hey
	else TOOL=go
	fi
fi
case $TOOL in
wrk | hey) command -v "$TOOL" >/dev/null || die "$TOOL is not installed" ;;
go) ;;
*) die "TOOL must be wrk, hey or go" ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
echo "cpu: $(nproc) cores; $(go version | cut -d' ' -f3-)"

if [[ $TOOL == go ]]; then
	echo "no wrk or hey (or TOOL=go): running the Go benchmarks (${DURATION}s each)"
	out=$(go test -run '^$' -bench 'BenchmarkAPITime' -benchtime "${DURATION}s" ./timeserver)
	echo "$out"
	echo "$out" | awk '/^BenchmarkAPITime/ {
		for (i = 1; i <= NF; i++) if ($i == "ns/op") ns = $(i - 1)
		name = $1; sub(/-[0-9]+$/, "", name)
		if (name == "BenchmarkAPITime")
			printf "timeserver GET /api/time handler alone: %s ns/op (%.0f/s on one core)\n", ns, 1e9 / ns
		else
			printf "timeserver GET /api/time end to end (Go client, loopback): %.0f requests/s\n", 1e9 / ns }'
	exit 0
fi

work=$(mktemp -d)
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/timeserver" ./timeserver
"$work/timeserver" --addr 127.0.0.1:0 --imds-endpoint off 2>"$work/server.log" &
pid=$!

addr=
for _ in $(seq 1 200); do
	addr=$(sed -n 's/.*"msg":"timeserver started".*"addr":"\([^"]*\)".*/\1/p' "$work/server.log")
	[[ -n $addr ]] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited"; }
	sleep 0.05
done
[[ -n $addr ]] || die "the server did not start within 10 s"
[[ $addr == 127.* ]] || die "the server listens on $addr, not loopback"
url="http://$addr/api/time?tz=$ZONE"
echo "server: $url (pid $pid)"
echo "load:   $TOOL, ${DURATION}s, $CONNECTIONS connections"

case $TOOL in
wrk)
	out=$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 5s --latency "$url")
	echo "$out"
	if grep -q 'Non-2xx' <<<"$out"; then die "some answers were not 2xx"; fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	;;
hey)
	out=$(hey -z "${DURATION}s" -c "$CONNECTIONS" -t 5 "$url")
	echo "$out"
	if awk '/Status code distribution:/ {s = 1; next} s && /\[[0-9]+\]/ && !/\[200\]/ {bad = 1} END {exit !bad}' <<<"$out"; then
		die "some answers were not 200"
	fi
	rps=$(awk '/Requests\/sec:/ {print $2}' <<<"$out")
	;;
esac
[[ -n $rps ]] || die "could not read requests/s from $TOOL"
printf 'timeserver GET /api/time: %.0f requests/s (%s, %d connections, %ds, loopback; load generator on the same cores)\n' \
	"$rps" "$TOOL" "$CONNECTIONS" "$DURATION"

#!/usr/bin/env bash
# The time server against nginx, side by side, on one pinned core.
#
# Builds ./timeserver and runs, one after the other and in ROUNDS rounds so
# that both see the same noise from whatever else the machine is doing:
#   - nginx, one worker, answering GET /api/time with a fixed copy of the
#     time server's own answer (same body, same headers): the reference;
#   - the time server as shipped (its epoll event loop);
#   - the time server on Go's net/http (--http-server=net/http), for scale.
# Each server is pinned to CPU 0 with taskset; wrk runs on CPU 1 with one
# thread and CONNECTIONS keep-alive connections, over loopback only, for
# DURATION seconds after a one-second warm-up. It prints requests/s, p99
# latency, peak RSS and the server's CPU time per request, the median of
# the rounds, and the ratios to nginx. It asserts nothing about speed (the
# machine may be shared); it fails only if an answer is not 2xx.
#
# nginx and wrk come from Debian's packages: when either is missing and
# this runs as root with apt-get, it runs `apt-get update` and
# `apt-get install -y nginx wrk`; otherwise it says what is missing and
# runs the Go benchmarks instead.
#
# Settings (environment):
#   DURATION     seconds of load per server per round, 1-60   (default 10)
#   ROUNDS       rounds, 1-9                                   (default 3)
#   CONNECTIONS  concurrent connections, 1-1024                (default 64)
#   ZONE         zone asked for                                (default Asia/Seoul)
#   SERVER_CPU   CPU the servers are pinned to                 (default 0)
#   LOAD_CPU     CPU wrk is pinned to                          (default 1)
#   INSTALL      0 to never install packages                   (default 1)
#
# Usage: bench/timeserver.sh        (or: make bench)
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
ZONE=${ZONE:-Asia/Seoul}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
INSTALL=${INSTALL:-1}

die() { echo "bench/timeserver.sh: $*" >&2; exit 1; }
# in_range NAME VALUE MIN MAX: dies unless VALUE is an integer in [MIN, MAX].
in_range() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then
		die "$1 must be an integer from $3 to $4"
	fi
}
in_range DURATION "$DURATION" 1 60
in_range ROUNDS "$ROUNDS" 1 9
in_range CONNECTIONS "$CONNECTIONS" 1 1024
in_range SERVER_CPU "$SERVER_CPU" 0 4095
in_range LOAD_CPU "$LOAD_CPU" 0 4095
[[ $ZONE =~ ^[A-Za-z0-9/_+-]+$ ]] || die "ZONE must look like Area/City"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Tools: nginx and wrk from Debian when missing.
missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v taskset >/dev/null || missing+=(taskset)
if ((${#missing[@]})) && [[ $INSTALL == 1 && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
	echo "installing ${missing[*]} from Debian's packages (apt-get)..."
	# Debian's nginx package starts a system nginx on port 80 when it is
	# installed; policy-rc.d answering 101 ("not allowed") stops that, as
	# container images do. Ours is removed again after.
	policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
	fi
	installed=0
	if DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk util-linux >/dev/null; then
		installed=1
	fi
	[[ -z $policy ]] || rm -f "$policy"
	if ((installed)); then
		missing=()
		command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
		command -v wrk >/dev/null || missing+=(wrk)
	else
		echo "apt-get could not install them"
	fi
fi
if ((${#missing[@]})); then
	echo "MISSING: ${missing[*]} (Debian packages nginx, wrk, util-linux): no side-by-side figures."
	echo "Install them (apt-get install nginx wrk) or run as root with INSTALL=1."
	echo "Running the Go benchmarks instead:"
	go test -run '^$' -bench 'BenchmarkAPITime' -benchtime "${DURATION}s" ./timeserver
	exit 0
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cpus=$(nproc)
if ((cpus < 2)) || ((SERVER_CPU >= cpus || LOAD_CPU >= cpus)) || ((SERVER_CPU == LOAD_CPU)); then
	die "needs two distinct CPUs below $cpus for SERVER_CPU ($SERVER_CPU) and LOAD_CPU ($LOAD_CPU)"
fi

work=$(mktemp -d)
pid=
stop_server() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	pid=
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "machine: $cpus CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tools:   $(go version | cut -d' ' -f3), $("$NGINX" -v 2>&1 | cut -d' ' -f3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
go build -o "$work/timeserver" ./timeserver

# wait_addr LOG: the address the time server reports in its start line.
wait_addr() {
	local addr=
	for _ in $(seq 1 200); do
		addr=$(sed -n 's/.*"msg":"timeserver started".*"addr":"\([^"]*\)".*/\1/p' "$1")
		[[ -n $addr ]] && { echo "$addr"; return; }
		kill -0 "$pid" 2>/dev/null || { cat "$1" >&2; die "the time server exited"; }
		sleep 0.05
	done
	die "the time server did not start within 10 s"
}

# start_timeserver STACK: starts it pinned; sets pid and url.
start_timeserver() {
	taskset -c "$SERVER_CPU" "$work/timeserver" --addr 127.0.0.1:0 --imds-endpoint off \
		--http-server "$1" 2>"$work/timeserver.log" &
	pid=$!
	local addr
	addr=$(wait_addr "$work/timeserver.log")
	[[ $addr == 127.* ]] || die "the time server listens on $addr, not loopback"
	url="http://$addr/api/time?tz=$ZONE"
}

# The reference answer nginx will send: the time server's own body.
start_timeserver event-loop
body=$(curl -sf "$url" 2>/dev/null || python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' "$url")
stop_server
[[ $body == '{"time":'* ]] || die "unexpected answer from the time server: $body"
body=${body%$'\n'}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_nginx: one worker, no master, logs off, the same headers and body.
start_nginx() {
	local port
	port=$(free_port)
	mkdir -p "$work/nginx/tmp"
	cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 2048; }
http {
	access_log off;
	server_tokens off;
	keepalive_requests 10000000;
	client_body_temp_path $work/nginx/tmp;
	proxy_temp_path $work/nginx/tmp;
	fastcgi_temp_path $work/nginx/tmp;
	uwsgi_temp_path $work/nginx/tmp;
	scgi_temp_path $work/nginx/tmp;
	server {
		listen 127.0.0.1:$port;
		location / {
			default_type application/json;
			add_header Access-Control-Allow-Origin *;
			add_header Cache-Control no-store;
			add_header X-Content-Type-Options nosniff;
			return 200 '$body\n';
		}
	}
}
EOF
	taskset -c "$SERVER_CPU" "$NGINX" -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
	pid=$!
	url="http://127.0.0.1:$port/api/time?tz=$ZONE"
	for _ in $(seq 1 200); do
		curl -sf -o /dev/null "$url" 2>/dev/null && return
		python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "$url" 2>/dev/null && return
		kill -0 "$pid" 2>/dev/null || { cat "$work/nginx/error.log" >&2; die "nginx exited"; }
		sleep 0.05
	done
	die "nginx did not start within 10 s"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure NAME: loads url, records "name rps p99_ms rss_kb cpu_us_per_req".
measure() {
	local name=$1 out t0 t1 reqs rps p99 rss us
	taskset -c "$LOAD_CPU" wrk -t1 -c "$CONNECTIONS" -d1s "$url" >/dev/null # warm-up
	t0=$(cpu_ticks "$pid")
	out=$(taskset -c "$LOAD_CPU" wrk -t1 -c "$CONNECTIONS" -d "${DURATION}s" --timeout 5s --latency "$url")
	t1=$(cpu_ticks "$pid")
	rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	# Answers that are not 2xx, or broken connections, are failures; wrk's
	# timeouts only say the machine is busy, and are shown.
	if grep -q 'Non-2xx' <<<"$out" ||
		grep -Eq 'Socket errors: connect [1-9]|read [1-9]|write [1-9]' <<<"$out"; then
		echo "$out" >&2
		die "$name: some requests failed"
	fi
	grep "Socket errors" <<<"$out" | sed "s|^ *|  $name: |" || true
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	reqs=$(awk '/ requests in / {print $1}' <<<"$out")
	p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; print v}' <<<"$out")
	us=$(awk -v t=$((t1 - t0)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
	[[ -n $rps && -n $p99 ]] || die "$name: could not read wrk's output"
	printf '  %-22s %10.0f req/s   p99 %6.2f ms   peak RSS %5.1f MB   CPU %5.2f us/req\n' \
		"$name" "$rps" "$p99" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$us"
	echo "$name $rps $p99 $rss $us" >>"$work/results"
}

echo "load:    wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency on CPU $LOAD_CPU; each server pinned to CPU $SERVER_CPU"
echo "request: GET /api/time?tz=$ZONE (nginx sends a fixed copy of the time server's answer)"
for r in $(seq 1 "$ROUNDS"); do
	echo "round $r of $ROUNDS (load average $(cut -d' ' -f1 /proc/loadavg))"
	start_nginx
	measure nginx
	stop_server
	start_timeserver event-loop
	measure timeserver
	stop_server
	start_timeserver net/http
	measure timeserver-net/http
	stop_server
done

# Medians over the rounds, and ratios to nginx.
awk -v rounds="$ROUNDS" -v cpu="$SERVER_CPU" '
function median(name, field,   n, i, j, t, v) {
	n = 0
	for (i = 1; i <= NR; i++) if (who[i] == name) v[++n] = val[i, field]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{ who[NR] = $1; for (f = 2; f <= 5; f++) val[NR, f] = $f }
END {
	ng_rps = median("nginx", 2); ng_p99 = median("nginx", 3); ng_rss = median("nginx", 4); ng_us = median("nginx", 5)
	printf "\nmedian of %d rounds            req/s   ratio     p99 (ms)  peak RSS (MB)  CPU (us/req)\n", rounds
	split("nginx timeserver timeserver-net/http", names, " ")
	for (k = 1; k <= 3; k++) {
		n = names[k]
		printf "  %-22s %10.0f  %5.2fx   %8.2f   %10.1f   %10.2f\n", n, median(n, 2), median(n, 2) / ng_rps, median(n, 3), median(n, 4) / 1024, median(n, 5)
	}
	ts_rps = median("timeserver", 2); ts_p99 = median("timeserver", 3); ts_rss = median("timeserver", 4) / 1024; ts_us = median("timeserver", 5)
	printf "\ntime server against nginx (medians of %d rounds):\n", rounds
	printf "  requests/s       %5.2fx nginx  (%.0f against %.0f)              goal >= 1.00x: %s\n",
		ts_rps / ng_rps, ts_rps, ng_rps, ((ts_rps >= ng_rps) ? "met" : "MISSED")
	printf "  CPU per request  %5.2fx nginx  (%.2f against %.2f us)          goal <= 1.00x: %s\n",
		ts_us / ng_us, ts_us, ng_us, ((ts_us <= ng_us) ? "met" : "MISSED")
	printf "  p99 latency      %5.2f ms      (nginx %.2f ms)                  goal <= 1.10 ms: %s\n",
		ts_p99, ng_p99, ((ts_p99 <= 1.1) ? "met" : "MISSED")
	printf "  peak RSS         %5.1f MB      (nginx %.1f MB)                   goal <= 20 MB: %s\n",
		ts_rss, ng_rss / 1024, ((ts_rss <= 20) ? "met" : "MISSED")
	printf "CPU per request is the figure least disturbed by other work on the machine;\n"
	printf "requests/s and p99 also measure how much of CPU %s the scheduler gave each server.\n", cpu
}' "$work/results"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (on $cpus CPUs; above 1 per CPU, other work shared them)"

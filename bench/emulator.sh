#!/usr/bin/env bash
# The emulator's CPU per AWS request, with and without its speedups
# (emulator/speedups.py), side by side in one run. Each of ROUNDS (default 2)
# rounds starts a fresh emulator without its data plane, once with
# WTT_EMULATOR_SPEEDUPS=0 and once with the speedups on, walks the whole
# ladder on it (the same commands as bench/ladder.sh) and reads the
# emulator's CPU (utime + stime from /proc) around the walk. Prints the CPU
# of start-up and of the walk, CPU ms per request and the ratio. Run through
# `make bench-emulator` (which builds bin/ first); figures: docs/performance.md,
# "Emulator CPU per request".
set -euo pipefail
cd "$(dirname "$0")/.."
WTT=${WTT:-$PWD/bin/wtt}
rounds=${ROUNDS:-2}
out=$(mktemp -d)
emu=""
cleanup() { [ -n "$emu" ] && kill "$emu" 2>/dev/null && wait "$emu" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true NO_COLOR=1 WTT_APP=bench

ladder=(
  "up|up --yes"
  "eip|migrate --to=eip --yes"
  "vertical|scale --vertical m5.large --yes"
  "horizontal|scale --horizontal 3 --yes"
  "dns|migrate --to=dns --dns-name api.whatisthetime.com --ttl 300 --yes"
  "alb|migrate --to=alb --dns-drain=0s --yes"
  "asg|migrate --to=asg --yes"
  "multi-az|migrate --to=multi-az --azs 3 --yes"
  "reserved|migrate --to=reserved --payment no-upfront --yes"
  "status|status"
  "down|down --yes"
)

# CPU seconds (user+system) a process has used, from /proc.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14+$15)/hz }' "/proc/$1/stat"; }

# run SPEEDUPS: one fresh emulator, one walk; prints "startup-cpu walk-cpu requests".
run() {
  local port log=$out/calls-$1 start walk
  rm -rf "$log"; mkdir -p "$log"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  WTT_EMULATOR_SPEEDUPS=$1 python3 emulator/wtt_emulator.py --host 127.0.0.1 --port "$port" --quiet --no-dataplane \
    >"$out/emu.log" 2>&1 &
  emu=$!
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
    kill -0 "$emu" 2>/dev/null || { echo "the emulator exited:" >&2; cat "$out/emu.log" >&2; exit 1; }
    sleep 0.1
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  start=$(cpu_of "$emu")
  local i=0
  for step in "${ladder[@]}"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    WTT_CALL_LOG="$log/$i.calls" "$WTT" ${step#*|} >"$out/step.out" 2>&1 || { cat "$out/step.out" >&2; exit 1; }
  done
  walk=$(echo "$(cpu_of "$emu") - $start" | bc)
  kill "$emu"; wait "$emu" 2>/dev/null || true; emu=""
  echo "$start $walk $(cat "$log"/*.calls | wc -l)"
}

printf 'machine: %s CPUs; load average %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'workload: the ladder up to reserved, then status and down, on a fresh emulator (--no-dataplane)\n'
printf '%-8s %-9s %12s %12s %9s %12s\n' round speedups "start-up CPU" "walk CPU" requests "CPU/request"
off_total=0; on_total=0; off_reqs=0; on_reqs=0
for r in $(seq 1 "$rounds"); do
  for s in 0 1; do
    read -r start walk reqs < <(run "$s")
    printf '%-8s %-9s %11.2fs %11.2fs %9d %9.1f ms\n' "$r" "$([ "$s" = 1 ] && echo on || echo off)" \
      "$start" "$walk" "$reqs" "$(echo "1000 * $walk / $reqs" | bc -l)"
    if [ "$s" = 1 ]; then on_total=$(echo "$on_total + $walk" | bc); on_reqs=$((on_reqs + reqs))
    else off_total=$(echo "$off_total + $walk" | bc); off_reqs=$((off_reqs + reqs)); fi
  done
done
off_ms=$(echo "1000 * $off_total / $off_reqs" | bc -l)
on_ms=$(echo "1000 * $on_total / $on_reqs" | bc -l)
echo
printf 'emulator CPU per request, %d rounds: %.1f ms without speedups, %.1f ms with them: %.2fx less\n' \
  "$rounds" "$off_ms" "$on_ms" "$(echo "$off_ms / $on_ms" | bc -l)"
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

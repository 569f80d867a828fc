#!/usr/bin/env bash
# The emulator's CPU per AWS request, with and without its speedups
# (emulator/speedups.py), side by side in one run. Each of ROUNDS (default 2)
# rounds starts a fresh emulator without its data plane three times: with
# WTT_EMULATOR_SPEEDUPS=0 (moto as it is), with the speedups, and with the
# speedups and WTT_EMULATOR_PRELOAD=1 (what an emulator forked from the
# test harness's fork server inherits is loaded at start-up); on each it
# walks the whole ladder (the commands of bench/ladder.sh, then status and
# down), then the same walk again for another app, and reads the emulator's
# CPU (utime + stime from /proc) around each walk. Prints the CPU of
# start-up and of each walk, CPU ms per request and the ratios: the first
# walk pays what moto loads on first use, the second only the requests. Run through
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

# The ladder of bench/ladder.sh, then status and down.
# shellcheck source=bench/ladder-steps.sh
source bench/ladder-steps.sh
ladder+=("status|status" "down|down --yes")

# CPU seconds (user+system) a process has used, from /proc.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14+$15)/hz }' "/proc/$1/stat"; }

# run MODE: one fresh emulator, two walks (the second for another app);
# prints "startup-cpu first-walk-cpu requests second-walk-cpu".
run() {
  # run runs in a subshell (read < <(run ...)): its own trap stops its emulator
  # when a step fails.
  trap '[ -n "$emu" ] && kill "$emu" 2>/dev/null' EXIT
  local port log=$out/calls-$1 start walk speedups=1 preload=0
  case $1 in off) speedups=0 ;; preloaded) preload=1 ;; esac
  rm -rf "$log"; mkdir -p "$log"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  WTT_EMULATOR_SPEEDUPS=$speedups WTT_EMULATOR_PRELOAD=$preload \
    python3 emulator/wtt_emulator.py --host 127.0.0.1 --port "$port" --quiet --no-dataplane >"$out/emu.log" 2>&1 &
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
  # The same walk again for another app on the same emulator: what a
  # request costs once everything moto loads on first use is loaded.
  local again_start again
  again_start=$(cpu_of "$emu")
  for step in "${ladder[@]}"; do
    # shellcheck disable=SC2086
    WTT_APP=again "$WTT" ${step#*|} >"$out/step.out" 2>&1 || { cat "$out/step.out" >&2; exit 1; }
  done
  again=$(echo "$(cpu_of "$emu") - $again_start" | bc)
  kill "$emu"; wait "$emu" 2>/dev/null || true; emu=""
  echo "$start $walk $(cat "$log"/*.calls | wc -l) $again"
}

modes=(off on preloaded)
declare -A walk_total start_total reqs_total again_total
for m in "${modes[@]}"; do walk_total[$m]=0; start_total[$m]=0; reqs_total[$m]=0; again_total[$m]=0; done
printf 'machine: %s CPUs; load average %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'workload: the ladder up to reserved, then status and down, on a fresh emulator (--no-dataplane)\n'
printf 'modes: off = WTT_EMULATOR_SPEEDUPS=0 (moto as it is); on = the speedups (the default);\n'
printf '       preloaded = on, with WTT_EMULATOR_PRELOAD=1 (start-up loads what a forked emulator inherits)\n'
printf '%-6s %-10s %13s %10s %9s %12s %12s %12s\n' round mode "start-up CPU" "walk CPU" requests "CPU/request" "again CPU" "CPU/request"
for r in $(seq 1 "$rounds"); do
  for m in "${modes[@]}"; do
    read -r start walk reqs again < <(run "$m")
    printf '%-6s %-10s %12.2fs %9.2fs %9d %9.1f ms %11.2fs %9.1f ms\n' "$r" "$m" "$start" "$walk" "$reqs" \
      "$(echo "1000 * $walk / $reqs" | bc -l)" "$again" "$(echo "1000 * $again / $reqs" | bc -l)"
    walk_total[$m]=$(echo "${walk_total[$m]} + $walk" | bc)
    start_total[$m]=$(echo "${start_total[$m]} + $start" | bc)
    reqs_total[$m]=$((${reqs_total[$m]} + reqs))
    again_total[$m]=$(echo "${again_total[$m]} + $again" | bc)
  done
done
ms() { echo "1000 * ${walk_total[$1]} / ${reqs_total[$1]}" | bc -l; }
again_ms() { echo "1000 * ${again_total[$1]} / ${reqs_total[$1]}" | bc -l; }
echo
printf 'emulator CPU per request over %d rounds: the first walk on a fresh emulator, and the same walk again\n' "$rounds"
for m in "${modes[@]}"; do
  printf '  %-10s first %5.1f ms (%4.2fx less than off)   again %5.1f ms (%4.2fx less)   start-up %.2f s\n' "$m" \
    "$(ms "$m")" "$(echo "$(ms off) / $(ms "$m")" | bc -l)" \
    "$(again_ms "$m")" "$(echo "$(again_ms off) / $(again_ms "$m")" | bc -l)" \
    "$(echo "${start_total[$m]} / $rounds" | bc -l)"
done
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# The ladder, side by side: wtt against a hand-written aws-cli runbook of
# the same moves (bench/ladder-awscli.sh), each on a fresh emulator, in one
# run. Prints requests per command, wall time, client and emulator CPU, the
# ratios, and `wtt --help` start-up. Run through `make bench` (which builds
# bin/ first); figures and how to read them: docs/performance.md, "Ladder".
set -euo pipefail
cd "$(dirname "$0")/.."
WTT=${WTT:-$PWD/bin/wtt}
out=$(mktemp -d)
emu=""
# The ladder is measured in two settings, each side by side in this run:
#
#   plain      the emulator without its data plane: every call answered as
#              fast as its CPU allows, no instance boots, no health check or
#              drain to wait out. The issue's own setting: the floor is the
#              emulator's CPU for the requests a tool makes.
#   dataplane  the emulator's data plane serves every instance and load
#              balancer and runs the health checks and drains on AWS's clock
#              (docs/emulator.md). Both runbooks configure a check every 10 s
#              (healthy after 2) and a 30 s drain, and both wait for them; the
#              clock is scaled by LADDER_TIME_SCALE for both alike (default
#              0.1, as the probe suites use: a 1 s check, a 3 s drain), so the
#              comparison is of the two tools rather than of AWS's timers. 1
#              gives AWS's own times: about a minute of health checks and
#              drains on each side.
#
# LADDER_MODES picks them ("plain dataplane" by default).
modes=${LADDER_MODES:-plain dataplane}
for mode in $modes; do
  case $mode in
  plain | dataplane) ;;
  *) echo "LADDER_MODES: unknown mode '$mode' (say plain, dataplane or both)" >&2; exit 2 ;;
  esac
done
time_scale=${LADDER_TIME_SCALE:-0.1}
boot_delay=${LADDER_BOOT_DELAY:-0.5}
cleanup() { [ -n "$emu" ] && kill "$emu" 2>/dev/null && wait "$emu" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

# start_emulator MODE
start_emulator() {
  local port args=(--no-dataplane)
  [ "$1" = dataplane ] && args=(--dataplane-time-scale "$time_scale" --boot-delay "$boot_delay")
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 emulator/wtt_emulator.py --host 127.0.0.1 --port "$port" --quiet "${args[@]}" >"$out/emu-$port.log" 2>&1 &
  emu=$!
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
}
# moto loads each service's backend on its first request, which takes
# seconds: both runbooks start on a warmed emulator, so neither pays it.
warm_up() {
  WTT_APP=warm "$WTT" status >/dev/null
  WTT_APP=warm "$WTT" plan --to=dns --dns-name api.warm.example.com >/dev/null 2>&1 || true
}
stop_emulator() { kill "$emu"; wait "$emu" 2>/dev/null || true; emu=""; }
# CPU seconds (user+system) a process has used, from /proc.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14+$15)/hz }' "/proc/$1/stat"; }
# CPU seconds of this shell's finished children, into the variable named
# $1 (`times` must run in this shell, not in a $(...) subshell).
children_cpu() { times >"$out/times"; printf -v "$1" '%s' "$(times_cpu "$out/times")"; }
# times_cpu FILE: the children's CPU seconds in a saved `times` output.
times_cpu() { awk 'NR==2 { gsub(/[ms]/," "); print $1*60+$2+$3*60+$4 }' "$1"; }
now() { date +%s.%N; }

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true NO_COLOR=1

# The moves, as "name|wtt arguments".
# shellcheck source=bench/ladder-steps.sh
source bench/ladder-steps.sh

# run_mode MODE: both runbooks on fresh emulators in that setting; the
# figures go to $out/MODE.* for the summary.
run_mode() {
  local mode=$1 name args s reqs muts e0 c0 c1 t0
  echo "== $mode: $(mode_title "$mode")"
  # wtt
  start_emulator "$mode"
  warm_up
  export WTT_APP=bench
  e0=$(cpu_of "$emu"); t0=$(now)
  printf '%-12s %9s %9s %9s\n' command requests mutating wall
  printf '%-12s %9s %9s\n' "" "" "(+lease)"
  mkdir -p "$out/$mode"
  for step in "${ladder[@]}"; do
    name=${step%%|*}; args=${step#*|}
    s=$(now)
    # wtt's CPU: `times` (a builtin, no child) right before and after it,
    # so the date, bc and wc this loop runs are not counted as wtt's.
    times >"$out/$mode/$name.t0"
    # shellcheck disable=SC2086
    WTT_CALL_LOG="$out/$mode/$name.calls" "$WTT" $args >"$out/$mode/$name.out" 2>&1 || { cat "$out/$mode/$name.out"; exit 1; }
    times >"$out/$mode/$name.t1"
    reqs=$(wc -l <"$out/$mode/$name.calls")
    muts=$(grep -cvE ':(Describe|List|Get|Head)' "$out/$mode/$name.calls" || true)
    printf '%-12s %9d %9d %8.2fs\n' "$name" "$reqs" "$muts" "$(echo "$(now) - $s" | bc)"
  done
  echo "$(now) - $t0" | bc >"$out/$mode.wtt_wall"
  for step in "${ladder[@]}"; do
    name=${step%%|*}
    echo "$(times_cpu "$out/$mode/$name.t1") - $(times_cpu "$out/$mode/$name.t0")"
  done | paste -sd+ | bc >"$out/$mode.wtt_cpu"
  echo "$(cpu_of "$emu") - $e0" | bc >"$out/$mode.wtt_emu"
  cat "$out/$mode"/*.calls | wc -l >"$out/$mode.wtt_reqs"
  { cat "$out/$mode"/*.calls | grep -cvE ':(Describe|List|Get|Head)' || true; } >"$out/$mode.wtt_muts"
  "$WTT" status >/dev/null
  stop_emulator

  # aws-cli
  start_emulator "$mode"
  warm_up
  e0=$(cpu_of "$emu"); children_cpu c0; t0=$(now)
  APP=bench CALL_LOG="$out/$mode.awscli.calls" bench/ladder-awscli.sh >/dev/null
  echo "$(now) - $t0" | bc >"$out/$mode.cli_wall"; children_cpu c1; echo "$c1 - $c0" | bc >"$out/$mode.cli_cpu"
  echo "$(cpu_of "$emu") - $e0" | bc >"$out/$mode.cli_emu"
  wc -l <"$out/$mode.awscli.calls" >"$out/$mode.cli_reqs"
  stop_emulator
  echo
}

mode_title() {
  case $1 in
  plain) echo "the emulator without its data plane (no boots, health checks or drains: the issue's setting)" ;;
  dataplane) echo "the emulator's data plane on, AWS's timers scaled by $time_scale (LADDER_TIME_SCALE) for both, instances boot in $boot_delay s" ;;
  esac
}

for mode in $modes; do run_mode "$mode"; done

# wtt --help start-up, the median of 21
for _ in $(seq 1 21); do s=$(now); "$WTT" --help >/dev/null; echo "$(now) - $s" | bc; done | sort -n | sed -n 11p >"$out/help"

v() { cat "$out/$1.$2"; }
for mode in $modes; do
  echo "== $mode: $(mode_title "$mode")"
  printf '%-26s %12s %12s\n' "the whole ladder" wtt aws-cli
  printf '%-26s %12d %12d\n' "AWS requests" "$(v "$mode" wtt_reqs)" "$(v "$mode" cli_reqs)"
  printf '%-26s %12d %12s\n' "  of which mutating" "$(v "$mode" wtt_muts)" "-"
  printf '%-26s %11.2fs %11.2fs\n' "wall time" "$(v "$mode" wtt_wall)" "$(v "$mode" cli_wall)"
  printf '%-26s %11.2fs %11.2fs\n' "client CPU" "$(v "$mode" wtt_cpu)" "$(v "$mode" cli_cpu)"
  printf '%-26s %11.2fs %11.2fs\n' "emulator CPU" "$(v "$mode" wtt_emu)" "$(v "$mode" cli_emu)"
  echo "(an aws-cli wait counts as one request above; it polls every 15 s until its condition holds)"
  printf 'wtt is %.1fx faster than the aws-cli runbook (target: 20x)\n' "$(echo "$(v "$mode" cli_wall) / $(v "$mode" wtt_wall)" | bc -l)"
  printf "wtt's own CPU is %.0f%% of its wall time (target: under 20%%)\n" "$(echo "100 * $(v "$mode" wtt_cpu) / $(v "$mode" wtt_wall)" | bc -l)"
  printf "the emulator's CPU for wtt's requests (the floor) is %.0f%% of wtt's wall time\n" "$(echo "100 * $(v "$mode" wtt_emu) / $(v "$mode" wtt_wall)" | bc -l)"
  echo
done
printf 'wtt --help start-up: %.0f ms (median of 21)\n' "$(echo "1000 * $(cat "$out/help")" | bc -l)"
# What the packages' initialisers allocate before main: above the garbage
# collector's first target (4 MB) every command pays a collection first
# (docs/dependencies.md, "Four SDK services held ...").
init_bytes=$(GODEBUG=inittrace=1 "$WTT" --help 2>&1 >/dev/null | awk '/^init / { b += $8 } END { print b + 0 }')
if [ "$init_bytes" -lt 4194304 ]; then verdict="under the collector's first 4 MB: no collection before main"; else verdict="over the collector's first 4 MB: every command collects once before main"; fi
printf 'package initialisers allocate %.1f MB, %s\n' "$(echo "$init_bytes / 1048576" | bc -l)" "$verdict"

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
# The emulator's data plane serves every instance and load balancer and runs
# the health checks and drains on AWS's clock (docs/emulator.md). Both
# runbooks configure a check every 10 s (healthy after 2) and a 30 s drain,
# and both wait for them; the clock is scaled by LADDER_TIME_SCALE for both
# alike (default 0.1, as the probe suites use: a 1 s check, a 3 s drain), so
# the comparison is of the two tools rather than of AWS's timers. 1 gives
# AWS's own times: about a minute of health checks and drains on each side.
time_scale=${LADDER_TIME_SCALE:-0.1}
boot_delay=${LADDER_BOOT_DELAY:-0.5}
cleanup() { [ -n "$emu" ] && kill "$emu" 2>/dev/null && wait "$emu" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

start_emulator() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 emulator/wtt_emulator.py --host 127.0.0.1 --port "$port" --quiet \
    --dataplane-time-scale "$time_scale" --boot-delay "$boot_delay" >"$out/emu-$port.log" 2>&1 &
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
children_cpu() { times >"$out/times"; printf -v "$1" '%s' "$(awk 'NR==2 { gsub(/[ms]/," "); print $1*60+$2+$3*60+$4 }' "$out/times")"; }
now() { date +%s.%N; }

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true NO_COLOR=1

# The moves, as "name|wtt arguments".
# shellcheck source=bench/ladder-steps.sh
source bench/ladder-steps.sh

# wtt
start_emulator
warm_up
export WTT_APP=bench
e0=$(cpu_of "$emu"); children_cpu c0; t0=$(now)
printf '%-12s %9s %9s %9s\n' command requests mutating wall
printf '%-12s %9s %9s\n' "" "" "(+lease)"
for step in "${ladder[@]}"; do
  name=${step%%|*}; args=${step#*|}
  s=$(now)
  # shellcheck disable=SC2086
  WTT_CALL_LOG="$out/$name.calls" "$WTT" $args >"$out/$name.out" 2>&1 || { cat "$out/$name.out"; exit 1; }
  reqs=$(wc -l <"$out/$name.calls")
  muts=$(grep -cvE ':(Describe|List|Get|Head)' "$out/$name.calls" || true)
  printf '%-12s %9d %9d %8.2fs\n' "$name" "$reqs" "$muts" "$(echo "$(now) - $s" | bc)"
done
wtt_wall=$(echo "$(now) - $t0" | bc); children_cpu c1; wtt_cpu=$(echo "$c1 - $c0" | bc); wtt_emu=$(echo "$(cpu_of "$emu") - $e0" | bc)
wtt_reqs=$(cat "$out"/*.calls | wc -l)
wtt_muts=$(cat "$out"/*.calls | grep -cvE ':(Describe|List|Get|Head)' || true)
"$WTT" status >/dev/null
stop_emulator

# aws-cli
start_emulator
warm_up
e0=$(cpu_of "$emu"); children_cpu c0; t0=$(now)
APP=bench CALL_LOG="$out/awscli.calls" bench/ladder-awscli.sh >/dev/null
cli_wall=$(echo "$(now) - $t0" | bc); children_cpu c1; cli_cpu=$(echo "$c1 - $c0" | bc); cli_emu=$(echo "$(cpu_of "$emu") - $e0" | bc)
cli_reqs=$(wc -l <"$out/awscli.calls")
stop_emulator

# wtt --help start-up, the median of 21
for _ in $(seq 1 21); do s=$(now); "$WTT" --help >/dev/null; echo "$(now) - $s" | bc; done | sort -n | sed -n 11p >"$out/help"

echo
printf 'data plane clock scaled by %s for both (LADDER_TIME_SCALE), instances boot in %s s\n' "$time_scale" "$boot_delay"
printf '%-26s %12s %12s\n' "the whole ladder" wtt aws-cli
printf '%-26s %12d %12d\n' "AWS requests" "$wtt_reqs" "$cli_reqs"
printf '%-26s %12d %12s\n' "  of which mutating" "$wtt_muts" "-"
printf '%-26s %11.2fs %11.2fs\n' "wall time" "$wtt_wall" "$cli_wall"
printf '%-26s %11.2fs %11.2fs\n' "client CPU" "$wtt_cpu" "$cli_cpu"
printf '%-26s %11.2fs %11.2fs\n' "emulator CPU" "$wtt_emu" "$cli_emu"
echo "(an aws-cli wait counts as one request above; it polls every 15 s until its condition holds)"
echo
printf 'wtt is %.1fx faster than the aws-cli runbook (target: 20x)\n' "$(echo "$cli_wall / $wtt_wall" | bc -l)"
printf "wtt's own CPU is %.0f%% of its wall time (target: under 20%%)\n" "$(echo "100 * $wtt_cpu / $wtt_wall" | bc -l)"
printf "the emulator's CPU for wtt's requests (the floor) is %.0f%% of wtt's wall time\n" "$(echo "100 * $wtt_emu / $wtt_wall" | bc -l)"
printf 'wtt --help start-up: %.0f ms (median of 21)\n' "$(echo "1000 * $(cat "$out/help")" | bc -l)"

#!/usr/bin/env bash
# wtt's own CPU per command over the ladder on the plain emulator (no data
# plane: the issue's setting), counted by `perf stat -e task-clock` around
# each wtt run, with each command's wall time and wtt's share of it.
# bench/ladder.sh counts the same with the shell's `times`, which adds the
# exec and exit of each process; docs/performance.md, "wtt's CPU: what the
# SDK paid for nothing", shows both. Needs perf (Debian: linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
WTT=${WTT:-$PWD/bin/wtt}
if ! command -v perf >/dev/null || ! perf stat -e task-clock true >/dev/null 2>&1; then
  echo "bench/ladder-cpu.sh: perf is missing or may not count here (Debian: apt-get install linux-perf); nothing measured" >&2
  exit 0
fi
out=$(mktemp -d)
emu=""
cleanup() { [ -n "$emu" ] && kill "$emu" 2>/dev/null && wait "$emu" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 emulator/wtt_emulator.py --host 127.0.0.1 --port "$port" --quiet --no-dataplane >"$out/emu.log" 2>&1 &
emu=$!
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true NO_COLOR=1
# moto loads each service's backend on its first request: start warm, as
# bench/ladder.sh does.
WTT_APP=warm "$WTT" status >/dev/null
WTT_APP=warm "$WTT" plan --to=dns --dns-name api.warm.example.com >/dev/null 2>&1 || true
export WTT_APP=bench

source bench/ladder-steps.sh
now() { date +%s.%N; }
printf '%-12s %9s %9s %7s\n' command wall 'wtt CPU' share
for step in "${ladder[@]}"; do
  name=${step%%|*}; args=${step#*|}
  s=$(now)
  # shellcheck disable=SC2086
  perf stat -x, -e task-clock -o "$out/$name.stat" "$WTT" $args >"$out/$name.out" 2>&1 || { echo "bench/ladder-cpu.sh: wtt $args failed:" >&2; cat "$out/$name.out" >&2; exit 1; }
  wall=$(echo "$(now) - $s" | bc)
  cpu=$(awk -F, '/task-clock/ { printf "%.4f", $1 / 1000 }' "$out/$name.stat")
  echo "$name $wall $cpu"
done | awk '{ printf "%-12s %8.2fs %8.3fs %6.0f%%\n", $1, $2, $3, 100 * $3 / $2; w += $2; c += $3 }
  END { if (NR) printf "%-12s %8.2fs %8.3fs %6.0f%%  (target: under 20%%)\n", "the ladder", w, c, 100 * c / w }'

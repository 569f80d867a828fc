#!/usr/bin/env bash
# The WhatsTheTime.com story, end to end, on the local emulator: every rung's
# plan, the move itself, and the status after it; then everything torn down.
# Run through `make demo` (which builds bin/ first).
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
python3 emulator/wtt_emulator.py --host 127.0.0.1 --port "$port" --quiet >"$log" 2>&1 &
emu=$!
cleanup() { kill "$emu" 2>/dev/null || true; wait "$emu" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export WTT_APP=whatsthetime
wtt=./bin/wtt

# Every move is probed (docs/probe.md): steady requests to the app through
# the emulator's Route 53, as a user's machine would send them, and under
# the plan a line of what users saw and whether the plan's claim held.
probe=(--probe --probe-resolver "127.0.0.1:$port")

# Colour only for a person at a terminal: piped into a file or a CI log the
# story is plain text (NO_COLOR, https://no-color.org, wins everywhere).
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
  bold=$'\033[1m' plain=$'\033[0m'
else
  bold='' plain=''
  export NO_COLOR=1
fi

say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ wtt %s\n' "$*"; "$wtt" "$@"; }

say "1. One t2.micro answers \"what time is it?\""
run up --yes --wait=2m
run status

say "The plan for the load balancer rung, before anything changes"
run plan --to=alb

say "2. A fixed address: an Elastic IP"
run migrate --to=eip --yes "${probe[@]}"
run status

say "3. Vertical scale to m5.large: stop, change type, start (downtime said in the plan)"
run scale --vertical m5.large --yes "${probe[@]}"
run status

say "4. Horizontal scale: more instances, each with its own Elastic IP"
run scale --horizontal 3 --yes "${probe[@]}"
run status

say "5. Route 53: publish api.whatisthetime.com, drop the Elastic IPs"
run migrate --to=dns --dns-name api.whatisthetime.com --ttl 45 --yes "${probe[@]}"
run status

say "6. An Application Load Balancer in front; instances become private (the old ones serve out the 45 s TTL first)"
run migrate --to=alb --yes "${probe[@]}"
run status

say "7. An Auto Scaling group owns the instances"
run migrate --to=asg --yes "${probe[@]}"
run status

say "8. Several AZs"
run migrate --to=multi-az --azs 3 --yes "${probe[@]}"
run status

say "9. Reserved Instances for the baseline"
run plan --to=reserved --payment no-upfront
run migrate --to=reserved --payment no-upfront --yes "${probe[@]}"
run status -o json

say "Tear down"
run down --yes "${probe[@]}"
run status

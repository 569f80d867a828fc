# The ladder both bench/ladder.sh and bench/emulator.sh walk, as
# "name|wtt arguments" (sourced, not run). The same moves as
# e2e/testdata/script/calls_ladder.txtar and bench/ladder-awscli.sh.
#
# --dns-drain=0s: the alb rung would otherwise keep the old instances serving
# for the record's TTL (300 s) after the switch, which the AWS CLI walk does
# not do either; the benchmarks measure the calls, not that wait.
# shellcheck disable=SC2034  # used by the scripts that source this file
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
)

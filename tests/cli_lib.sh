# Shared pieces of the command-line test scripts (sourced, not run):
#   $T      a temporary folder, removed on exit
#   ok/bad  count a passed / failed check (bad prints why)
#   expect CODE CMD...: runs CMD, checks its exit code; stdout in $T/out, stderr in $T/err
#   finish NAME: prints the counts; the script's status is 0 only if nothing failed
T=$(mktemp -d /tmp/nq_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() {
  local want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "exit $got (expected $want): $*"; sed 's/^/  | /' "$T/err" | head -5; fi
}
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

# Sourced by the CLI test scripts: expect NAME EXIT_CODE PATTERN -- command... runs the command, checks its exit code
# and that its output (stdout + stderr) matches the extended regex PATTERN (a PATTERN of !REGEX: that no line matches
# REGEX); counts into $passed and $failed and leaves the output in $last_out.
passed=0
failed=0

expect() {
  local name=$1 code=$2 shown=$3 pattern=$3 want=0
  shift 4
  [ "${pattern:0:1}" = "!" ] && pattern=${pattern:1} && want=1
  local out rc found
  out=$("$@" 2>&1)
  rc=$?
  last_out=$out
  grep -Eq -- "$pattern" <<<"$out"
  found=$?
  if [ "$rc" -eq "$code" ] && [ "$found" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name (exit $rc, wanted $code; pattern '$shown')"
    echo "$out" | head -20 | sed 's/^/    /'
  fi
}

# check NAME CONDITION_EXIT_CODE MESSAGE: counts a check done by the caller (0 = passed).
check() {
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $1: $3"
  fi
}

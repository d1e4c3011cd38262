# Shared by the benchmark scripts (sourced; needs OUT and RUNS set).

# measure NAME CMD...: runs CMD $RUNS times, keeps the median wall time and
# the largest peak RSS (GNU time). Prints "NAME SECONDS KIB"; CMD's output
# goes to $OUT/stdout.NAME and $OUT/stderr.NAME.
measure() {
  local name=$1; shift
  local times=() rss=0
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$OUT/time.$name" "$@" > "$OUT/stdout.$name" 2>"$OUT/stderr.$name" || true
    read -r t m < <(tail -n1 "$OUT/time.$name")
    times+=("$t"); (( m > rss )) && rss=$m
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  echo "$name $med $rss"
}

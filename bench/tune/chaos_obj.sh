#!/bin/sh
# Objective for bench/tune/chaos.py: chaos_obj.sh MODE N NAP_MS [--resume=PATH]
# loss(x, y, step) is deterministic (chaos.py recomputes it). Writes
# checkpoint-<step> (content "step trial x y loss") before reporting it.
# MODE: env (resume from SLUICE_RESUME), arg (resume from the --resume= arg,
# i.e. the {resume} template field), ignore (never resumes), fail (trials
# with id % 3 == 1 exit 1 once, at step 3, then resume), short (ends by
# itself at N - id % 3, before --max-t), stubborn (ignores SIGTERM: reports
# on until --kill-grace's SIGKILL), multi (a checkpoint of two files,
# checkpoint-<step>.data and .meta), link (checkpoint-<step> is a symbolic
# link to w-<step> beside it, which nothing prunes), awk and awkbuf
# (chaos_obj.awk; awkbuf leaves stdout block-buffered: the reports come in
# bursts).
mode=$1 n=$2 nap=$3
case $mode in
  awk) exec awk -v n="$n" -v nap="$nap" -v buf=0 -f "$(dirname "$0")/chaos_obj.awk" ;;
  awkbuf) exec awk -v n="$n" -v nap="$nap" -v buf=1 -f "$(dirname "$0")/chaos_obj.awk" ;;
esac
x=${SLUICE_PARAM_X:-0} y=${SLUICE_PARAM_Y:-0} id=${SLUICE_TRIAL_ID:-0} d=$SLUICE_TRIAL_DIR
res=${SLUICE_RESUME:-}
case $mode in
  stubborn) trap '' TERM ;; # SIGKILL after --kill-grace: it reports on meanwhile
  arg) res=${4#--resume=} ;;
  ignore) res="" ;;
  short) n=$((n - id % 3)) ;;
esac
[ -n "${SLUICE_MAX_T:-}" ] && [ "$SLUICE_MAX_T" -lt "$n" ] && n=$SLUICE_MAX_T
step=0
if [ -n "$res" ]; then
  step=$(cut -d' ' -f1 "$res") || exit 9
fi
napf=$(awk -v m="$nap" 'BEGIN{printf "%.3f", m/1000}')
while [ "$step" -lt "$n" ]; do
  step=$((step + 1))
  # (the group leader's copy alone: another's failure could stop the
  # leader's before it leaves the marker, and the trial failed every time)
  if [ "$mode" = fail ] && [ $((id % 3)) = 1 ] && [ "$step" = 3 ] && [ ! -e "$d/failed-marker" ] &&
    [ "${SLUICE_TRIAL_RANK:-0}" = 0 ]; then
    : > "$d/failed-marker"
    echo "failing on purpose at step 3" >&2
    exit 1
  fi
  [ "$nap" != 0 ] && sleep "$napf"
  v=$(awk -v x="$x" -v y="$y" -v s="$step" 'BEGIN{printf "%.9f", (x-0.3)^2 + (y+0.2)^2 + 0.3*(1+sin(7*x+3*y+s))/s}')
  if [ "${SLUICE_TRIAL_RANK:-0}" = 0 ]; then
    if [ "$mode" = multi ]; then # one step, two files: they stay or go together
      echo "$step $id $x $y $v" > "$d/.tmp-$step" && mv "$d/.tmp-$step" "$d/checkpoint-$step.data"
      echo "$step $id $x $y $v" > "$d/.tmp-$step" && mv "$d/.tmp-$step" "$d/checkpoint-$step.meta"
    elif [ "$mode" = link ]; then # a link relative to the trial's directory
      echo "$step $id $x $y $v" > "$d/.tmp-$step" && mv "$d/.tmp-$step" "$d/w-$step" &&
        ln -sfn "w-$step" "$d/checkpoint-$step"
    else
      echo "$step $id $x $y $v" > "$d/.tmp-$step" && mv "$d/.tmp-$step" "$d/checkpoint-$step"
    fi
  fi
  echo "sluice-report step=$step loss=$v"
done
exit 0

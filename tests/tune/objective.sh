#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A test objective for `sluice tune --objective cmd`: f(x, y) = (x-0.3)^2 +
# (y+0.2)^2 plus deterministic noise (>= 0) that shrinks with the step (a fidelity
# parameter). Steps up to $1 (or SLUICE_MAX_T), sleeping $2 s each; writes
# checkpoint-<step> in SLUICE_TRIAL_DIR before reporting the step, and starts
# from SLUICE_RESUME when given. Exits 3 when x > FAIL_ABOVE (if set).
maxt=${SLUICE_MAX_T:-$1}
[ -n "$1" ] && [ "$1" -lt "$maxt" ] && maxt=$1
nap=${2:-0}
x=${SLUICE_PARAM_X:-0}
y=${SLUICE_PARAM_Y:-0}
if [ -n "${FAIL_ABOVE:-}" ] && awk -v x="$x" -v f="$FAIL_ABOVE" 'BEGIN{exit !(x > f)}'; then
  echo "failing on purpose: x=$x" >&2
  exit 3
fi
step=0
if [ -n "${SLUICE_RESUME:-}" ]; then
  step=$(cut -d' ' -f1 "$SLUICE_RESUME")
fi
while [ "$step" -lt "$maxt" ]; do
  step=$((step + 1))
  [ "$nap" != 0 ] && sleep "$nap"
  v=$(awk -v x="$x" -v y="$y" -v s="$step" 'BEGIN{printf "%.9f", (x-0.3)^2 + (y+0.2)^2 + 0.2*(1+sin(97*x+31*y+s))/s}')
  if [ -n "${SLUICE_TRIAL_DIR:-}" ] && [ "${SLUICE_TRIAL_RANK:-0}" = 0 ]; then
    echo "$step $x $y $v" > "$SLUICE_TRIAL_DIR/checkpoint-$step.tmp" &&
      mv "$SLUICE_TRIAL_DIR/checkpoint-$step.tmp" "$SLUICE_TRIAL_DIR/checkpoint-$step"
  fi
  echo "sluice-report step=$step loss=$v"
done

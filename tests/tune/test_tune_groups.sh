#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# 4 ranks with --ranks-per-trial 2: two trials run at once, each on both
# ranks of its group. Each copy of a trial marks its start and waits until
# four copies (two trials x two ranks) have started: run one at a time, no
# trial could ever report. A stop decision reaches every rank of a trial;
# a copy that fails, the leader's or another, stops the others.
. "$top_srcdir/tests/lib.sh"
D="$T/marks"; mkdir -p "$D"
cat > "$T/gang.sh" <<SH
#!/bin/sh
touch "$D/start.\$SLUICE_TRIAL_ID.\$SLUICE_TRIAL_RANK.\$SLUICE_TRIAL_SIZE"
i=0
while [ "\$(ls "$D" | grep -c '^start\.[01]\.')" -lt 4 ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i+1)); done
[ "\$(ls "$D" | grep -c '^start\.[01]\.')" -ge 4 ] || exit 1
[ "\$SLUICE_TRIAL_RANK" = 0 ] && echo "sluice-report step=1 m=\$SLUICE_PARAM_X"
exit 0
SH
chmod +x "$T/gang.sh"
expect_rc 0 $MPIRUN -np 4 $SLUICE tune -q --command "$T/gang.sh" --space 'x=grid(1,2)' --searcher grid \
  --metric m --ranks-per-trial 2 --out "$T/g"
for t in 0 1; do
  for r in 0 1; do
    [ -e "$D/start.$t.$r.2" ] || fail "trial $t did not run on rank $r of its group of 2"
  done
done
[ "$(grep -c ',done,' "$T/g/trials.csv")" -eq 2 ] || { cat "$T/g/trials.csv"; fail "both trials should be done"; }

# decisions reach every rank: trials stopped at max-t (a long sleep otherwise)
cat > "$T/long.sh" <<SH
#!/bin/sh
trap 'echo stopped > "\$SLUICE_TRIAL_DIR/stopped.\$SLUICE_TRIAL_RANK"; exit 0' TERM
s=0
while [ \$s -lt 1000 ]; do
  s=\$((s+1)); [ "\$SLUICE_TRIAL_RANK" = 0 ] && echo "sluice-report step=\$s m=\$s"
  sleep 0.05
done
SH
chmod +x "$T/long.sh"
expect_rc 0 $MPIRUN -np 4 $SLUICE tune -q --command "$T/long.sh" --space 'x=uniform(0,1)' --metric m \
  --max-t 3 --trials 3 --ranks-per-trial 2 --out "$T/stop"
for t in 0 1 2; do
  for r in 0 1; do
    [ -e "$T/stop/trials/00000$t/stopped.$r" ] || fail "rank $r of trial $t did not get the stop"
  done
done
# one copy of a two-rank trial fails (exit 3 on group rank FAILING, which
# says so on stderr); the other, which may wait for it for ever (the ranks
# of a distributed program), must be stopped within seconds, not waited for
stop_other() { # stop_other NAME FAILING WHAT
  cat > "$T/$1.sh" <<SH
#!/bin/sh
[ "\$SLUICE_TRIAL_RANK" = $2 ] && { echo "rank $2 gives up" >&2; exit 3; }
trap 'echo stopped > "\$SLUICE_TRIAL_DIR/stopped"; exit 0' TERM
i=0
while [ \$i -lt 600 ]; do sleep 0.05; i=\$((i+1)); done
SH
  chmod +x "$T/$1.sh"
  t0=$(date +%s)
  expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --command "$T/$1.sh" --space 'x=uniform(0,1)' --metric m \
    --trials 1 --ranks-per-trial 2 --out "$T/$1"
  [ $(($(date +%s) - t0)) -lt 20 ] && [ -e "$T/$1/trials/000000/stopped" ] ||
    fail "the $3 copy of a trial whose other copy failed was not stopped"
}
stop_other lead 0 "other rank's"
# another copy fails: the leader's is stopped, and the warning names the
# rank and its log
stop_other member 1 "leader's"
expect_grep "trial 0 failed on rank 1 of its group (see .*/trials/000000/trial.rank1.log)" "$T/err"
expect_grep "rank 1 gives up" "$T/member/trials/000000/trial.rank1.log"
echo PASS

#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice tune with --out on a file system that fills up while it runs (a
# 4 MB tmpfs filled once experiment.h5 exists; skipped where mount is not
# allowed): one message naming experiment.h5.tmp (it came twice: the final
# write tried again), exit 1, the last experiment.h5 stays valid, and a
# --resume once space is freed finishes the experiment. And the mlp objective (below).
. "$top_srcdir/tests/lib.sh"
OBJ="$top_srcdir/tests/tune/objective.sh"
cd "$T" || exit 1
# A cmd trial whose command says in its last lines that it ran out of space
# (a spent quota: the file system has room) stays resumable and the
# experiment stops, whatever the disk holds (it ended errored for good, and so
# did every trial after it); the --resume once the quota is raised finishes.
cat >quota.sh <<'SH'
#!/bin/sh
if [ -e "$(dirname "$0")/over" ]; then
  echo "Traceback (most recent call last):" >&2
  echo "OSError: [Errno 122] Disk quota exceeded: 'ckpt.pt'" >&2
  echo "cleaning up" >&2
  exit 1
fi
echo "sluice-report step=1 loss=$1"
SH
chmod +x quota.sh
touch over
# nospace_run EXPDIR SCRIPT [tune options]: 4 trials of SCRIPT on 1 rank
nospace_run() {
  _exp=$1 _cmd=$2
  shift 2
  timeout 60 $MPIRUN -np 1 $SLUICE tune -q --command "$T/$_cmd {x}" --space 'x=uniform(-1,1)' \
    --metric loss --trials 4 --seed 1 --out "$_exp" "$@"
}
# nospace_stop EXPDIR SCRIPT LINE: the run stops for want of space, its
# message quoting the command's LINE (a pattern), and no trial ended errored
nospace_stop() {
  expect_rc 1 nospace_run "$1" "$2"
  expect_grep "trial [0-9]*: the command failed for want of space: '$3'" "$T/err"
  expect_grep "no space left for its files in '$1/trials/00000[0-3]' (the error above): the experiment stops" "$T/err"
  grep -q errored "$1/trials.csv" && fail "a cmd trial of $2 ended errored: $(cat "$1/trials.csv" "$T/err")"
}
nospace_stop quota quota.sh "OSError: \[Errno 122\] Disk quota exceeded: 'ckpt.pt'"
rm over
expect_rc 0 nospace_run quota quota.sh --resume
expect_grep "tune finished: 4 trials: 4 done" "$T/out"
full_tmpfs full 4m
tune() {
  timeout 60 $MPIRUN -np 2 $SLUICE tune -q --command "$OBJ 8 0.05" --space 'x=uniform(-1,1)' \
    --space 'y=uniform(-1,1)' --metric loss --trials 16 --seed 1 --out full/exp "$@"
}
tune >out 2>err &
pid=$!
i=0
while [ ! -e full/exp/experiment.h5 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
cat /dev/zero >full/filler 2>/dev/null
wait $pid
rc=$?
[ $rc -eq 1 ] || { cat out err >&2; fail "tune on a full file system exited $rc, expected 1"; }
expect_grep "rank 0: cannot .* 'full/exp/experiment.h5.tmp': No space left on device" err
[ "$(grep -c 'error:' err)" -eq 1 ] || fail "not one message: $(cat err)"
[ ! -e full/exp/experiment.h5.tmp ] || fail "experiment.h5.tmp left on the full file system"
h5dump -a ntrials full/exp/experiment.h5 >/dev/null || fail "experiment.h5 is no longer valid"
rm full/filler
expect_rc 0 tune --resume
expect_grep "tune finished: 16 trials: 16 done" "$T/out"
[ "$(grep -c '' full/exp/trials.csv)" -eq 17 ] || fail "trials.csv: $(cat full/exp/trials.csv)"
# The mlp objective on a file system without room for the trials'
# checkpoints: the trials stay resumable and the experiment stops, one
# message saying so, exit 1 (every trial ended errored for good, and the
# experiment went through all of them); a --resume once space is freed
# finishes every trial.
small_dataset d.h5
rm -rf full/exp
fill full 700000
mlp() {
  timeout 60 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data d.h5 --model mlp:16-1024-4 \
    --space 'lr=loguniform(1e-4,1e-1)' --metric train_loss --max-t 3 --trials 4 --seed 1 --out full/exp "$@"
}
expect_rc 1 mlp
expect_grep "no space left for its files in 'full/exp/trials/00000[0-3]' (the error above): the experiment stops" "$T/err"
grep -q errored full/exp/trials.csv && fail "a trial ended errored for want of space: $(cat full/exp/trials.csv "$T/err")"
rm full/filler
expect_rc 0 mlp --resume
expect_grep "tune finished: 4 trials: 4 done" "$T/out"
# No inode left for a trial's directory or its checkpoint: the experiment
# stops, resumable (each trial made after that ended errored, one message
# each). The command fails when its checkpoint cannot be written: one that
# went on (objective.sh) left its directory empty, which the next trial
# reused, and the run could end with every trial done.
full_tmpfs full2 4m nr_inodes=40
cat >inocmd.sh <<'SH'
#!/bin/sh
echo "1 $1" >"$SLUICE_TRIAL_DIR/checkpoint-1" || exit 1
echo "sluice-report step=1 loss=$1"
SH
chmod +x inocmd.sh
cmd2() {
  timeout 60 $MPIRUN -np 2 $SLUICE tune -q --command "$T/inocmd.sh {x}" --space 'x=uniform(-1,1)' \
    --space 'y=uniform(-1,1)' --metric loss --trials 20 --seed 1 --keep-checkpoints 1 --out full2/exp "$@"
}
expect_rc 1 cmd2
# whichever needed the last inode first: a trial's directory, its
# checkpoint, or experiment.h5's next save
grep -Eq "no space left for its files in 'full2/exp/trials/0000[0-9][0-9]' \(the error above\)|cannot create 'full2/exp/experiment.h5.tmp': No space left on device" "$T/err" ||
  fail "no message of the full file system: $(cat "$T/err")"
# (at most the job each group ran and the one queued at the other group's
# leader; the group whose job stopped the experiment got the same trial
# again before the stop took effect, a third failure)
[ "$(grep -c "cannot create 'full2/exp/trials" "$T/err")" -le 3 ] || fail "trials went on failing: $(cat "$T/err")"
twice=$(grep -o "cannot create 'full2/exp/trials/[0-9]*'" "$T/err" | sort | uniq -d)
[ -z "$twice" ] || fail "a trial was given again after it stopped the experiment: $twice"
grep -q errored full2/exp/trials.csv && fail "a trial ended errored for want of inodes: $(cat full2/exp/trials.csv)"
mount -o remount,nr_inodes=1000 full2 || fail "remount full2"
expect_rc 0 cmd2 --resume
expect_grep "tune finished: 20 trials: 20 done" "$T/out"
# A cmd trial whose command fails while the file system of its directory is
# full (its checkpoint did not fit): the same, not a failure of the trial
# (it ended errored, and so did every trial after it). These run on 1 rank,
# one trial at a time: a second trial filling the disk at the same time made
# experiment.h5's own write fail first, whose message comes instead.
full_tmpfs full3 2m
cat >ckcmd.sh <<'SH'
#!/bin/sh
head -c 3000000 /dev/zero >"$SLUICE_TRIAL_DIR/ckpt" || exit 1
echo "sluice-report step=1 loss=$1"
SH
chmod +x ckcmd.sh
cmd3() {
  timeout 60 $MPIRUN -np 1 $SLUICE tune -q --command "$T/ckcmd.sh {x}" --space 'x=uniform(-1,1)' \
    --metric loss --trials 6 --seed 1 --out full3/exp "$@"
}
expect_rc 1 cmd3
expect_grep "trial [0-9]*: the command failed for want of space: 'head: error writing .*: No space left on device'" "$T/err"
expect_grep "no space left for its files in 'full3/exp/trials/00000[0-5]' (the error above): the experiment stops" "$T/err"
grep -q errored full3/exp/trials.csv && fail "a cmd trial ended errored for want of space: $(cat full3/exp/trials.csv "$T/err")"
mount -o remount,size=64m full3 || fail "remount full3"
expect_rc 0 cmd3 --resume
expect_grep "tune finished: 6 trials: 6 done" "$T/out"
# The same when the command's file system has room when it ends: it removed
# its partial file before it exited, but its output says why it failed (the
# trial ended errored, and so did every trial after it). It writes to a
# tmpfs of its own: on the experiment's, experiment.h5's write could come
# while the disk was full and fail first.
full_tmpfs full4 2m
cat >rmcmd.sh <<'SH'
#!/bin/sh
head -c 3000000 /dev/zero >"$(dirname "$0")/full4/ckpt" || { rm -f "$(dirname "$0")/full4/ckpt"; echo "removed the partial checkpoint"; exit 1; }
echo "sluice-report step=1 loss=$1"
SH
chmod +x rmcmd.sh
nospace_stop exp4 rmcmd.sh "head: error writing .*: No space left on device"
mount -o remount,size=64m full4 || fail "remount full4"
expect_rc 0 nospace_run exp4 rmcmd.sh --resume
expect_grep "tune finished: 4 trials: 4 done" "$T/out"
# A command that fails for another reason (exit 3) on a file system with
# under 1 MiB left,
# its output silent on space: it cannot be told apart from one whose failed
# write went unsaid (torch.save: "file write failed"), so it is taken as
# want of space too, and the message gives how it ended and its last output
# for the user to judge
full_tmpfs full5 4m
fill full5 500000
cat >bug.sh <<'SH'
#!/bin/sh
echo "IndexError: list index out of range" >&2
exit 3
SH
chmod +x bug.sh
expect_rc 1 timeout 60 $MPIRUN -np 1 $SLUICE tune -q --command "$T/bug.sh" --space 'x=uniform(-1,1)' \
  --metric loss --trials 2 --seed 1 --out full5/exp
expect_grep "trial [0-9]*: the command failed (exited with status 3; its last output: 'IndexError: list index out of range') while the file system of 'full5/exp/trials/00000[01]' is full: taken as want of space" "$T/err"

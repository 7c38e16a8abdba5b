#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# `sluice rl` end to end: train on 2 ranks, eval, config file, bad inputs
# (unknown env, continuous setting on a discrete env, resume with another
# env or network, NaN loss), stop and exact resume. Each run is short.
. "$top_srcdir/tests/lib.sh"
R="$T/run"
small="--envs-per-rank 2 --num-steps 32 --minibatches 2 --epochs 2"

expect_rc 2 $MPIRUN -np 1 $SLUICE rl train --env Pong-v5 --out "$R"
expect_grep "unknown environment" "$T/err"
expect_grep "CartPole-v1, Acrobot-v1, MountainCar-v0, MountainCarContinuous-v0, Pendulum-v1" "$T/err"
[ -e "$R" ] && fail "a bad --env created $R"

expect_rc 2 $MPIRUN -np 1 $SLUICE rl train --env CartPole-v1 --log-std-init -0.5 --out "$R"
expect_grep "continuous actions" "$T/err"

# A malformed --hidden is a usage error (2), printed once, not a model-spec error (1).
for h in 64- 0-64 64--64; do
  expect_rc 2 $MPIRUN -np 2 $SLUICE rl train --hidden "$h" --total-steps 512 --out "$R"
  expect_grep "^sluice: error: --hidden '$h': expected widths like 64-64" "$T/err"
done
# an empty one is refused by the options parser, like any empty text value
expect_rc 2 $MPIRUN -np 2 $SLUICE rl train --hidden "" --total-steps 512 --out "$R"
expect_grep "^sluice: error: option --hidden: empty value (expected W-W)" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "--hidden '': expected one error line: $(cat "$T/err")"
[ -e "$R" ] && fail "a bad --hidden created $R"

# 0 environments (or rollout steps, minibatches, epochs) is an error, not the preset (-1).
expect_rc 2 $MPIRUN -np 1 $SLUICE rl train --envs-per-rank 0 --total-steps 512 --out "$R"
expect_grep "envs-per-rank 0: must be at least 1" "$T/err"
expect_rc 2 $MPIRUN -np 1 $SLUICE rl train --epochs 0 --total-steps 512 --out "$R"
expect_grep "epochs 0: must be at least 1" "$T/err"
[ -e "$R" ] && fail "a bad count created $R"
# A negative --lr, --gamma or --ent-coef other than -1 is an error, not the preset
# (--lr -0.5 trained with 2.5e-4 in silence).
expect_rc 2 $MPIRUN -np 1 $SLUICE rl train --lr -0.5 --total-steps 512 --out "$R"
expect_grep "^sluice: error: --lr -0.5: must be at least 0 (-1: the environment's preset)$" "$T/err"
expect_rc 2 $MPIRUN -np 1 $SLUICE rl train --gamma -0.9 --total-steps 512 --out "$R"
expect_grep "gamma -0.9: must be at least 0" "$T/err"
[ -e "$R" ] && fail "a bad rate created $R"

# Messages name the command as typed, and a help that exists ('rl-eval' is only a config section).
expect_rc 2 $MPIRUN -np 1 $SLUICE rl eval --bogus
expect_grep "unknown option '--bogus' for 'sluice rl eval' (see 'sluice rl eval --help')" "$T/err"
expect_rc 2 $MPIRUN -np 1 $SLUICE rl train
expect_grep "missing required option --out for 'sluice rl train'" "$T/err"

expect_rc 2 $MPIRUN -np 1 $SLUICE rl bogus
expect_grep "^sluice: error: rl: unknown subcommand 'bogus' (train, eval or envs)$" "$T/err"

# Train on 2 ranks: files and columns.
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --total-steps 1280 $small --out "$R"
for f in ckpt.h5 metrics.csv summary.json; do [ -s "$R/$f" ] || fail "missing $R/$f"; done
expect_grep "^update,step,return_mean,episodes,sps,pg_loss,v_loss,entropy,approx_kl,clipfrac" "$R/metrics.csv"
[ "$(wc -l < "$R/metrics.csv")" -eq 11 ] || fail "expected 10 updates in metrics.csv"
expect_grep '"steps": 1280' "$R/summary.json"
# --resume of the finished run: nothing to do, its summary (seconds, rates) kept.
cp "$R/summary.json" "$T/summary0.json"
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --total-steps 1280 $small --out "$R" --resume
expect_grep "nothing to do: the run is at step 1280" "$T/out"
cmp -s "$T/summary0.json" "$R/summary.json" || fail "resuming a finished run rewrote summary.json"

# No episode finished (MountainCar's time limit is 200 steps): summary.json
# stays JSON, the mean is null rather than nan.
expect_rc 0 $MPIRUN -np 1 $SLUICE rl train --env MountainCar-v0 --total-steps 128 --envs-per-rank 1 \
  --num-steps 128 --minibatches 2 --epochs 1 --out "$T/mc"
expect_grep '"return_mean": null,' "$T/mc/summary.json"
expect_grep "128 steps in .* no episode finished yet" "$T/out"
grep -q "return_mean nan" "$T/out" && fail "prints return_mean nan"

# Eval, greedy and sampled, spread over 2 ranks.
expect_rc 0 $MPIRUN -np 2 $SLUICE rl eval --model "$R/ckpt.h5" --episodes 6 --json "$T/eval.json"
expect_grep "greedy" "$T/out"
expect_grep "sampled" "$T/out"
expect_grep '"episodes": 6' "$T/eval.json"
# A model path with a quote and a backslash: --json escapes them.
mkdir -p "$T/q\"d\\x" && cp "$R/ckpt.h5" "$T/q\"d\\x/"
expect_rc 0 $MPIRUN -np 1 $SLUICE rl eval --model "$T/q\"d\\x/ckpt.h5" --episodes 2 --json "$T/eval2.json"
grep -qF '"model": "'"$T"'/q\"d\\x/ckpt.h5", "env"' "$T/eval2.json" || { cat "$T/eval2.json" >&2; fail "eval --json: the model path is not escaped"; }
# --json naming the checkpoint itself: refused, the checkpoint kept (it was
# replaced by the JSON and the policy lost)
cp "$R/ckpt.h5" "$T/keep-eval.h5"
expect_rc 2 $MPIRUN -np 2 $SLUICE rl eval --model "$R/ckpt.h5" --episodes 2 --json "$R/./ckpt.h5"
expect_grep "^sluice: error: --json $R/./ckpt.h5 is the --model file; it would be replaced$" "$T/err"
cmp -s "$R/ckpt.h5" "$T/keep-eval.h5" || fail "eval --json replaced the checkpoint"
# a --json that cannot be written is said before the episodes run (after
# them it was, with the work lost)
expect_rc 1 $MPIRUN -np 2 $SLUICE rl eval --model "$R/ckpt.h5" --episodes 2 --json "$T/no-dir/e.json"
expect_grep "^sluice: error: rank 0: --json $T/no-dir/e.json: its directory '$T/no-dir' does not exist$" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl eval --model "$R/ckpt.h5" --episodes 2 --json "$T"
expect_grep "^sluice: error: rank 0: --json $T: is a directory$" "$T/err"
grep -q 'return' "$T/out" && fail "rl eval ran its episodes before refusing --json: $(cat "$T/out")"
expect_rc 1 $MPIRUN -np 1 $SLUICE rl eval --model "$T/nope.h5"
expect_grep "no such file" "$T/err"
# The run directory instead of its ckpt.h5: one line, not MPI-IO's noise from every rank.
expect_rc 1 $MPIRUN -np 2 $SLUICE rl eval --model "$R"
expect_grep "cannot read '$R': Is a directory" "$T/err"
grep -q "fbtl\|preadv" "$T/err" && fail "MPI-IO errors printed for a directory"

# Resume with another environment or network: refused, checkpoint untouched.
sum0=$(md5sum < "$R/ckpt.h5")
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --env Acrobot-v1 --total-steps 2560 $small --out "$R" --resume
expect_grep "holds env CartPole-v1" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --hidden 32-32 --total-steps 2560 $small --out "$R" --resume
expect_grep "hidden layers 64-64" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --shared --total-steps 2560 $small --out "$R" --resume
expect_grep "separate actor and critic" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --norm-obs on --total-steps 2560 $small --out "$R" --resume
expect_grep "with --norm-obs 0, this run has 1" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --norm-reward on --total-steps 2560 $small --out "$R" --resume
expect_grep "with --norm-reward 0, this run has 1" "$T/err"
[ "$(md5sum < "$R/ckpt.h5")" = "$sum0" ] || fail "a refused --resume changed the checkpoint"
# A damaged checkpoint (a copy cut short): one line naming it and saying so, exit 1.
mkdir "$T/cut" && cp "$R/ckpt.h5" "$R/metrics.csv" "$T/cut/" && truncate -s 1000 "$T/cut/ckpt.h5"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --total-steps 2560 $small --out "$T/cut" --resume
expect_grep "^sluice: error: '$T/cut/ckpt.h5' is damaged (truncated?) or not an HDF5 file" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "damaged checkpoint: expected one error line: $(cat "$T/err")"
# With the checkpoint before it kept as ckpt.h5.1, the run resumes from that
# one instead, saying so, and finishes.
[ -s "$R/ckpt.h5.1" ] || fail "no $R/ckpt.h5.1 kept"
mkdir "$T/cut1" && cp "$R/ckpt.h5" "$R/ckpt.h5.1" "$R/metrics.csv" "$T/cut1/" && truncate -s 1000 "$T/cut1/ckpt.h5"
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --total-steps 1792 $small --out "$T/cut1" --resume
expect_grep "warn: '$T/cut1/ckpt.h5' is damaged (truncated?) or not an HDF5 file; resuming from '$T/cut1/ckpt.h5.1'" "$T/err"
expect_grep "resuming from $T/cut1/ckpt.h5.1 at update" "$T/out"
expect_grep '"steps": 1792' "$T/cut1/summary.json"
# The damaged file is kept aside, and the checkpoints written since are whole:
# the next save did not link the damaged file over ckpt.h5.1.
[ "$(stat -c %s "$T/cut1/ckpt.h5.damaged")" -eq 1000 ] || fail "the damaged checkpoint was not kept as ckpt.h5.damaged"
for f in ckpt.h5 ckpt.h5.1; do
  [ "$(stat -c %s "$T/cut1/$f")" -gt 1000 ] || fail "$f is the damaged file after the fallback"
done
expect_rc 0 $MPIRUN -np 1 $SLUICE rl eval --model "$T/cut1/ckpt.h5.1" --episodes 1
# Both damaged: one line naming both.
truncate -s 1000 "$T/cut1/ckpt.h5" "$T/cut1/ckpt.h5.1"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --total-steps 2304 $small --out "$T/cut1" --resume
expect_grep "^sluice: error: '$T/cut1/ckpt.h5' and '$T/cut1/ckpt.h5.1', the checkpoint before it, are both damaged" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "both damaged: expected one error line: $(cat "$T/err")"

# A shared trunk (policy and value heads on one MLP) trains, evaluates, resumes.
H="$T/shared"
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --env Acrobot-v1 --shared --total-steps 640 $small --out "$H"
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --env Acrobot-v1 --shared --total-steps 1280 $small --out "$H" --resume
expect_grep '"steps": 1280' "$H/summary.json"
expect_rc 0 $MPIRUN -np 1 $SLUICE rl eval --model "$H/ckpt.h5" --episodes 2

# Stop (as SIGUSR1 would) after 3 updates: exit 75; resume finishes the run.
S="$T/stop"
expect_rc 75 $MPIRUN -np 2 $SLUICE rl train --total-steps 1280 $small --out "$S" --test-stop-after 3
[ "$(wc -l < "$S/metrics.csv")" -eq 4 ] || fail "expected 3 rows before the stop"
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --total-steps 1280 $small --out "$S" --resume
expect_grep "resuming from" "$T/out"
[ "$(wc -l < "$S/metrics.csv")" -eq 11 ] || fail "expected 10 rows after resuming"

# A real SIGUSR1 (what Slurm sends before the time limit) to mpirun, which
# forwards it to the ranks: checkpoint at the next update, exit 75.
U="$T/usr1"
$MPIRUN -np 2 $SLUICE rl train --total-steps 100000000 $small --out "$U" >"$T/u.out" 2>"$T/u.err" &
usr1_after_rows $! "$U/metrics.csv" 3 "$T/u.out" "$T/u.err"
expect_grep "stopped at update" "$T/u.out"
[ -s "$U/ckpt.h5" ] || fail "no checkpoint after SIGUSR1"

# A NaN loss stops the run with a message; the last good checkpoint stays.
N="$T/nan"
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --total-steps 1280 $small --out "$N" --checkpoint-every 2 --test-nan-at 6
# One message for the job, from rank 0, naming the first rank that saw it
# (each rank printed its own line).
expect_grep "PPO loss is nan on rank 0 first, in rank order (2 of the 2 ranks saw one)" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "a NaN loss on every rank printed $(cat "$T/err")"
[ -s "$N/ckpt.h5" ] || fail "no checkpoint kept after the NaN"
[ -e "$N/ckpt.h5.tmp" ] && fail "a half-written checkpoint was left"
expect_rc 0 $MPIRUN -np 1 $SLUICE rl eval --model "$N/ckpt.h5" --episodes 2
# seen on rank 1 only: rank 0 says it, naming rank 1
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --total-steps 1280 $small --out "$T/nan1" --test-nan-at 2 --test-nan-rank 1
expect_grep "^sluice: error: the PPO loss is nan on rank 1: stopping" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "a NaN loss on rank 1 printed $(cat "$T/err")"
# A fresh run in the same directory that fails before its first checkpoint
# leaves no checkpoint of the earlier run for --resume to take for its own.
expect_rc 1 $MPIRUN -np 2 $SLUICE rl train --total-steps 1280 $small --out "$N" --test-nan-at 2
[ -e "$N/ckpt.h5" ] && fail "a failed fresh run left the earlier run's checkpoint"
[ -e "$N/summary.json" ] && fail "a failed fresh run left the earlier run's summary.json"
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --total-steps 256 $small --out "$N" --resume
grep -q "resuming from" "$T/out" && fail "--resume took the earlier run's checkpoint"

# Config file: [rl] section, command line overrides it.
cat > "$T/rl.conf" <<EOC
[rl]
env = Pendulum-v1
total-steps = 512
num-steps = 64
minibatches = 4
epochs = 1
EOC
expect_rc 0 $MPIRUN -np 1 $SLUICE rl train --config "$T/rl.conf" --envs-per-rank 2 --out "$T/cfg"
expect_grep '"env": "Pendulum-v1"' "$T/cfg/summary.json"
expect_grep '"steps": 512' "$T/cfg/summary.json"
# One file for both subcommands: each reads its own section.
printf '[rl]\nenv = Acrobot-v1\ntotal-steps = 256\nenvs-per-rank = 2\nnum-steps = 64\n[rl-eval]\nepisodes = 3\n' > "$T/both.conf"
expect_rc 0 $MPIRUN -np 1 $SLUICE rl train --config "$T/both.conf" --out "$T/both"
expect_rc 0 $MPIRUN -np 1 $SLUICE rl eval --config "$T/both.conf" --model "$T/both/ckpt.h5" --json "$T/both.json"
expect_grep '"env": "Acrobot-v1", "episodes": 3' "$T/both.json"
printf '[rl]\nbogus-key = 1\n' > "$T/bad.conf"
expect_rc 2 $MPIRUN -np 1 $SLUICE rl train --config "$T/bad.conf" --out "$T/bad"

# No GPU here: --device cuda fails clearly.
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  expect_rc 1 $MPIRUN -np 1 $SLUICE rl train --device cuda --total-steps 512 --out "$T/gpu"
  expect_grep "cuda" "$T/err"
fi
echo "rl cli: ok"

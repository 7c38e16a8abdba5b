#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The sluice driver: help, version, usage errors (exit 2, one clear line),
# config files, and the launch-mistake check.
. "$top_srcdir/tests/lib.sh"

expect_rc 0 "$SLUICE" --help;            expect_grep "usage: sluice <command>" "$T/out"
expect_rc 0 "$SLUICE" --version;         expect_grep "^sluice [0-9]" "$T/out"
expect_rc 0 "$SLUICE" help demo;         expect_grep "usage: sluice demo" "$T/out"
expect_rc 2 "$SLUICE";                   expect_grep "usage:" "$T/err"
[ "$(tail -n 1 "$T/err")" = "sluice: error: missing command (see 'sluice --help')" ] || fail "sluice: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "sluice with no command wrote to stdout: $(cat "$T/out")"
expect_rc 2 "$SLUICE" frobnicate;        expect_grep "unknown command 'frobnicate'" "$T/err"
expect_rc 0 "$SLUICE" help data import-csv; expect_grep "usage: sluice data import-csv" "$T/out"
expect_rc 0 "$SLUICE" help rl train;      expect_grep "usage: sluice rl train" "$T/out"
# A missing subcommand: the usage, then one error line, like any usage error.
expect_rc 2 "$SLUICE" rl;   expect_grep "usage: sluice rl train" "$T/err"
[ "$(tail -n 1 "$T/err")" = "sluice: error: rl: missing subcommand (train, eval or envs)" ] || fail "sluice rl: $(cat "$T/err")"
expect_rc 2 "$SLUICE" data; expect_grep "usage: sluice data" "$T/err"
[ "$(tail -n 1 "$T/err")" = "sluice: error: data: missing subcommand (import-idx or import-csv)" ] ||
  fail "sluice data: $(cat "$T/err")"
# An unknown subcommand: the same form for every command.
expect_rc 2 "$SLUICE" rl x
[ "$(tail -n 1 "$T/err")" = "sluice: error: rl: unknown subcommand 'x' (train, eval or envs)" ] || fail "sluice rl x: $(cat "$T/err")"
expect_rc 2 "$SLUICE" data x
[ "$(tail -n 1 "$T/err")" = "sluice: error: data: unknown subcommand 'x' (import-idx or import-csv)" ] ||
  fail "sluice data x: $(cat "$T/err")"
expect_rc 2 "$SLUICE" help frobnicate;   expect_grep "unknown command 'frobnicate'" "$T/err"
expect_rc 2 "$SLUICE" demo --bogus;      expect_grep "unknown option '--bogus'" "$T/err"
# -q and -v combined in one word: not "unknown option '-q'" (it is one)
expect_rc 2 "$SLUICE" demo -qv;          expect_grep "'-qv' for 'sluice demo': short options are not combined" "$T/err"
expect_rc 2 "$SLUICE" demo --steps -1;   expect_grep "option --steps: -1 is out of range" "$T/err"
expect_rc 2 "$SLUICE" demo --steps x;    expect_grep "not an integer" "$T/err"
expect_rc 2 "$SLUICE" demo --config "$T/none.cfg"; expect_grep "cannot read config file '$T/none.cfg'" "$T/err"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "expected one line of error, got: $(cat "$T/err")"
# A usage error of any command is exit 2 and one line, never a crash
# (sort freed an uninitialised config pointer after a bad option).
for args in "sort --bogus" "sort --input x --output y --algo foo" "sort --input x --output y --mem zz" \
    "gensort --bogus" "valsort --bogus" "farm --bogus" "tune --bogus"; do
  expect_rc 2 "$SLUICE" $args
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "sluice $args: expected one line of error, got: $(cat "$T/err")"
done

# An empty path (any empty text value) is a usage error naming the option or key.
expect_rc 2 "$SLUICE" sort --input x --output "";  expect_grep "option --output: empty value (expected OUTDIR)" "$T/err"
expect_rc 2 "$SLUICE" sort --input x --output y --tmp=; expect_grep "option --tmp: empty value" "$T/err"
expect_rc 2 "$SLUICE" valsort "";                   expect_grep "argument FILE...: empty value" "$T/err"
printf '[sort]\noutput =\n' >"$T/empty.cfg"
expect_rc 2 "$SLUICE" sort --input x --config "$T/empty.cfg"; expect_grep "empty.cfg:2: key 'output': empty value" "$T/err"

# Errors are printed once, by one rank, under mpirun too.
expect_rc 2 $MPIRUN -np 2 "$SLUICE" demo --nope
[ "$(grep -c "unknown option '--nope'" "$T/err")" -eq 1 ] || fail "error not printed exactly once: $(cat "$T/err")"

printf '[demo]\nsteps = 3\nstep-ms = 0\nout = %s\nbogus_key = 1\n' "$T/cfgrun" >"$T/bad.cfg"
expect_rc 2 "$SLUICE" demo --config "$T/bad.cfg"
expect_grep "bad.cfg:5: unknown key 'bogus_key'" "$T/err"
# an unknown [section] is an error naming FILE:LINE of its header, also
# when it holds no key (it was let through) or its keys come later
printf '[demo]\nsteps = 3\n[sort]\n' >"$T/sec1.cfg"
expect_rc 2 "$SLUICE" demo --config "$T/sec1.cfg"
expect_grep "sec1.cfg:3: unknown section \[sort\] for 'sluice demo'" "$T/err"
printf '[bogus]\n\n# later\nsteps = 3\n' >"$T/sec2.cfg"
expect_rc 2 "$SLUICE" demo --config "$T/sec2.cfg"
expect_grep "sec2.cfg:1: unknown section \[bogus\]" "$T/err"
printf '# demo settings\n[demo]\nsteps = 3\nstep-ms = 0\nfarm-tasks = 0\nsort-records = 0\ntrain-epochs = 0\nout = %s\n' "$T/cfgrun" >"$T/good.cfg"
expect_rc 0 "$SLUICE" demo --config "$T/good.cfg"
expect_grep "after 3 steps" "$T/out"
# The common options are command-line only, as the README says.
printf 'verbose = 1\n' >"$T/common.cfg"
expect_rc 2 "$SLUICE" demo --config "$T/common.cfg"; expect_grep "common.cfg:1: unknown key 'verbose'" "$T/err"
# The command line overrides the file.
expect_rc 0 "$SLUICE" demo --config "$T/good.cfg" --steps 4 --quiet
expect_grep "after 4 steps" "$T/out"
[ -f "$T/cfgrun/ckpt.h5" ] || fail "no checkpoint from the config run"

# An unwritable run directory: one message, exit 1, nothing left behind.
mkdir "$T/ro" && touch "$T/ro/file"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/ro/file/sub" --steps 1 --step-ms 0
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "expected one error line: $(cat "$T/err")"

# A bad SLUICE_PROGRESS_INTERVAL is a warning, once, on rank 0; the run goes on.
SLUICE_PROGRESS_INTERVAL=abc expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 \
    --train-epochs 0 --out "$T/iv" --steps 1 --step-ms 0
[ "$(grep -c "warn: SLUICE_PROGRESS_INTERVAL='abc' is not a positive number.*using the default" "$T/err")" -eq 1 ] ||
  fail "expected one warning about SLUICE_PROGRESS_INTERVAL: $(cat "$T/err")"
SLUICE_PROGRESS_INTERVAL= expect_rc 0 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 \
    --out "$T/iv" --steps 1 --step-ms 0
expect_grep "SLUICE_PROGRESS_INTERVAL='' is not a positive number" "$T/err"
SLUICE_PROGRESS_INTERVAL=inf expect_rc 0 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 \
    --out "$T/iv" --steps 1 --step-ms 0
expect_grep "SLUICE_PROGRESS_INTERVAL='inf' is not a positive number" "$T/err"
# counts of one are singular
expect_grep "demo: 1 rank on 1 node" "$T/out"
expect_grep "after 1 step (" "$T/out"
# A bad SLUICE_PROGRESS (not bar, lines or off) is the same.
SLUICE_PROGRESS=baz expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 \
    --train-epochs 0 --out "$T/iv" --steps 1 --step-ms 0
[ "$(grep -c "warn: SLUICE_PROGRESS='baz' is not one of bar, lines or off; using the default" "$T/err")" -eq 1 ] ||
  fail "expected one warning about SLUICE_PROGRESS: $(cat "$T/err")"
# A bad SLUICE_LOG is a warning, once, on rank 0; the run goes on at the default level.
SLUICE_LOG=loud expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 \
    --train-epochs 0 --out "$T/iv" --steps 1 --step-ms 0
[ "$(grep -c "warn: SLUICE_LOG=loud is not one of none|error|warn|info|verbose|debug; ignored" "$T/err")" -eq 1 ] ||
  fail "expected one warning about SLUICE_LOG: $(cat "$T/err")"

# --keep holds across runs: a run with a smaller one removes the versions
# beyond it that an earlier run left (ckpt.h5.1 and .2 stayed with --keep 1);
# other names beside the checkpoint are untouched
K="--farm-tasks 0 --sort-records 0 --train-epochs 0 --steps 6 --step-ms 0 --checkpoint-every 2 --rows 64 --cols 4 --out $T/keep"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo $K --keep 3
[ -f "$T/keep/ckpt.h5.2" ] || fail "--keep 3 kept no ckpt.h5.2: $(ls "$T/keep")"
touch "$T/keep/ckpt.h5.old" "$T/keep/ckpt.h5.2x"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo $K --keep 1 --restart
[ "$(cd "$T/keep" && ls ckpt.h5* | tr '\n' ' ')" = "ckpt.h5 ckpt.h5.2x ckpt.h5.old " ] ||
  fail "after --keep 1: $(ls "$T/keep")"

# Launch mistake: Slurm says 4 tasks but MPI sees a world of one.
SLURM_NTASKS=4 SLURM_STEP_NUM_TASKS=4 expect_rc 2 "$SLUICE" demo --steps 1 --out "$T/x"
expect_grep "srun --mpi=pmix" "$T/err"
echo "PASS: cli"

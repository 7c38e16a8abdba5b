# SPDX-License-Identifier: BSD-3-Clause
# The peer of bench/tune/run.sh part 1: Optuna (Debian's python3-optuna),
# in-memory storage, random sampler, n_jobs=2, each trial running the same
# command as sluice's trivial cmd objective and parsing its report line.
# usage: python3 optuna_cmd.py N [shell]
import subprocess
import sys

import optuna

n = int(sys.argv[1])
shell = len(sys.argv) > 2 and sys.argv[2] == "shell"
optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    cmd = f"echo sluice-report step=1 m={x}"
    out = subprocess.run(cmd if shell else cmd.split(), shell=shell, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("sluice-report "):
            for tok in line.split()[1:]:
                k, _, v = tok.partition("=")
                if k == "m":
                    return float(v)
    raise RuntimeError("no report")


study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1), direction="minimize")
study.optimize(objective, n_trials=n, n_jobs=2)
print(f"optuna trials {len(study.trials)} best {study.best_value}")

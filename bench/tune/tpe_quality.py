#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Helper of tpe_quality.sh (run it with Debian's /usr/bin/python3, which has Optuna).

  tpe_quality.py eval FUNC V1 V2 ...      print 'sluice-report step=1 f=<value>'
                                          (the objective sluice's cmd trials run)
  tpe_quality.py optuna FUNC SEED TRIALS BATCH   one Optuna TPE run; prints the best
                                          f after each trial, one a line. BATCH 1:
                                          n_jobs=1 (sequential); BATCH K > 1: ask
                                          K, tell K, constant_liar=True; a 6th
                                          argument 'fix': the kernels' logpdf
                                          normalised as in Optuna >= 3.5
  tpe_quality.py space FUNC               print sluice --space options of FUNC
  tpe_quality.py table DIR                print the medians table from DIR/*.best

Functions (all minimised):
  branin   x in [-5,10], y in [0,15]; minimum 0.397887
  hart6    Hartmann-6 on [0,1]^6; minimum -3.32237
  mixed    Branin(x,y) + 0.5 (n-3)^2 + off[c], n = randint(0,10),
           c = choice(a,b,c,d) with off = 2,0,1,3; minimum 0.397887
"""
import math
import os
import statistics
import sys

SPACES = {
    "branin": [("x", "uniform", -5.0, 10.0), ("y", "uniform", 0.0, 15.0)],
    "hart6": [("x%d" % i, "uniform", 0.0, 1.0) for i in range(6)],
    "mixed": [("x", "uniform", -5.0, 10.0), ("y", "uniform", 0.0, 15.0),
              ("n", "randint", 0, 10), ("c", "choice", "a", "b", "c", "d")],
}
OFF = {"a": 2.0, "b": 0.0, "c": 1.0, "d": 3.0}

A6 = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
      [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P6 = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
      [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
      [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
      [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
AL6 = [1.0, 1.2, 3.0, 3.2]


def branin(x, y):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def hart6(v):
    return -sum(AL6[i] * math.exp(-sum(A6[i][j] * (v[j] - P6[i][j]) ** 2 for j in range(6)))
                for i in range(4))


def f(func, v):
    if func == "branin":
        return branin(float(v[0]), float(v[1]))
    if func == "hart6":
        return hart6([float(a) for a in v])
    if func == "mixed":
        return branin(float(v[0]), float(v[1])) + 0.5 * (float(v[2]) - 3) ** 2 + OFF[v[3]]
    raise SystemExit("unknown function " + func)


def optuna_run(func, seed, trials, batch, fix=False):
    import optuna
    if fix:
        # Optuna 3.1's truncated-normal logpdf leaves out -log(scale), so its
        # kernels are not normalised (optuna/optuna#5109, fixed by #5110 in
        # later Optuna): put it back, as newer Optuna and sluice have it
        import numpy as np
        from optuna.samplers._tpe import _truncnorm
        orig = _truncnorm.logpdf
        _truncnorm.logpdf = lambda x, a, b, loc=0, scale=1: orig(x, a, b, loc, scale) - np.log(scale)
    import warnings
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Optuna 3.1 defaults except what sluice fixes: 10 start-up trials, 24 EI
    # candidates, univariate, consider_endpoints=False, prior weight 1.
    sampler = optuna.samplers.TPESampler(n_startup_trials=10, n_ei_candidates=24, seed=seed,
                                         constant_liar=batch > 1)
    st = optuna.create_study(direction="minimize", sampler=sampler)

    def params(tr):
        out = []
        for p in SPACES[func]:
            if p[1] == "uniform":
                out.append(tr.suggest_float(p[0], p[2], p[3]))
            elif p[1] == "randint":
                out.append(tr.suggest_int(p[0], p[2], p[3]))
            else:
                out.append(tr.suggest_categorical(p[0], list(p[2:])))
        return out

    best = math.inf
    done = 0
    while done < trials:
        k = min(batch, trials - done)
        asked = [st.ask() for _ in range(k)]
        vals = [f(func, params(tr)) for tr in asked]
        for tr, val in zip(asked, vals):
            st.tell(tr, val)
            best = min(best, val)
            print(best)
        done += k


def space_opts(func):
    for p in SPACES[func]:
        if p[1] == "choice":
            print("--space '%s=choice(%s)'" % (p[0], ",".join(p[2:])), end=" ")
        else:
            print("--space '%s=%s(%g,%g)'" % (p[0], p[1], p[2], p[3]), end=" ")
    print()


def mwu_p(a, b):
    """Two-sided Mann-Whitney U p-value, normal approximation (ties averaged)."""
    allv = sorted((v, i) for i, v in enumerate(a + b))
    ranks = [0.0] * len(allv)
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[allv[k][1]] = (i + j) / 2 + 1
        i = j + 1
    n1, n2 = len(a), len(b)
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    z = (u - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    return math.erfc(abs(z) / math.sqrt(2))


def table(d):
    # files DIR/FUNC.METHOD.SEED.best: best-so-far after each trial, one a line
    res = {}
    for name in os.listdir(d):
        if not name.endswith(".best"):
            continue
        func, method, _seed, _ = name.split(".")
        with open(os.path.join(d, name)) as fh:
            res.setdefault((func, method), []).append([float(a) for a in fh.read().split()])
    funcs = [fn for fn in SPACES if any(k[0] == fn for k in res)]
    methods = ["sluice-tpe", "sluice-tpe-np1", "optuna-tpe", "optuna-tpe-fix", "optuna-tpe-b2",
               "optuna-tpe-b4", "sluice-random"]
    budgets = [20, 40, 60]
    print("median best f (n seeds); gap/REF = (sluice-tpe - opt) / (REF - opt), < 1: sluice")
    print("better; p/REF: Mann-Whitney p-value of sluice-tpe vs REF over seeds")
    print("%-7s %-14s %4s %10s %10s %10s" % ("func", "method", "n", "@20", "@40", "@60"))
    opt = {"branin": 0.397887, "hart6": -3.32237, "mixed": 0.397887}
    for fn in funcs:
        med = {}
        for m in methods:
            runs = res.get((fn, m))
            if not runs:
                continue
            med[m] = [statistics.median(r[b - 1] for r in runs if len(r) >= b) for b in budgets]
            print("%-7s %-14s %4d %10.4f %10.4f %10.4f" % (fn, m, len(runs), *med[m]))
        for ref in ("optuna-tpe", "optuna-tpe-fix"):
            if "sluice-tpe" not in med or ref not in med:
                continue
            rat = [(sv - opt[fn]) / max(ov - opt[fn], 1e-12)
                   for sv, ov in zip(med["sluice-tpe"], med[ref])]
            print("%-7s %-14s %4s %10.2f %10.2f %10.2f" % (fn, "gap/" + ref[7:], "", *rat))
            pv = [mwu_p([r[b - 1] for r in res[(fn, "sluice-tpe")]],
                        [r[b - 1] for r in res[(fn, ref)]]) for b in budgets]
            print("%-7s %-14s %4s %10.2f %10.2f %10.2f" % (fn, "p/" + ref[7:], "", *pv))

if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "eval":
        print("sluice-report step=1 f=%.10g" % f(a[1], a[2:]))
    elif a[0] == "optuna":
        optuna_run(a[1], int(a[2]), int(a[3]), int(a[4]), len(a) > 5 and a[5] == "fix")
    elif a[0] == "space":
        space_opts(a[1])
    elif a[0] == "table":
        table(a[1])

#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Chaos test of `sluice tune` stop/resume (a tool, not a CI test).

Each iteration picks a scheduler, searcher, rank layout and objective mode
(bench/tune/chaos_obj.sh), runs the experiment uninterrupted (reference),
then again interrupted 1-4 times at random moments (USR1 to mpirun, kill -9
of mpirun and its whole process tree, or kill -9 of the ranks alone) and
resumed until it finishes, and checks the invariants of the experiment
directory. Failures are kept under WORK/fail-<iter>/ with a log (the
command lines, when each signal went, the exit statuses) and run.log (the
runs' output); passing iterations are removed.

Checked: exit 75 after SIGUSR1 (SIGTERM to Open MPI 4's mpirun gives 1,
counted apart), 0 at the end; trials.csv ids 0..n-1 once each, none left
running or pending, as many as --trials (or the grid); every results.csv
value is the objective's f(params, step); reports/step/best/last of
trials.csv agree with results.csv; outside PBT each trial's steps are
1..last once each, in order, with one parameter set; the newest K reported
checkpoints are left (at most K for PBT), both files of a two-file one;
best.json is a best row of results.csv and best.h5 (best/) its checkpoint;
time_total_s grows with the step; --budget holds; after each stop the same
(but pending/paused allowed); --resume of a finished experiment changes no
file; FIFO with random/grid search ends with the reference's trials.csv and
results.csv (less the time column; failures aside for the 'fail' objective).

  bench/tune/chaos.py [--iters N] [--minutes M] [--seed S] [--work DIR]
                      [--only-iter I]   # rerun one iteration's configuration
"""
import argparse, csv, json, math, os, random, shutil, signal, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procs import alive, catches, descendants, kill_tree, ppid, skill, verdict  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
OBJ = os.path.join(HERE, "chaos_obj.sh")
# the last run_once's usr1x2: mpirun had no SIGUSR1 handler at the second
# signal (Open MPI 4.1 tearing the job down: the signal kills it)
EARLY = {"x2": False}
LIBS = os.path.join(TOP, ".libs")
SLUICE = os.path.join(LIBS, "sluice")
ENV = dict(os.environ, LD_LIBRARY_PATH=LIBS, OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")


def loss(x, y, s):
    return (x - 0.3) ** 2 + (y + 0.2) ** 2 + 0.3 * (1 + math.sin(7 * x + 3 * y + s)) / s


def pick(rng):
    c = {}
    c["sched"] = rng.choice(["fifo", "fifo", "asha", "asha-stop", "hyperband", "median", "pbt"])
    c["searcher"] = rng.choice(["random", "random", "tpe", "grid"])
    if c["sched"] == "pbt" and c["searcher"] == "grid":
        c["searcher"] = "random"
    r = rng.random()
    c["np"], c["rpt"] = ((4, 2) if r < 0.08 else (2, 2) if r < 0.14 else (4, 1) if r < 0.18 else
                         (3, 1) if r < 0.22 else (1, 1) if r < 0.45 else (2, 1))
    c["mode"] = rng.choice(["env", "env", "arg", "ignore", "fail", "short", "awk", "awkbuf", "stubborn", "multi",
                            "link"])
    c["n"] = rng.randint(5, 16)
    c["nap"] = rng.choice([0, 0, 5] + list(range(10, 51, 5)))
    c["keep"] = rng.choice([1, 2, 3])
    c["seed"] = rng.randint(1, 1000)
    c["trials"] = rng.randint(4, 10) if c["nap"] else rng.randint(10, 30)
    c["target"] = rng.choice([0.02, 0.05, 0.1]) if rng.random() < 0.12 else 0
    c["tattr"] = c["sched"] in ("fifo", "median", "asha-stop") and rng.random() < 0.25
    c["budget"] = rng.randint(8, c["trials"] * c["n"] // 2) if rng.random() < 0.15 and c["sched"] != "pbt" else 0
    return c


def cmdline(c, out):
    tmpl = f"{OBJ} {c['mode']} {c['n']} {c['nap']}"
    if c["mode"] == "arg":
        tmpl += " --resume={resume}"
    a = ["mpirun", "-np", str(c["np"]), SLUICE, "tune", "--command", tmpl, "--metric", "loss",
         "--scheduler", c["sched"], "--searcher", c["searcher"], "--seed", str(c["seed"]),
         "--keep-checkpoints", str(c["keep"]), "--out", out]
    if c["rpt"] > 1:
        a += ["--ranks-per-trial", str(c["rpt"])]
    if c["searcher"] == "grid":
        a += ["--space", "x=grid(-0.5,0,0.3,0.6)", "--space", "y=grid(-0.2,0.4)"]
        if c["trials"] < 8:
            a += ["--trials", str(c["trials"])]
    else:
        a += ["--space", "x=uniform(-1,1)", "--space", "y=choice(-0.2,0,0.4)", "--trials", str(c["trials"])]
    s = c["sched"]
    if s in ("asha", "asha-stop"):
        a += ["--max-t", str(c["n"]), "--min-t", "1", "--reduction-factor", "2"]
    elif s == "hyperband":
        a += ["--max-t", str(c["n"]), "--min-t", "1", "--reduction-factor", "3"]
    elif s == "median":
        a += ["--grace-period", "0" if c.get("tattr") else "2", "--min-samples", "2"]
    elif s == "pbt":
        a += ["--max-t", str(c["n"]), "--perturbation-interval", "3"]
    elif s == "fifo" and c["mode"] != "short" and c["seed"] % 2 and not c.get("tattr"):
        a += ["--max-t", str(max(2, c["n"] - 2))]
    if c["mode"] == "fail":
        a += ["--max-failures", "2"]
    if c.get("budget"):
        a += ["--budget", str(c["budget"])]
    if c.get("target"):
        a += ["--target", str(c["target"])]
    if c.get("tattr"):
        a += ["--time-attr", "time_total_s"]
        if s == "asha-stop":  # rungs in seconds: the trials run about n * nap ms
            a[a.index("--max-t") + 1] = "3"
    if c["mode"] == "stubborn":
        a += ["--kill-grace", "1"]
    return a


class Fail(Exception):
    pass


def run_once(c, out, resume, log, interrupt=None):
    """Run once; interrupt = (delay_s, kind) or None. Returns (rc, what happened)."""
    a = cmdline(c, out) + (["--resume"] if resume else [])
    log.write(("$ " if not resume else "$ ") + " ".join(repr(x) if " " in x or "(" in x else x for x in a) + "\n")
    log.flush()
    with open(os.path.join(os.path.dirname(out), "run.log"), "a") as rl:
        rl.write(f"---- {'resume' if resume else 'start'} {interrupt}\n")
        rl.flush()
        p = subprocess.Popen(a, stdout=rl, stderr=subprocess.STDOUT, env=ENV)
        tstart = time.time()
        EARLY["x2"] = False
        tsig = 1e9
        what = "ran out"
        left = []
        if interrupt:
            delay, kind = interrupt
            try:
                if isinstance(delay, tuple):  # ("rows", N): once results.csv has N lines
                    rc_path = os.path.join(out, "results.csv")
                    t1 = time.time()
                    try:
                        with open(rc_path) as f:
                            base = sum(1 for _ in f)
                    except OSError:
                        base = 0
                    delay = ("rows", base + max(1, delay[1] // 2) if base > 1 else delay[1])
                    while p.poll() is None and time.time() - t1 < 60:
                        try:
                            with open(rc_path) as f:
                                if sum(1 for _ in f) >= delay[1]:
                                    break
                        except OSError:
                            pass
                        time.sleep(0.002)
                    if p.poll() is not None:
                        p.wait(timeout=0)
                    raise subprocess.TimeoutExpired("", 0)
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                if p.poll() is not None:
                    kind = "none"
                tsig = time.time() - tstart
                log.write(f"  signalled {tsig:.3f} s after the start\n")
                if kind == "none":
                    pass
                elif kind == "usr1x2":
                    skill(p.pid, signal.SIGUSR1)
                    time.sleep(random.uniform(0.001, 0.1))
                    EARLY["x2"] = not catches(p.pid, signal.SIGUSR1)
                    skill(p.pid, signal.SIGUSR1)
                    what = "usr1"
                elif kind == "term":
                    skill(p.pid, signal.SIGTERM)
                    what = "term"
                elif kind == "usr1":
                    skill(p.pid, signal.SIGUSR1)
                    what = "usr1"
                elif kind == "kill9-rank1":
                    # one rank other than 0 (the OOM killer): mpirun ends the rest
                    ranks = sorted(q for q in descendants(p.pid) if ppid(q) == p.pid)
                    left = descendants(p.pid)
                    if len(ranks) > 1:
                        skill(ranks[-1], signal.SIGKILL)
                    else:
                        kill_tree(p.pid)
                    what = "kill9-rank1"
                elif kind == "kill9-mpirun":
                    # mpirun alone: its ranks must go too before a resume
                    left = descendants(p.pid)
                    skill(p.pid, signal.SIGKILL)
                    what = "kill9-mpirun"
                elif kind == "kill9":
                    kill_tree(p.pid)
                    what = "kill9"
                else:  # the ranks alone: their guards must stop the programs
                    ranks = descendants(p.pid)
                    ranks = [q for q in ranks if ppid(q) == p.pid]
                    progs = [q for q in descendants(p.pid) if q not in ranks]
                    for q in ranks:
                        try:
                            os.kill(q, signal.SIGKILL)
                        except OSError:
                            pass
                    what = "kill9-ranks"
                    left = progs
        try:
            rc = p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            kill_tree(p.pid)
            p.wait()
            raise Fail(f"hung (120 s) after {what}")
        if left:
            t0 = time.time()
            while time.time() - t0 < 15:
                living = [q for q in left if alive(q)]
                if not living:
                    break
                time.sleep(0.1)
            else:
                for q in living:
                    try:
                        os.kill(q, signal.SIGKILL)
                    except OSError:
                        pass
                raise Fail(f"processes {living} ran on 15 s after {what}")
    log.write(f"  -> rc {rc} ({what})\n")
    return rc, what, tsig


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def check(c, out, final=True):
    """Invariants of a finished experiment directory; returns a list of problems."""
    bad = []
    trials = read_csv(os.path.join(out, "trials.csv"))
    results = read_csv(os.path.join(out, "results.csv"))
    ids = [int(t["trial"]) for t in trials]
    if ids != list(range(len(ids))):
        bad.append(f"trial ids not 0..n-1 once each: {ids}")
    want = 8 if c["searcher"] == "grid" else c["trials"]
    if c["searcher"] == "grid" and c["trials"] < 8:
        want = c["trials"]
    if c.get("budget"):
        slack = 2 * (c["np"] // c["rpt"])
        if len(results) > c["budget"] + slack:
            bad.append(f"{len(results)} reports, --budget {c['budget']} (+{slack} allowed)")
    if final and len(trials) != want and not ((c.get("budget") or c.get("target")) and len(trials) < want):
        bad.append(f"{len(trials)} trials, expected {want}")
    for t in trials:
        if t["status"] not in (("done", "pruned", "errored") if final else ("done", "pruned", "errored", "pending", "paused")):
            bad.append(f"trial {t['trial']} left {t['status']} in a finished experiment")
    pbt = c["sched"] == "pbt"
    by = {}
    for r in results:
        by.setdefault(int(r["trial"]), []).append(r)
    for r in results:
        x, y, s = float(r["x"]), float(r["y"]), int(r["step"])
        if r["loss"] == "" or abs(float(r["loss"]) - loss(x, y, s)) > 1e-6:
            bad.append(f"trial {r['trial']} step {s}: loss {r['loss']} is not f(x={x}, y={y}, step={s}) = {loss(x, y, s):.9f}")
    for t in trials:
        i = int(t["trial"])
        rows = by.get(i, [])
        steps = [int(r["step"]) for r in rows]
        if int(t["reports"]) != len(rows):
            bad.append(f"trial {i}: trials.csv says {t['reports']} reports, results.csv has {len(rows)}")
        # (after a PBT exploit the trial holds its donor's step and last
        # value until it reports: a program that ends there reports nothing)
        if rows and not pbt and int(t["step"]) != steps[-1]:
            bad.append(f"trial {i}: trials.csv step {t['step']}, last report step {steps[-1]}")
        if rows:
            b = min(float(r["loss"]) for r in rows)
            if t["best_loss"] == "" or abs(float(t["best_loss"]) - b) > 1e-6 * max(1, abs(b)):
                bad.append(f"trial {i}: best_loss {t['best_loss']} != min of its reports {b}")
            if not pbt and (t["last_loss"] == "" or abs(float(t["last_loss"]) - float(rows[-1]["loss"])) > 1e-6):
                bad.append(f"trial {i}: last_loss {t['last_loss']} != last report {rows[-1]['loss']}")
            if c.get("tattr") and c["mode"] != "ignore":
                tt = [(int(r["step"]), float(r["time_total_s"])) for r in rows]
                tt.sort()
                if any(b[1] < a[1] for a, b in zip(tt, tt[1:])):
                    bad.append(f"trial {i}: time_total_s does not grow with the step: {tt}")
            if not pbt:
                if c["mode"] != "ignore" and len(set(steps)) != len(steps):
                    bad.append(f"trial {i}: steps reported twice: {steps}")
                if c["mode"] != "ignore" and sorted(set(steps)) != list(range(1, max(steps) + 1)):
                    bad.append(f"trial {i}: steps not 1..{max(steps)}: {steps}")
                if c["mode"] != "ignore" and steps != sorted(steps):
                    bad.append(f"trial {i}: steps out of order: {steps}")
                # params never change outside PBT
                if len({(r["x"], r["y"]) for r in rows}) != 1 or (rows[0]["x"], rows[0]["y"]) != (t["x"], t["y"]):
                    bad.append(f"trial {i}: params differ between reports / trials.csv")
        d = os.path.join(out, "trials", f"{i:06d}")
        files = [f for f in os.listdir(d) if f.startswith("checkpoint-")] if os.path.isdir(d) else []
        if c["mode"] == "multi":
            ck = sorted({int(f[11:].split(".")[0]) for f in files})
            stray = [f for f in files if not f[11:].split(".")[0].isdigit() or f.split(".")[-1] not in ("data", "meta")]
            half = [s for s in ck if files.count(f"checkpoint-{s}.data") != 1 or files.count(f"checkpoint-{s}.meta") != 1]
            if half:
                bad.append(f"trial {i}: steps {half} keep only one of their two checkpoint files: {sorted(files)}")
        else:
            ck = sorted(int(f[11:]) for f in files if f[11:].isdigit())
            stray = [f for f in files if not f[11:].isdigit()]
        if stray:
            bad.append(f"trial {i}: odd checkpoint files {stray}")
        if len(ck) > c["keep"]:
            bad.append(f"trial {i}: {len(ck)} checkpoints {ck} > --keep-checkpoints {c['keep']}")
        if rows and not pbt:
            last = int(t["step"])
            exp = [s for s in sorted(set(steps)) if s <= last][-c["keep"]:]
            if c["mode"] != "ignore" and ck != exp:
                bad.append(f"trial {i}: checkpoints {ck}, expected the newest {c['keep']} reported: {exp}")
    # best
    good = [r for r in results if r["loss"] != ""]
    if good:
        bl = min(float(r["loss"]) for r in good)
        with open(os.path.join(out, "best.json")) as f:
            bj = json.load(f)
        if abs(bj["metric"] - bl) > 1e-6 * max(1, abs(bl)):
            bad.append(f"best.json metric {bj['metric']} != best of results.csv {bl}")
        cand = [r for r in good if abs(float(r["loss"]) - bj["metric"]) <= 1e-9 * max(1, abs(bl))]
        if not any(int(r["trial"]) == bj["trial"] and int(r["step"]) == bj["step"] for r in cand):
            bad.append(f"best.json (trial {bj['trial']} step {bj['step']}) is no row with the best value")
        bh = os.path.join(out, "best.h5")
        bd = os.path.join(out, "best")
        if os.path.isdir(bd):  # a checkpoint of several files (multi) is kept as best/
            files = sorted(os.listdir(bd))
            if files != [f"checkpoint-{bj['step']}.data", f"checkpoint-{bj['step']}.meta"]:
                bad.append(f"best/ holds {files}, best.json step {bj['step']}")
            if os.path.exists(bh):
                bad.append("best.h5 beside best/")
            bh = os.path.join(bd, files[0]) if files else bh
        if os.path.exists(bh):
            with open(bh) as f:
                w = f.read().split()
            if int(w[0]) != bj["step"] or abs(float(w[4]) - bj["metric"]) > 1e-6:
                bad.append(f"best.h5 holds step {w[0]} loss {w[4]}, best.json step {bj['step']} loss {bj['metric']}")
            if not pbt and int(w[1]) != bj["trial"]:
                bad.append(f"best.h5 is trial {w[1]}'s checkpoint, best.json names trial {bj['trial']}")
        else:
            bad.append("best.h5 missing (every step writes a checkpoint)")
    for left in ("best.h5.tmp", ".best.tmp", ".best.old"):
        if os.path.exists(os.path.join(out, left)):
            bad.append(f"{left} left")
    return bad


def snapshot(out):
    snap = {}
    for root, dirs, files in os.walk(out):
        for f in files:
            if f in (".lock",) or f == "experiment.h5":
                continue
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                data = fh.read()
            if f == "results.csv":  # time column aside: same rows
                data = "\n".join(",".join(l.split(",")[:2] + l.split(",")[3:]) for l in data.decode().splitlines()).encode()
            snap[os.path.relpath(p, out)] = hash(data)
    return snap


def sorted_results(out):
    with open(os.path.join(out, "results.csv")) as f:
        rows = [l.rstrip("\n").split(",") for l in f]
    return sorted(",".join(r[:2] + r[3:]) for r in rows[1:])


def iteration(it, rng, work, stats):
    c = pick(rng)
    d = os.path.join(work, f"it-{it}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    log = open(os.path.join(d, "log"), "w")
    log.write(json.dumps(c) + "\n")
    problems = []
    kinds = []
    try:
        t0 = time.time()
        rc, _, _ = run_once(c, os.path.join(d, "ref"), False, log)
        dur = time.time() - t0
        if rc == 2:
            stats["refused"] = stats.get("refused", 0) + 1
            shutil.rmtree(d)
            return "refused"
        if rc != 0:
            raise Fail(f"reference run exited {rc}")
        problems += ["ref: " + p for p in check(c, os.path.join(d, "ref"))]
        # --resume of a finished experiment changes nothing
        if rng.random() < 0.3:
            before = snapshot(os.path.join(d, "ref"))
            rc, _, _ = run_once(c, os.path.join(d, "ref"), True, log)
            if rc != 0:
                problems.append(f"--resume of the finished reference exited {rc}")
            after = snapshot(os.path.join(d, "ref"))
            if before != after:
                problems.append("--resume of the finished reference changed it: " +
                                str(sorted(set(before.items()) ^ set(after.items())))[:600])
        with open(os.path.join(d, "ref", "results.csv")) as f:
            nrows = sum(1 for _ in f)
        cut = os.path.join(d, "cut")
        nint = rng.choice([1, 1, 2, 3, 4])
        first = True
        for k in range(nint):
            kind = rng.choice(["usr1", "usr1", "usr1x2", "term", "kill9", "kill9", "kill9", "kill9-ranks", "kill9-mpirun", "kill9-rank1"])
            if rng.random() < 0.5 and nrows > 3:
                delay = ("rows", rng.randint(2, nrows - 1))
            else:
                delay = rng.uniform(0.05, max(0.3, dur * (0.9 if first else 0.5)))
            rc, what, took = run_once(c, cut, os.path.exists(os.path.join(cut, "experiment.h5")), log, (delay, kind))
            if what == "ran out":
                if rc != 0:
                    raise Fail(f"run exited {rc} without interruption")
                break
            kinds.append(what)
            stats[what] = stats.get(what, 0) + 1
            if what == "term" and rc == 1:
                # Open MPI 4's mpirun exits 1 on SIGTERM (it aborts the job
                # after the ranks, which stop with 75)
                stats["term-rc1"] = stats.get("term-rc1", 0) + 1
                tc = os.path.join(cut, "trials.csv")
            elif what == "term" and rc == -signal.SIGSEGV:
                # Open MPI 4.1's mpirun crashes in its own SIGTERM handling
                # (its backtrace in run.log; seen by the sort's chaos tool too)
                stats["term-mpirun-segv"] = stats.get("term-mpirun-segv", 0) + 1
            elif what == "term" and rc not in (75, 0):
                # 0: the experiment had ended before the signal (as for USR1)
                problems.append(f"exited {rc} after SIGTERM to mpirun, expected 75")
                break
            if what == "usr1" and rc == -signal.SIGUSR1 and EARLY["x2"]:
                # Open MPI 4.1: mpirun, tearing the job down after the first
                # USR1 (or the run's end), has no handler and dies of the second
                stats["usr1x2-killed-mpirun"] = stats.get("usr1x2-killed-mpirun", 0) + 1
                EARLY["x2"] = False
                continue
            if what == "usr1" and rc in (128 + signal.SIGUSR1, -signal.SIGUSR1) and took < 1.0:
                # before main() installed the handlers (the ranks load their
                # libraries, CUDA's too): nothing can catch it; resume
                stats["usr1-before-main"] = stats.get("usr1-before-main", 0) + 1
                continue
            if what == "usr1" and rc not in (75, 0):
                raise Fail(f"exited {rc} after SIGUSR1, expected 75")
            if what == "usr1" and rc == 75:
                tc = os.path.join(cut, "trials.csv")
                if os.path.exists(tc) and any(t["status"] == "running" for t in read_csv(tc)):
                    problems.append("trials left running in the state saved at a SIGUSR1 stop")
                if os.path.exists(os.path.join(cut, "results.csv")):
                    problems += [f"after stop {len(kinds)}: " + q for q in check(c, cut, final=False)]
            if rc == 0 and what in ("usr1", "term"):
                break
            first = False
        grew = 0
        if rng.random() < 0.2 and c["sched"] != "pbt" and not c.get("budget") and os.path.exists(os.path.join(cut, "experiment.h5")):
            grew = c["trials"]
            c["trials"] += 3  # --resume with a larger --trials adds trials
            log.write(f"final resume with --trials {c['trials']}\n")
        if not os.path.exists(os.path.join(cut, "experiment.h5")):
            rc, _, _ = run_once(c, cut, False, log)
        else:
            rc, _, _ = run_once(c, cut, True, log)
        if rc != 0:
            raise Fail(f"final --resume exited {rc}")
        problems += ["cut: " + p for p in check(c, cut)]
        # (--budget: which trials it stops depends on timing)
        if c["sched"] == "fifo" and c["searcher"] in ("random", "grid") and not c.get("budget") and not c.get("target"):
            with open(os.path.join(d, "ref", "trials.csv")) as f:
                a = f.read()
            with open(os.path.join(cut, "trials.csv")) as f:
                b = f.read()
            if grew:  # the reference's trials come first
                b = "".join(b.splitlines(True)[:a.count("\n")])
            if c["mode"] == "fail":
                # a failure after the last write of experiment.h5 is redone
                # after a kill -9, and the objective fails only once per trial
                a, b = ("\n".join(",".join(l.split(",")[:4] + l.split(",")[5:]) for l in z.split("\n")) for z in (a, b))
            if a != b:
                problems.append("fifo: trials.csv differs from the reference")
            if c["mode"] != "ignore" and not c.get("tattr") and sorted_results(os.path.join(d, "ref")) != [
                    l for l in sorted_results(cut) if not grew or int(l.split(",")[0]) < len(a.splitlines()) - 1]:
                problems.append("fifo: results.csv (less time) differs from the reference")
        stats["interrupted"] = stats.get("interrupted", 0) + (1 if kinds else 0)
        key = f"{c['sched']}/{c['searcher']}"
        stats.setdefault("by", {})[key] = stats.setdefault("by", {}).get(key, 0) + (1 if kinds else 0)
        log.write(f"interruptions: {kinds}\n")
    except Fail as e:
        problems.append(str(e))
    except Exception as e:  # a crash of the checker is a finding too (e.g. unreadable csv)
        problems.append(f"checker error: {type(e).__name__}: {e}")
    return verdict(work, it, d, log, problems, stats, c, kinds)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--work", default="/tmp/tune-chaos")
    ap.add_argument("--only-iter", type=int)
    o = ap.parse_args()
    os.makedirs(o.work, exist_ok=True)
    stats = {}
    t0 = time.time()
    its = [o.only_iter] if o.only_iter is not None else range(o.iters)
    print(f"seed {o.seed}, work {o.work}", flush=True)
    for it in its:
        if time.time() - t0 > o.minutes * 60:
            break
        rng = random.Random(o.seed * 100003 + it)
        r = iteration(it, rng, o.work, stats)
        print(f"[{it}] {r}", flush=True)
    print("stats:", json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()

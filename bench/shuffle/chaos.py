#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Chaos test of `sluice sort` stop/kill/resume (a tool, not a CI test).

Each iteration picks a rank count (1-4), inputs (0, a few or up to 200,000
records; one or several files of uneven sizes, sometimes a directory, or
node-local `in.%r` shares with --local; gensort's binary, -a, -s records or
duplicate-heavy ones made by repeating records, or generic records of another
--record-size/--key-offset/--key-length made here), a --mem that spills or
not, a separate --tmp (sometimes the input directory itself) or none, and
--algo. It sorts once uninterrupted (the
reference), then runs the same sort and interrupts it 1-3 times at a random
moment (0-2 s after the start, or just as a spilled run, a part-N.tmp or a
part-N appears: start-up, map, merge, final rename): SIGUSR1 (once or
twice) or SIGTERM to mpirun, SIGUSR1 to one rank, SIGTERM to every rank
(as Slurm sends it), kill -9 of everything, of mpirun alone or of one rank; each interruption is followed by a --resume (a stop during the map or
the merge keeps runs that the resume continues from: counted as
kept-at-map-stop, resumed-map-from-stop and so on; sometimes by a fresh
run without --resume over the leftovers; a re-run sometimes names another
--tmp or none, another --mem or --algo), until a run completes.

Checked after each interruption: the exit status (75 or 0 after SIGUSR1;
SIGTERM to Open MPI 4.1's mpirun gives 1 while the ranks exit 75, counted
apart; non-zero after a kill unless the run had completed), no process left
running 15 s after the kill, every OUTDIR/part-N present is sorted and
byte-identical to the reference's partition N (so within its range),
summary.json only beside a complete output, inputs untouched (size, mtime,
CRC32). Sometimes a --resume with another rank count or one more input
file, which must be refused (exit 1, one message) leaving OUTDIR as it was.
A SIGUSR1 that reaches a rank before main() put in its handler, or mpirun
before it has one (at its start, or tearing the job down after a first
USR1), kills it: counted apart, as Open MPI's. So is an mpirun that goes
on waiting with no rank left after a rank was killed while it connected
("PMIX ERROR: UNREACHABLE"; a plain MPI_Init/MPI_Finalize program does it
too, about 1 in 20 kills at 0.03-0.25 s): it is killed after 15 s. At the end: exit 0, valsort
SUCCESS over the partitions with the input's record count and checksum,
the reference's partitions byte for byte, summary.json's records and
checksum, a --resume of the complete sort that keeps every partition (same
inode and mtime), and no leftovers (no *.tmp, no sluice-run-* spill in --tmp or
OUTDIR, nothing in OUTDIR but part-N, summary.json and .sluice-sort).
Every mpirun has a 120 s timeout: a hang is a failure.

Failures are kept under WORK/fail-<iter>/ with a log (choices, command
lines, when each signal went, exit statuses) and run.log (the runs'
output); passing iterations are removed.

  /usr/bin/python3 bench/shuffle/chaos.py [--minutes M] [--iters N] [--seed S] [--work DIR]
                                          [--only-iter I]   # rerun one iteration's choices
"""
import argparse, json, os, random, re, shutil, signal, subprocess, sys, time, zlib
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procs import boot_ticks, catches, descendants, kill_tree, ppid, session_alive, skill, verdict  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
LIBS = os.path.join(TOP, ".libs")
SLUICE = os.path.join(LIBS, "sluice")
ENV = dict(os.environ, LD_LIBRARY_PATH=LIBS, OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
TIMEOUT = 120


class Fail(Exception):
    pass


def pick(rng):
    c = {}
    c["np"] = rng.choice([1, 2, 2, 3, 4])
    r = rng.random()
    c["recs"] = (0 if r < 0.05 else rng.randint(1, 20) if r < 0.13 else rng.randint(100, 3000) if r < 0.25
                 else rng.randint(10000, 200000))
    c["geom"] = None
    if rng.random() < 0.2:
        rs = rng.choice([1, 8, 37, 64, 100, 250])
        kl = rng.randint(1, min(rs, 12))
        c["geom"] = [rs, rng.randint(0, rs - kl), kl]
        c["recs"] = min(c["recs"], 20000000 // rs)
    c["data"] = rng.choice(["plain", "plain", "ascii", "skew", "dups"])
    c["local"] = c["np"] > 1 and c["geom"] is None and rng.random() < 0.15
    c["nfiles"] = c["np"] if c["local"] else rng.choice([1, 1, 2, 3, 4])
    c["dir"] = not c["local"] and rng.random() < 0.3
    c["mem"] = rng.choice(["1M", "1M", "2M", "3M", "8M", "64M", None])
    c["tmp"] = rng.random() < 0.5
    c["algo"] = rng.choice([None, "keyidx", "radix"])
    c["dio"] = rng.random() < 0.1
    c["seed"] = rng.randint(1, 10 ** 6)
    # --tmp the input directory itself: the spilled runs beside the inputs
    c["tmpin"] = c["dir"] and c["tmp"] and rng.random() < 0.3
    return c


def tmpdir(c, d):
    return None if not c["tmp"] else os.path.join(d, "in" if c["tmpin"] else "tmp")


def make_inputs(c, d, rng):
    """Write the inputs under d/in; returns the --input arguments and the files."""
    ind = os.path.join(d, "in")
    os.makedirs(ind)
    n, k = c["recs"], c["nfiles"]
    # uneven sizes: random cut points (some files empty)
    cuts = sorted(rng.randint(0, n) for _ in range(k - 1))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    names = [f"in.{i}" if c["local"] else f"f{i}" for i in range(k)]
    files = [os.path.join(ind, x) for x in names]
    g = c["geom"]
    start = 0
    drng = random.Random(c["seed"])
    for f, s in zip(files, sizes):
        if g:
            rs, ko, kl = g
            out = bytearray(drng.randbytes(rs * s))
            if c["data"] in ("dups", "skew") and s:
                keys = [drng.randbytes(kl) for _ in range(drng.randint(1, 5))]
                for i in range(s):
                    out[i * rs + ko:i * rs + ko + kl] = drng.choice(keys)
            with open(f, "wb") as fh:
                fh.write(out)
        elif c["data"] == "dups":
            # a few distinct records repeated (and more copies of some)
            u = max(1, min(s, drng.randint(1, 50)))
            subprocess.run([SLUICE, "gensort", f"-b{start}", str(u), f + ".u"], env=ENV, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(f + ".u", "rb") as fh:
                recs = [fh.read(100) for _ in range(u)]
            os.unlink(f + ".u")
            with open(f, "wb") as fh:
                fh.write(b"".join(drng.choice(recs) for _ in range(s)))
        else:
            opt = {"plain": [], "ascii": ["-a"], "skew": ["-s"]}[c["data"]]
            subprocess.run([SLUICE, "gensort"] + opt + [f"-b{start}", str(s), f], env=ENV, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start += s
    if c["local"]:
        args = [os.path.join(ind, "in.%r")]
    elif c["dir"]:
        args = [ind]
    else:
        args = list(files)
    return args, files


def cmdline(c, d, out, np=None):
    a = ["mpirun", "-np", str(np or c["np"]), SLUICE, "sort", "--input"] + c["inargs"] + ["--output", out]
    v = c.get("var", {})  # a re-run's other --tmp, --mem, --algo
    tmp, mem, algo = (v.get("tmp", tmpdir(c, d)), v.get("mem", c["mem"]), v.get("algo", c["algo"]))
    if tmp:
        a += ["--tmp", tmp]
    if mem:
        a += ["--mem", mem]
    if algo:
        a += ["--algo", algo]
    if c["local"]:
        a += ["--local"]
    if c["dio"]:
        a += ["--direct-read"]
    if c["geom"]:
        a += ["--record-size", str(c["geom"][0]), "--key-offset", str(c["geom"][1]),
              "--key-length", str(c["geom"][2])]
    return a


def geomargs(c):
    g = c["geom"]
    return ["--record-size", str(g[0]), "--key-offset", str(g[1]), "--key-length", str(g[2])] if g else []


def valsort(c, files):
    """(records, checksum, success) of valsort over files; (0, '0', True) for no records."""
    if sum(os.path.getsize(f) for f in files) == 0:
        return 0, "0", True
    p = subprocess.run([SLUICE, "valsort"] + geomargs(c) + files, env=ENV, capture_output=True, text=True,
                       timeout=TIMEOUT)
    m1 = re.search(r"^Records: (\d+)", p.stderr, re.M)
    m2 = re.search(r"^Checksum: (\w+)", p.stderr, re.M)
    if not m1 or not m2:
        raise Fail(f"valsort {files} gave no counts: {p.stderr[-300:]}")
    return int(m1.group(1)), m2.group(1), p.returncode == 0 and "SUCCESS" in p.stderr


def run_once(c, d, out, extra, log, stats, interrupt=None, np=None):
    """Run the sort once (extra: ['--resume'] or []); interrupt = (delay_s, kind).
    Returns (rc, what happened, ranks seen when signalled)."""
    a = cmdline(c, d, out, np) + extra
    log.write("$ " + " ".join(a) + "\n")
    log.flush()
    what, nranks = "ran out", 0
    # [a rank had no handler yet, mpirun had none at the second USR1, mpirun had none at the first]
    early = [False, False, False]
    with open(os.path.join(d, "run.log"), "a") as rl:
        rl.write(f"---- {' '.join(extra) or 'fresh'} {interrupt}\n")
        rl.flush()
        t0 = time.time()
        before = names_in(c, d, out)
        p = subprocess.Popen(a, stdout=rl, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
        if interrupt:
            delay, kind = interrupt
            try:
                if isinstance(delay, list):  # [event, extra s]: once OUTDIR/--tmp shows it
                    t1 = time.time()
                    while p.poll() is None and time.time() - t1 < 60 and not seen(c, d, out, delay[0], before):
                        time.sleep(0.002)
                    delay = delay[1]
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                ranks = [q for q in descendants(p.pid) if ppid(q) == p.pid]
                nranks = len(ranks)
                # how many ranks can take the signal (SIGUSR1/SIGTERM handlers in)
                ready = sum(catches(q, signal.SIGUSR1) for q in ranks)
                log.write(f"  {kind} {time.time() - t0:.3f} s after the start ({nranks} ranks, {ready} with "
                          f"handlers)\n")
                what = kind
                if ready < c["np"]:
                    early[0] = True
                if not catches(p.pid, signal.SIGUSR1):  # mpirun still starting
                    early[2] = True
                if kind == "usr1":
                    skill(p.pid, signal.SIGUSR1)
                elif kind == "usr1x2":
                    skill(p.pid, signal.SIGUSR1)
                    time.sleep(random.uniform(0.001, 0.2))
                    if not catches(p.pid, signal.SIGUSR1):  # mpirun tearing the job down
                        early[1] = True
                    skill(p.pid, signal.SIGUSR1)
                elif kind == "term":
                    skill(p.pid, signal.SIGTERM)
                elif kind == "usr1-rank":  # one rank only (the stop is agreed on)
                    if ranks:
                        skill(random.choice(ranks), signal.SIGUSR1)
                elif kind == "term-ranks":  # every rank, as Slurm at a time limit
                    for q in ranks:
                        skill(q, signal.SIGTERM)
                elif kind == "kill9":
                    kill_tree(p.pid)
                elif kind == "kill9-mpirun":
                    skill(p.pid, signal.SIGKILL)
                elif kind == "kill9-rank":
                    if ranks:
                        skill(random.choice(ranks), signal.SIGKILL)
                    else:
                        kill_tree(p.pid)
                        what = "kill9"
        rc, lone = None, None
        while rc is None and time.time() - t0 < TIMEOUT:
            try:
                rc = p.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                # Open MPI 4.1: a rank killed while it connects to mpirun's
                # PMIx server ("PMIX ERROR: UNREACHABLE") can leave mpirun
                # waiting for good with no rank left
                if [q for q in session_alive(p.pid) if q != p.pid]:
                    lone = None
                elif lone is None:
                    lone = time.time()
                elif time.time() - lone > 15:
                    break
        if rc is None:
            for q in session_alive(p.pid):  # who hangs, and where
                try:
                    with open(f"/proc/{q}/cmdline", "rb") as f:
                        cmd = f.read().split(b"\0")[0].decode(errors="replace")
                    with open(f"/proc/{q}/wchan") as f:
                        wchan = f.read()
                    log.write(f"  hung: pid {q} ppid {ppid(q)} {cmd} in {wchan}, "
                              f"{len(os.listdir(f'/proc/{q}/task'))} threads\n")
                except OSError:
                    pass
            kill_tree(p.pid)
            for q in session_alive(p.pid):
                skill(q, signal.SIGKILL)
            p.wait()
            rl.flush()
            with open(os.path.join(d, "run.log")) as fh:
                tail = fh.read().split("---- ")[-1]
            if lone is not None and "PMIX ERROR: UNREACHABLE" in tail and what.startswith("kill9"):
                log.write(f"  mpirun alone hung after {what} (Open MPI's PMIx): killed\n")
                stats["mpirun-hung-pmix"] = stats.get("mpirun-hung-pmix", 0) + 1
                return -9, what, early
            raise Fail(f"hung ({TIMEOUT if lone is None else 'mpirun alone, 15'} s) after {what}")
        # nothing of the job may outlive it (after kill -9 of mpirun alone
        # the ranks are orphans: they must end, not go on beside a resume)
        # (only processes started before mpirun was reaped: once its session
        # is empty, its id may be another session's, whose processes are not
        # the job's and were once killed here)
        t1, before = time.time(), boot_ticks()
        left = session_alive(p.pid, before)
        while left and time.time() - t1 < 15:
            time.sleep(0.1)
            left = session_alive(p.pid, before)
        if left:
            for q in left:
                skill(q, signal.SIGKILL)
            stats["orphans"] = stats.get("orphans", 0) + 1
            raise Fail(f"processes {left} ran on 15 s after mpirun ended ({what})")
    log.write(f"  -> rc {rc} ({what}) {time.time() - t0:.2f} s\n")
    # what a stop kept and what a resume continued from, counted
    with open(os.path.join(d, "run.log")) as fh:
        tail = fh.read().split("---- ")[-1]
    for line, key in (("stopped during the map: ", "kept-at-map-stop"),
                      ("stopped during the merge: complete", "kept-at-merge-stop"),
                      ("the map continues where a stop left it", "resumed-map-from-stop"),
                      ("the map is skipped", "resumed-merge-from-runs")):
        if line in tail:
            stats[key] = stats.get(key, 0) + 1
    return rc, what, early


def file_id(f):
    st = os.stat(f)
    with open(f, "rb") as fh:
        crc = zlib.crc32(fh.read())
    return (st.st_size, st.st_mtime_ns, crc)


def dir_state(p):
    if not os.path.isdir(p):
        return {}
    return {f: (os.stat(os.path.join(p, f)).st_size, os.stat(os.path.join(p, f)).st_mtime_ns)
            for f in os.listdir(p)}


def key_sorted(c, data):
    rs, ko, kl = c["geom"] or (100, 0, 10)
    prev = None
    for i in range(0, len(data), rs):
        k = data[i + ko:i + ko + kl]
        if prev is not None and k < prev:
            return i // rs
        prev = k
    return -1


def check_parts(c, d, out, ref, final):
    """Partitions present under final names: whole, sorted, the reference's."""
    bad = []
    if not os.path.isdir(out):
        return ["no OUTDIR"] if final else []
    names = os.listdir(out)
    parts = sorted(f for f in names if re.fullmatch(r"part-\d{5}", f))
    for f in parts:
        i = int(f[5:])
        if i >= c["np"]:
            bad.append(f"{f} beyond the rank count {c['np']}")
            continue
        with open(os.path.join(out, f), "rb") as fh:
            data = fh.read()
        if c["geom"] and len(data) % c["geom"][0] or not c["geom"] and len(data) % 100:
            bad.append(f"{f}: {len(data)} bytes, not whole records")
        u = key_sorted(c, data)
        if u >= 0:
            bad.append(f"{f}: record {u} out of order")
        with open(os.path.join(ref, f), "rb") as fh:
            rdata = fh.read()
        if data != rdata:
            # records of equal keys go in the order of their bytes: a
            # partition is the reference's byte for byte whatever the
            # blocks' arrival (before, they followed it)
            bad.append(f"{f}: not the reference's partition ({len(data)} bytes, reference {len(rdata)})")
    complete = len(parts) == c["np"] and not bad
    if "summary.json" in names and not complete:
        bad.append(f"summary.json beside an incomplete output: {sorted(names)}")
    if final:
        allowed = {f"part-{i:05d}" for i in range(c["np"])} | {"summary.json", ".sluice-sort"}
        stray = sorted(set(names) - allowed)
        if stray:
            bad.append(f"left in OUTDIR after completion: {stray}")
        if len(parts) != c["np"]:
            bad.append(f"{len(parts)} partitions on {c['np']} ranks")
        if "summary.json" not in names:
            bad.append("no summary.json after completion")
        else:
            with open(os.path.join(out, "summary.json")) as fh:
                sj = json.load(fh)
            if sj.get("records") != c["want"][0] or (c["want"][0] and sj.get("checksum") != c["want"][1]):
                bad.append(f"summary.json records {sj.get('records')} checksum {sj.get('checksum')}, "
                           f"input {c['want'][0]} {c['want'][1]}")
        for tmp in ({tmpdir(c, d)} | set(c.get("tmps", ()))) - {None}:
            left = sorted(f for f in os.listdir(tmp) if tmp != os.path.join(d, "in") or not re.fullmatch(r"f\d+", f))
            if left:
                bad.append(f"left in --tmp {os.path.basename(tmp)} after completion: {left}")
        if len(parts) == c["np"]:
            n, ck, ok = valsort(c, [os.path.join(out, f) for f in parts])
            if not ok or n != c["want"][0] or (n and ck != c["want"][1]):
                bad.append(f"valsort of the output: {n} records, checksum {ck}, ok {ok}; input {c['want']}")
    return bad


def names_in(c, d, out):
    """The files in OUTDIR and --tmp, with their inodes."""
    dirs = [out] + [x for x in {tmpdir(c, d)} | set(c.get("tmps", ())) if x]
    got = set()
    for x in dirs:
        try:
            with os.scandir(x) as it:
                got |= {(e.name, e.inode()) for e in it}
        except OSError:
            pass
    return got


def seen(c, d, out, event, before):
    """Whether the run got as far as event: 'spill' (a new run in --tmp/OUTDIR),
    'part' (a partition being written, or renamed), 'final' (a partition renamed)."""
    for f, _ in names_in(c, d, out) - before:
        if (event == "spill" and f.startswith("sluice-run-") or event == "part" and f.startswith("part-")
                or event == "final" and re.fullmatch(r"part-\d{5}", f)):
            return True
    return False


def pick_delay(rng, dur):
    """Seconds after the start, or [event, seconds after it]."""
    r = rng.random()
    if r < 0.3:
        return [rng.choice(["spill", "part", "part", "final"]), rng.choice([0, 0, rng.uniform(0, 0.05)])]
    return rng.uniform(0, 2.0) if r < 0.6 else rng.uniform(0, max(0.2, dur * 1.1))


def iteration(it, rng, work, stats):
    c = pick(rng)
    d = os.path.join(work, f"it-{it}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    if c["tmp"] and not c["tmpin"]:
        os.makedirs(os.path.join(d, "tmp"))
    log = open(os.path.join(d, "log"), "w")
    log.write(json.dumps(c) + "\n")
    problems, kinds = [], []
    try:
        c["inargs"], files = make_inputs(c, d, rng)
        ids = {f: file_id(f) for f in files}
        c["want"] = valsort(c, files)[:2]
        ref, cut = os.path.join(d, "ref"), os.path.join(d, "cut")
        t0 = time.time()
        rc, _, _ = run_once(c, d, ref, [], log, stats)
        dur = time.time() - t0
        if rc != 0:
            raise Fail(f"reference run exited {rc}")
        problems += ["ref: " + p for p in check_parts(c, d, ref, ref, True)]
        if problems:
            raise Fail("reference run is wrong")
        extra = []
        for k in range(rng.choice([1, 1, 2, 3])):
            kind = rng.choice(["usr1", "usr1", "usr1x2", "term", "kill9", "kill9", "kill9-mpirun", "kill9-rank",
                               "usr1-rank", "term-ranks"])
            delay = pick_delay(rng, dur)
            if k and rng.random() < 0.3:
                # a re-run may name another --tmp (or none), --mem, --algo
                os.makedirs(os.path.join(d, "tmp2"), exist_ok=True)
                c["var"] = {"tmp": rng.choice([None, os.path.join(d, "tmp2"), tmpdir(c, d)]),
                            "mem": rng.choice([c["mem"], "1M", "64M"]), "algo": rng.choice([c["algo"], "radix"])}
                c.setdefault("tmps", []).append(c["var"]["tmp"])
                stats["rerun-other-options"] = stats.get("rerun-other-options", 0) + 1
            rc, what, early = run_once(c, d, cut, extra, log, stats, (delay, kind))
            if what == "ran out":
                if rc != 0:  # (75: a stop no one here sent; another program's signal?)
                    raise Fail(f"run ({extra}) exited {rc} without interruption")
                break
            kinds.append(what)
            stats[what] = stats.get(what, 0) + 1
            if what in ("usr1", "usr1x2"):
                if rc == 128 + signal.SIGUSR1 and early[0]:
                    # a rank still loading its libraries (before main()): it
                    # dies of the signal, nothing can catch it
                    stats["usr1-before-main"] = stats.get("usr1-before-main", 0) + 1
                elif rc == -signal.SIGUSR1 and early[2]:
                    # mpirun itself had no handler yet (Open MPI's start-up)
                    stats["usr1-before-mpirun"] = stats.get("usr1-before-mpirun", 0) + 1
                elif rc == -signal.SIGUSR1 and early[1]:
                    # Open MPI 4.1: mpirun, tearing the job down after the
                    # ranks stopped (75), has no handler any more and dies of
                    # the second USR1
                    stats["usr1x2-killed-mpirun"] = stats.get("usr1x2-killed-mpirun", 0) + 1
                elif rc not in (75, 0):
                    problems.append(f"exited {rc} after SIGUSR1 (early {early}), expected 75 or 0")
                elif rc == 75:
                    stats["usr1-75"] = stats.get("usr1-75", 0) + 1
            elif what == "term":
                if rc == 1:  # Open MPI 4.1's mpirun on SIGTERM (the ranks exit 75)
                    stats["term-rc1"] = stats.get("term-rc1", 0) + 1
                elif rc == -signal.SIGSEGV:
                    # Open MPI 4.1: mpirun crashes in its own SIGTERM
                    # handling ("Segmentation fault" in run.log from mpirun,
                    # seen before any rank existed and while tearing down)
                    stats["term-mpirun-segv"] = stats.get("term-mpirun-segv", 0) + 1
                elif rc not in (0, 75, -signal.SIGTERM):
                    problems.append(f"exited {rc} after SIGTERM to mpirun")
                elif rc == -signal.SIGTERM:
                    stats["term-before-mpirun"] = stats.get("term-before-mpirun", 0) + 1
            elif what in ("usr1-rank", "term-ranks"):
                sig = signal.SIGUSR1 if what == "usr1-rank" else signal.SIGTERM
                if rc == 128 + sig and early[0]:
                    stats[what + "-before-main"] = stats.get(what + "-before-main", 0) + 1
                elif rc not in (75, 0):
                    problems.append(f"exited {rc} after {what} (early {early}), expected 75 or 0")
            if rc == 0 and what.startswith("kill9"):
                stats["kill-after-done"] = stats.get("kill-after-done", 0) + 1
            problems += [f"after {what} #{k + 1}: " + p for p in check_parts(c, d, cut, ref, False)]
            for f, v in ids.items():
                if file_id(f) != v:
                    problems.append(f"input {f} changed after {what}")
            if problems:
                break
            if rc == 0:
                if os.path.exists(os.path.join(cut, "summary.json")):
                    break
                problems.append(f"exited 0 after {what} without summary.json")
                break
            # a --resume with another rank count, or with one more input
            # file, is refused (one message), OUTDIR untouched
            if os.path.exists(os.path.join(cut, ".sluice-sort")) and rng.random() < 0.2 and not c["local"]:
                before = dir_state(cut)
                if c["dir"] or rng.random() < 0.5:
                    other, why = rng.choice([q for q in (1, 2, 3, 4) if q != c["np"]]), "np"
                    rc2, _, _ = run_once(c, d, cut, ["--resume"], log, stats, np=other)
                else:
                    more = os.path.join(d, "more")
                    with open(more, "wb") as fh:
                        fh.write(bytes(range(256)) * (c["geom"][0] if c["geom"] else 100) * rng.randint(1, 3))
                    other, why = c["np"], "input"
                    c["inargs"].append(more)
                    try:
                        rc2, _, _ = run_once(c, d, cut, ["--resume"], log, stats)
                    finally:
                        c["inargs"].pop()
                with open(os.path.join(d, "run.log")) as fh:
                    tail = fh.read().split("---- ")[-1]
                nerr = tail.count("error:")
                if rc2 != 1 or "cannot resume" not in tail or nerr != 1:
                    problems.append(f"--resume with another {why} ({other} ranks, run of {c['np']}): exit {rc2}, "
                                    f"{nerr} error lines, expected 1 'cannot resume'")
                after = dir_state(cut)
                if after != before:
                    problems.append(f"a refused --resume (another {why}) changed OUTDIR: "
                                    + str(sorted(set(before.items()) ^ set(after.items())))[:400])
                stats["refused-" + why] = stats.get("refused-" + why, 0) + 1
            # next: a resume, sometimes a fresh run over the leftovers
            extra = [] if rng.random() < 0.15 else ["--resume"]
            if not extra:
                stats["fresh-over-leftovers"] = stats.get("fresh-over-leftovers", 0) + 1
        else:
            pass
        if rng.random() < 0.3 and "--resume" in extra:
            os.makedirs(os.path.join(d, "tmp2"), exist_ok=True)
            c["var"] = {"tmp": rng.choice([None, os.path.join(d, "tmp2")]), "mem": rng.choice(["1M", "64M"])}
            c.setdefault("tmps", []).append(c["var"]["tmp"])
            stats["rerun-other-options"] = stats.get("rerun-other-options", 0) + 1
        if not problems and not os.path.exists(os.path.join(cut, "summary.json")):
            rc, _, _ = run_once(c, d, cut, extra, log, stats)
            if rc != 0:
                with open(os.path.join(d, "run.log")) as fh:
                    tail = fh.read().split("---- ")[-1]
                raise Fail(f"final run ({' '.join(extra) or 'fresh'}) exited {rc}: "
                           + " | ".join(l for l in tail.splitlines() if "error" in l)[:400])
        if not problems:
            problems += ["final: " + p for p in check_parts(c, d, cut, ref, True)]
        if not problems and rng.random() < 0.2:
            # a --resume of the complete sort keeps every partition as it is
            before = {f: v for f, v in dir_state(cut).items() if f.startswith("part-")}
            inos = {f: os.stat(os.path.join(cut, f)).st_ino for f in before}
            rc, _, _ = run_once(c, d, cut, ["--resume"], log, stats)
            after = {f: v for f, v in dir_state(cut).items() if f.startswith("part-")}
            if rc != 0 or after != before or inos != {f: os.stat(os.path.join(cut, f)).st_ino for f in after}:
                problems.append(f"--resume of the complete sort: exit {rc}, partitions kept: {after == before}")
            else:
                problems += ["after a --resume of the complete sort: " + p for p in check_parts(c, d, cut, ref, True)]
            stats["resume-complete"] = stats.get("resume-complete", 0) + 1
        for f, v in ids.items():
            if file_id(f) != v:
                problems.append(f"input {f} changed")
        stats["interruptions"] = stats.get("interruptions", 0) + len(kinds)
        log.write(f"interruptions: {kinds}\n")
    except Fail as e:
        problems.append(str(e))
    except Exception as e:  # a crash of the checker is a finding too
        problems.append(f"checker error: {type(e).__name__}: {e}")
    cs = {k: v for k, v in c.items() if k not in ("inargs", "want", "var", "tmps")}
    return verdict(work, it, d, log, problems, stats, cs, kinds)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=100000)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--work", default="/tmp/sort-chaos")
    ap.add_argument("--only-iter", type=int)
    o = ap.parse_args()
    if not os.access(SLUICE, os.X_OK):
        sys.exit(f"no {SLUICE}: build sluice first")
    os.makedirs(o.work, exist_ok=True)
    stats = {}
    t0 = time.time()
    its = [o.only_iter] if o.only_iter is not None else range(o.iters)
    print(f"seed {o.seed}, work {o.work}", flush=True)
    n = 0
    for it in its:
        if time.time() - t0 > o.minutes * 60:
            break
        rng = random.Random(o.seed * 100003 + it)
        random.seed(o.seed * 100003 + it + 1)  # the short waits between two signals
        print(f"[{it}] {iteration(it, rng, o.work, stats)}", flush=True)
        n += 1
    stats["iterations"] = n
    print("stats:", json.dumps(stats), flush=True)
    if stats.get("term-mpirun-segv"):
        print("(term-mpirun-segv: mpirun of Open MPI 4.1 crashed with a segmentation fault on SIGTERM, "
              "its own; OUTDIR was checked as after any interruption)", flush=True)
    if stats.get("mpirun-hung-pmix"):
        print("(mpirun-hung-pmix: mpirun of Open MPI 4.1 went on waiting with no rank left after a rank was "
              "killed while it connected (PMIX ERROR: UNREACHABLE); killed and resumed)", flush=True)
    if stats.get("term-rc1"):
        print("(term-rc1: SIGTERM to Open MPI 4.1's mpirun makes it exit 1 while the ranks stop with 75; "
              "see README)", flush=True)
    sys.exit(1 if stats.get("failed") else 0)


if __name__ == "__main__":
    main()

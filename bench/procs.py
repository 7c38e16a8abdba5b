# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the chaos tools (bench/shuffle/chaos.py,
bench/tune/chaos.py): process trees read from /proc (so they see processes
that mpirun started in other process groups), and an iteration's verdict."""
import json
import os
import shutil
import signal
import time


def descendants(pid):
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        kids.setdefault(ppid(int(p)), []).append(int(p))
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        for k in kids.get(q, []):
            out.append(k)
            todo.append(k)
    return out


def ppid(p):
    try:
        with open(f"/proc/{p}/stat") as f:
            st = f.read()
        return int(st[st.rindex(")") + 2:].split()[1])
    except (OSError, ValueError):
        return -1


def alive(p):
    try:
        with open(f"/proc/{p}/stat") as f:
            st = f.read()
        return st[st.rindex(")") + 2] != "Z"
    except OSError:
        return False


def catches(pid, sig):
    """Whether pid has a handler for sig (SigCgt): not yet while a rank loads its libraries."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for l in f:
                if l.startswith("SigCgt:"):
                    return bool(int(l.split()[1], 16) >> (sig - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


def skill(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(pid):
    """SIGSTOP the whole tree until no new process appears, then SIGKILL it."""
    seen = set()
    for _ in range(20):
        new = [p for p in [pid] + descendants(pid) if p not in seen]
        if not new and seen:
            break
        for p in new:
            skill(p, signal.SIGSTOP)
            seen.add(p)
    for p in seen:
        skill(p, signal.SIGKILL)
    # kill() returns before the processes have exited: a run started at
    # once found the killed run's lock still held ("in use by another sluice
    # tune still running") on a loaded machine. A killed job is over when
    # its processes are gone (zombies have closed their files).
    t0 = time.time()
    while any(alive(p) for p in seen) and time.time() - t0 < 10:
        time.sleep(0.01)


def boot_ticks():
    """Now, in the clock ticks since boot of /proc/PID/stat's start times."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK")


def started(p):
    """p's start time in clock ticks since boot, or None."""
    try:
        with open(f"/proc/{p}/stat") as f:
            st = f.read()
        return int(st[st.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def session_alive(sid, before=None):
    """The live processes of the job's session (mpirun runs in a session of its
    own; its ranks have process groups of their own in it); with before
    (boot_ticks()), only those started by then: the id of an empty session
    may be taken by a new one."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.getsid(int(p)) == sid and alive(int(p)):
                t = started(int(p)) if before is not None else None
                if before is None or (t is not None and t <= before + 1):
                    out.append(int(p))
        except OSError:
            pass
    return out


def verdict(work, it, d, log, problems, stats, shown, kinds):
    """An iteration's end: its problems logged, its directory d kept as
    WORK/fail-IT if it has any (else removed); the line to print."""
    for p in problems:
        log.write("PROBLEM: " + p + "\n")
    log.close()
    if problems:
        shutil.rmtree(os.path.join(work, f"fail-{it}"), ignore_errors=True)
        os.rename(d, os.path.join(work, f"fail-{it}"))
        stats["failed"] = stats.get("failed", 0) + 1
        return "FAIL " + json.dumps(shown) + " " + ",".join(kinds) + "\n   " + "\n   ".join(problems[:8])
    shutil.rmtree(d)
    return "ok " + json.dumps(shown) + " " + ",".join(kinds)

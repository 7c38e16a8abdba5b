#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# An external program tuned by `sluice tune --objective cmd`: gradient
# descent with momentum on a noisy ill-conditioned quadratic, standing in for
# a training script. It reads its parameters from SLUICE_PARAM_LR and
# SLUICE_PARAM_MOMENTUM, reports "sluice-report step=N loss=..." each step,
# writes checkpoint-<step>.json in SLUICE_TRIAL_DIR before reporting, resumes
# from SLUICE_RESUME, runs until SLUICE_MAX_T (or --steps) and exits cleanly
# on SIGTERM (sluice's stop, pause or PBT exploit).
import json
import math
import os
import random
import signal
import sys
import time

lr = float(os.environ.get("SLUICE_PARAM_LR", "0.01"))
mom = float(os.environ.get("SLUICE_PARAM_MOMENTUM", "0.9"))
steps = int(os.environ.get("SLUICE_MAX_T") or (sys.argv[1] if len(sys.argv) > 1 else 50))
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
tdir = os.environ.get("SLUICE_TRIAL_DIR", ".")
stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
scale = [1.0, 10.0, 100.0]
state = {"step": 0, "x": [1.0, 1.0, 1.0], "v": [0.0, 0.0, 0.0]}
if os.environ.get("SLUICE_RESUME"):
    with open(os.environ["SLUICE_RESUME"]) as f:
        state = json.load(f)
rng = random.Random(state["step"])
while state["step"] < steps and not stop:
    g = [s * x + 0.01 * rng.gauss(0, 1) for s, x in zip(scale, state["x"])]
    state["v"] = [mom * v - lr * gi for v, gi in zip(state["v"], g)]
    state["x"] = [x + v for x, v in zip(state["x"], state["v"])]
    state["step"] += 1
    loss = 0.5 * sum(s * x * x for s, x in zip(scale, state["x"]))
    if not math.isfinite(loss):
        print("diverged", file=sys.stderr)
        sys.exit(1)
    path = os.path.join(tdir, "checkpoint-%d.json" % state["step"])
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)
    print("sluice-report step=%d loss=%.6g" % (state["step"], loss), flush=True)
    if pause:
        time.sleep(pause)

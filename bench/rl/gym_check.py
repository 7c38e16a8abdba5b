# SPDX-License-Identifier: BSD-3-Clause
# Writes random trajectories of gymnasium's classic-control environments
# (each from gymnasium's own reset, 100 random actions or until termination)
# for bench/rl/gym_check, which replays them through sluice's environments.
# Needs gymnasium (bench/venv: python3 -m venv bench/venv &&
# bench/venv/bin/pip install gymnasium). Usage: gym_check.py OUT [EPISODES]
import sys

import gymnasium as gym
import numpy as np

out = open(sys.argv[1], "w")
episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 20
rng = np.random.default_rng(0)
for name in ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]:
    cont = name in ("MountainCarContinuous-v0", "Pendulum-v1")
    for ep in range(episodes):
        env = gym.make(name).unwrapped
        env.reset(seed=int(rng.integers(1 << 30)))
        st = np.array(env.state, dtype=np.float64)
        rows = []
        for t in range(100):
            if cont:
                a = np.array([rng.uniform(-2.5, 2.5)], dtype=np.float32)
                o, r, term, _, _ = env.step(a)
                a = float(a[0])
            else:
                a = int(rng.integers(env.action_space.n))
                o, r, term, _, _ = env.step(a)
            rows.append("%r %s %r %d" % (a, " ".join(repr(float(x)) for x in o), float(r), int(term)))
            if term:
                break
        out.write("%s %d %s\n" % (name, len(rows), " ".join(repr(float(x)) for x in st)))
        out.write("\n".join(rows) + "\n")

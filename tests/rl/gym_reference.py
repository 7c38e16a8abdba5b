# SPDX-License-Identifier: BSD-3-Clause
# Prints the reference numbers in tests/rl/test_envs.c: gymnasium's own
# classic-control environments stepped from fixed states. Not run by the
# tests (gymnasium is not a test dependency): python3 -m venv v &&
# v/bin/pip install gymnasium && v/bin/python tests/rl/gym_reference.py
import numpy as np
import gymnasium as gym

def run(name, state, actions):
    env = gym.make(name).unwrapped
    env.reset(seed=0)
    env.state = np.array(state, dtype=np.float64) if name != "CartPole-v1" else tuple(state)
    print(name, "from", state)
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        print("  a=%r obs=[%s] r=%.17g term=%d" % (a, ", ".join("%.9g" % x for x in obs), r, term))

run("CartPole-v1", [0.0, 0.0, 0.0, 0.0], [1, 1, 0])
run("CartPole-v1", [0.01, -0.2, 0.03, 0.4], [0, 1])
run("Acrobot-v1", [0.0, 0.0, 0.0, 0.0], [2, 2, 0])
run("Acrobot-v1", [0.1, -0.2, 0.5, -1.0], [0, 1, 2])
run("Acrobot-v1", [3.0, 0.0, 0.0, 0.0], [1])
run("MountainCar-v0", [-0.5, 0.0], [2, 2, 0])
run("MountainCar-v0", [-1.19, -0.05], [0])
run("MountainCar-v0", [0.49, 0.02], [2])
run("MountainCarContinuous-v0", [-0.5, 0.0], [np.array([0.5], np.float32), np.array([3.0], np.float32)])
run("MountainCarContinuous-v0", [0.44, 0.03], [np.array([1.0], np.float32)])
run("Pendulum-v1", [0.5, 0.2], [np.array([1.5], np.float32), np.array([-3.0], np.float32)])
run("Pendulum-v1", [3.5, -7.9], [np.array([-2.0], np.float32)])

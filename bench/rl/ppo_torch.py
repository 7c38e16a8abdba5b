# SPDX-License-Identifier: BSD-3-Clause
# The benchmark peer: CleanRL's ppo.py (CartPole-v1 defaults: 4 envs x 128
# steps, 4 minibatches, 4 epochs, lr 2.5e-4 annealed, gamma 0.99, lambda
# 0.95, clip 0.2, ent 0.01, vf 0.5, max grad norm 0.5, Adam eps 1e-5,
# orthogonal init) written with PyTorch and a vectorised NumPy CartPole
# (gymnasium's dynamics, autoreset). Bench only; needs python3-torch and
# python3-numpy. Prints one JSON line: steps, seconds, sps, CPU seconds of
# the process (all threads), steps per CPU-second, return_mean.
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
from torch.distributions.categorical import Categorical


class CartPoleVec:
    """N CartPole-v1 environments in NumPy (float64 state, float32 obs)."""

    def __init__(self, n, seed):
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(-0.05, 0.05, size=(n, 4))
        self.length = np.zeros(n, dtype=np.int64)
        self.ret = np.zeros(n)

    def obs(self):
        return self.state.astype(np.float32)

    def step(self, action):
        x, x_dot, th, th_dot = self.state.T
        force = np.where(action == 1, 10.0, -10.0)
        c, s = np.cos(th), np.sin(th)
        temp = (force + 0.05 * th_dot**2 * s) / 1.1
        thacc = (9.8 * s - c * temp) / (0.5 * (4.0 / 3.0 - 0.1 * c**2 / 1.1))
        xacc = temp - 0.05 * thacc * c / 1.1
        x = x + 0.02 * x_dot
        x_dot = x_dot + 0.02 * xacc
        th = th + 0.02 * th_dot
        th_dot = th_dot + 0.02 * thacc
        self.state = np.stack([x, x_dot, th, th_dot], axis=1)
        term = (x < -2.4) | (x > 2.4) | (th < -12 * 2 * math.pi / 360) | (th > 12 * 2 * math.pi / 360)
        self.length += 1
        self.ret += 1.0
        trunc = (~term) & (self.length >= 500)
        done = term | trunc
        finished = self.ret[done].tolist()
        if done.any():
            k = int(done.sum())
            self.state[done] = self.rng.uniform(-0.05, 0.05, size=(k, 4))
            self.length[done] = 0
            self.ret[done] = 0
        return self.obs(), np.ones(self.n, dtype=np.float32), term, trunc, finished


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim, n_act):
        super().__init__()
        self.critic = nn.Sequential(layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)),
                                    nn.Tanh(), layer_init(nn.Linear(64, 1), std=1.0))
        self.actor = nn.Sequential(layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)),
                                   nn.Tanh(), layer_init(nn.Linear(64, n_act), std=0.01))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        logits = self.actor(x)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--total-steps", type=int, default=500000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    num_envs, num_steps, lr, gamma, lam = 4, 128, 2.5e-4, 0.99, 0.95
    nmb, epochs, clip, ent_coef, vf_coef, max_gn = 4, 4, 0.2, 0.01, 0.5, 0.5
    batch = num_envs * num_steps
    mbsize = batch // nmb
    iters = a.total_steps // batch
    envs = CartPoleVec(num_envs, a.seed)
    agent = Agent(4, 2)
    opt = torch.optim.Adam(agent.parameters(), lr=lr, eps=1e-5)
    obs = torch.zeros((num_steps, num_envs, 4))
    actions = torch.zeros((num_steps, num_envs))
    logprobs = torch.zeros((num_steps, num_envs))
    rewards = torch.zeros((num_steps, num_envs))
    dones = torch.zeros((num_steps, num_envs))
    values = torch.zeros((num_steps, num_envs))
    next_obs = torch.tensor(envs.obs())
    next_done = torch.zeros(num_envs)
    recent, step, first_reach = [], 0, -1
    t0, c0 = time.time(), time.process_time()
    for it in range(1, iters + 1):
        frac = 1.0 - (it - 1.0) / iters
        opt.param_groups[0]["lr"] = frac * lr
        for t in range(num_steps):
            step += num_envs
            obs[t] = next_obs
            dones[t] = next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[t] = value.flatten()
            actions[t] = action
            logprobs[t] = logprob
            o, r, term, trunc, finished = envs.step(action.numpy())
            rewards[t] = torch.tensor(r)
            next_obs = torch.tensor(o)
            next_done = torch.tensor((term | trunc).astype(np.float32))
            recent = (recent + finished)[-100:]
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            adv = torch.zeros_like(rewards)
            last = 0
            for t in reversed(range(num_steps)):
                if t == num_steps - 1:
                    nnt, nv = 1.0 - next_done, next_value
                else:
                    nnt, nv = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + gamma * nv * nnt - values[t]
                adv[t] = last = delta + gamma * lam * nnt * last
            returns = adv + values
        b_obs, b_logp, b_act = obs.reshape(-1, 4), logprobs.reshape(-1), actions.reshape(-1)
        b_adv, b_ret, b_val = adv.reshape(-1), returns.reshape(-1), values.reshape(-1)
        inds = np.arange(batch)
        for _ in range(epochs):
            np.random.shuffle(inds)
            for s in range(0, batch, mbsize):
                mb = inds[s:s + mbsize]
                _, newlogp, ent, newv = agent.get_action_and_value(b_obs[mb], b_act.long()[mb])
                logratio = newlogp - b_logp[mb]
                ratio = logratio.exp()
                mba = b_adv[mb]
                mba = (mba - mba.mean()) / (mba.std() + 1e-8)
                pg = torch.max(-mba * ratio, -mba * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
                newv = newv.view(-1)
                vu = (newv - b_ret[mb]) ** 2
                vc = b_val[mb] + torch.clamp(newv - b_val[mb], -clip, clip)
                vl = 0.5 * torch.max(vu, (vc - b_ret[mb]) ** 2).mean()
                loss = pg - ent_coef * ent.mean() + vl * vf_coef
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_gn)
                opt.step()
        if first_reach < 0 and len(recent) > 0 and np.mean(recent) >= 475:
            first_reach = step
    secs, cpu = time.time() - t0, time.process_time() - c0
    print(json.dumps({"peer": "pytorch+numpy (CleanRL ppo.py)", "steps": step, "seconds": round(secs, 3),
                      "sps": round(step / secs, 1), "cpu_seconds": round(cpu, 3),
                      "steps_per_cpu_second": round(step / cpu, 1), "return_mean": float(np.mean(recent)) if recent else None,
                      "first_reach_step": first_reach, "threads": a.threads}))


if __name__ == "__main__":
    main()

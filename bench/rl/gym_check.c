/* SPDX-License-Identifier: BSD-3-Clause */
/* Replays trajectories written by bench/rl/gym_check.py (gymnasium) through
 * sluice's environments from the same states and actions, and prints the
 * largest differences in observations and rewards and the termination
 * mismatches, per environment. Bench only (gymnasium is not a dependency). */
#include "rl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    FILE *f = fopen(argc > 1 ? argv[1] : "traj.txt", "r");
    if (!f) {
        fprintf(stderr, "usage: gym_check TRAJECTORIES (from gym_check.py)\n");
        return 2;
    }
    const char *names[5] = {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
                            "Pendulum-v1"};
    double wo[5] = {0}, wr[5] = {0};
    int eps[5] = {0}, steps[5] = {0}, badt[5] = {0}, n, fail = 0;
    char name[64];
    while (fscanf(f, "%63s %d", name, &n) == 2) {
        const sl_rl_env_t *e = sl_rl_env_find(name);
        int k = 0;
        while (k < 5 && strcmp(names[k], name))
            k++;
        if (!e || k == 5 || e->state_size > 8 * sizeof(double)) {
            fprintf(stderr, "gym_check: unknown environment %s\n", name);
            return 1;
        }
        double st[8] = {0};
        for (size_t i = 0; i < e->state_size / sizeof(double); i++)
            if (fscanf(f, "%lf", &st[i]) != 1)
                return 1;
        eps[k]++;
        for (int t = 0; t < n; t++) {
            double a, r, want[8];
            int term, tt;
            if (fscanf(f, "%lf", &a) != 1)
                return 1;
            for (int i = 0; i < e->obs_dim; i++)
                if (fscanf(f, "%lf", &want[i]) != 1)
                    return 1;
            if (fscanf(f, "%lf %d", &r, &term) != 2)
                return 1;
            float act = (float)a, obs[8];
            double rr;
            e->step(st, &act, &rr, &tt);
            e->observe(st, obs);
            for (int i = 0; i < e->obs_dim; i++)
                wo[k] = fmax(wo[k], fabs(obs[i] - want[i]));
            wr[k] = fmax(wr[k], fabs(rr - r));
            badt[k] += tt != term;
            steps[k]++;
        }
    }
    for (int k = 0; k < 5; k++) {
        printf("%-26s %3d episodes %5d steps: max |obs diff| %.2g, max |reward diff| %.2g, termination "
               "mismatches %d\n",
               names[k], eps[k], steps[k], wo[k], wr[k], badt[k]);
        fail |= badt[k] != 0 || wo[k] > 1e-5;
    }
    return fail;
}

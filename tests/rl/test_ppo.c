/* SPDX-License-Identifier: BSD-3-Clause */
/* PPO arithmetic: GAE against hand-worked examples (plain, terminated,
 * truncated with bootstrap, short rollout), the loss gradients against
 * central finite differences for both policy kinds and every clipping
 * branch, and the preemption rule. */
#include "config.h"
#include "cunit_mpi.h"
#include "rl.h"

#include <math.h>
#include <string.h>

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

/* gamma = lambda = 0.5; rewards 1 2 3, values 0.5 1 1.5, last value 2.
 * t=2: delta = 3 + 0.5*2 - 1.5 = 2.5, A = 2.5
 * t=1: delta = 2 + 0.5*1.5 - 1 = 1.75, A = 1.75 + 0.25*2.5 = 2.375
 * t=0: delta = 1 + 0.5*1 - 0.5 = 1, A = 1 + 0.25*2.375 = 1.59375 */
static void test_gae_plain(void)
{
    float r[3] = {1, 2, 3}, v[3] = {0.5f, 1, 1.5f}, boot[3] = {0}, last = 2, adv[3], ret[3];
    uint8_t term[3] = {0}, trunc[3] = {0};
    sl_rl_gae(3, 1, r, v, term, trunc, boot, &last, 0.5, 0.5, adv, ret);
    CU_ASSERT(NEAR(adv[2], 2.5, 1e-6) && NEAR(adv[1], 2.375, 1e-6) && NEAR(adv[0], 1.59375, 1e-6));
    CU_ASSERT(NEAR(ret[0], 2.09375, 1e-6) && NEAR(ret[1], 3.375, 1e-6) && NEAR(ret[2], 4.0, 1e-6));
}

/* Env 0 truncated at t=0 (bootstrap V(final obs) = 4) and terminated at
 * t=1; env 1 (interleaved, N = 2) as the plain example.
 * t=2: A = 2.5; t=1 terminated: delta = 2 + 0 - 1 = 1, A = 1 (no trace);
 * t=0 truncated: delta = 1 + 0.5*4 - 0.5 = 2.5, A = 2.5 (no trace). */
static void test_gae_term_trunc(void)
{
    float r[6] = {1, 1, 2, 2, 3, 3}, v[6] = {0.5f, 0.5f, 1, 1, 1.5f, 1.5f}, boot[6] = {4, 99, 99, 99, 99, 99};
    float last[2] = {2, 2}, adv[6], ret[6];
    uint8_t term[6] = {0, 0, 1, 0, 0, 0}, trunc[6] = {1, 0, 0, 0, 0, 0};
    sl_rl_gae(3, 2, r, v, term, trunc, boot, last, 0.5, 0.5, adv, ret);
    CU_ASSERT(NEAR(adv[4], 2.5, 1e-6) && NEAR(adv[2], 1.0, 1e-6) && NEAR(adv[0], 2.5, 1e-6));
    CU_ASSERT(NEAR(ret[0], 3.0, 1e-6) && NEAR(ret[2], 2.0, 1e-6));
    CU_ASSERT(NEAR(adv[5], 2.5, 1e-6) && NEAR(adv[3], 2.375, 1e-6) && NEAR(adv[1], 1.59375, 1e-6));
}

/* A rollout preempted after 2 of 3 steps: the last step bootstraps from
 * V(obs after step 2) = 1.5 and nothing of the unused slot leaks in.
 * t=1: delta = 2 + 0.5*1.5 - 1 = 1.75, A = 1.75; t=0: A = 1 + 0.25*1.75 = 1.4375 */
static void test_gae_short(void)
{
    float r[3] = {1, 2, 1e9f}, v[3] = {0.5f, 1, 1e9f}, boot[3] = {0}, last = 1.5f, adv[3] = {0, 0, -7},
          ret[3];
    uint8_t term[3] = {0, 0, 1}, trunc[3] = {0};
    sl_rl_gae(2, 1, r, v, term, trunc, boot, &last, 0.5, 0.5, adv, ret);
    CU_ASSERT(NEAR(adv[1], 1.75, 1e-6) && NEAR(adv[0], 1.4375, 1e-6) && adv[2] == -7);
}

/* Central differences of the loss in each network output, the value and
 * the log-std, at points away from the clipping kinks. */
static void check_fd(int gaussian)
{
    enum { N = 10, K = 3 };
    sl_rl_loss_opts_t o = {0.2, 0.01, 0.5, 1};
    float out[N * K], act[N * K], logstd[K] = {-0.3f, 0.1f, 0.4f}, val[N], oldlp[N], adv[N], ret[N], oldv[N];
    float dout[N * K], dval[N];
    double dls[K] = {0};
    const double shifts[5] = {-0.5, -0.1, 0.0, 0.1, 0.5}, voff[3] = {-0.5, 0.05, 0.5};
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < K; j++) {
            out[i * K + j] = (float)(0.7 * sin(1.3 * i + 2.1 * j));
            act[i * K + j] = gaussian ? (float)(0.9 * cos(0.7 * i + j)) : 0;
        }
        if (!gaussian)
            act[i] = (float)(i % K);
        val[i] = (float)(0.3 * i - 1);
        ret[i] = (float)(0.2 * i + 0.5 * sin((double)i));
        oldv[i] = (float)(val[i] + voff[i % 3]);
        adv[i] = (float)((i % 2 ? 1 : -1) * (0.5 + 0.1 * i));
        oldlp[i] = (float)(sl_rl_logprob(K, out + i * K, gaussian ? logstd : NULL,
                                         act + (gaussian ? i * K : i), NULL) -
                           shifts[i % 5]);
    }
    const float *ls = gaussian ? logstd : NULL;
    double denom = 16;
    sl_rl_ppo_loss(&o, N, K, out, ls, val, act, oldlp, adv, ret, oldv, denom, dout, dval, dls, NULL);
    const double h = 1e-3;
#define LOSS()                                                                                               \
    sl_rl_ppo_loss(&o, N, K, out, ls, val, act, oldlp, adv, ret, oldv, denom, tmp, tmpv, tmpls, NULL)
    float tmp[N * K], tmpv[N];
    double tmpls[K];
    for (int i = 0; i < N * K; i++) {
        float keep = out[i];
        out[i] = (float)(keep + h);
        double lp = LOSS();
        out[i] = (float)(keep - h);
        double lm = LOSS();
        out[i] = keep;
        double fd = (lp - lm) / ((double)(float)(keep + h) - (double)(float)(keep - h));
        CU_ASSERT(NEAR(fd, dout[i], 2e-4 + 2e-3 * fabs(fd)));
    }
    for (int i = 0; i < N; i++) {
        float keep = val[i];
        val[i] = (float)(keep + h);
        double lp = LOSS();
        val[i] = (float)(keep - h);
        double lm = LOSS();
        val[i] = keep;
        double fd = (lp - lm) / ((double)(float)(keep + h) - (double)(float)(keep - h));
        CU_ASSERT(NEAR(fd, dval[i], 2e-4 + 2e-3 * fabs(fd)));
    }
    for (int j = 0; gaussian && j < K; j++) {
        float keep = logstd[j];
        logstd[j] = (float)(keep + h);
        double lp = LOSS();
        logstd[j] = (float)(keep - h);
        double lm = LOSS();
        logstd[j] = keep;
        double fd = (lp - lm) / ((double)(float)(keep + h) - (double)(float)(keep - h));
        CU_ASSERT(NEAR(fd, dls[j], 2e-4 + 2e-3 * fabs(fd)));
    }
#undef LOSS
}

static void test_loss_fd_categorical(void)
{
    check_fd(0);
}
static void test_loss_fd_gaussian(void)
{
    check_fd(1);
}

/* At ratio 1 the surrogate is -mean(A); the stats count clipped samples. */
static void test_loss_values(void)
{
    sl_rl_loss_opts_t o = {0.2, 0.0, 0.5, 0};
    float out[4] = {0, 0, 0, 0}, act[2] = {0, 1}, v[2] = {1, 2}, ret[2] = {2, 2}, adv[2] = {1, 3},
          ov[2] = {1, 2};
    float lp[2] = {(float)log(0.5), (float)log(0.5) - 1.0f}, d[4], dv[2];
    sl_rl_loss_stats_t s = {0};
    double L = sl_rl_ppo_loss(&o, 2, 2, out, NULL, v, act, lp, adv, ret, ov, 2, d, dv, NULL, &s);
    /* sample 0: r = 1, pg = -1; sample 1: r = e > 1.2, pg = max(-3e, -3*1.2) = -3.6; v loss 0.5*(1 + 0) */
    CU_ASSERT(NEAR(L, (-1 - 3.6) / 2 + 0.5 * 0.5 / 2, 1e-6));
    CU_ASSERT(NEAR(s.clipfrac, 1, 0) && NEAR(s.entropy, 2 * log(2.0), 1e-9));
    CU_ASSERT(NEAR(d[2], 0, 0) && NEAR(d[3], 0, 0)); /* clipped: no policy gradient */
}

static void test_preempt_rule(void)
{
    /* 8 workers, T = 128: not before step 32, and only when > 4.8 done. */
    CU_ASSERT(!sl_rl_preempt_rule(31, 128, 8, 8, 0.25, 0.6));
    CU_ASSERT(sl_rl_preempt_rule(32, 128, 5, 8, 0.25, 0.6));
    CU_ASSERT(!sl_rl_preempt_rule(100, 128, 4, 8, 0.25, 0.6));
    CU_ASSERT(!sl_rl_preempt_rule(64, 128, 1, 2, 0.25, 0.6)); /* 1 of 2 is not > 1.2 */
    CU_ASSERT(sl_rl_preempt_rule(64, 128, 2, 2, 0.25, 0.6));
}

/* Simulated timings: worker w needs dt[w] time units per step; at every
 * time unit each unfinished worker that completed a step applies the rule
 * (as rollout() does after each step). Returns the steps each worker did. */
static void simulate(int W, const int *dt, int T, double minf, double wf, int *steps)
{
    long done = 0;
    int fin[16] = {0};
    for (int w = 0; w < W; w++)
        steps[w] = 0;
    for (long now = 1; done + 0 < W; now++) {
        long done_before = done;
        for (int w = 0; w < W; w++) {
            if (fin[w] || now % dt[w])
                continue;
            steps[w]++;
            if (steps[w] == T) {
                fin[w] = 1;
                done++;
            } else if (sl_rl_preempt_rule(steps[w], T, done_before, W, minf, wf))
                fin[w] = 2; /* preempted: does not count as done */
        }
        int all = 1;
        for (int w = 0; w < W; w++)
            all &= fin[w] != 0;
        if (all)
            break;
    }
}

static void test_preempt_simulated(void)
{
    int steps[16];
    /* 5 workers, one 3x slower: the fast four finish at t = 100, which is
     * more than 0.6 * 5 = 3; the slow one has done 33 >= 25 steps and stops
     * after its 34th (t = 102). */
    int dt1[5] = {1, 1, 1, 1, 3};
    simulate(5, dt1, 100, 0.25, 0.6, steps);
    CU_ASSERT(steps[0] == 100 && steps[3] == 100 && steps[4] == 34);
    /* Two slow workers of 5: only 3 finish, not more than 3 -> nobody cut. */
    int dt2[5] = {1, 1, 1, 3, 3};
    simulate(5, dt2, 100, 0.25, 0.6, steps);
    CU_ASSERT(steps[3] == 100 && steps[4] == 100);
    /* Very slow straggler (10x): after the others finish at t = 100 it has
     * 10 steps, fewer than 0.25 * 100, so it goes on until step 25. */
    int dt3[5] = {1, 1, 1, 1, 10};
    simulate(5, dt3, 100, 0.25, 0.6, steps);
    CU_ASSERT(steps[4] == 25);
    /* Equal speeds: all finish the full rollout. */
    int dt4[4] = {2, 2, 2, 2};
    simulate(4, dt4, 64, 0.25, 0.6, steps);
    CU_ASSERT(steps[0] == 64 && steps[1] == 64 && steps[2] == 64 && steps[3] == 64);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {{"gae plain", test_gae_plain},
                                      {"gae terminated and truncated", test_gae_term_trunc},
                                      {"gae short rollout", test_gae_short},
                                      {"loss gradient categorical", test_loss_fd_categorical},
                                      {"loss gradient gaussian", test_loss_fd_gaussian},
                                      {"loss values", test_loss_values},
                                      {"preemption rule", test_preempt_rule},
                                      {"preemption with simulated timings", test_preempt_simulated},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "rl ppo", tests);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* The PPO arithmetic that needs no network: GAE with truncation
 * bootstrapping and short rollouts, log-probabilities and entropies of the
 * categorical and diagonal Gaussian policies, and the clipped loss with its
 * gradient with respect to the network outputs (CleanRL's ppo.py). */
#include "config.h"
#include "rl.h"

#include <math.h>

void sl_rl_gae(int T, int N, const float *reward, const float *value, const uint8_t *terminated,
               const uint8_t *truncated, const float *boot_value, const float *last_value, double gamma,
               double lambda, float *adv, float *ret)
{
    for (int e = 0; e < N; e++) {
        double lastgae = 0;
        for (int t = T - 1; t >= 0; t--) {
            size_t i = (size_t)t * (size_t)N + (size_t)e;
            double next_v = t == T - 1 ? last_value[e] : value[i + (size_t)N];
            int ended = terminated[i] || truncated[i];
            if (terminated[i])
                next_v = 0;
            else if (truncated[i])
                next_v = boot_value[i];
            double delta = reward[i] + gamma * next_v - value[i];
            lastgae = delta + (ended ? 0.0 : gamma * lambda * lastgae);
            adv[i] = (float)lastgae;
            ret[i] = (float)(lastgae + value[i]);
        }
    }
}

#define LOG_SQRT_2PI 0.91893853320467274178

double sl_rl_logprob(int k, const float *out, const float *logstd, const float *act, double *entropy_p)
{
    if (!logstd) {
        double m = out[0];
        for (int j = 1; j < k; j++)
            m = out[j] > m ? out[j] : m;
        double z = 0;
        for (int j = 0; j < k; j++)
            z += exp(out[j] - m);
        double lse = m + log(z);
        if (entropy_p) {
            double h = 0;
            for (int j = 0; j < k; j++) {
                double lp = out[j] - lse;
                h -= exp(lp) * lp;
            }
            *entropy_p = h;
        }
        int a = (int)act[0];
        return out[a] - lse;
    }
    double lp = 0, h = 0;
    for (int j = 0; j < k; j++) {
        double z = (act[j] - out[j]) * exp(-(double)logstd[j]);
        lp += -0.5 * z * z - logstd[j] - LOG_SQRT_2PI;
        h += 0.5 + LOG_SQRT_2PI + logstd[j];
    }
    if (entropy_p)
        *entropy_p = h;
    return lp;
}

double sl_rl_ppo_loss(const sl_rl_loss_opts_t *o, int n, int k, const float *out, const float *logstd,
                      const float *value, const float *act, const float *old_logp, const float *adv,
                      const float *ret, const float *old_value, double denom, float *d_out, float *d_value,
                      double *d_logstd, sl_rl_loss_stats_t *stats)
{
    double total = 0, inv = 1.0 / denom;
    int ak = logstd ? k : 1;
    for (int i = 0; i < n; i++) {
        const float *y = out + (size_t)i * k, *a = act + (size_t)i * ak;
        float *dy = d_out + (size_t)i * k;
        double h, lp = sl_rl_logprob(k, y, logstd, a, &h);
        double logratio = lp - old_logp[i], r = exp(logratio), A = adv[i];
        double rc = r < 1 - o->clip ? 1 - o->clip : r > 1 + o->clip ? 1 + o->clip : r;
        double l1 = -A * r, l2 = -A * rc, pg = l1 > l2 ? l1 : l2;
        /* d pg / d logp: the unclipped branch is active (or both equal with r in range). */
        double dlp = (l1 >= l2) ? -A * r : 0.0;
        double v = value[i], R = ret[i], vl = 0.5 * (v - R) * (v - R), dv = (v - R);
        if (o->clip_vloss) {
            double dvo = v - old_value[i];
            double vc = old_value[i] + (dvo < -o->clip ? -o->clip : dvo > o->clip ? o->clip : dvo);
            double vlc = 0.5 * (vc - R) * (vc - R);
            if (vlc > vl) {
                vl = vlc;
                dv = (fabs(dvo) < o->clip) ? (vc - R) : 0.0;
            }
        }
        total += pg - o->ent_coef * h + o->vf_coef * vl;
        d_value[i] = (float)(o->vf_coef * dv * inv);
        if (!logstd) {
            /* d logp / d logit_j = [j == a] - p_j; d H / d logit_j = -p_j (log p_j + H). */
            double lse = y[(int)a[0]] - lp;
            for (int j = 0; j < k; j++) {
                double lpj = y[j] - lse, p = exp(lpj);
                double g = dlp * ((j == (int)a[0]) - p) - o->ent_coef * (-p * (lpj + h));
                dy[j] = (float)(g * inv);
            }
        } else {
            /* d logp / d mu_j = z_j / std_j; d logp / d logstd_j = z_j^2 - 1; d H / d logstd_j = 1. */
            for (int j = 0; j < k; j++) {
                double is = exp(-(double)logstd[j]), z = (a[j] - y[j]) * is;
                dy[j] = (float)(dlp * z * is * inv);
                d_logstd[j] += (dlp * (z * z - 1) - o->ent_coef) * inv;
            }
        }
        if (stats) {
            stats->pg_loss += pg;
            stats->v_loss += vl;
            stats->entropy += h;
            stats->approx_kl += (r - 1) - logratio;
            stats->clipfrac += fabs(r - 1) > o->clip;
            stats->n += 1;
        }
    }
    return total * inv;
}

int sl_rl_preempt_rule(int step, int T, long done_workers, int workers, double min_frac, double worker_frac)
{
    return (double)step >= min_frac * (double)T && (double)done_workers > worker_frac * (double)workers;
}

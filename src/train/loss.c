/* SPDX-License-Identifier: BSD-3-Clause */
/* Losses: softmax cross-entropy (stable log-sum-exp) and mean squared
 * error. They return the sum of per-sample losses (double) and the
 * gradient scaled by the caller, so ranks can share one global scale. */
#include "config.h"
#include "train_impl.h"

#include <math.h>

sl_status_t sl_nn_loss(sl_nn_loss_kind_t kind, const float *y, const void *target, int64_t n, int k,
                       double scale, double *loss_sum_p, float *dy, int64_t *correct_p)
{
    double total = 0;
    int64_t correct = 0;
    if (kind == SL_NN_XENT) {
        const int32_t *lab = target;
        for (int64_t i = 0; i < n; i++)
            if (lab[i] < 0 || lab[i] >= k)
                return sl_error(SL_ERR_INVALID,
                                "label %d of sample %lld is outside [0, %d) (the model has %d outputs)",
                                (int)lab[i], (long long)i, k, k);
        for (int64_t i = 0; i < n; i++) {
            const float *yi = y + i * k;
            float mx = yi[0];
            int am = 0;
            for (int j = 1; j < k; j++)
                if (yi[j] > mx)
                    mx = yi[j], am = j;
            double se = 0;
            for (int j = 0; j < k; j++)
                se += exp((double)yi[j] - mx);
            double lse = mx + log(se);
            total += lse - yi[lab[i]];
            correct += am == lab[i];
            if (dy) {
                float *di = dy + i * k;
                for (int j = 0; j < k; j++) {
                    double p = exp((double)yi[j] - lse);
                    di[j] = (float)(scale * (p - (j == lab[i])));
                }
            }
        }
    } else if (kind == SL_NN_MSE) {
        const float *t = target;
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < k; j++) {
                double d = (double)y[i * k + j] - t[i * k + j];
                s += d * d;
                if (dy)
                    dy[i * k + j] = (float)(scale * 2.0 * d / k);
            }
            total += s / k;
        }
    } else
        return sl_error(SL_ERR_INVALID, "unknown loss %d", (int)kind);
    *loss_sum_p = total;
    if (correct_p)
        *correct_p = correct;
    return SL_OK;
}

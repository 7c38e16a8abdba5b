/* SPDX-License-Identifier: BSD-3-Clause */
/* CartPole-v1 learns with CleanRL's ppo.py settings: the mean return of the
 * last 100 episodes reaches 475 within 500k steps on one CPU rank (about
 * 15-30 s on the 2-core VM). The run stops at the target. */
#include "config.h"
#include "cunit_mpi.h"
#include "rl.h"

#include <math.h>
#include <stdio.h>

static void test_cartpole_learns(void)
{
    char out[4096];
    snprintf(out, sizeof out, "%s/cartpole", sl_test_tmpdir());
    sl_rl_train_opts_t o;
    sl_rl_train_opts_default(&o, &sl_rl_env_cartpole);
    o.out = out;
    o.total_steps = 500000;
    o.stop_at_target = 1;
    o.quiet = 1;
    sl_rl_train_result_t res;
    CU_ASSERT_FATAL(sl_rl_train(MPI_COMM_SELF, &o, &res) == SL_OK);
    printf("\n    return_mean %.1f first reached 475 at step %.0f (%.1f s, %.0f steps/s)\n", res.return_mean,
           res.first_reach_step, res.seconds, res.sps);
    CU_ASSERT(res.first_reach_step > 0 && res.first_reach_step <= 500000);
    CU_ASSERT(res.return_mean >= 475);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {{"CartPole-v1 reaches 475 within 500k steps", test_cartpole_learns},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "rl learning", tests);
}

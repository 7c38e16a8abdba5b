/* SPDX-License-Identifier: BSD-3-Clause */
/* A custom environment in C trained with sluice's PPO / DD-PPO: a point
 * moves along a line and must reach the right end. An environment is a
 * table of functions over a plain struct (so checkpoints save it as bytes).
 *   mpirun -np 2 ./custom_env [total-steps] [run-dir]
 * SIGUSR1 or SIGTERM stops it at the next update with a checkpoint (exit
 * status 75); set o.resume to continue from it. */
#include <sluice/sluice.h>

#include <math.h>
#include <stdlib.h>

typedef struct {
    double x, v;
} line_state_t;

/* Start near the left end, at rest. */
static void line_reset(void *s, gsl_rng *rng)
{
    line_state_t *st = s;
    st->x = -0.8 + 0.2 * gsl_rng_uniform(rng);
    st->v = 0;
}

/* Actions 0 (push left), 1 (coast), 2 (push right); friction 0.9. */
static void line_step(void *s, const float *action, double *reward_p, int *terminated_p)
{
    line_state_t *st = s;
    st->v = 0.9 * st->v + 0.01 * ((int)action[0] - 1);
    st->x += st->v;
    if (st->x < -1) {
        st->x = -1;
        st->v = 0;
    }
    *terminated_p = st->x >= 1.0;
    *reward_p = *terminated_p ? 10.0 : -0.1;
}

static void line_observe(const void *s, float *obs)
{
    const line_state_t *st = s;
    obs[0] = (float)st->x;
    obs[1] = (float)(10 * st->v);
}

static const sl_rl_env_t line_env = {
    .name = "Line-v0",
    .obs_dim = 2,
    .n_actions = 3,
    .max_steps = 200,
    .state_size = sizeof(line_state_t),
    .reset = line_reset,
    .step = line_step,
    .observe = line_observe,
};

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    sl_log_set_rank(rank, 1);
    sl_signal_install(); /* SIGUSR1/SIGTERM: checkpoint at the next update, SL_ERR_STOPPED */
    sl_rl_train_opts_t o;
    sl_rl_train_opts_default(&o, &line_env); /* CleanRL's discrete settings */
    o.total_steps = argc > 1 ? strtoll(argv[1], NULL, 10) : 100000;
    o.out = argc > 2 ? argv[2] : "line-run";
    o.target_return = 0; /* reaching the end in under 100 steps */
    sl_rl_train_result_t res;
    sl_status_t st = sl_rl_train(MPI_COMM_WORLD, &o, &res);
    if (rank == 0 && st == SL_OK)
        printf("Line-v0: return_mean %.2f after %lld steps (target 0 first reached at step %.0f)\n",
               res.return_mean, (long long)res.global_step, res.first_reach_step);
    MPI_Finalize();
    return sl_status_exit_code(st); /* 0, 1, 2, or 75 when stopped by a signal */
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice rl train|eval`: one option table per subcommand (defaults,
 * bounds, --help, config file [rl] / [rl-eval]); settings left at -1 take
 * the environment's preset (sl_rl_train_opts_default). */
#include "config.h"
#include "rl_impl.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One config file may hold both [rl] (train) and [rl-eval]: each
 * subcommand reads its own section and passes over the other's. */
static const char *const rl_other_section_eval[] = {"rl-eval", NULL};
static const char *const rl_other_section_train[] = {"rl", NULL};

typedef struct {
    char *env, *out, *device, *hidden, *log_std_init, *norm_obs, *norm_reward, *target;
    long total_steps, envs, num_steps, minibatches, epochs, seed, ckpt_every, stop_after, straggler_rank,
        delay_us, nan_at, nan_rank;
    double lr, gamma, lambda, clip, ent_coef, vf_coef, max_grad_norm, pmin, pworkers;
    int anneal_lr, clip_vloss, resume, preempt, stop_at_target, shared;
} train_cli_t;

#define O(f) offsetof(train_cli_t, f)
static const sl_opt_t train_table[] = {
    {"env", 0, SL_OPT_STRING, O(env), "CartPole-v1", 0, 0, NULL, 0, "environment (sluice rl envs lists them)",
     "NAME"},
    {"total-steps", 0, SL_OPT_INT, O(total_steps), "-1", -1, 1e15, NULL, 0,
     "global environment steps (-1: preset, 500k discrete, 1M continuous)", "N"},
    {"envs-per-rank", 0, SL_OPT_INT, O(envs), "-1", -1, 1e6, NULL, 0, "environments per rank (-1: preset 4)",
     "E"},
    {"device", 0, SL_OPT_CHOICE, O(device), "cpu", 0, 0, "cpu|cuda", 0, "where the networks run", NULL},
    {"seed", 0, SL_OPT_INT, O(seed), "1", 0, 4e18, NULL, 0, "random seed", NULL},
    {"out", 'o', SL_OPT_STRING, O(out), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "run directory", "RUNDIR"},
    {"resume", 0, SL_OPT_BOOL, O(resume), NULL, 0, 0, NULL, 0, "continue from RUNDIR/ckpt.h5 if present",
     NULL},
    {"hidden", 0, SL_OPT_STRING, O(hidden), "64-64", 0, 0, NULL, 0, "hidden layer widths (tanh)", "W-W"},
    {"shared", 0, SL_OPT_BOOL, O(shared), NULL, 0, 0, NULL, 0,
     "one MLP trunk for actor and critic (policy and value heads) instead of two MLPs", NULL},
    {"num-steps", 0, SL_OPT_INT, O(num_steps), "-1", -1, 1e7, NULL, 0,
     "rollout length per env (-1: preset 128 / 1024)", "T"},
    {"lr", 0, SL_OPT_DOUBLE, O(lr), "-1", -1, 1, NULL, 0, "Adam learning rate (-1: preset 2.5e-4 / 1e-3)",
     NULL},
    {"anneal-lr", 0, SL_OPT_BOOL, O(anneal_lr), "true", 0, 0, NULL, 0, "anneal the LR linearly to 0", NULL},
    {"gamma", 0, SL_OPT_DOUBLE, O(gamma), "-1", -1, 1, NULL, 0, "discount (-1: preset 0.99 / 0.9)", NULL},
    {"gae-lambda", 0, SL_OPT_DOUBLE, O(lambda), "0.95", 0, 1, NULL, 0, "GAE lambda", NULL},
    {"minibatches", 0, SL_OPT_INT, O(minibatches), "-1", -1, 1e6, NULL, 0,
     "minibatches per epoch (-1: preset 4 / 64)", NULL},
    {"epochs", 0, SL_OPT_INT, O(epochs), "-1", -1, 1000, NULL, 0, "epochs per update (-1: preset 4 / 10)",
     NULL},
    {"clip", 0, SL_OPT_DOUBLE, O(clip), "0.2", 0, 10, NULL, 0, "surrogate and value clip", NULL},
    {"clip-vloss", 0, SL_OPT_BOOL, O(clip_vloss), "true", 0, 0, NULL, 0, "clipped value loss", NULL},
    {"ent-coef", 0, SL_OPT_DOUBLE, O(ent_coef), "-1", -1, 10, NULL, 0, "entropy bonus (-1: preset 0.01 / 0)",
     NULL},
    {"vf-coef", 0, SL_OPT_DOUBLE, O(vf_coef), "0.5", 0, 100, NULL, 0, "value loss weight", NULL},
    {"max-grad-norm", 0, SL_OPT_DOUBLE, O(max_grad_norm), "0.5", 0, 1e9, NULL, 0,
     "global gradient norm clip (0: off)", NULL},
    {"norm-obs", 0, SL_OPT_CHOICE, O(norm_obs), "auto", 0, 0, "auto|on|off", 0,
     "running observation normalisation (auto: continuous tasks)", NULL},
    {"norm-reward", 0, SL_OPT_CHOICE, O(norm_reward), "auto", 0, 0, "auto|on|off", 0,
     "running reward normalisation (auto: continuous tasks)", NULL},
    {"log-std-init", 0, SL_OPT_STRING, O(log_std_init), NULL, 0, 0, NULL, 0,
     "initial log-std of a Gaussian policy (continuous tasks only; default 0)", "X"},
    {"checkpoint-every", 0, SL_OPT_INT, O(ckpt_every), "50", 1, 1e9, NULL, 0, "updates between checkpoints",
     NULL},
    {"preempt", 0, SL_OPT_BOOL, O(preempt), "true", 0, 0, NULL, 0, "DD-PPO preemption of stragglers", NULL},
    {"preempt-min-frac", 0, SL_OPT_DOUBLE, O(pmin), "0.25", 0, 1, NULL, 0,
     "preempt only after this fraction of the rollout", NULL},
    {"preempt-workers", 0, SL_OPT_DOUBLE, O(pworkers), "0.6", 0, 1, NULL, 0,
     "preempt once more than this fraction of workers finished", NULL},
    {"target-return", 0, SL_OPT_STRING, O(target), NULL, 0, 0, NULL, 0,
     "report the step where return_mean first reaches it (preset: 475, -100, -110, 90, -250)", "R"},
    {"stop-at-target", 0, SL_OPT_BOOL, O(stop_at_target), NULL, 0, 0, NULL, 0,
     "stop once the target is reached", NULL},
    {"test-straggler-rank", 0, SL_OPT_INT, O(straggler_rank), "-1", -1, 1e9, NULL, SL_OPT_HIDDEN,
     "test: this rank sleeps --test-delay-us per env step", NULL},
    {"test-delay-us", 0, SL_OPT_INT, O(delay_us), "0", 0, 1e9, NULL, SL_OPT_HIDDEN, "test: straggler delay",
     NULL},
    {"test-stop-after", 0, SL_OPT_INT, O(stop_after), "0", 0, 1e9, NULL, SL_OPT_HIDDEN,
     "test: stop as a signal would after N updates", NULL},
    {"test-nan-at", 0, SL_OPT_INT, O(nan_at), "0", 0, 1e9, NULL, SL_OPT_HIDDEN,
     "test: a NaN loss in this update", NULL},
    {"test-nan-rank", 0, SL_OPT_INT, O(nan_rank), "-1", -1, 1e9, NULL, SL_OPT_HIDDEN,
     "test: the NaN loss on this rank only (-1: every rank)", NULL},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t train_spec = {
    "rl", "rl train --env NAME --out RUNDIR [--total-steps N] [--envs-per-rank E] [options]",
    "Trains PPO on a classic-control environment; with several ranks DD-PPO: every rank steps its own\n"
    "environments, gradients are averaged every minibatch, stragglers are preempted. Writes RUNDIR/ckpt.h5,\n"
    "RUNDIR/metrics.csv (one row per update) and RUNDIR/summary.json. SIGUSR1/SIGTERM stop it at the next\n"
    "update with a checkpoint (exit status 75); --resume continues exactly.",
    train_table, rl_other_section_eval};

static sl_status_t parse_double_str(MPI_Comm comm, const char *s, const char *name, double *v_p)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return sl_error_root(comm, SL_ERR_USAGE, "--%s: '%s' is not a number", name, s);
    *v_p = v;
    return SL_OK;
}

static sl_status_t rl_train_cmd(MPI_Comm comm, int argc, char **argv)
{
    train_cli_t c;
    sl_opts_info_t info;
    SL_TRY(sl_opts_parse(&train_spec, &c, argc, argv, &info));
    sl_status_t st = SL_OK;
    if (info.help)
        goto out;
    const sl_rl_env_t *env = sl_rl_env_find(c.env);
    if (!env) {
        char names[512];
        st = sl_error_root(comm, SL_ERR_USAGE, "--env '%s': unknown environment; known: %s", c.env,
                           sl_rl_env_names(names, sizeof names));
        goto out;
    }
    /* -1 takes the preset; 0 is no setting at all, not a quiet preset */
    const struct {
        const char *name;
        long v;
    } counts[] = {{"envs-per-rank", c.envs},
                  {"num-steps", c.num_steps},
                  {"minibatches", c.minibatches},
                  {"epochs", c.epochs}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i].v == 0) {
            st = sl_error_root(comm, SL_ERR_USAGE,
                               "--%s 0: must be at least 1 (-1: the environment's preset)", counts[i].name);
            goto out;
        }
    /* ... and a negative rate is no setting either, not a quiet preset */
    const struct {
        const char *name;
        double v;
    } reals[] = {{"lr", c.lr}, {"gamma", c.gamma}, {"ent-coef", c.ent_coef}};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if (reals[i].v < 0 && reals[i].v != -1) {
            st = sl_error_root(comm, SL_ERR_USAGE,
                               "--%s %g: must be at least 0 (-1: the environment's preset)", reals[i].name,
                               reals[i].v);
            goto out;
        }
    if (!rl_hidden_valid(c.hidden)) {
        st = sl_error_root(comm, SL_ERR_USAGE, "--hidden '%s': expected widths like 64-64", c.hidden);
        goto out;
    }
    if (c.log_std_init && env->act_dim == 0) {
        st = sl_error_root(
            comm, SL_ERR_USAGE,
            "--log-std-init is a setting for continuous actions, but %s has %d discrete actions", env->name,
            env->n_actions);
        goto out;
    }
    sl_rl_train_opts_t o;
    sl_rl_train_opts_default(&o, env);
    o.out = c.out;
    o.device = c.device;
    o.hidden = c.hidden;
    o.shared = c.shared;
    if (c.total_steps >= 0)
        o.total_steps = c.total_steps;
    if (c.envs > 0)
        o.envs_per_rank = (int)c.envs;
    if (c.num_steps > 0)
        o.num_steps = (int)c.num_steps;
    if (c.lr >= 0)
        o.lr = c.lr;
    o.anneal_lr = c.anneal_lr;
    if (c.gamma >= 0)
        o.gamma = c.gamma;
    o.gae_lambda = c.lambda;
    if (c.minibatches > 0)
        o.minibatches = (int)c.minibatches;
    if (c.epochs > 0)
        o.epochs = (int)c.epochs;
    o.clip = c.clip;
    o.clip_vloss = c.clip_vloss;
    if (c.ent_coef >= 0)
        o.ent_coef = c.ent_coef;
    o.vf_coef = c.vf_coef;
    o.max_grad_norm = c.max_grad_norm;
    if (strcmp(c.norm_obs, "auto"))
        o.norm_obs = !strcmp(c.norm_obs, "on");
    if (strcmp(c.norm_reward, "auto"))
        o.norm_reward = !strcmp(c.norm_reward, "on");
    if (c.log_std_init &&
        (st = parse_double_str(comm, c.log_std_init, "log-std-init", &o.log_std_init)) != SL_OK)
        goto out;
    if (c.target && (st = parse_double_str(comm, c.target, "target-return", &o.target_return)) != SL_OK)
        goto out;
    o.stop_at_target = c.stop_at_target;
    o.seed = (uint64_t)c.seed;
    o.resume = c.resume;
    o.checkpoint_every = (int)c.ckpt_every;
    o.preempt = c.preempt;
    o.preempt_min_frac = c.pmin;
    o.preempt_worker_frac = c.pworkers;
    o.straggler_rank = (int)c.straggler_rank;
    o.straggler_delay_us = c.delay_us;
    o.stop_after = c.stop_after;
    o.test_nan_update = c.nan_at;
    o.test_nan_rank = (int)c.nan_rank;
    o.quiet = sl_log_level_g < SL_LOG_INFO;
    st = sl_rl_train(comm, &o, NULL);
out:
    sl_config_destroy(&info.config);
    sl_opts_free(train_table, &c);
    return st;
}

typedef struct {
    char *model, *device, *json;
    long episodes, seed;
} eval_cli_t;

#define O(f) offsetof(eval_cli_t, f)
static const sl_opt_t eval_table[] = {
    {"model", 'm', SL_OPT_STRING, O(model), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "checkpoint (RUNDIR/ckpt.h5)",
     "FILE"},
    {"episodes", 'n', SL_OPT_INT, O(episodes), "100", 1, 1e8, NULL, 0, "episodes per mode (greedy, sampled)",
     NULL},
    {"seed", 0, SL_OPT_INT, O(seed), "12345", 0, 4e18, NULL, 0, "seed of the evaluation episodes", NULL},
    {"device", 0, SL_OPT_CHOICE, O(device), "cpu", 0, 0, "cpu|cuda", 0, "where the policy runs", NULL},
    {"json", 0, SL_OPT_STRING, O(json), NULL, 0, 0, NULL, 0, "also write the results as JSON here", "FILE"},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t eval_spec = {
    "rl-eval", "rl eval --model RUNDIR/ckpt.h5 [--episodes N]",
    "Runs the trained policy for N episodes greedily (argmax / mean action) and N episodes sampled, spread\n"
    "over the ranks; episode i starts from the stream (seed, 0, \"rl/eval-i\"), so the result does not "
    "depend\n"
    "on the rank count. Prints mean, std, min and max of the returns.",
    eval_table, rl_other_section_train};

static sl_status_t eval_load(MPI_Comm comm, const char *path, sl_nn_device_t dev, rl_agent_t *a,
                             rl_rms_t *rms, int *norm_p, const sl_rl_env_t **env_p)
{
    sl_h5_t *h;
    sl_status_t st = sl_h5_open(comm, path, &h);
    if (st == SL_ERR_NOT_FOUND)
        return sl_error_root(comm, SL_ERR_NOT_FOUND, "--model '%s': no such file", path);
    SL_TRY(st);
    char *name = NULL;
    int64_t norm = 0;
    const sl_rl_env_t *env = NULL;
    if (sl_h5_get_attr_str(h, "/", "env", &name) != SL_OK || !(env = sl_rl_env_find(name)))
        st = sl_error_root(comm, SL_ERR_MISMATCH,
                           "--model '%s' is not an rl checkpoint of a known environment", path);
    free(name);
    memset(a, 0, sizeof *a);
    int64_t shared = 0;
    if (st == SL_OK) {
        sl_h5_get_attr_i64(h, "/", "norm_obs", &norm);
        sl_h5_get_attr_i64(h, "agent", "shared", &shared);
        a->shared = (int)shared;
        a->obs_dim = env->obs_dim;
        a->continuous = env->act_dim > 0;
        a->k = a->continuous ? env->act_dim : env->n_actions;
        a->logstd = calloc((size_t)a->k, sizeof(float));
        st = rl_rms_init(rms, env->obs_dim);
    }
    if (st == SL_OK)
        st = sl_nn_create_from_h5(h, "agent/actor/", dev, &a->actor);
    uint64_t dk[1] = {(uint64_t)a->k}, dod[1] = {(uint64_t)(env ? env->obs_dim : 0)};
    if (st == SL_OK && a->continuous)
        st = sl_h5_read(h, "agent/logstd", SL_F32, 1, dk, a->logstd);
    if (st == SL_OK)
        st = sl_h5_read(h, "norm/obs_mean", SL_F64, 1, dod, rms->mean);
    if (st == SL_OK)
        st = sl_h5_read(h, "norm/obs_var", SL_F64, 1, dod, rms->var);
    sl_h5_close(&h);
    st = sl_agree(comm, st);
    if (st == SL_OK &&
        (sl_nn_in_features(a->actor) != a->obs_dim || sl_nn_out_features(a->actor) != a->k + a->shared))
        st = sl_error_root(comm, SL_ERR_MISMATCH, "--model '%s': the actor's shape does not fit %s", path,
                           env->name);
    *norm_p = (int)norm;
    *env_p = env;
    return st;
}

static sl_status_t rl_eval_cmd(MPI_Comm comm, int argc, char **argv)
{
    eval_cli_t c;
    sl_opts_info_t info;
    SL_TRY(sl_opts_parse(&eval_spec, &c, argc, argv, &info));
    sl_status_t st = SL_OK;
    rl_agent_t a;
    rl_rms_t rms = {0};
    memset(&a, 0, sizeof a);
    if (info.help)
        goto out;
    /* the results must not replace the policy they were computed from */
    if (c.json && sl_same_file(c.json, c.model)) {
        st = sl_error_root(comm, SL_ERR_USAGE, "--json %s is the --model file; it would be replaced", c.json);
        goto out;
    }
    int rank, size, norm = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* nor be lost at the end, after every episode has run (rank 0 writes it) */
    char why[4200];
    if (rank == 0 && c.json && sl_output_path_problem(c.json, NULL, why, sizeof why))
        st = sl_error(SL_ERR_IO, "--json %s: %s", c.json, why);
    if ((st = sl_agree(comm, st)) != SL_OK)
        goto out;
    sl_nn_device_t dev = !strcmp(c.device, "cuda") ? SL_NN_CUDA : SL_NN_CPU;
    if (sl_nn_device_check(dev) != SL_OK) {
        st = sl_error_root(comm, SL_ERR_UNSUPPORTED, "--device cuda: no CUDA device here");
        goto out;
    }
    const sl_rl_env_t *env = NULL;
    SL_TRY_GOTO(eval_load(comm, c.model, dev, &a, &rms, &norm, &env), out);
    double *res = calloc((size_t)c.episodes * 2, sizeof(double));
    unsigned char state[4096];
    if (!res || env->state_size > sizeof state)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    for (long i = rank; st == SL_OK && i < 2 * c.episodes; i += size) {
        int greedy = i < c.episodes;
        char purpose[64];
        gsl_rng *rng;
        snprintf(purpose, sizeof purpose, "rl/eval-%ld", greedy ? i : i - c.episodes);
        if ((st = sl_rng_create((uint64_t)c.seed, 0, purpose, &rng)) != SL_OK)
            break;
        env->reset(state, rng);
        double ret = 0;
        for (int t = 0; t < env->max_steps && st == SL_OK; t++) {
            float obs[64], act[64], eact[64];
            double rw;
            int term;
            env->observe(state, obs);
            if (norm)
                rl_normalize_obs(&rms, obs, 1);
            st = rl_agent_act(&a, obs, 1, rng, greedy, act, NULL);
            rl_env_action(env, act, 1, eact);
            env->step(state, eact, &rw, &term);
            ret += rw;
            if (term)
                break;
        }
        sl_rng_destroy(&rng);
        res[i] = ret;
    }
    SL_TRY_GOTO(sl_agree(comm, st), out_res);
    MPI_Allreduce(MPI_IN_PLACE, res, (int)(2 * c.episodes), MPI_DOUBLE, MPI_SUM, comm);
    if (rank == 0) {
        /* the path may hold quotes or backslashes: escaped, and the buffer sized for it */
        char *model = sl_json_escape(c.model);
        size_t cap = (model ? strlen(model) : 0) + 1024;
        char *json = model ? malloc(cap) : NULL;
        if (!json) {
            free(model);
            st = sl_error(SL_ERR_NOMEM, "out of memory");
            goto agree;
        }
        int jn = snprintf(json, cap, "{\"model\": \"%s\", \"env\": \"%s\", \"episodes\": %ld", model,
                          env->name, c.episodes);
        free(model);
        printf("sluice rl eval: %s on %s, %ld episode%s each\n", c.model, env->name, c.episodes,
               c.episodes == 1 ? "" : "s");
        for (int g = 0; g < 2; g++) {
            double s = 0, s2 = 0, mn = INFINITY, mx = -INFINITY;
            for (long i = 0; i < c.episodes; i++) {
                double v = res[g * c.episodes + i];
                s += v;
                s2 += v * v;
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
            double m = s / (double)c.episodes, sd = sqrt(fmax(0, s2 / (double)c.episodes - m * m));
            const char *mode = g == 0 ? "greedy" : "sampled";
            printf("  %-8s return mean %.2f std %.2f min %.2f max %.2f\n", mode, m, sd, mn, mx);
            jn += snprintf(json + jn, cap - (size_t)jn,
                           ", \"%s\": {\"mean\": %.6g, \"std\": %.6g, \"min\": %.6g, \"max\": %.6g}", mode, m,
                           sd, mn, mx);
        }
        jn += snprintf(json + jn, cap - (size_t)jn, "}\n");
        if (c.json)
            st = sl_file_write_atomic(c.json, json, (size_t)jn);
        free(json);
    }
agree:
    st = sl_agree(comm, st);
out_res:
    free(res);
out:
    sl_nn_destroy(&a.actor);
    free(a.logstd);
    free(a.pi_buf);
    free(a.v_buf);
    free(a.dy_buf);
    rl_rms_fini(&rms);
    sl_config_destroy(&info.config);
    sl_opts_free(eval_table, &c);
    return st;
}

sl_status_t sl_cmd_rl(MPI_Comm comm, int argc, char **argv)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "train"))
        return rl_train_cmd(comm, argc - 1, argv + 1);
    if (!strcmp(sub, "eval"))
        return rl_eval_cmd(comm, argc - 1, argv + 1);
    if (!strcmp(sub, "envs")) {
        if (rank == 0) {
            const sl_rl_env_t *e[] = {&sl_rl_env_cartpole, &sl_rl_env_acrobot, &sl_rl_env_mountaincar,
                                      &sl_rl_env_mountaincar_cont, &sl_rl_env_pendulum};
            for (int i = 0; i < 5; i++)
                printf("%-26s obs %d, %s %d, time limit %d\n", e[i]->name, e[i]->obs_dim,
                       e[i]->n_actions ? "discrete actions" : "continuous action dims",
                       e[i]->n_actions ? e[i]->n_actions : e[i]->act_dim, e[i]->max_steps);
        }
        return SL_OK;
    }
    FILE *f = !strcmp(sub, "--help") || !strcmp(sub, "-h") ? stdout : stderr;
    if (rank == 0)
        fprintf(f, "usage: sluice rl train --env NAME --out RUNDIR [options]   train PPO / DD-PPO\n"
                   "       sluice rl eval --model RUNDIR/ckpt.h5 [--episodes N] evaluate a policy\n"
                   "       sluice rl envs                                      list the environments\n"
                   "       sluice rl train --help | sluice rl eval --help\n");
    if (f == stdout)
        return SL_OK;
    fflush(f);
    if (!*sub) /* a usage error ends with its one error line, as elsewhere */
        return sl_error_root(comm, SL_ERR_USAGE, "rl: missing subcommand (train, eval or envs)");
    return sl_error_root(comm, SL_ERR_USAGE, "rl: unknown subcommand '%s' (train, eval or envs)", sub);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Example of the <sluice/nn.h> C API: a data-parallel training loop written
 * by hand. Every rank makes its share of a noisy XOR problem, runs forward,
 * loss and backward on it, averages the gradients over the ranks (buckets
 * started during backward), clips and steps Adam, then saves the model.
 *   mpirun -np 2 ./mlp_xor [OUT.h5] */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    sl_log_set_rank(rank, size);
    sl_nn_t *nn = NULL;
    sl_nn_optim_t *opt = NULL;
    sl_allreduce_t *ar = NULL;
    sl_nn_optim_opts_t oo;
    sl_nn_optim_opts_default(&oo, SL_NN_ADAM);
    oo.lr = 0.01;
    /* same seed on every rank: identical initial weights */
    sl_status_t st = sl_nn_create("mlp:2-16-16-2:tanh", SL_NN_CPU, 42, &nn);
    if (st == SL_OK)
        st = sl_nn_optim_create(nn, &oo, &opt);
    st = sl_agree(MPI_COMM_WORLD, st);
    if (st == SL_OK)
        st = sl_allreduce_create(MPI_COMM_WORLD, 0, &ar);
    if (st == SL_OK)
        sl_nn_attach_allreduce(nn, ar, 0, 0);
    enum { N = 256 };
    float x[N * 2], dy[N * 2];
    int32_t y[N];
    gsl_rng *rng = NULL;
    sl_rng_create(7, rank, "xor-data", &rng);
    for (int i = 0; i < N; i++) {
        int a = (int)gsl_rng_uniform_int(rng, 2), b = (int)gsl_rng_uniform_int(rng, 2);
        x[2 * i] = a + 0.1f * (float)(gsl_rng_uniform(rng) - 0.5);
        x[2 * i + 1] = b + 0.1f * (float)(gsl_rng_uniform(rng) - 0.5);
        y[i] = a ^ b;
    }
    for (int step = 0; step < 300 && st == SL_OK; step++) {
        const float *out;
        double loss;
        int64_t correct;
        sl_nn_zero_grad(nn);
        st = sl_nn_forward(nn, x, N, 1, &out);
        if (st == SL_OK)
            st = sl_nn_loss(SL_NN_XENT, out, y, N, 2, 1.0 / N, &loss, dy, &correct);
        if (st == SL_OK)
            st = sl_nn_backward(nn, dy, NULL); /* starts the gradient all-reduce buckets */
        sl_status_t w = sl_nn_grad_wait(nn);   /* collective: every rank waits */
        st = sl_agree(MPI_COMM_WORLD, st != SL_OK ? st : w);
        if (st == SL_OK)
            st = sl_nn_clip_grad_norm(nn, 1.0, NULL);
        if (st == SL_OK)
            st = sl_nn_optim_step(opt);
        if (st == SL_OK && rank == 0 && step % 100 == 99)
            printf("step %d: loss %.4f, accuracy on rank 0's data %.3f\n", step + 1, loss / N,
                   (double)correct / N);
    }
    sl_h5_t *h = NULL;
    if (st == SL_OK)
        st = sl_h5_create(MPI_COMM_WORLD, argc > 1 ? argv[1] : "xor-model.h5", &h);
    if (st == SL_OK)
        st = sl_nn_save(nn, opt, h, "");
    if (st == SL_OK)
        st = sl_h5_commit(&h, 1);
    else
        sl_h5_discard(&h);
    sl_rng_destroy(&rng);
    sl_nn_optim_destroy(&opt);
    sl_nn_destroy(&nn);
    sl_allreduce_destroy(&ar);
    MPI_Finalize();
    return st == SL_OK ? 0 : 1;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* GPU tests of the train component: the CUDA backend against the CPU
 * backend (forward, backward, one Adam step) within a stated tolerance, and
 * a short training run on the device, with the NCCL all-reduce path when
 * built with NCCL. Skips (exit 77) where no GPU is visible. */
#include "cunit_mpi.h"
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* cuBLAS may use other summation orders (and TF32 is off by default for
 * sgemm): agreement to 1e-4 absolute on these magnitudes. */
#define TOL 1e-4

static void test_cuda_vs_cpu(void)
{
    const char *spec = "mlp:64-128-96-10:gelu:ln";
    sl_nn_t *a = NULL, *b = NULL;
    CU_ASSERT_FATAL(sl_nn_create(spec, SL_NN_CPU, 3, &a) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_create(spec, SL_NN_CUDA, 3, &b) == SL_OK);
    int n = 77;
    float *x = malloc(sizeof(float) * n * 64), *dy = malloc(sizeof(float) * n * 10);
    float *dxa = malloc(sizeof(float) * n * 64), *dxb = malloc(sizeof(float) * n * 64);
    for (int i = 0; i < n * 64; i++)
        x[i] = (float)sin(0.1 * i);
    for (int i = 0; i < n * 10; i++)
        dy[i] = (float)cos(0.3 * i) / n;
    const float *ya, *yb;
    CU_ASSERT_FATAL(sl_nn_forward(a, x, n, 1, &ya) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_forward(b, x, n, 1, &yb) == SL_OK);
    double md = 0;
    for (int i = 0; i < n * 10; i++)
        md = fmax(md, fabs(ya[i] - yb[i]));
    printf("forward max |cpu - cuda| = %g\n", md);
    CU_ASSERT(md < TOL);
    sl_nn_zero_grad(a), sl_nn_zero_grad(b);
    CU_ASSERT_FATAL(sl_nn_backward(a, dy, dxa) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_backward(b, dy, dxb) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_grads_sync(b) == SL_OK);
    md = 0;
    for (size_t i = 0; i < sl_nn_num_params(a); i++)
        md = fmax(md, fabs(sl_nn_grads(a)[i] - sl_nn_grads(b)[i]));
    for (int i = 0; i < n * 64; i++)
        md = fmax(md, fabs(dxa[i] - dxb[i]));
    printf("backward max |cpu - cuda| = %g\n", md);
    CU_ASSERT(md < TOL);
    sl_nn_optim_opts_t o;
    sl_nn_optim_t *oa = NULL, *ob = NULL;
    sl_nn_optim_opts_default(&o, SL_NN_ADAM);
    CU_ASSERT_FATAL(sl_nn_optim_create(a, &o, &oa) == SL_OK && sl_nn_optim_create(b, &o, &ob) == SL_OK);
    CU_ASSERT(sl_nn_optim_step(oa) == SL_OK && sl_nn_optim_step(ob) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_forward(a, x, n, 0, &ya) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_forward(b, x, n, 0, &yb) == SL_OK);
    md = 0;
    for (int i = 0; i < n * 10; i++)
        md = fmax(md, fabs(ya[i] - yb[i]));
    CU_ASSERT(md < 10 * TOL);
    sl_nn_optim_destroy(&oa), sl_nn_optim_destroy(&ob);
    sl_nn_destroy(&a), sl_nn_destroy(&b);
    free(x), free(dy), free(dxa), free(dxb);
}

static void test_train_on_gpu(void)
{
    char path[600], out[600];
    snprintf(path, sizeof path, "%s/d.h5", sl_test_tmpdir());
    snprintf(out, sizeof out, "%s/run", sl_test_tmpdir());
    int n = 512, F = 8;
    float *x = malloc(sizeof(float) * n * F);
    int32_t *y = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) {
        y[i] = i % 4;
        for (int j = 0; j < F; j++)
            x[i * F + j] = (j % 4 == y[i] ? 1.f : 0.f) + 0.01f * (float)((i * 7 + j) % 5);
    }
    sl_h5_t *h = NULL;
    uint64_t dx[2] = {(uint64_t)n, (uint64_t)F}, dy[1] = {(uint64_t)n};
    CU_ASSERT_FATAL(sl_h5_create(MPI_COMM_WORLD, path, &h) == SL_OK);
    CU_ASSERT_FATAL(sl_h5_write(h, "X", SL_F32, 2, dx, x) == SL_OK);
    CU_ASSERT_FATAL(sl_h5_write(h, "y", SL_I32, 1, dy, y) == SL_OK);
    CU_ASSERT_FATAL(sl_h5_commit(&h, 1) == SL_OK);
    sl_nn_train_opts_t o;
    sl_nn_train_opts_default(&o);
    o.data = o.eval = path;
    o.out = out;
    o.model = "mlp:8-32-4";
    o.device = "cuda";
    o.epochs = 5;
    o.batch = 32;
    o.lr = 0.01;
    o.quiet = 1;
    o.exact = 0; /* gradients through the device all-reduce (NCCL when built) */
    sl_nn_train_result_t r;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, &r) == SL_OK);
    CU_ASSERT(r.last.eval_accuracy > 0.95);
    free(x), free(y);
}

int main(int argc, char **argv)
{
    if (sl_gpu_count() == 0) {
        printf("SKIP: no GPU visible\n");
        return 77;
    }
    static const sl_test_t tests[] = {{"CUDA backend against CPU", test_cuda_vs_cpu},
                                      {"training on the GPU", test_train_on_gpu},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "gpu-nn", tests);
}

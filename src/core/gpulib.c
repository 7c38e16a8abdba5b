/* SPDX-License-Identifier: BSD-3-Clause */
/* cuBLAS and NCCL through dlopen (see gpulib.h): the library configure
 * found, by its soname (the RUNPATH of this library points at its
 * directory), then by its full configure-time path. Loaded once per
 * process; the tables are filled once and never change. */
#include "config.h"
#include "gpulib.h"

#if defined(SL_HAVE_CUDA) || defined(SL_HAVE_NCCL)
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static void *open_lib(const char *soname, const char *dir, char *why, size_t len)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h)
        return h;
    snprintf(why, len, "%s", dlerror());
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, soname);
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    return h;
}

/* Fill n function pointers named names[i]; 0 on success. */
static int load(const char *soname, const char *dir, const char *const *names, void **fns, int n, char *why,
                size_t len)
{
    void *h = open_lib(soname, dir, why, len);
    if (!h)
        return -1;
    for (int i = 0; i < n; i++)
        if (!(fns[i] = dlsym(h, names[i]))) {
            snprintf(why, len, "%s has no %s", soname, names[i]);
            return -1;
        }
    return 0;
}
#endif

#ifdef SL_HAVE_CUDA
static sl_cublas_fns_t cublas;
static pthread_once_t cublas_once = PTHREAD_ONCE_INIT;
static int cublas_rc = -1;
static char cublas_why[512];

static void cublas_load(void)
{
    static const char *const names[] = {"cublasCreate_v2", "cublasSgemm_v2"};
    void *fns[2];
    cublas_rc = load(SL_CUBLAS_LIB, SL_CUDA_LIBDIR, names, fns, 2, cublas_why, sizeof cublas_why);
    if (cublas_rc == 0) {
        *(void **)&cublas.create = fns[0];
        *(void **)&cublas.sgemm = fns[1];
    }
}

sl_status_t sl_cublas_fns(const sl_cublas_fns_t **fns_p)
{
    pthread_once(&cublas_once, cublas_load);
    if (cublas_rc != 0)
        return sl_error(SL_ERR_CUDA, "cannot load cuBLAS (%s): %s", SL_CUBLAS_LIB, cublas_why);
    *fns_p = &cublas;
    return SL_OK;
}
#endif

#ifdef SL_HAVE_NCCL
static sl_nccl_fns_t nccl;
static pthread_once_t nccl_once = PTHREAD_ONCE_INIT;
static int nccl_rc = -1;
static char nccl_why[512];

static void nccl_load(void)
{
    static const char *const names[] = {"ncclGetUniqueId", "ncclCommInitRank", "ncclAllReduce",
                                        "ncclCommDestroy", "ncclGetErrorString"};
    void *fns[5];
    nccl_rc = load(SL_NCCL_LIB, SL_NCCL_LIBDIR, names, fns, 5, nccl_why, sizeof nccl_why);
    if (nccl_rc == 0) {
        *(void **)&nccl.get_unique_id = fns[0];
        *(void **)&nccl.comm_init_rank = fns[1];
        *(void **)&nccl.all_reduce = fns[2];
        *(void **)&nccl.comm_destroy = fns[3];
        *(void **)&nccl.get_error_string = fns[4];
    }
}

sl_status_t sl_nccl_fns(const sl_nccl_fns_t **fns_p)
{
    pthread_once(&nccl_once, nccl_load);
    if (nccl_rc != 0)
        return sl_error(SL_ERR_NCCL, "cannot load NCCL (%s): %s", SL_NCCL_LIB, nccl_why);
    *fns_p = &nccl;
    return SL_OK;
}
#endif

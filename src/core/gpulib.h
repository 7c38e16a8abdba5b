/* SPDX-License-Identifier: BSD-3-Clause */
/* cuBLAS and NCCL, opened on first use. Linking them (with cuBLASLt behind
 * cuBLAS) cost every sluice process about 80 ms at start-up, GPU or not;
 * the CUDA runtime itself is linked statically, so only a job that uses a
 * GPU pays for the libraries, once. Not installed. */
#ifndef SLUICE_GPULIB_H
#define SLUICE_GPULIB_H

#include "core.h"

#ifdef SL_HAVE_CUDA
#include <cublas_v2.h>
typedef struct {
    __typeof__(cublasCreate_v2) *create;
    __typeof__(cublasSgemm_v2) *sgemm;
} sl_cublas_fns_t;
/* Local. The cuBLAS entry points, loading the library on the first call;
 * an error (printed) names the library and dlerror's reason. */
sl_status_t sl_cublas_fns(const sl_cublas_fns_t **fns_p);
#endif

#ifdef SL_HAVE_NCCL
#include <nccl.h>
typedef struct {
    __typeof__(ncclGetUniqueId) *get_unique_id;
    __typeof__(ncclCommInitRank) *comm_init_rank;
    __typeof__(ncclAllReduce) *all_reduce;
    __typeof__(ncclCommDestroy) *comm_destroy;
    __typeof__(ncclGetErrorString) *get_error_string;
} sl_nccl_fns_t;
/* Local. The NCCL entry points, as sl_cublas_fns. */
sl_status_t sl_nccl_fns(const sl_nccl_fns_t **fns_p);
#endif

#endif

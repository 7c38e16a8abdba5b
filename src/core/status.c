/* SPDX-License-Identifier: BSD-3-Clause */
/* Status codes: their texts and the exit statuses of the sluice command. */
#include "config.h"
#include "core.h"

const char *sl_version(void) { return PACKAGE_VERSION; }

const char *sl_status_string(sl_status_t st)
{
    switch (st) {
    case SL_OK: return "success";
    case SL_ERR_INVALID: return "invalid argument or input";
    case SL_ERR_USAGE: return "usage error";
    case SL_ERR_IO: return "I/O error";
    case SL_ERR_NOMEM: return "out of memory";
    case SL_ERR_MPI: return "MPI error";
    case SL_ERR_HDF5: return "HDF5 error";
    case SL_ERR_MISMATCH: return "data mismatch";
    case SL_ERR_NOT_FOUND: return "not found";
    case SL_ERR_UNSUPPORTED: return "not supported";
    case SL_ERR_CUDA: return "CUDA error";
    case SL_ERR_NCCL: return "NCCL error";
    case SL_ERR_UCX: return "UCX error";
    case SL_ERR_PEER: return "another rank failed";
    case SL_ERR_STOPPED: return "stopped by a signal (resumable)";
    case SL_ERR_TIMEOUT: return "timed out";
    case SL_ERR_NUMERIC: return "NaN or Inf";
    case SL_ERR_FAILED: return "some work failed";
    case SL_ERR_INTERNAL: return "internal error";
    case SL_ERR_NOSPACE: return "no space left on device";
    }
    return "unknown status";
}

int sl_status_exit_code(sl_status_t st)
{
    switch (st) {
    case SL_OK: return SL_EXIT_OK;
    case SL_ERR_USAGE: return SL_EXIT_USAGE;
    case SL_ERR_STOPPED: return SL_EXIT_STOPPED;
    default: return SL_EXIT_ERROR;
    }
}

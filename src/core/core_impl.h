/* SPDX-License-Identifier: BSD-3-Clause */
/* Private declarations shared by the core's files. Not installed. */
#ifndef SLUICE_CORE_IMPL_H
#define SLUICE_CORE_IMPL_H
#include "core.h"
#include <hdf5.h>

/* Print a line with the standard prefix without checking the level. */
void sl_log_vemit(sl_log_level_t level, const char *fmt, va_list ap);
/* Translate the HDF5 error stack into a status with its innermost message. */
sl_status_t sl_h5_error(const char *what, const char *path);

/* 1 and the first entry whose section is not in known (NULL-terminated). */
int sl_config_find_unknown_section(const sl_config_t *cfg, const char *const *known,
                                   const char **bad_p, int *line_p);

#endif

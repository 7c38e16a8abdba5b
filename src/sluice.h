/* SPDX-License-Identifier: BSD-3-Clause */
/* The umbrella header: <sluice/sluice.h> brings in every component's API. */
#ifndef SLUICE_H
#define SLUICE_H
#include "core.h"
#include "tasks.h"
#include "nn.h"
#include "shuffle.h"
#include "rl.h"
#include "tune.h"
#endif

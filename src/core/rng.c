/* SPDX-License-Identifier: BSD-3-Clause */
/* RNG streams: every random stream is a GSL mt19937 seeded from
 * (seed, rank, purpose) through a fixed mixing function, so runs are
 * reproducible and streams of different ranks or purposes are unrelated. */
#include "config.h"
#include "core_impl.h"

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t sl_seed_mix(uint64_t seed, int rank, const char *purpose)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a of the purpose */
    for (const unsigned char *p = (const unsigned char *)(purpose ? purpose : ""); *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return splitmix64(splitmix64(splitmix64(seed) ^ (uint64_t)(uint32_t)rank) ^ h);
}

sl_status_t sl_rng_create(uint64_t seed, int rank, const char *purpose, gsl_rng **rng_p)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r)
        return sl_error(SL_ERR_NOMEM, "cannot allocate a random number generator");
    /* mt19937 takes an unsigned long seed; 0 is replaced by GSL's default. */
    uint64_t s = sl_seed_mix(seed, rank, purpose);
    gsl_rng_set(r, (unsigned long)(s ? s : 1));
    *rng_p = r;
    return SL_OK;
}

void sl_rng_destroy(gsl_rng **rng)
{
    if (rng && *rng) {
        gsl_rng_free(*rng);
        *rng = NULL;
    }
}

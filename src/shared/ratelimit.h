/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A rate limit for log lines that a guest can cause (an I/O error per request, a write per boot-timer
 * poke): at most burst lines per interval; the first line after a quiet spell says how many were
 * dropped. Thread-safe: vCPU and device threads share one. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct RateLimit {
        uint64_t interval_usec;
        unsigned burst;
        pthread_mutex_t lock;
        uint64_t begin; /* CLOCK_MONOTONIC start of the current interval */
        unsigned n;     /* lines let through in it */
        unsigned dropped;
} RateLimit;

#define RATELIMIT_INIT(interval, b) \
        { .interval_usec = (interval), .burst = (b), .lock = PTHREAD_MUTEX_INITIALIZER }
#define RATELIMIT_GUEST RATELIMIT_INIT(10 * UINT64_C(1000000), 10) /* 10 lines per 10 s */

/* Whether a line may be logged at now (CLOCK_MONOTONIC, µs); when it may, *ret_dropped (if not NULL)
 * is how many were refused since the last one let through. */
bool ratelimit_below_at(RateLimit *rl, uint64_t now, unsigned *ret_dropped);
bool ratelimit_below(RateLimit *rl, unsigned *ret_dropped);
/* " (N more not logged)" for a line after N were dropped, else "". */
#define RATELIMIT_SUFFIX_MAX 64
const char *ratelimit_suffix(char buf[static RATELIMIT_SUFFIX_MAX], unsigned dropped);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "ratelimit.h"
#include "time-util.h"

bool ratelimit_below_at(RateLimit *rl, uint64_t now, unsigned *ret_dropped) {
        bool ok;

        pthread_mutex_lock(&rl->lock);
        if (rl->begin == 0 || now - rl->begin >= rl->interval_usec) {
                rl->begin = now ? now : 1;
                rl->n = 0;
        }
        ok = rl->n < rl->burst;
        if (ok) {
                rl->n++;
                if (ret_dropped)
                        *ret_dropped = rl->dropped;
                rl->dropped = 0;
        } else if (rl->dropped < UINT32_MAX)
                rl->dropped++;
        pthread_mutex_unlock(&rl->lock);
        return ok;
}

bool ratelimit_below(RateLimit *rl, unsigned *ret_dropped) {
        return ratelimit_below_at(rl, now_usec(), ret_dropped);
}

const char *ratelimit_suffix(char buf[static RATELIMIT_SUFFIX_MAX], unsigned dropped) {
        buf[0] = 0;
        if (dropped > 0)
                (void) snprintf(buf, RATELIMIT_SUFFIX_MAX, " (%u similar lines before it not logged)", dropped);
        return buf;
}

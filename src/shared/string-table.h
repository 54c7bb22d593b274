/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cleanup.h"

/* NAME_to_string() over a designated-initialiser table NAME_table[] of an enum whose values count
 * from 0: NULL for anything outside it (an _X_INVALID value, or a number a peer made up). */
#define DEFINE_STRING_TABLE_TO_STRING(name, type)                                              \
        const char *name##_to_string(type v) {                                                 \
                long i_ = (long) v;                                                            \
                return i_ >= 0 && (unsigned long) i_ < ELEMENTSOF(name##_table) ? name##_table[i_] : NULL; \
        }

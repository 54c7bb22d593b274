/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging that returns a negative errno, so a caller can log and fail in one statement:
 *         return log_error_errno(r, "Failed to map guest RAM: %m");
 * %m expands to strerror() of the error passed in, not of the current errno. */

#include <stdbool.h>
#include <syslog.h>

#include "cleanup.h"

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_prefix(const char *prefix); /* e.g. "vmm[web]"; NULL for none. Not copied. */

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                         \
        ({                                                                                        \
                int _level_ = (level), _e_ = (error);                                             \
                _e_ = _e_ < 0 ? -_e_ : _e_;                                                       \
                _level_ <= log_get_max_level()                                                    \
                        ? log_internal(_level_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__)  \
                        : -_e_;                                                                   \
        })
#define log_full(level, ...) ((void) log_full_errno(level, 0, __VA_ARGS__))

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* For errors without an errno: logs and returns -EINVAL. */
#define log_error_invalid(...) log_error_errno(EINVAL, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

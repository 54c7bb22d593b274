/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging that returns a negative errno, so a caller can log and fail in one statement:
 *         return log_error_errno(r, "Failed to map guest RAM: %m");
 * %m expands to strerror() of the error passed in, not of the current errno.
 *
 * Where it goes: when stderr is connected to the journal (systemd sets $JOURNAL_STREAM), each message
 * is sent as a structured entry with sd_journal_sendv(): MESSAGE=, PRIORITY=, CODE_FILE=, CODE_LINE=,
 * CODE_FUNC=, SYSLOG_IDENTIFIER=, ERRNO= (when an error was passed) and VM= (once log_set_vm_name()
 * was called). Otherwise, one line on stderr. Safe to call from any thread. */

#include <stdbool.h>
#include <sys/uio.h>
#include <syslog.h>

#include "cleanup.h"

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_prefix(const char *prefix); /* e.g. "vmm[web]"; NULL for none. Not copied. */
/* The VM a program works for: VM=NAME on every journal entry. Copied (at most 64 bytes are kept);
 * NULL for none. Call before starting threads that log. */
void log_set_vm_name(const char *name);
const char *log_get_vm_name(void);

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* the journal if stderr is connected to it, else stderr */
        LOG_TARGET_CONSOLE, /* stderr, plain lines */
        LOG_TARGET_JOURNAL, /* structured journal entries */
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -22,
} LogTarget;
void log_set_target(LogTarget target);

/* How journal entries are sent; by default sd_journal_sendv(). Tests put a fake here. NULL restores
 * the default. When sending fails, the message goes to stderr instead. */
typedef int (*LogJournalSendFn)(const struct iovec *iov, int n);
void log_set_journal_send(LogJournalSendFn send);

/* Whether fd is the stream systemd connected to the journal ($JOURNAL_STREAM names its device and
 * inode), i.e. whether what is written to it lands in the journal. */
bool fd_is_journal_stream(int fd);

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

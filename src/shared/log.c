/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static const char *prefix;
static char vm_name[65];
static LogTarget target = LOG_TARGET_AUTO;
static LogJournalSendFn journal_send = sd_journal_sendv;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_prefix(const char *p) {
        prefix = p;
}

void log_set_vm_name(const char *name) {
        (void) snprintf(vm_name, sizeof vm_name, "%s", name ?: "");
}

const char *log_get_vm_name(void) {
        return vm_name[0] ? vm_name : NULL;
}

void log_set_target(LogTarget t) {
        target = t;
}

void log_set_journal_send(LogJournalSendFn send) {
        journal_send = send ?: sd_journal_sendv;
}

bool fd_is_journal_stream(int fd) {
        unsigned long long dev, ino;
        struct stat st;
        const char *e;

        e = getenv("JOURNAL_STREAM");
        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) < 0)
                return false;
        return st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

static bool use_journal(void) {
        static int cached = -1; /* racing threads compute the same answer */

        if (target != LOG_TARGET_AUTO)
                return target == LOG_TARGET_JOURNAL;
        if (cached < 0)
                cached = fd_is_journal_stream(STDERR_FILENO);
        return cached;
}

/* Formats one FIELD=value into buf and points the next iovec at it (truncated if it does not fit). */
_printf_(5, 6) static void add_field(struct iovec *iov, int *n, char *buf, size_t size, const char *format,
                                     ...) {
        va_list ap;
        int k;

        va_start(ap, format);
        k = vsnprintf(buf, size, format, ap);
        va_end(ap);
        if (k < 0)
                return;
        iov[(*n)++] = (struct iovec) { buf, (size_t) k < size ? (size_t) k : size - 1 };
}

static int log_to_journal(int level, int error, const char *file, int line, const char *func,
                          const char *msg) {
        char message[2300], priority[16], code_file[256], code_line[32], code_func[128], ident[128],
                errno_field[32], vm[sizeof vm_name + 3];
        struct iovec iov[8];
        int n = 0;

        add_field(iov, &n, message, sizeof message, "MESSAGE=%s%s%s", prefix ?: "", prefix ? ": " : "", msg);
        add_field(iov, &n, priority, sizeof priority, "PRIORITY=%d", level);
        add_field(iov, &n, code_file, sizeof code_file, "CODE_FILE=%s", file);
        add_field(iov, &n, code_line, sizeof code_line, "CODE_LINE=%d", line);
        add_field(iov, &n, code_func, sizeof code_func, "CODE_FUNC=%s", func);
        add_field(iov, &n, ident, sizeof ident, "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        if (error > 0)
                add_field(iov, &n, errno_field, sizeof errno_field, "ERRNO=%d", error);
        if (vm_name[0])
                add_field(iov, &n, vm, sizeof vm, "VM=%s", vm_name);
        return journal_send(iov, n);
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        errno = error; /* makes %m print this error */
        va_start(ap, format);
        (void) vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);

        if (use_journal()) {
                if (log_to_journal(level, error, file, line, func, buf) < 0)
                        /* Not reachable: stderr still is the journal's stream; "<N>" carries the
                         * priority (systemd's SyslogLevelPrefix=). */
                        fprintf(stderr, "<%d>%s%s%s\n", level, prefix ?: "", prefix ? ": " : "", buf);
        } else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s%s%s (%s:%d %s)\n", prefix ?: "", prefix ? ": " : "", buf, file, line,
                        func);
        else
                fprintf(stderr, "%s%s%s\n", prefix ?: "", prefix ? ": " : "", buf);

        errno = saved;
        return -error;
}

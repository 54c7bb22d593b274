/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

static int max_level = LOG_INFO;
static const char *prefix;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_prefix(const char *p) {
        prefix = p;
}

/* When stderr is connected to the journal, a "<N>" prefix carries the priority (systemd's
 * SyslogLevelPrefix=), so errors show as errors in journalctl without linking sd-journal here. */
static bool stderr_is_journal(void) {
        static int cached = -1;
        const char *e;
        struct stat st;
        unsigned long long dev, ino;

        if (cached >= 0)
                return cached;
        cached = 0;
        e = getenv("JOURNAL_STREAM");
        if (e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
                cached = st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
        return cached;
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

        if (stderr_is_journal())
                fprintf(stderr, "<%d>%s%s%s\n", level, prefix ?: "", prefix ? ": " : "", buf);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s%s%s (%s:%d %s)\n", prefix ?: "", prefix ? ": " : "", buf, file, line,
                        func);
        else
                fprintf(stderr, "%s%s%s\n", prefix ?: "", prefix ? ": " : "", buf);

        errno = saved;
        return -error;
}

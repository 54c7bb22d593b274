/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Captures what code writes to stderr (log messages), for tests that check messages exactly:
 *         capture_begin(&c);
 *         r = f();
 *         out = capture_end(&c);     (owned by the caller)
 * A temporary file rather than a pipe, so that a lot of output cannot block the writer. */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct Capture {
        FILE *file;
        int saved_fd;
} Capture;

static inline void capture_begin(Capture *c) {
        c->file = tmpfile();
        if (!c->file)
                abort();
        fflush(stderr);
        c->saved_fd = dup(STDERR_FILENO);
        if (c->saved_fd < 0 || dup2(fileno(c->file), STDERR_FILENO) < 0)
                abort();
}

static inline char *capture_end(Capture *c) {
        char *buf;
        off_t n;

        fflush(stderr);
        if (dup2(c->saved_fd, STDERR_FILENO) < 0)
                abort();
        close(c->saved_fd);
        /* Written through the file descriptor, not the FILE: ask the descriptor how much. */
        n = lseek(fileno(c->file), 0, SEEK_END);
        if (n < 0)
                abort();
        buf = malloc((size_t) n + 1);
        if (!buf || pread(fileno(c->file), buf, (size_t) n, 0) != (ssize_t) n)
                abort();
        buf[n] = 0;
        fclose(c->file);
        return buf;
}

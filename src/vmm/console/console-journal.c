/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "console/console-journal.h"

#define ESCAPE_MAX 64 /* an escape sequence longer than this is not one: back to text */

typedef enum EscapeState {
        ESCAPE_NONE,
        ESCAPE_ESC,        /* after ESC, maybe intermediate bytes */
        ESCAPE_CSI,        /* ESC [ ... final byte */
        ESCAPE_STRING,     /* ESC ] / P / _ / ^ ... BEL or ESC \ */
        ESCAPE_STRING_ESC, /* ESC inside a string: "\" ends it */
} EscapeState;

struct ConsoleJournal {
        int fd;
        struct sockaddr_un addr;
        socklen_t addr_len;
        char *tail; /* "\nPRIORITY=6\nSYSLOG_IDENTIFIER=...\nVM=...\nSDVM_SOURCE=console\n" */
        size_t tail_len;

        char line[CONSOLE_JOURNAL_LINE_MAX];
        size_t len;
        uint64_t since;
        bool cr;
        EscapeState escape;
        unsigned escape_len;

        ConsoleJournalStats stats;
};

ConsoleJournal *console_journal_free(ConsoleJournal *j) {
        if (!j)
                return NULL;
        safe_close(j->fd);
        free(j->tail);
        free(j);
        return NULL;
}

int console_journal_new(const char *socket_path, const char *vm_name, ConsoleJournal **ret) {
        _cleanup_(console_journal_freep) ConsoleJournal *j = NULL;
        const char *path = socket_path ?: CONSOLE_JOURNAL_SOCKET;
        int k;

        if (!vm_name || strlen(path) >= sizeof j->addr.sun_path)
                return -EINVAL;
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (j->fd < 0)
                return -errno;
        j->addr.sun_family = AF_UNIX;
        strcpy(j->addr.sun_path, path);
        j->addr_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        k = asprintf(&j->tail, "\nPRIORITY=6\nSYSLOG_IDENTIFIER=%s\nVM=%s\nSDVM_SOURCE=console\n", vm_name,
                     vm_name);
        if (k < 0) {
                j->tail = NULL;
                return -ENOMEM;
        }
        j->tail_len = (size_t) k;
        *ret = TAKE_PTR(j);
        return 0;
}

static void send_line(ConsoleJournal *j) {
        struct iovec iov[] = {
                { (void *) "MESSAGE=", 8 },
                { j->line, j->len },
                { j->tail, j->tail_len },
        };
        struct msghdr mh = {
                .msg_name = &j->addr,
                .msg_namelen = j->addr_len,
                .msg_iov = iov,
                .msg_iovlen = ELEMENTSOF(iov),
        };
        size_t len = j->len;

        j->len = 0;
        j->since = 0;
        if (len == 0)
                return;
        if (sendmsg(j->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
                j->stats.lines_sent++;
        else {
                j->stats.lines_dropped++;
                j->stats.last_error = errno;
        }
}

static void append(ConsoleJournal *j, uint8_t c, uint64_t now) {
        if (j->len == 0)
                j->since = now ?: 1;
        j->line[j->len++] = (char) c;
        if (j->len == sizeof j->line)
                send_line(j);
}

static void erase_char(ConsoleJournal *j) {
        while (j->len > 0 && ((uint8_t) j->line[j->len - 1] & 0xc0) == 0x80) /* UTF-8 continuation */
                j->len--;
        if (j->len > 0)
                j->len--;
        if (j->len == 0)
                j->since = 0;
}

/* Returns true if c was part of an escape sequence. */
static bool escape_step(ConsoleJournal *j, uint8_t c) {
        if (j->escape == ESCAPE_NONE) {
                if (c != 0x1b)
                        return false;
                j->escape = ESCAPE_ESC;
                j->escape_len = 1;
                return true;
        }
        if (++j->escape_len > ESCAPE_MAX) {
                j->escape = ESCAPE_NONE;
                return false;
        }
        switch (j->escape) {
        case ESCAPE_ESC:
                if (c == '[')
                        j->escape = ESCAPE_CSI;
                else if (c == ']' || c == 'P' || c == '_' || c == '^')
                        j->escape = ESCAPE_STRING;
                else if (c < 0x20 || c > 0x2f) /* not an intermediate byte: this was the final one */
                        j->escape = ESCAPE_NONE;
                break;
        case ESCAPE_CSI:
                if (c >= 0x40 && c <= 0x7e)
                        j->escape = ESCAPE_NONE;
                break;
        case ESCAPE_STRING:
                if (c == 0x07)
                        j->escape = ESCAPE_NONE;
                else if (c == 0x1b)
                        j->escape = ESCAPE_STRING_ESC;
                break;
        case ESCAPE_STRING_ESC:
                j->escape = c == '\\' ? ESCAPE_NONE : ESCAPE_STRING;
                break;
        default:
                j->escape = ESCAPE_NONE;
        }
        return true;
}

void console_journal_feed(ConsoleJournal *j, const uint8_t *buf, size_t n, uint64_t now) {
        for (size_t i = 0; i < n; i++) {
                uint8_t c = buf[i];

                if (escape_step(j, c))
                        continue;
                if (j->cr && c != '\r' && c != '\n') /* a bare carriage return ended the line */
                        send_line(j);
                j->cr = c == '\r';
                if (c == '\n')
                        send_line(j);
                else if (c == '\b')
                        erase_char(j);
                else if ((c >= 0x20 && c != 0x7f) || c == '\t')
                        append(j, c, now);
        }
}

void console_journal_flush(ConsoleJournal *j) {
        send_line(j);
}

uint64_t console_journal_partial_since(const ConsoleJournal *j) {
        return j->since;
}

void console_journal_get_stats(const ConsoleJournal *j, ConsoleJournalStats *ret) {
        *ret = j->stats;
}

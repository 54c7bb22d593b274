/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "console/console-journal.h"

/* A stand-in for journald: a datagram socket in a temporary directory. */
typedef struct FakeJournal {
        char dir[64];
        char path[128];
        int fd;
} FakeJournal;

static void fake_journal_open(FakeJournal *f) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        strcpy(f->dir, "/tmp/test-console-journal-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/socket", f->dir);
        strcpy(sa.sun_path, f->path);
        f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(f->fd >= 0);
        assert_int_equal(bind(f->fd, (struct sockaddr *) &sa, sizeof sa), 0);
}

static void fake_journal_close(FakeJournal *f) {
        close(f->fd);
        unlink(f->path);
        rmdir(f->dir);
}

/* The next entry as received, or NULL if there is none. */
static const char *fake_journal_next(FakeJournal *f) {
        static char buf[4096];
        ssize_t n = recv(f->fd, buf, sizeof buf - 1, 0);

        if (n < 0) {
                assert_int_equal(errno, EAGAIN);
                return NULL;
        }
        buf[n] = 0;
        return buf;
}

static void expect_line(FakeJournal *f, const char *line) {
        char expected[4096];
        const char *got = fake_journal_next(f);

        snprintf(expected, sizeof expected,
                 "MESSAGE=%s\nPRIORITY=6\nSYSLOG_IDENTIFIER=web\nVM=web\nSDVM_SOURCE=console\n", line);
        assert_non_null(got);
        assert_string_equal(got, expected);
}

static void feed(ConsoleJournal *j, const char *s) {
        console_journal_feed(j, (const uint8_t *) s, strlen(s), 1000);
}

static void test_lines(void **state) {
        ConsoleJournal *j = NULL;
        ConsoleJournalStats st;
        FakeJournal f;

        fake_journal_open(&f);
        assert_int_equal(console_journal_new(f.path, "web", &j), 0);

        /* Byte by byte, as the UART hands it over; "\r\n" ends a line once. */
        for (const char *p = "[    0.000000] Linux version 6.12\r\n"; *p; p++)
                console_journal_feed(j, (const uint8_t *) p, 1, 42);
        expect_line(&f, "[    0.000000] Linux version 6.12");
        assert_null(fake_journal_next(&f));
        assert_int_equal(console_journal_partial_since(j), 0);

        /* Several lines at once; empty lines are skipped; "\n" alone ends a line too. */
        feed(j, "one\r\n\r\ntwo\n\nthree");
        expect_line(&f, "one");
        expect_line(&f, "two");
        assert_null(fake_journal_next(&f)); /* "three" is partial */
        assert_int_equal(console_journal_partial_since(j), 1000);
        console_journal_flush(j);
        expect_line(&f, "three");
        assert_int_equal(console_journal_partial_since(j), 0);
        console_journal_flush(j); /* nothing partial: nothing sent */
        assert_null(fake_journal_next(&f));

        /* A bare carriage return redraws the line: each drawing is one entry. */
        feed(j, "progress 10%\rprogress 50%\r\rprogress 100%\r\n");
        expect_line(&f, "progress 10%");
        expect_line(&f, "progress 50%");
        expect_line(&f, "progress 100%");

        console_journal_get_stats(j, &st);
        assert_int_equal(st.lines_sent, 7);
        assert_int_equal(st.lines_dropped, 0);
        console_journal_free(j);
        fake_journal_close(&f);
}

static void test_escapes(void **state) {
        ConsoleJournal *j = NULL;
        FakeJournal f;

        fake_journal_open(&f);
        assert_int_equal(console_journal_new(f.path, "web", &j), 0);

        /* What systemd writes on a serial console: colours (CSI ... m). */
        feed(j, "[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mjournald\x1b[0m.\r\n");
        expect_line(&f, "[  OK  ] Started journald.");
        /* Its status-line redraws: CR, erase to end of line (CSI K), text. */
        feed(j, "\r\x1b[K[ ***  ] A start job is running\r\x1b[K[  OK  ] Reached target\r\n");
        expect_line(&f, "[ ***  ] A start job is running");
        expect_line(&f, "[  OK  ] Reached target");
        /* A window title (OSC ... BEL and OSC ... ST), charset selection (ESC ( B), private modes. */
        feed(j, "\x1b]0;root@guest: ~\x07\x1b]2;t\x1b\\\x1b(B\x1b[?25lprompt$ \x1b[?25h\n");
        expect_line(&f, "prompt$ ");
        /* Other control characters go, tab stays, backspace erases (also a whole UTF-8 character),
         * UTF-8 passes. */
        feed(j, "a\tb\x01\x7f\x07" "c\n");
        expect_line(&f, "a\tbc");
        feed(j, "ls -l\b \b\b \b\b \bpwd\n"); /* a terminal's echo of three backspaces */
        expect_line(&f, "lspwd");
        feed(j, "gr\xc3\xbc\xc3\x9f\b\b\xc3\xa4\n");
        expect_line(&f, "gr\xc3\xa4");
        /* A line erased completely is empty: not sent. */
        feed(j, "x\b\n");
        assert_null(fake_journal_next(&f));
        /* A runaway "escape sequence" ends after 64 bytes and text resumes. */
        char runaway[200] = "\x1b[";
        memset(runaway + 2, '1', 70);
        strcpy(runaway + 72, "tail\n");
        feed(j, runaway);
        const char *got = fake_journal_next(&f);
        assert_non_null(got);
        assert_non_null(strstr(got, "tail\nPRIORITY=6"));

        console_journal_free(j);
        fake_journal_close(&f);
}

static void test_long_line(void **state) {
        char line[CONSOLE_JOURNAL_LINE_MAX * 2 + 100], expected[CONSOLE_JOURNAL_LINE_MAX + 1];
        ConsoleJournal *j = NULL;
        FakeJournal f;

        fake_journal_open(&f);
        assert_int_equal(console_journal_new(f.path, "web", &j), 0);
        memset(line, 'x', sizeof line);
        line[sizeof line - 1] = 0;
        line[sizeof line - 2] = '\n';
        feed(j, line);
        memset(expected, 'x', CONSOLE_JOURNAL_LINE_MAX);
        expected[CONSOLE_JOURNAL_LINE_MAX] = 0;
        expect_line(&f, expected);
        expect_line(&f, expected);
        expected[sizeof line - 2 - 2 * CONSOLE_JOURNAL_LINE_MAX] = 0;
        expect_line(&f, expected);
        assert_null(fake_journal_next(&f));
        console_journal_free(j);
        fake_journal_close(&f);
}

/* The guest must never wait for the journal: a journal that is gone or full costs lines, counted. */
static void test_drops(void **state) {
        ConsoleJournal *j = NULL;
        ConsoleJournalStats st;
        FakeJournal f;
        unsigned sent = 0;

        /* Gone. */
        assert_int_equal(console_journal_new("/nonexistent/journal/socket", "web", &j), 0);
        feed(j, "lost\nlost too\n");
        console_journal_get_stats(j, &st);
        assert_int_equal(st.lines_sent, 0);
        assert_int_equal(st.lines_dropped, 2);
        assert_int_equal(st.last_error, ENOENT);
        j = console_journal_free(j);

        /* Not reading: the socket's queue fills, and sending neither blocks nor fails loudly. */
        fake_journal_open(&f);
        assert_int_equal(console_journal_new(f.path, "web", &j), 0);
        for (int i = 0; i < 5000; i++)
                feed(j, "a line that nobody reads\n");
        console_journal_get_stats(j, &st);
        assert_int_equal(st.lines_sent + st.lines_dropped, 5000);
        assert_true(st.lines_dropped > 0);
        assert_int_equal(st.last_error, EAGAIN);
        while (fake_journal_next(&f))
                sent++;
        assert_int_equal(sent, st.lines_sent);
        /* Once it reads again, lines arrive again. */
        feed(j, "back\n");
        expect_line(&f, "back");

        assert_int_equal(console_journal_new("/tmp/x", NULL, &(ConsoleJournal *) { NULL }), -EINVAL);
        console_journal_free(j);
        fake_journal_close(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines),
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_drops),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

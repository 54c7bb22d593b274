/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console's clients, input and output over socketpairs and a real listening socket, driven by a
 * real sd-event loop; the guest is a fake input function and direct calls of the UART callbacks. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#include "console/console.h"

#define NOTICE_READ_ONLY                                                                                    \
        "\r\n[sdvm: another client attached to this console and has its input now; this one is "            \
        "read-only]\r\n"
#define NOTICE_WRITER "\r\n[sdvm: this client has the console input again]\r\n"

/* The guest's side of the input: what it took, and how much it takes per call. */
static uint8_t guest_in[64 * 1024];
static size_t n_guest_in;
static size_t guest_takes = SIZE_MAX;

static size_t fake_input(void *userdata, const uint8_t *buf, size_t n) {
        size_t k = n < guest_takes ? n : guest_takes;

        if (k > sizeof guest_in - n_guest_in)
                k = sizeof guest_in - n_guest_in;
        memcpy(guest_in + n_guest_in, buf, k);
        n_guest_in += k;
        return k;
}

typedef struct Test {
        sd_event *event;
        Console *console;
} Test;

static void setup(Test *t, size_t ring, size_t replay, int output_fd) {
        n_guest_in = 0;
        guest_takes = SIZE_MAX;
        assert_int_equal(sd_event_new(&t->event), 0);
        assert_int_equal(console_new(&(ConsoleParams) {
                                             .event = t->event,
                                             .vm_name = "web",
                                             .output_fd = output_fd,
                                             .ring_size = ring,
                                             .replay_size = replay,
                                             .input = fake_input,
                                     },
                                     &t->console),
                         0);
}

static void teardown(Test *t) {
        t->console = console_free(t->console);
        t->event = sd_event_unref(t->event);
}

/* Dispatches until nothing is left to do. */
static void run(Test *t) {
        for (int i = 0; i < 10000; i++) {
                int r = sd_event_run(t->event, 0);
                assert_true(r >= 0);
                if (r == 0)
                        return;
        }
        fail_msg("the event loop does not settle");
}

static void output(Test *t, const char *s) {
        console_guest_output(t->console, (const uint8_t *) s, strlen(s));
}

/* A client: returns our end of a socketpair whose other end the console got. */
static int attach(Test *t) {
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(console_add_client(t->console, fds[0]), 0);
        run(t);
        return fds[1];
}

/* What has arrived on fd, as a string (NUL-free data only). */
static const char *received(int fd) {
        static char buf[256 * 1024];
        size_t n = 0;

        for (;;) {
                ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        return buf;
}

static void send_str(int fd, const char *s) {
        assert_int_equal(write(fd, s, strlen(s)), (ssize_t) strlen(s));
}

static ConsoleStats stats(Test *t) {
        ConsoleStats s;
        console_get_stats(t->console, &s);
        return s;
}

static void test_output_and_replay(void **state) {
        Test t;
        int out[2], a, b;

        assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
        setup(&t, 0, 0, out[1]);

        /* Nobody attached: the output goes to the output fd and into the ring, nothing waits. */
        output(&t, "booting\r\n");
        output(&t, "login: ");
        run(&t);
        assert_string_equal(received(out[0]), "booting\r\nlogin: ");

        /* A late attacher sees what came before, then what comes next. */
        a = attach(&t);
        assert_string_equal(received(a), "booting\r\nlogin: ");
        output(&t, "root\r\n");
        run(&t);
        assert_string_equal(received(a), "root\r\n");

        /* Detach and attach again: the replay again. */
        close(a);
        run(&t);
        assert_int_equal(stats(&t).clients, 0);
        b = attach(&t);
        assert_string_equal(received(b), "booting\r\nlogin: root\r\n");
        assert_int_equal(stats(&t).clients, 1);
        assert_int_equal(stats(&t).clients_attached, 2);
        assert_int_equal(stats(&t).output_bytes, 22);

        teardown(&t);
        close(b); /* after the console: its end is gone, so this one reads EOF */
        close(out[0]);
        close(out[1]);
}

static void test_replay_window(void **state) {
        char line[64];
        const char *got;
        Test t;
        int a;

        setup(&t, 4096, 1024, -EBADF);
        for (int i = 0; i < 200; i++) { /* 200 lines of 17 bytes: more than the ring */
                snprintf(line, sizeof line, "line %03d of 200\r\n", i);
                output(&t, line);
        }
        a = attach(&t);
        got = received(a);
        /* At most replay_size bytes, starting at a line. */
        assert_true(strlen(got) <= 1024);
        assert_true(strlen(got) > 1024 - 17);
        assert_memory_equal(got, "line ", 5);
        assert_non_null(strstr(got, "line 199 of 200\r\n"));
        assert_string_equal(got + strlen(got) - 17, "line 199 of 200\r\n");
        close(a);
        teardown(&t);
}

static void test_two_clients(void **state) {
        Test t;
        int a, b, c;

        setup(&t, 0, 0, -EBADF);
        a = attach(&t);
        send_str(a, "A1");
        run(&t);
        assert_int_equal(n_guest_in, 2);

        /* B attaches: A is told it is read-only now; both see output; only B's input counts. */
        b = attach(&t);
        assert_string_equal(received(a), NOTICE_READ_ONLY);
        assert_string_equal(received(b), "");
        output(&t, "both\r\n");
        run(&t);
        assert_string_equal(received(a), "both\r\n");
        assert_string_equal(received(b), "both\r\n");
        send_str(a, "ignored");
        send_str(b, "B1");
        run(&t);
        assert_int_equal(n_guest_in, 4);
        assert_memory_equal(guest_in, "A1B1", 4);
        assert_int_equal(stats(&t).input_discarded_bytes, 7);

        /* C attaches and leaves: B gets the input back, A stays read-only. */
        c = attach(&t);
        assert_string_equal(received(b), NOTICE_READ_ONLY);
        assert_string_equal(received(a), "");
        close(c);
        run(&t);
        assert_string_equal(received(b), NOTICE_WRITER);
        assert_string_equal(received(a), "");
        send_str(b, "B2");
        run(&t);
        assert_memory_equal(guest_in + 4, "B2", 2);

        /* B closes its sending side only: it still reads output, but A has the input now. */
        assert_int_equal(shutdown(b, SHUT_WR), 0);
        run(&t);
        assert_string_equal(received(a), NOTICE_WRITER);
        send_str(a, "A2");
        output(&t, "x");
        run(&t);
        assert_memory_equal(guest_in + 6, "A2", 2);
        assert_int_equal(n_guest_in, 8);
        assert_string_equal(received(b), "x");
        assert_int_equal(stats(&t).clients, 2);

        close(b);
        run(&t);
        assert_int_equal(stats(&t).clients, 1);
        close(a);
        run(&t);
        assert_int_equal(stats(&t).clients, 0);
        assert_int_equal(stats(&t).input_bytes, 8);
        teardown(&t);
}

/* The guest takes few bytes at a time: the rest waits, nothing is lost, and the order holds. */
static void test_input_backpressure(void **state) {
        char data[10000];
        int in[2], a;
        Test t;

        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (char) ('a' + i % 26);
        setup(&t, 0, 0, -EBADF);
        guest_takes = 16; /* the UART's FIFO */
        a = attach(&t);
        assert_int_equal(write(a, data, sizeof data), (ssize_t) sizeof data);
        run(&t);
        assert_int_equal(n_guest_in, 16);
        for (int i = 0; i < 2000 && n_guest_in < sizeof data; i++) {
                console_guest_rx_ready(t.console); /* the guest read its FIFO */
                run(&t);
        }
        assert_int_equal(n_guest_in, sizeof data);
        assert_memory_equal(guest_in, data, sizeof data);
        assert_int_equal(stats(&t).input_bytes, sizeof data);

        /* A local input (stdin) shares the path. */
        assert_int_equal(pipe2(in, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(console_set_input_fd(t.console, in[0]), 0);
        send_str(in[1], "local");
        run(&t);
        console_guest_rx_ready(t.console);
        run(&t);
        assert_memory_equal(guest_in + sizeof data, "local", 5);
        close(in[1]); /* EOF: that input ends, the console goes on */
        run(&t);
        send_str(a, "!");
        run(&t);
        assert_int_equal(guest_in[sizeof data + 5], '!');

        close(a);
        teardown(&t);
        close(in[0]);
}

/* A client that sends and hangs up at once while the guest is not reading: its bytes still arrive. */
static void test_hangup_with_unread_input(void **state) {
        char data[6000];
        Test t;
        int a;

        memset(data, 'q', sizeof data);
        setup(&t, 0, 0, -EBADF);
        guest_takes = 0;
        a = attach(&t);
        assert_int_equal(write(a, data, sizeof data), (ssize_t) sizeof data);
        close(a);
        run(&t); /* must not spin on the hangup */
        assert_int_equal(stats(&t).clients, 1);
        guest_takes = 100;
        for (int i = 0; i < 1000 && n_guest_in < sizeof data; i++) {
                console_guest_rx_ready(t.console);
                run(&t);
        }
        assert_int_equal(n_guest_in, sizeof data);
        assert_int_equal(stats(&t).clients, 0);

        /* The same, but a new client attaches before the guest read it: the gone one loses the input,
         * what it had sent and was read already still reaches the guest, the rest is discarded, and it
         * does not linger. */
        n_guest_in = 0;
        guest_takes = 0;
        a = attach(&t);
        assert_int_equal(write(a, data, sizeof data), (ssize_t) sizeof data);
        close(a);
        run(&t);
        a = attach(&t);
        assert_int_equal(stats(&t).clients, 1);
        assert_int_equal(stats(&t).input_discarded_bytes, sizeof data - 4096);
        guest_takes = SIZE_MAX;
        console_guest_rx_ready(t.console);
        send_str(a, "new");
        run(&t);
        assert_int_equal(n_guest_in, 4096 + 3);
        assert_memory_equal(guest_in + 4096, "new", 3);
        close(a);
        teardown(&t);
}

/* A client that stops reading never holds the guest up, and is dropped once it is a ring behind. */
static void test_slow_client(void **state) {
        char chunk[1024];
        int a, b, small = 4096;
        Test t;

        memset(chunk, 'z', sizeof chunk - 1);
        chunk[sizeof chunk - 1] = 0;
        setup(&t, 16 * 1024, 1024, -EBADF);
        a = attach(&t); /* reads */
        b = attach(&t); /* does not */
        assert_int_equal(setsockopt(b, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
        for (int i = 0; i < 200 && stats(&t).clients == 2; i++) {
                output(&t, chunk);
                run(&t);
                (void) received(a);
        }
        assert_int_equal(stats(&t).clients, 1);
        assert_int_equal(stats(&t).clients_dropped, 1);
        /* B gets what fit into its socket, then EOF; A goes on. */
        (void) received(b);
        assert_int_equal(read(b, chunk, 1), 0);
        output(&t, "still here");
        run(&t);
        assert_string_equal(received(a), "still here");
        close(a);
        close(b);
        teardown(&t);
}

static void test_too_many_clients(void **state) {
        int fds[CONSOLE_CLIENTS_MAX], extra[2];
        Test t;

        setup(&t, 0, 0, -EBADF);
        for (int i = 0; i < CONSOLE_CLIENTS_MAX; i++)
                fds[i] = attach(&t);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, extra), 0);
        assert_int_equal(console_add_client(t.console, extra[0]), -EBUSY);
        assert_non_null(strstr(received(extra[1]), "too many clients"));
        assert_int_equal(read(extra[1], &(char) { 0 }, 1), 0); /* closed */
        assert_int_equal(stats(&t).clients_refused, 1);
        assert_int_equal(stats(&t).clients, CONSOLE_CLIENTS_MAX);
        close(extra[1]);
        for (int i = 0; i < CONSOLE_CLIENTS_MAX; i++)
                close(fds[i]);
        run(&t);
        assert_int_equal(stats(&t).clients, 0);
        teardown(&t);
}

/* The socket systemd passes: a listening socket, connect to attach. */
static void test_listening_socket(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char dir[] = "/tmp/test-console-XXXXXX";
        int lfd, cfd;
        Test t;

        assert_non_null(mkdtemp(dir));
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s/console", dir);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(lfd, 8), 0);

        setup(&t, 0, 0, -EBADF);
        output(&t, "hello\r\n");
        assert_int_equal(console_listen(t.console, lfd), 0);
        for (int round = 0; round < 2; round++) {
                cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                assert_true(cfd >= 0);
                assert_int_equal(connect(cfd, (struct sockaddr *) &sa, sizeof sa), 0);
                run(&t);
                assert_int_equal(stats(&t).clients, 1);
                assert_string_equal(received(cfd), round == 0 ? "hello\r\n" : "hello\r\nagain\r\n");
                send_str(cfd, "typed");
                run(&t);
                if (round == 0)
                        output(&t, "again\r\n");
                close(cfd);
                run(&t);
                assert_int_equal(stats(&t).clients, 0);
        }
        assert_memory_equal(guest_in, "typedtyped", 10);
        teardown(&t); /* closes lfd */
        unlink(sa.sun_path);
        rmdir(dir);
}

/* Journal mode: lines go to the journal's socket at once; a partial line (a prompt) after a second. */
static void test_journal(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char dir[] = "/tmp/test-console-XXXXXX", buf[1024];
        ConsoleStats s;
        ssize_t n = -1;
        Test t = {};
        int jfd;

        assert_non_null(mkdtemp(dir));
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s/journal", dir);
        jfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(jfd >= 0);
        assert_int_equal(bind(jfd, (struct sockaddr *) &sa, sizeof sa), 0);

        assert_int_equal(sd_event_new(&t.event), 0);
        assert_int_equal(console_new(&(ConsoleParams) {
                                             .event = t.event,
                                             .vm_name = "web",
                                             .output_fd = -EBADF,
                                             .journal = true,
                                             .journal_socket = sa.sun_path,
                                             .input = fake_input,
                                     },
                                     &t.console),
                         0);
        output(&t, "Debian GNU/Linux 13 guest ttyS0\r\n\r\nguest login: ");
        run(&t); /* the main loop sends it */
        n = recv(jfd, buf, sizeof buf - 1, 0);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf,
                            "MESSAGE=Debian GNU/Linux 13 guest ttyS0\nPRIORITY=6\nSYSLOG_IDENTIFIER=web\n"
                            "VM=web\nSDVM_SOURCE=console\n");
        assert_int_equal(recv(jfd, buf, sizeof buf, 0), -1); /* the prompt waits */

        for (int i = 0; i < 30; i++) { /* up to 3 s for the 1 s flush */
                assert_true(sd_event_run(t.event, 100 * 1000) >= 0);
                n = recv(jfd, buf, sizeof buf - 1, 0);
                if (n > 0)
                        break;
        }
        assert_true(n > 0);
        buf[n] = 0;
        assert_non_null(strstr(buf, "MESSAGE=guest login: \n"));
        s = stats(&t);
        assert_int_equal(s.journal_lines, 2);
        assert_int_equal(s.journal_lines_dropped, 0);

        /* At exit, a partial line goes out too. */
        output(&t, "bye");
        teardown(&t);
        n = recv(jfd, buf, sizeof buf - 1, 0);
        assert_true(n > 0);
        buf[n] = 0;
        assert_non_null(strstr(buf, "MESSAGE=bye\n"));

        close(jfd);
        unlink(sa.sun_path);
        rmdir(dir);
}

/* vCPU threads write while the main loop serves a client: every byte arrives once, in each thread's
 * order. */
typedef struct Writer {
        Console *console;
        char tag;
} Writer;

#define WRITES_PER_THREAD 20000

static void *writer_thread(void *p) {
        Writer *w = p;

        for (int i = 0; i < WRITES_PER_THREAD; i++)
                console_guest_output(w->console, (const uint8_t *) &w->tag, 1);
        return NULL;
}

static void test_threads(void **state) {
        static char got[4 * WRITES_PER_THREAD + 1];
        Writer writers[4];
        pthread_t threads[4];
        size_t n = 0, counts[4] = {};
        Test t;
        int a;

        setup(&t, 0, 0, -EBADF);
        a = attach(&t);
        for (int i = 0; i < 4; i++) {
                writers[i] = (Writer) { .console = t.console, .tag = (char) ('a' + i) };
                assert_int_equal(pthread_create(&threads[i], NULL, writer_thread, &writers[i]), 0);
        }
        while (n < 4 * WRITES_PER_THREAD) {
                ssize_t k;

                assert_true(sd_event_run(t.event, 100 * 1000) >= 0);
                while ((k = read(a, got + n, sizeof got - 1 - n)) > 0)
                        n += (size_t) k;
        }
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_join(threads[i], NULL), 0);
        for (size_t i = 0; i < n; i++) {
                assert_true(got[i] >= 'a' && got[i] <= 'd');
                counts[got[i] - 'a']++;
        }
        for (int i = 0; i < 4; i++)
                assert_int_equal(counts[i], WRITES_PER_THREAD);
        assert_int_equal(stats(&t).output_bytes, 4 * WRITES_PER_THREAD);
        assert_int_equal(stats(&t).clients_dropped, 0);
        close(a);
        teardown(&t);
}

/* A bound datagram socket in a temporary directory, standing in for journald. */
typedef struct FakeJournal {
        char dir[64];
        struct sockaddr_un sa;
        int fd;
} FakeJournal;

static void fake_journal_open(FakeJournal *f) {
        strcpy(f->dir, "/tmp/test-console-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        snprintf(f->sa.sun_path, sizeof f->sa.sun_path, "%s/journal", f->dir);
        f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(f->fd >= 0);
        assert_int_equal(bind(f->fd, (struct sockaddr *) &f->sa, sizeof f->sa), 0);
}

static void fake_journal_close(FakeJournal *f) {
        close(f->fd);
        unlink(f->sa.sun_path);
        rmdir(f->dir);
}

/* The next entry's MESSAGE, or NULL if none waits. */
static const char *fake_journal_message(FakeJournal *f) {
        static char buf[2048];
        ssize_t n = recv(f->fd, buf, sizeof buf - 1, 0);
        char *nl;

        if (n < 0)
                return NULL;
        buf[n] = 0;
        assert_memory_equal(buf, "MESSAGE=", 8);
        nl = strchr(buf, '\n');
        assert_non_null(nl);
        *nl = 0;
        return buf + 8;
}

static void setup_journal(Test *t, size_t ring, int output_fd, const FakeJournal *f) {
        n_guest_in = 0;
        guest_takes = SIZE_MAX;
        assert_int_equal(sd_event_new(&t->event), 0);
        assert_int_equal(console_new(&(ConsoleParams) {
                                             .event = t->event,
                                             .vm_name = "web",
                                             .output_fd = output_fd,
                                             .journal = true,
                                             .journal_socket = f->sa.sun_path,
                                             .ring_size = ring,
                                             .input = fake_input,
                                     },
                                     &t->console),
                         0);
}

/* A vCPU thread writes while the main loop runs: the output fd and the journal get every line, once,
 * in order. The journal's socket holds only a few datagrams (net.unix.max_dgram_qlen), so the writer
 * keeps at most JOURNAL_AHEAD lines ahead of what the test has read: no line may be dropped. */
#define THREAD_LINES  3000
#define JOURNAL_AHEAD 4

typedef struct LineWriter {
        Console *console;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned read; /* lines the test got from the journal */
} LineWriter;

static void *line_writer(void *p) {
        LineWriter *w = p;
        char line[64];

        for (unsigned i = 0; i < THREAD_LINES; i++) {
                pthread_mutex_lock(&w->lock);
                while (i >= w->read + JOURNAL_AHEAD)
                        pthread_cond_wait(&w->cond, &w->lock);
                pthread_mutex_unlock(&w->lock);
                int n = snprintf(line, sizeof line, "[%8.3f] line %05u of the guest\r\n", i / 1000.0, i);
                /* In pieces, as the UART hands them over: lines cross the main loop's reads. */
                console_guest_output(w->console, (const uint8_t *) line, 5);
                console_guest_output(w->console, (const uint8_t *) line + 5, (size_t) n - 5);
        }
        return NULL;
}

static void test_thread_to_output_and_journal(void **state) {
        static char got[THREAD_LINES * 64];
        LineWriter w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        char want[64], expected[THREAD_LINES * 64];
        size_t n = 0, n_expected = 0;
        FakeJournal f;
        pthread_t thread;
        ConsoleStats st;
        unsigned lines = 0;
        int out[2];
        Test t;

        for (unsigned i = 0; i < THREAD_LINES; i++)
                n_expected += (size_t) snprintf(expected + n_expected, sizeof expected - n_expected,
                                                "[%8.3f] line %05u of the guest\r\n", i / 1000.0, i);
        fake_journal_open(&f);
        /* A pipe smaller than what the guest writes: the output fd fills and is waited for. */
        assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
        setup_journal(&t, 0, out[1], &f);
        w.console = t.console;
        assert_int_equal(pthread_create(&thread, NULL, line_writer, &w), 0);
        for (int i = 0; i < 100000 && (lines < THREAD_LINES || n < n_expected); i++) {
                const char *m;
                ssize_t k;

                assert_true(sd_event_run(t.event, 10 * 1000) >= 0);
                while ((m = fake_journal_message(&f))) {
                        snprintf(want, sizeof want, "[%8.3f] line %05u of the guest", lines / 1000.0, lines);
                        assert_string_equal(m, want);
                        pthread_mutex_lock(&w.lock);
                        w.read = ++lines;
                        pthread_cond_signal(&w.cond);
                        pthread_mutex_unlock(&w.lock);
                }
                if (i % 8 == 0) /* read the pipe less often than the loop runs */
                        while ((k = read(out[0], got + n, sizeof got - n)) > 0)
                                n += (size_t) k;
        }
        assert_int_equal(pthread_join(thread, NULL), 0);
        assert_int_equal(lines, THREAD_LINES);
        assert_int_equal(n, n_expected);
        assert_memory_equal(got, expected, n_expected);
        st = stats(&t);
        assert_int_equal(st.output_bytes, n_expected);
        assert_int_equal(st.journal_lines, THREAD_LINES);
        assert_int_equal(st.journal_lines_dropped, 0);
        assert_int_equal(st.output_skipped_bytes, 0);
        assert_int_equal(st.journal_skipped_bytes, 0);
        teardown(&t);
        assert_null(fake_journal_message(&f));
        close(out[0]);
        close(out[1]);
        fake_journal_close(&f);
}

static void output_lines(Test *t, char first, int n, bool run_loop) {
        char line[1000];

        for (int i = 0; i < n; i++) {
                memset(line, first + i, sizeof line - 1);
                line[sizeof line - 1] = '\n';
                console_guest_output(t->console, (const uint8_t *) line, sizeof line);
                if (run_loop)
                        run(t);
        }
}

static void expect_journal_line(FakeJournal *f, char c, size_t len) {
        const char *m = fake_journal_message(f);

        assert_non_null(m);
        assert_int_equal(strlen(m), len);
        assert_int_equal(m[0], c);
        assert_int_equal(m[len - 1], c);
}

/* What the main loop falls more than the ring behind on, on the output fd or the journal, is skipped
 * and counted; the rest arrives in order; the guest never waits; console_free() writes out the last
 * bytes. */
static void test_output_behind(void **state) {
        static char fill[3 * 4096], back[2 * 4096];
        FakeJournal f;
        ConsoleStats st;
        int out[2];
        Test t;

        fake_journal_open(&f);
        assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
        while (write(out[1], fill, sizeof fill) > 0) /* a full output fd */
                ;
        while (write(out[1], fill, 1) > 0)
                ;
        setup_journal(&t, 4096, out[1], &f);

        /* Lines a to j, 10000 bytes, while the main loop does not run: both fall behind the ring. */
        output_lines(&t, 'a', 10, false);
        run(&t);
        st = stats(&t);
        assert_int_equal(st.output_bytes, 10000);
        assert_int_equal(st.journal_skipped_bytes, 10000 - 4096);
        assert_int_equal(st.output_skipped_bytes, 10000 - 4096);
        /* The journal: the rest of line f after the gap as an entry of its own, then g to j. */
        expect_journal_line(&f, 'f', 95);
        for (char c = 'g'; c <= 'j'; c++)
                expect_journal_line(&f, c, 999);
        assert_null(fake_journal_message(&f));

        /* Lines k to o with the loop running: the journal keeps up, the full output fd does not. */
        output_lines(&t, 'k', 5, true);
        for (char c = 'k'; c <= 'o'; c++)
                expect_journal_line(&f, c, 999);
        assert_int_equal(stats(&t).journal_skipped_bytes, 10000 - 4096);
        assert_int_equal(stats(&t).journal_lines_dropped, 0);

        /* The pipe drains: the output fd gets the last ring-ful (from within line k), the gap counted. */
        while (read(out[0], fill, sizeof fill) > 0)
                ;
        run(&t);
        assert_int_equal(read(out[0], back, sizeof back), 4096);
        assert_int_equal(back[0], 'k');
        assert_int_equal(back[95], '\n');
        assert_int_equal(back[96], 'l');
        assert_int_equal(back[4094], 'o');
        assert_int_equal(back[4095], '\n');
        assert_int_equal(stats(&t).output_skipped_bytes, 15000 - 4096);

        /* The last bytes, a partial line, go out at exit without the loop. */
        console_guest_output(t.console, (const uint8_t *) "bye", 3);
        teardown(&t);
        assert_int_equal(read(out[0], back, sizeof back), 3);
        assert_memory_equal(back, "bye", 3);
        assert_string_equal(fake_journal_message(&f), "bye");

        close(out[0]);
        close(out[1]);
        fake_journal_close(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_output_and_replay),
                cmocka_unit_test(test_replay_window),
                cmocka_unit_test(test_two_clients),
                cmocka_unit_test(test_input_backpressure),
                cmocka_unit_test(test_hangup_with_unread_input),
                cmocka_unit_test(test_slow_client),
                cmocka_unit_test(test_too_many_clients),
                cmocka_unit_test(test_listening_socket),
                cmocka_unit_test(test_journal),
                cmocka_unit_test(test_threads),
                cmocka_unit_test(test_thread_to_output_and_journal),
                cmocka_unit_test(test_output_behind),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl console: one poll loop over stdin, the console socket and a signalfd. The terminal's settings
 * are saved before raw mode and put back by the caller's cleanup, whatever ends the loop. */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "time-util.h"
#include "vmctl-console.h"

typedef struct Terminal {
        struct termios saved;
        bool raw;
} Terminal;

static void terminal_restore(Terminal *t) {
        if (t->raw)
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
        t->raw = false;
}

static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k = fd == STDOUT_FILENO ? write(fd, buf, n) : send(fd, buf, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Counts escape bytes in buf; returns true once CONSOLE_ESCAPE_COUNT of them came within the window
 * (any other byte starts the count again). *n is cut to the bytes before the escape's last byte. */
static bool scan_escape(const char *buf, size_t *n, unsigned *count, uint64_t *first) {
        for (size_t i = 0; i < *n; i++) {
                uint64_t t;

                if ((unsigned char) buf[i] != CONSOLE_ESCAPE_CHAR) {
                        *count = 0;
                        continue;
                }
                t = now_usec();
                if (*count == 0 || t - *first > CONSOLE_ESCAPE_USEC) {
                        *count = 0;
                        *first = t;
                }
                if (++*count >= CONSOLE_ESCAPE_COUNT) {
                        *n = i;
                        return true;
                }
        }
        return false;
}

static int connect_console(const char *path, const char *vm_name) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof sa.sun_path)
                return log_error_errno(ENAMETOOLONG, "Console socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                if (r == -ENOENT || r == -ECONNREFUSED)
                        return log_error_errno(r, "VM '%s' is not running (no console socket at %s).", vm_name,
                                               path),
                               -ESRCH;
                return log_error_errno(r, "Failed to connect to the console of VM '%s' at %s: %m", vm_name, path);
        }
        return fd;
}

/* Why the loop ended; it logs nothing itself while the terminal may be raw, except errors. */
enum {
        END_DETACH,
        END_EOF,     /* stdin, or the linger after it */
        END_CLOSED,  /* the socket: the VM stopped */
        END_SIGNAL,
};

static int console_loop(int sock, int sigfd, bool tty, const char *vm_name, int *ret_signo) {
        uint64_t linger_until = 0, esc_first = 0;
        unsigned esc_count = 0;
        bool stdin_open = true;
        char buf[16384];
        int r;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = sock, .events = POLLIN },
                        { .fd = sigfd, .events = POLLIN },
                        { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
                };
                int timeout = -1;

                if (linger_until > 0) {
                        uint64_t t = now_usec();
                        if (t >= linger_until)
                                return END_EOF;
                        timeout = (int) ((linger_until - t + 999) / 1000);
                }
                if (poll(p, 3, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "poll() failed: %m");
                }
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si = {};
                        (void) read(sigfd, &si, sizeof si);
                        *ret_signo = (int) si.ssi_signo;
                        return END_SIGNAL;
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(sock, buf, sizeof buf);
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n < 0)
                                return log_error_errno(errno, "Failed to read the console of VM '%s': %m", vm_name);
                        if (n == 0)
                                return END_CLOSED;
                        r = write_all(STDOUT_FILENO, buf, (size_t) n);
                        if (r == -EPIPE)
                                return END_EOF;
                        if (r < 0)
                                return log_error_errno(r, "Failed to write to standard output: %m");
                }
                if (stdin_open && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
                        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
                        size_t len;
                        bool escape = false;

                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0) {
                                /* End of input: the guest gets no more, its answers still come for a while. */
                                stdin_open = false;
                                (void) shutdown(sock, SHUT_WR);
                                if (tty)
                                        return END_EOF;
                                linger_until = now_usec() + CONSOLE_LINGER_USEC;
                                continue;
                        }
                        len = (size_t) n;
                        if (tty)
                                escape = scan_escape(buf, &len, &esc_count, &esc_first);
                        r = write_all(sock, buf, len);
                        if (r < 0)
                                return log_error_errno(r, "Failed to write to the console of VM '%s': %m", vm_name);
                        if (escape)
                                return END_DETACH;
                }
        }
}

int console_attach(const char *path, const char *vm_name) {
        Terminal term = {};
        _cleanup_close_ int sock = -EBADF, sigfd = -EBADF;
        sigset_t mask, old;
        bool tty = isatty(STDIN_FILENO);
        int r, signo = 0;

        sock = connect_console(path, vm_name);
        if (sock < 0)
                return sock;

        /* Signals arrive as data, so that every way out passes the restore below. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGQUIT);
        if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sigfd < 0) {
                r = log_error_errno(errno, "Failed to create a signalfd: %m");
                goto out;
        }
        (void) signal(SIGPIPE, SIG_IGN);

        if (tty && tcgetattr(STDIN_FILENO, &term.saved) >= 0) {
                struct termios raw = term.saved;

                cfmakeraw(&raw);
                if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
                        r = log_error_errno(errno, "Failed to put the terminal in raw mode: %m");
                        goto out;
                }
                term.raw = true;
                fprintf(stderr, "Connected to the console of VM '%s'. Press Ctrl-] three times within 1 s to "
                                "detach.\r\n", vm_name);
        }
        r = console_loop(sock, sigfd, term.raw, vm_name, &signo);
out:
        if (term.raw)
                fputs("\r\n", stderr);
        terminal_restore(&term);
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        if (r == END_DETACH)
                log_info("Detached from the console of VM '%s'.", vm_name);
        else if (r == END_CLOSED)
                log_info("The console of VM '%s' closed: the VM stopped.", vm_name);
        else if (r == END_SIGNAL)
                log_info("%s: detached from the console of VM '%s'.", strsignal(signo), vm_name);
        return r < 0 ? r : 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "console/console-journal.h"
#include "console/console.h"
#include "log.h"
#include "time-util.h"
#include "console/ring.h"

#define SCRATCH_SIZE           (64U * 1024U) /* what one send() to a client takes at most */
#define REPLAY_LINE_SCAN       1024U         /* how far into the replay to look for a line start */
#define NOTICE_MAX             160
#define LISTEN_RATELIMIT_USEC  (1000U * 1000U)
#define LISTEN_RATELIMIT_BURST 20
#define EXIT_FLUSH_WAIT_MSEC   1000          /* at exit, how long a full output fd may stall */

#define NOTICE_READ_ONLY                                                                                    \
        "\r\n[sdvm: another client attached to this console and has its input now; this one is "            \
        "read-only]\r\n"
#define NOTICE_WRITER   "\r\n[sdvm: this client has the console input again]\r\n"
#define NOTICE_TOO_MANY "[sdvm: too many clients on this console; try again later]\r\n"

typedef struct ConsoleClient ConsoleClient;

struct ConsoleClient {
        Console *console;
        ConsoleClient *prev, *next; /* in attach order, oldest first */
        unsigned id;
        int fd;
        sd_event_source *source;
        uint64_t pos; /* ring position of the next byte to send */
        char notice[NOTICE_MAX];
        size_t notice_len, notice_sent;
        bool blocked; /* its socket was full: waiting for EPOLLOUT */
        bool eof;     /* it closed its sending side: no more input from it */
        bool hup;     /* it is gone; what it sent before may still wait to be read */
        bool demoted; /* lost the input to a newer client */
};

struct Console {
        sd_event *event;
        int output_fd;
        bool wake_always; /* output_fd or the journal: every output is for the main loop */
        ConsoleInputFn input;
        void *input_userdata;
        size_t replay_size;

        /* Shared with vCPU threads, under lock. */
        pthread_mutex_t lock;
        ByteRing ring;
        unsigned n_clients;
        bool wake_pending; /* the eventfd was written since the main loop last looked */
        uint64_t output_bytes;

        /* Main thread only. */
        ConsoleJournal *journal;
        uint64_t output_pos;  /* ring position of the next byte for output_fd */
        uint64_t journal_pos; /* ... and for the journal */
        sd_event_source *output_source; /* output_fd said EAGAIN: waiting for EPOLLOUT */
        bool output_blocked;
        int wake_fd;
        sd_event_source *wake_source;
        sd_event_source *flush_timer;
        sd_event_source *input_source;
        int listen_fd;
        sd_event_source *listen_source;
        ConsoleClient *clients, *clients_tail;
        ConsoleClient *writer; /* the client whose bytes go to the guest */
        unsigned next_id;
        uint8_t pending[4096]; /* input read but not yet taken by the guest */
        size_t n_pending;
        uint8_t *scratch;
        ConsoleStats stats; /* the main thread's counters */
};

static void client_update_events(ConsoleClient *cl);
static int client_flush(ConsoleClient *cl);

/* ---- input ---- */

static bool client_wants_input(ConsoleClient *cl) {
        Console *c = cl->console;
        return !cl->eof && (cl != c->writer || c->n_pending == 0);
}

static void update_input_sources(Console *c) {
        if (c->input_source)
                (void) sd_event_source_set_enabled(c->input_source,
                                                   c->n_pending ? SD_EVENT_OFF : SD_EVENT_ON);
        if (c->writer)
                client_update_events(c->writer);
}

/* Hands pending input to the guest; reading pauses while anything is pending. */
static void feed_input(Console *c) {
        if (c->n_pending > 0 && c->input) {
                size_t n = c->input(c->input_userdata, c->pending, c->n_pending);

                if (n > c->n_pending)
                        n = c->n_pending;
                memmove(c->pending, c->pending + n, c->n_pending - n);
                c->n_pending -= n;
                c->stats.input_bytes += n;
        }
        update_input_sources(c);
}

static int on_input_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Console *c = userdata;
        ssize_t n;

        n = read(fd, c->pending + c->n_pending, sizeof c->pending - c->n_pending);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                log_warning_errno(errno, "Reading the console input failed, ignoring it from now: %m");
                n = 0;
        }
        if (n == 0) { /* EOF: no more input from here */
                c->input_source = sd_event_source_disable_unref(c->input_source);
                return 0;
        }
        c->n_pending += (size_t) n;
        feed_input(c);
        return 0;
}

int console_set_input_fd(Console *c, int fd) {
        int r;

        c->input_source = sd_event_source_disable_unref(c->input_source);
        r = sd_event_add_io(c->event, &c->input_source, fd, EPOLLIN, on_input_fd, c);
        if (r < 0)
                return r;
        update_input_sources(c);
        return 0;
}

/* ---- clients ---- */

static void client_set_notice(ConsoleClient *cl, const char *text) {
        size_t n = strlen(text);

        if (n > sizeof cl->notice)
                n = sizeof cl->notice;
        memcpy(cl->notice, text, n);
        cl->notice_len = n;
        cl->notice_sent = 0;
}

/* The newest client that can still send has the input. */
static void update_writer(Console *c) {
        ConsoleClient *w = NULL, *old = c->writer;

        for (ConsoleClient *cl = c->clients_tail; cl; cl = cl->prev)
                if (!cl->eof) {
                        w = cl;
                        break;
                }
        if (w == old)
                return;
        c->writer = w;
        /* Notices go out when the socket says it is writable (EPOLLOUT): flushing here could detach a
         * client that a caller up the stack still holds. */
        if (old && !old->eof && !old->hup) {
                old->demoted = true;
                client_set_notice(old, NOTICE_READ_ONLY);
                old->blocked = true;
                log_info("Console client %u is read-only now; client %u has the input.", old->id,
                         w ? w->id : 0);
        }
        if (old)
                client_update_events(old); /* it reads (and discards) again even if input is pending */
        if (w && w->demoted) {
                w->demoted = false;
                client_set_notice(w, NOTICE_WRITER);
                w->blocked = true;
                log_info("Console client %u has the input again.", w->id);
        }
        if (w)
                client_update_events(w);
}

static void client_detach(ConsoleClient *cl, bool log) {
        Console *c = cl->console;

        if (cl->prev)
                cl->prev->next = cl->next;
        else
                c->clients = cl->next;
        if (cl->next)
                cl->next->prev = cl->prev;
        else
                c->clients_tail = cl->prev;
        cl->source = sd_event_source_disable_unref(cl->source);
        safe_close(cl->fd);
        pthread_mutex_lock(&c->lock);
        c->n_clients--;
        pthread_mutex_unlock(&c->lock);
        c->stats.clients--;
        if (log)
                log_info("Console client %u detached; %u still attached.", cl->id, c->stats.clients);
        if (c->writer == cl) {
                c->writer = NULL;
                update_writer(c);
        }
        free(cl);
}

static void client_drop_slow(ConsoleClient *cl, uint64_t end) {
        Console *c = cl->console;

        log_warning("Console client %u stopped reading (%llu bytes behind, more than the %zu bytes kept); "
                    "disconnecting it.",
                    cl->id, (unsigned long long) (end - cl->pos), c->ring.size);
        c->stats.clients_dropped++;
        client_detach(cl, true);
}

static void client_update_events(ConsoleClient *cl) {
        bool want_in = client_wants_input(cl);

        if (cl->hup && !want_in) {
                /* Gone, but its last bytes wait until the guest has taken what is pending; epoll would
                 * report the hangup again and again meanwhile. */
                (void) sd_event_source_set_enabled(cl->source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(cl->source,
                                             (want_in ? EPOLLIN : 0) | (cl->blocked ? EPOLLOUT : 0));
        (void) sd_event_source_set_enabled(cl->source, SD_EVENT_ON);
}

/* Sends the client its notice and what it has not seen, until done or its socket is full. Returns -1
 * if the client was detached. */
static int client_flush(ConsoleClient *cl) {
        Console *c = cl->console;

        if (cl->hup)
                return 0; /* nobody reads there any more */
        for (;;) {
                const uint8_t *p;
                bool notice = cl->notice_sent < cl->notice_len;
                size_t n;
                ssize_t k;

                if (notice) {
                        p = (const uint8_t *) cl->notice + cl->notice_sent;
                        n = cl->notice_len - cl->notice_sent;
                } else {
                        uint64_t end;

                        pthread_mutex_lock(&c->lock);
                        end = c->ring.end;
                        k = byte_ring_read(&c->ring, cl->pos, c->scratch, SCRATCH_SIZE);
                        pthread_mutex_unlock(&c->lock);
                        if (k < 0) {
                                client_drop_slow(cl, end);
                                return -1;
                        }
                        if (k == 0) {
                                cl->blocked = false;
                                return 0;
                        }
                        p = c->scratch;
                        n = (size_t) k;
                }

                k = send(cl->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                cl->blocked = true;
                                return 0;
                        }
                        log_debug_errno(errno, "Sending to console client %u failed: %m", cl->id);
                        client_detach(cl, true);
                        return -1;
                }
                c->stats.client_bytes += (size_t) k;
                if (notice)
                        cl->notice_sent += (size_t) k;
                else
                        cl->pos += (size_t) k;
                if ((size_t) k < n) {
                        cl->blocked = true;
                        return 0;
                }
        }
}

/* A blocked client is not sent anything until its socket is writable, but it is dropped as soon as it
 * is too far behind. Returns -1 if it was. */
static int client_check_lag(ConsoleClient *cl) {
        Console *c = cl->console;
        uint64_t start, end;

        pthread_mutex_lock(&c->lock);
        start = byte_ring_start(&c->ring);
        end = c->ring.end;
        pthread_mutex_unlock(&c->lock);
        if (cl->pos >= start)
                return 0;
        client_drop_slow(cl, end);
        return -1;
}

/* One read per dispatch (epoll is level-triggered), so that one busy client cannot starve the rest. */
static int client_read(ConsoleClient *cl) {
        Console *c = cl->console;
        uint8_t discard[4096];
        bool writer = cl == c->writer;
        ssize_t n;

        if (!client_wants_input(cl))
                return 0;
        if (writer)
                n = read(cl->fd, c->pending + c->n_pending, sizeof c->pending - c->n_pending);
        else
                n = read(cl->fd, discard, sizeof discard);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0) {
                cl->eof = true;
                if (writer)
                        update_writer(c);
                return 0;
        }
        if (writer) {
                c->n_pending += (size_t) n;
                feed_input(c);
        } else
                c->stats.input_discarded_bytes += (size_t) n;
        return 0;
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ConsoleClient *cl = userdata;
        int r;

        if (revents & (EPOLLHUP | EPOLLERR)) {
                cl->hup = true;
                cl->blocked = false;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                r = client_read(cl);
                if (r < 0) {
                        log_debug_errno(r, "Reading from console client %u failed: %m", cl->id);
                        client_detach(cl, true);
                        return 0;
                }
        }
        if (cl->hup && cl->eof) {
                client_detach(cl, true);
                return 0;
        }
        if ((revents & EPOLLOUT) && client_flush(cl) < 0)
                return 0;
        client_update_events(cl);
        return 0;
}

int console_add_client(Console *c, int fd) {
        _cleanup_close_ int fd_close = fd;
        ConsoleClient *cl;
        int r;

        if (c->stats.clients >= CONSOLE_CLIENTS_MAX) {
                (void) send(fd, NOTICE_TOO_MANY, strlen(NOTICE_TOO_MANY), MSG_DONTWAIT | MSG_NOSIGNAL);
                c->stats.clients_refused++;
                return log_warning_errno(EBUSY, "Refusing a console client: %u are attached already.",
                                         c->stats.clients);
        }
        cl = calloc(1, sizeof *cl);
        if (!cl)
                return log_oom();
        *cl = (ConsoleClient) { .console = c, .id = ++c->next_id, .fd = fd };
        r = sd_event_add_io(c->event, &cl->source, fd, EPOLLIN, on_client, cl);
        if (r < 0) {
                free(cl);
                return log_error_errno(r, "Failed to watch a console client: %m");
        }
        TAKE_FD(fd_close);

        pthread_mutex_lock(&c->lock);
        cl->pos = byte_ring_tail_start(&c->ring, c->replay_size, REPLAY_LINE_SCAN);
        c->n_clients++;
        pthread_mutex_unlock(&c->lock);
        cl->prev = c->clients_tail;
        if (c->clients_tail)
                c->clients_tail->next = cl;
        else
                c->clients = cl;
        c->clients_tail = cl;
        c->stats.clients++;
        c->stats.clients_attached++;
        cl->blocked = true; /* the replay goes out once the socket says it is writable */

        struct ucred ucred;
        socklen_t len = sizeof ucred;
        if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERCRED, &ucred, &len) == 0 && ucred.pid > 0)
                log_info("Console client %u attached (PID %d, UID %u); %u attached.", cl->id,
                         (int) ucred.pid, (unsigned) ucred.uid, c->stats.clients);
        else
                log_info("Console client %u attached; %u attached.", cl->id, c->stats.clients);

        update_writer(c);
        client_update_events(cl);
        return 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Console *c = userdata;
        int cfd;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                /* EMFILE and the like: the connection stays queued; the source's rate limit keeps this
                 * from spinning. */
                log_warning_errno(errno, "Failed to accept a console connection: %m");
                return 0;
        }
        (void) console_add_client(c, cfd);
        return 0;
}

int console_listen(Console *c, int fd) {
        _cleanup_close_ int fd_close = fd;
        int r;

        if (c->listen_fd >= 0)
                return -EBUSY;
        r = sd_event_add_io(c->event, &c->listen_source, fd, EPOLLIN, on_listen, c);
        if (r < 0)
                return r;
        /* A connection storm (or accept() failing) cannot keep the main loop busy: past the burst, the
         * source rests for the rest of the interval. */
        (void) sd_event_source_set_ratelimit(c->listen_source, LISTEN_RATELIMIT_USEC,
                                             LISTEN_RATELIMIT_BURST);
        c->listen_fd = TAKE_FD(fd_close);
        return 0;
}

/* ---- output ---- */

/* vCPU threads: only the ring and an eventfd, so that their seccomp filter needs no socket calls and a
 * slow stdout or journal never stalls the guest. The main loop writes it out (console_drain()). */
void console_guest_output(void *userdata, const uint8_t *buf, size_t n) {
        Console *c = userdata;
        bool wake = false;

        pthread_mutex_lock(&c->lock);
        byte_ring_write(&c->ring, buf, n);
        c->output_bytes += n;
        if (!c->wake_pending && (c->wake_always || c->n_clients > 0)) {
                c->wake_pending = true;
                wake = true;
        }
        pthread_mutex_unlock(&c->lock);

        if (wake)
                (void) eventfd_write(c->wake_fd, 1);
}

void console_guest_rx_ready(void *userdata) {
        Console *c = userdata;
        (void) eventfd_write(c->wake_fd, 1);
}

/* Copies what the ring holds from *pos on into scratch; returns how many bytes (0: caught up). If the
 * ring overwrote some of it already, *pos first moves to the oldest byte held and *ret_skipped says how
 * far. The copy keeps the lock away from the writes that follow. */
static size_t ring_take(Console *c, uint64_t *pos, uint64_t *ret_skipped) {
        uint64_t start;
        ssize_t k;

        pthread_mutex_lock(&c->lock);
        start = byte_ring_start(&c->ring);
        *ret_skipped = *pos < start ? start - *pos : 0;
        if (*pos < start)
                *pos = start;
        k = byte_ring_read(&c->ring, *pos, c->scratch, SCRATCH_SIZE);
        pthread_mutex_unlock(&c->lock);
        return k > 0 ? (size_t) k : 0;
}

static void count_skipped(uint64_t *counter, uint64_t n, const char *where) {
        if (n == 0)
                return;
        if (*counter == 0)
                log_warning("The guest console's output to %s fell more than the ring behind; skipping "
                            "%llu bytes (counted from now on, not logged).", where, (unsigned long long) n);
        *counter += n;
}

static int on_output_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* A non-blocking output fd is full: wait for EPOLLOUT instead of spinning. A blocking one waits in
 * write(), which stalls the main loop but not the guest. */
static void output_wait_writable(Console *c) {
        if (!c->output_source &&
            sd_event_add_io(c->event, &c->output_source, c->output_fd, EPOLLOUT, on_output_writable, c) < 0)
                return; /* the next wake tries again */
        if (sd_event_source_set_enabled(c->output_source, SD_EVENT_ON) >= 0)
                c->output_blocked = true;
}

/* Writes what is new to output_fd until caught up or the fd is full. Returns -EAGAIN if it is full. */
static int output_drain(Console *c) {
        while (c->output_fd >= 0) {
                uint64_t skipped;
                size_t n = ring_take(c, &c->output_pos, &skipped);
                ssize_t k;

                count_skipped(&c->stats.output_skipped_bytes, skipped, "the output fd");
                if (n == 0)
                        return 0;
                k = write(c->output_fd, c->scratch, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return -EAGAIN;
                        /* The console is gone (a closed terminal or pipe); the guest must not notice. */
                        k = (ssize_t) n;
                        c->stats.output_skipped_bytes += n;
                }
                c->output_pos += (size_t) k;
        }
        return 0;
}

static int on_output_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Console *c = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        c->output_blocked = false;
        if (output_drain(c) == -EAGAIN)
                output_wait_writable(c);
        return 0;
}

/* Feeds what is new to the journal, which never blocks (it drops and counts lines instead). */
static void journal_drain(Console *c) {
        for (;;) {
                uint64_t skipped;
                size_t n = ring_take(c, &c->journal_pos, &skipped);

                if (skipped > 0) /* what is left of the line before the gap is an entry of its own */
                        console_journal_flush(c->journal);
                count_skipped(&c->stats.journal_skipped_bytes, skipped, "the journal");
                if (n == 0)
                        return;
                console_journal_feed(c->journal, c->scratch, n, now_usec());
                c->journal_pos += n;
        }
}

/* Main thread: the output fd and the journal get what the guest wrote since the last time, in order. */
static void console_drain(Console *c) {
        if (c->output_fd >= 0 && !c->output_blocked && output_drain(c) == -EAGAIN)
                output_wait_writable(c);
        if (c->journal)
                journal_drain(c);
}

static void arm_flush_timer(Console *c, uint64_t since) {
        if (sd_event_source_set_time(c->flush_timer, since + CONSOLE_JOURNAL_FLUSH_USEC) >= 0)
                (void) sd_event_source_set_enabled(c->flush_timer, SD_EVENT_ONESHOT);
}

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Console *c = userdata;
        uint64_t since;

        journal_drain(c); /* the partial line may have grown meanwhile */
        since = console_journal_partial_since(c->journal);
        if (since != 0 && now_usec() >= since + CONSOLE_JOURNAL_FLUSH_USEC) {
                console_journal_flush(c->journal);
                since = 0;
        }
        if (since != 0)
                arm_flush_timer(c, since);
        return 0;
}

static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Console *c = userdata;
        uint64_t since = 0;
        eventfd_t v;
        int enabled = SD_EVENT_OFF;

        (void) eventfd_read(fd, &v);
        /* Cleared before draining: output that comes after this wakes us again. */
        pthread_mutex_lock(&c->lock);
        c->wake_pending = false;
        pthread_mutex_unlock(&c->lock);

        console_drain(c);
        feed_input(c); /* the guest may have made room */

        for (ConsoleClient *cl = c->clients, *next; cl; cl = next) {
                next = cl->next;
                if (cl->blocked)
                        (void) client_check_lag(cl);
                else if (client_flush(cl) >= 0)
                        client_update_events(cl);
        }

        if (c->journal)
                since = console_journal_partial_since(c->journal);
        if (since != 0 && c->flush_timer && sd_event_source_get_enabled(c->flush_timer, &enabled) >= 0 &&
            enabled == SD_EVENT_OFF)
                arm_flush_timer(c, since);
        return 0;
}

/* At exit (no vCPU runs any more): everything up to the last byte, to the output fd (waiting a little
 * if it is full) and the journal. */
static void console_final_flush(Console *c) {
        uint64_t end;

        while (c->output_fd >= 0 && output_drain(c) == -EAGAIN) {
                struct pollfd p = { .fd = c->output_fd, .events = POLLOUT };
                if (poll(&p, 1, EXIT_FLUSH_WAIT_MSEC) <= 0) {
                        pthread_mutex_lock(&c->lock);
                        end = c->ring.end;
                        pthread_mutex_unlock(&c->lock);
                        count_skipped(&c->stats.output_skipped_bytes, end - c->output_pos, "the output fd");
                        c->output_pos = end;
                        break;
                }
        }
        if (c->journal) {
                journal_drain(c);
                console_journal_flush(c->journal);
        }
}

/* ---- the object ---- */

Console *console_free(Console *c) {
        if (!c)
                return NULL;
        if (c->scratch) {
                console_final_flush(c);
                for (ConsoleClient *cl = c->clients, *next; cl; cl = next) {
                        next = cl->next;
                        (void) client_flush(cl); /* what fits into its socket now */
                }
        }
        while (c->clients)
                client_detach(c->clients, false);
        c->listen_source = sd_event_source_disable_unref(c->listen_source);
        safe_close(c->listen_fd);
        c->input_source = sd_event_source_disable_unref(c->input_source);
        c->wake_source = sd_event_source_disable_unref(c->wake_source);
        c->flush_timer = sd_event_source_disable_unref(c->flush_timer);
        c->output_source = sd_event_source_disable_unref(c->output_source);
        safe_close(c->wake_fd);
        if (c->journal) {
                ConsoleJournalStats js;

                console_journal_get_stats(c->journal, &js);
                if (js.lines_dropped > 0)
                        log_warning_errno(js.last_error,
                                          "%llu of %llu guest console lines could not be sent to the "
                                          "journal (last error: %m).",
                                          (unsigned long long) js.lines_dropped,
                                          (unsigned long long) (js.lines_dropped + js.lines_sent));
                console_journal_free(c->journal);
        }
        byte_ring_done(&c->ring);
        pthread_mutex_destroy(&c->lock);
        free(c->scratch);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

int console_new(const ConsoleParams *p, Console **ret) {
        _cleanup_(console_freep) Console *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return log_oom();
        c->event = sd_event_ref(p->event);
        c->output_fd = p->output_fd;
        c->wake_always = p->output_fd >= 0 || p->journal;
        c->input = p->input;
        c->input_userdata = p->input_userdata;
        c->replay_size = p->replay_size ?: CONSOLE_REPLAY_SIZE;
        c->wake_fd = c->listen_fd = -EBADF;
        pthread_mutex_init(&c->lock, NULL);

        r = byte_ring_init(&c->ring, p->ring_size ?: CONSOLE_RING_SIZE);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the console ring: %m");
        c->scratch = malloc(SCRATCH_SIZE);
        if (!c->scratch)
                return log_oom();
        if (p->journal) {
                r = console_journal_new(p->journal_socket, p->vm_name ?: "vm", &c->journal);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the console's journal output: %m");
                r = sd_event_add_time(c->event, &c->flush_timer, CLOCK_MONOTONIC, 0, 10 * 1000,
                                      on_flush_timer, c);
                if (r < 0)
                        return log_error_errno(r, "Failed to add the console's flush timer: %m");
                (void) sd_event_source_set_enabled(c->flush_timer, SD_EVENT_OFF);
        }
        c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->wake_fd < 0)
                return log_error_errno(errno, "eventfd: %m");
        r = sd_event_add_io(c->event, &c->wake_source, c->wake_fd, EPOLLIN, on_wake, c);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the console's eventfd: %m");

        *ret = TAKE_PTR(c);
        return 0;
}

void console_get_stats(Console *c, ConsoleStats *ret) {
        ConsoleStats s = c->stats;

        pthread_mutex_lock(&c->lock);
        s.output_bytes = c->output_bytes;
        pthread_mutex_unlock(&c->lock);
        if (c->journal) {
                ConsoleJournalStats js;

                console_journal_get_stats(c->journal, &js);
                s.journal_lines = js.lines_sent;
                s.journal_lines_dropped = js.lines_dropped;
        }
        *ret = s;
}

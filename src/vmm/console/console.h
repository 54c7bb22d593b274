/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's serial console on the host side, owned by the main loop.
 *
 * Output (guest -> host) arrives on vCPU threads through console_guest_output(), which waits for nobody
 * and makes no I/O but one eventfd write (so the vCPU threads' seccomp filter needs no socket calls):
 * under a mutex it appends the bytes to a ring of recent output and wakes the main loop, at most once
 * until the main loop has looked. The main loop then writes what is new, in order, to the local output
 * fd (stdout when vmm is run by hand), to the journal line by line when vmm runs under it
 * (console-journal.h), and to the clients. Each has its own position in the ring, so a slow one costs
 * only the ring: what the main loop falls more than the ring behind on the output fd or the journal
 * is skipped and counted (ConsoleStats), never waited for by the guest. console_free() writes out the
 * rest, up to the last byte.
 *
 * Clients: connections to the console socket (the listening socket systemd passes as "console") or
 * any connected stream socket given to console_add_client(). Each client has its own position in the
 * ring; a new one starts CONSOLE_REPLAY_SIZE bytes back (at a line start), so a late attacher sees
 * recent output first. The main loop sends each client what it has not seen, without blocking; a
 * client whose socket is full gets the rest when it is writable again. A client that falls more than
 * the ring's size behind (it stopped reading) is disconnected with a log line: the guest never waits
 * for a client, and what one client does not read costs nothing beyond the shared ring.
 *
 * Input (host -> guest): from a local input fd (stdin, when it can be polled) and from one client at a
 * time, through one pending buffer that is handed to the guest (ConsoleInputFn, the UART) as it takes
 * it; while anything is pending nobody is read, so a guest that does not read its console slows the
 * senders down instead of losing their bytes. console_guest_rx_ready() (vCPU thread) says the guest
 * made room.
 *
 * Several clients: all see the output. The newest attached client has the input; older ones are
 * read-only (what they type is discarded and counted) and get a one-line notice when that happens;
 * when the client with the input detaches (or closes its sending side), the newest remaining one gets
 * it back, again with a notice. At most CONSOLE_CLIENTS_MAX clients; more are refused with a notice. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "cleanup.h"

#define CONSOLE_RING_SIZE          (256U * 1024U) /* recent output kept: the most a client may lag */
#define CONSOLE_REPLAY_SIZE        (64U * 1024U)  /* how much of it a new client is sent first */
#define CONSOLE_CLIENTS_MAX        16
#define CONSOLE_JOURNAL_FLUSH_USEC (1000U * 1000U) /* a partial line this old goes to the journal */

typedef struct Console Console;

/* Hands host -> guest bytes to the guest; returns how many it took. Main thread. */
typedef size_t (*ConsoleInputFn)(void *userdata, const uint8_t *buf, size_t n);

typedef struct ConsoleParams {
        sd_event *event;
        const char *vm_name;
        int output_fd;              /* guest output goes here from the main loop; -EBADF: not. A blocking fd
                                     * that is full stalls the main loop (not the guest); a non-blocking
                                     * one is waited for with EPOLLOUT. */
        bool journal;               /* guest output to the journal, line by line */
        const char *journal_socket; /* NULL: the journal's own */
        size_t ring_size;           /* 0: CONSOLE_RING_SIZE */
        size_t replay_size;         /* 0: CONSOLE_REPLAY_SIZE */
        ConsoleInputFn input;
        void *input_userdata;
} ConsoleParams;

typedef struct ConsoleStats {
        uint64_t output_bytes;          /* written by the guest */
        uint64_t input_bytes;           /* taken by the guest */
        uint64_t input_discarded_bytes; /* typed by read-only clients */
        uint64_t client_bytes;          /* sent to clients, replays and notices included */
        uint64_t clients_attached;      /* since start */
        uint64_t clients_dropped;       /* disconnected for not reading */
        uint64_t clients_refused;       /* beyond CONSOLE_CLIENTS_MAX */
        unsigned clients;               /* attached now */
        uint64_t journal_lines;         /* guest console lines sent to the journal */
        uint64_t journal_lines_dropped; /* ... and those it did not take */
        uint64_t output_skipped_bytes;  /* not written to the output fd: overwritten in the ring before
                                         * the main loop got to them, or the fd failed */
        uint64_t journal_skipped_bytes; /* overwritten before the main loop fed them to the journal */
} ConsoleStats;

int console_new(const ConsoleParams *p, Console **ret);
/* Writes out all output to the output fd (waiting up to a second if it is full), the journal (the
 * partial line too) and, as far as their sockets take it, the clients; then disconnects them. No vCPU
 * may be running. */
Console *console_free(Console *c);
DEFINE_FREEP(Console, console_free);

/* A local input, not owned (stdin). -EPERM if it cannot be polled (a regular file, /dev/null): then
 * there is no local input. EOF ends it. */
int console_set_input_fd(Console *c, int fd);
/* A listening stream socket; owned from now on, also on failure. */
int console_listen(Console *c, int fd);
/* A connected stream socket; owned from now on, also on failure. -EBUSY if there are too many. */
int console_add_client(Console *c, int fd);

/* vCPU threads (the UART's callbacks); userdata is the Console. Only a mutex and an eventfd write. */
void console_guest_output(void *userdata, const uint8_t *buf, size_t n);
void console_guest_rx_ready(void *userdata);

void console_get_stats(Console *c, ConsoleStats *ret);

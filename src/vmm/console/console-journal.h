/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's console, line by line, into the journal: what the guest writes to its UART is cut into
 * lines and each line becomes one journal entry
 *
 *         MESSAGE=<the line>  PRIORITY=6  SYSLOG_IDENTIFIER=<VM name>  VM=<VM name>  SDVM_SOURCE=console
 *
 * sent over the journal's native protocol on a non-blocking datagram socket of our own: this runs on
 * the main loop (console.c), and a journal that is slow or gone must never stall it, so a line that
 * cannot be sent at once is dropped and counted (sd_journal_send() would block when journald's queue is
 * full).
 *
 * Lines: "\n" ends a line, so does "\r" not followed by "\n" (progress output that redraws a line
 * becomes one entry per redraw); a line is also cut at CONSOLE_JOURNAL_LINE_MAX bytes. Terminal escape
 * sequences (colours, cursor movement, window titles) and other control characters but tab are removed,
 * backspace erases the character before it, and empty lines are skipped, so that journalctl shows plain
 * text. Bytes >= 0x80 pass unchanged. Not thread-safe: the caller serialises. */

#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"

#define CONSOLE_JOURNAL_LINE_MAX 1024
#define CONSOLE_JOURNAL_SOCKET   "/run/systemd/journal/socket"

typedef struct ConsoleJournal ConsoleJournal;

typedef struct ConsoleJournalStats {
        uint64_t lines_sent;
        uint64_t lines_dropped; /* the journal was not there or did not take the line at once */
        int last_error;         /* errno of the last drop, 0 if none */
} ConsoleJournalStats;

/* socket_path: NULL for CONSOLE_JOURNAL_SOCKET (tests point it elsewhere). vm_name must be set. */
int console_journal_new(const char *socket_path, const char *vm_name, ConsoleJournal **ret);
ConsoleJournal *console_journal_free(ConsoleJournal *j);
DEFINE_FREEP(ConsoleJournal, console_journal_free);

/* Guest output; sends each line it completes. now: CLOCK_MONOTONIC in µs, remembered for the partial
 * line. */
void console_journal_feed(ConsoleJournal *j, const uint8_t *buf, size_t n, uint64_t now);
/* Sends the partial line, if there is one (a prompt that waits for input, or at exit). */
void console_journal_flush(ConsoleJournal *j);
/* When the partial line got its first character; 0 when there is none. */
uint64_t console_journal_partial_since(const ConsoleJournal *j);
void console_journal_get_stats(const ConsoleJournal *j, ConsoleJournalStats *ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vmctl console: the terminal on a VM's console socket (a raw byte stream, see src/vmm/console.h). */

#include <stdbool.h>

/* The escape: this byte (Ctrl-]) typed CONSOLE_ESCAPE_COUNT times within CONSOLE_ESCAPE_USEC detaches. */
#define CONSOLE_ESCAPE_CHAR  0x1d
#define CONSOLE_ESCAPE_COUNT 3
#define CONSOLE_ESCAPE_USEC  (1000U * 1000U)
/* With stdin not a terminal: how long output is still copied after stdin ends. */
#define CONSOLE_LINGER_USEC (1000U * 1000U)

/* Copies stdin to the socket at path and the socket to stdout until the escape (a terminal on stdin, which
 * is put in raw mode and restored on every way out), the end of stdin (then output for
 * CONSOLE_LINGER_USEC more), the socket's end, or SIGTERM/SIGHUP/SIGINT/SIGQUIT. Returns 0, or a negative
 * errno after logging. */
int console_attach(const char *path, const char *vm_name);

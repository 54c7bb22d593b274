/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Strict parsers for config values and command-line arguments. Each returns 0 and sets *ret, or a
 * negative errno and leaves *ret untouched: -EINVAL for malformed input, -ERANGE for a value that
 * does not fit. No leading/trailing whitespace, signs, or empty strings are accepted. */

#include <stdbool.h>
#include <stdint.h>

int parse_uint64(const char *s, uint64_t *ret);
int parse_uint32(const char *s, uint32_t *ret);
int parse_boolean(const char *s, bool *ret);
/* An Ethernet address: six octets of two hex digits each, separated by ':' ("52:54:00:12:34:56"). */
int parse_ether_addr(const char *s, uint8_t ret[static 6]);

/* A byte count with an optional binary suffix: K, M, G or T (powers of 1024), e.g. "512M".
 * Fractions are not accepted: say 1536M, not 1.5G. */
int parse_size(const char *s, uint64_t *ret);

/* Formats a byte count as the largest exact unit ("1G", "1536M", "4097"). Returns buf. */
#define FORMAT_SIZE_MAX 24
char *format_size(char buf[static FORMAT_SIZE_MAX], uint64_t bytes);

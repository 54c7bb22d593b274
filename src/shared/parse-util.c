/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse-util.h"

int parse_uint64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t) (*p - '0'), &v))
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

int parse_uint32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_boolean(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "yes", "y", "true", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static const struct {
        char suffix;
        unsigned shift;
} size_units[] = {
        { 'T', 40 },
        { 'G', 30 },
        { 'M', 20 },
        { 'K', 10 },
};

int parse_size(const char *s, uint64_t *ret) {
        char digits[32];
        unsigned shift = 0;
        uint64_t v;
        size_t n;
        int r;

        if (!s)
                return -EINVAL;
        n = strlen(s);
        if (n == 0 || n >= sizeof digits)
                return n == 0 ? -EINVAL : -ERANGE;
        memcpy(digits, s, n + 1);
        for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++)
                if (digits[n - 1] == size_units[i].suffix) {
                        shift = size_units[i].shift;
                        digits[--n] = 0;
                        break;
                }
        r = parse_uint64(digits, &v);
        if (r < 0)
                return r;
        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

char *format_size(char buf[static FORMAT_SIZE_MAX], uint64_t bytes) {
        for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
                uint64_t unit = UINT64_C(1) << size_units[i].shift;
                if (bytes != 0 && bytes % unit == 0) {
                        snprintf(buf, FORMAT_SIZE_MAX, "%llu%c", (unsigned long long) (bytes / unit),
                                 size_units[i].suffix);
                        return buf;
                }
        }
        snprintf(buf, FORMAT_SIZE_MAX, "%llu", (unsigned long long) bytes);
        return buf;
}

static int hex_digit(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

int parse_ether_addr(const char *s, uint8_t ret[static 6]) {
        uint8_t mac[6];

        if (!s || strlen(s) != 17)
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

                if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
                        return -EINVAL;
                mac[i] = (uint8_t) (hi << 4 | lo);
        }
        memcpy(ret, mac, sizeof mac);
        return 0;
}

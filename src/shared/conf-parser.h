/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A strict, table-driven parser for systemd-style INI files: "[Section]" headers, "Key=Value" lines,
 * whole-line comments starting with '#' or ';', blank lines. Whitespace around keys and values is
 * trimmed; there are no line continuations and no trailing comments (as in systemd, "CPUs=2 # two" is
 * the value "2 # two").
 *
 * Everything the caller's schema does not describe is an error. All errors of a file are logged, one
 * line each, naming file, line and key:
 *         web.conf:3: [VM] Memory=12X: invalid size, expected a number with an optional K, M, G or T suffix
 *         web.conf:5: [VM] unknown key 'Memroy', did you mean 'Memory'?
 * and then the parse fails with -EINVAL, so an operator fixing a file sees the whole list at once. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_FILE_MAX   (1024 * 1024) /* bytes; larger files are refused */
#define CONF_LINE_MAX   8192          /* bytes of one line, without its line ending */
#define CONF_ERRORS_MAX 20            /* errors logged per file; the rest are only counted */
#define CONF_REASON_MAX 256           /* size of the buffer a value parser explains a rejection in */

typedef struct ConfKey ConfKey;

/* Parses value into data, which points at the key's field in the current section instance. Returns 0
 * on success. A value that is wrong returns -EINVAL or -ERANGE with a one-line explanation written to
 * reason (CONF_REASON_MAX bytes; "invalid size, expected ..."), and leaves *data untouched. Any other
 * negative errno (-ENOMEM) aborts the whole parse. */
typedef int (*ConfParseFunc)(const ConfKey *key, const char *value, void *data, char *reason);

struct ConfKey {
        const char *name; /* matched case-sensitively, as systemd does */
        ConfParseFunc parse;
        size_t offset;     /* of the field within the section instance */
        uint64_t min, max; /* bounds for the generic parsers below; max == 0 means none */
        bool required;     /* every instance of the section must set it */
};

typedef struct ConfSection {
        const char *name;
        const ConfKey *keys; /* ends with an entry whose name is NULL */
        bool repeatable;     /* may appear more than once, each header starting a new instance */

        /* Called at each header of this section: returns where this instance's values live (the keys'
         * offsets are relative to it). index counts the instances of this section from 0; line is the
         * header's, for the instance to keep for later messages. The pointer
         * must stay valid only until the next open() or the end of the parse, so appending to an array
         * with realloc() is fine. -EINVAL or -ERANGE with a reason refuses the instance ("at most 16
         * disks"): reported, and its keys ignored; another negative errno aborts the parse. NULL: the
         * values live in the userdata itself. */
        int (*open)(void *userdata, unsigned index, unsigned line, char *reason, void **ret_instance);

        /* Called when an instance without errors ends, to check its keys together (say, two keys that
         * exclude each other). Returns -EINVAL with a reason, which is reported against the line of the
         * section header. NULL: nothing to check. */
        int (*verify)(void *userdata, void *instance, char *reason);
} ConfSection;

/* Parses size bytes at data (any bytes: NULs, invalid UTF-8 and control characters are reported as
 * errors, never read past) against sections, which ends with an entry whose name is NULL. path only
 * names the input in messages. A non-repeatable section that has required keys must be present.
 * Returns 0, -EINVAL after logging every error, or another negative errno (logged) on failure to
 * parse at all. On failure, what was stored in userdata so far is left there for the caller to free. */
int conf_parse(const char *path, const char *data, size_t size, const ConfSection *sections, void *userdata);

/* Besides logging it, every error conf_parse() reports goes to sink (NULL: none), for a caller that
 * wants them as data (vmctl validate --json): the input's path, line (0 for the whole file), section
 * and key (NULL where the error is not about one) and the message as logged after "[Section] ". One
 * sink for the process; not for threads. */
typedef void (*ConfErrorSink)(void *userdata, const char *path, unsigned line, const char *section, const char *key,
                              const char *message);
void conf_set_error_sink(ConfErrorSink sink, void *userdata);

/* Reads a whole config file: a regular file of at most CONF_FILE_MAX bytes. The data is
 * NUL-terminated for convenience; *ret_size does not count the NUL. Logs its errors. */
int conf_read_file(const char *path, char **ret_data, size_t *ret_size);

/* conf_read_file() and conf_parse(). */
int conf_parse_file(const char *path, const ConfSection *sections, void *userdata);

/* Generic value parsers for ConfKey.parse. */

/* char **: any text, at most key->max bytes if set. Replaces (and frees) an earlier value. */
int conf_parse_string(const ConfKey *key, const char *value, void *data, char *reason);
/* char **: an absolute, normalized path (no "." or ".." components, no "//", no trailing '/'). */
int conf_parse_path(const ConfKey *key, const char *value, void *data, char *reason);
/* bool *: yes/no, true/false, on/off, 1/0, y/n. */
int conf_parse_bool(const ConfKey *key, const char *value, void *data, char *reason);
/* uint32_t *: a decimal number within [key->min, key->max] (when key->max is set). */
int conf_parse_uint32(const ConfKey *key, const char *value, void *data, char *reason);
/* uint64_t *: a byte count with an optional K, M, G or T suffix within [key->min, key->max]. */
int conf_parse_size(const ConfKey *key, const char *value, void *data, char *reason);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf-parser.h"
#include "log.h"
#include "parse-util.h"

/* Bytes of a key or value quoted in a message: one absurd line must not fill the log line. */
#define SHOW_MAX 64
#define SHOW_BUF (SHOW_MAX + 4)

/* Names longer than this never get a did-you-mean suggestion. */
#define SUGGEST_MAX 64

typedef struct ConfParser {
        const char *path;
        const ConfSection *sections;
        void *userdata;
        char *line_buf; /* CONF_LINE_MAX + 1 bytes: the current line, NUL-terminated */
        unsigned n_errors;

        /* Per section of the schema: the line of its first header (0: not seen) and its instance count. */
        unsigned *first_line;
        unsigned *n_instances;

        /* The section instance that following assignments belong to. section is NULL before the first
         * header and after a header that was rejected; skipping says the latter, whose assignments are
         * then ignored rather than reported one by one. */
        const ConfSection *section;
        void *instance;
        unsigned section_line;
        unsigned instance_errors;
        unsigned *key_lines; /* per key of section: the line that set it, 0 if none yet */
        bool skipping;
} ConfParser;

static void conf_parser_done(ConfParser *p) {
        free(p->line_buf);
        free(p->first_line);
        free(p->n_instances);
        free(p->key_lines);
}

static void conf_error(ConfParser *p, unsigned line, const char *section, const char *key, const char *format, ...)
        _printf_(5, 6);

/* Reports one error as "FILE:LINE: [Section] message". The message is formatted even when it is not
 * logged (over the cap, or logging turned off) so that the fuzzer exercises formatting too. */
static ConfErrorSink error_sink;
static void *error_sink_userdata;

void conf_set_error_sink(ConfErrorSink sink, void *userdata) {
        error_sink = sink;
        error_sink_userdata = userdata;
}

static void conf_error(ConfParser *p, unsigned line, const char *section, const char *key, const char *format, ...) {
        char msg[1024], where[32] = "";
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(msg, sizeof msg, format, ap);
        va_end(ap);

        p->n_errors++;
        p->instance_errors++;
        if (p->n_errors > CONF_ERRORS_MAX)
                return;

        if (line > 0)
                (void) snprintf(where, sizeof where, ":%u", line);
        log_error("%s%s: %s%s%s%s", p->path, where, section ? "[" : "", section ?: "", section ? "] " : "",
                  msg);
        if (error_sink)
                error_sink(error_sink_userdata, p->path, line, section, key, msg);
}

/* Returns s, or its first SHOW_MAX bytes (cut at a character boundary) and "..." in buf. s is valid
 * UTF-8 without control characters by the time anything is shown. */
static const char *show(const char *s, char buf[static SHOW_BUF]) {
        size_t n = strlen(s);

        if (n <= SHOW_MAX)
                return s;
        n = SHOW_MAX;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                n--;
        memcpy(buf, s, n);
        memcpy(buf + n, "...", 4);
        return buf;
}

static char *strip(char *s) {
        char *e;

        s += strspn(s, " \t");
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
        *e = 0;
        return s;
}

/* Decodes the UTF-8 character at s (n > 0 bytes available). Returns its length and sets *ret, or
 * returns 0 for anything that is not a valid, shortest encoding of a Unicode scalar value: a stray
 * continuation byte, a truncated sequence, an overlong form, a surrogate, or beyond U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret) {
        uint32_t c;
        size_t len;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if (s[0] < 0xc2) /* continuation byte, or the lead of an overlong 2-byte form */
                return 0;
        if (s[0] < 0xe0) {
                len = 2;
                c = s[0] & 0x1f;
        } else if (s[0] < 0xf0) {
                len = 3;
                c = s[0] & 0x0f;
        } else if (s[0] < 0xf5) {
                len = 4;
                c = s[0] & 0x07;
        } else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
            (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret = c;
        return len;
}

/* A line must be text: valid UTF-8 without control characters other than tab. Otherwise describes the
 * first offending byte (by 1-based byte column) in what and returns false. */
static bool line_is_text(const char *s, size_t n, char what[static 64]) {
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len;

                len = utf8_decode((const unsigned char *) s + i, n - i, &c);
                if (len == 0) {
                        (void) snprintf(what, 64, "invalid UTF-8 at column %zu", i + 1);
                        return false;
                }
                if (c == 0) {
                        (void) snprintf(what, 64, "NUL byte at column %zu", i + 1);
                        return false;
                }
                if ((c < 0x20 && c != '\t') || (c >= 0x7f && c < 0xa0)) {
                        (void) snprintf(what, 64, "control character U+%04X at column %zu", (unsigned) c,
                                        i + 1);
                        return false;
                }
                i += len;
        }
        return true;
}

static void lowercase(char *dst, const char *src, size_t n) {
        for (size_t i = 0; i < n; i++)
                dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? (char) (src[i] - 'A' + 'a') : src[i];
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions) between a and b,
 * ignoring ASCII case; SIZE_MAX when it is certainly above 2, as only near misses are of interest. */
static size_t edit_distance(const char *a_in, const char *b_in) {
        unsigned char d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
        char a[SUGGEST_MAX], b[SUGGEST_MAX];
        size_t la = strlen(a_in), lb = strlen(b_in);

        if (la > SUGGEST_MAX || lb > SUGGEST_MAX || (la > lb ? la - lb : lb - la) > 2)
                return SIZE_MAX;
        lowercase(a, a_in, la);
        lowercase(b, b_in, lb);

        for (size_t i = 0; i <= la; i++)
                d[i][0] = (unsigned char) i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = (unsigned char) j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

                        if (d[i - 1][j] + 1u < v)
                                v = d[i - 1][j] + 1u;
                        if (d[i][j - 1] + 1u < v)
                                v = d[i][j - 1] + 1u;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                            d[i - 2][j - 2] + 1u < v)
                                v = d[i - 2][j - 2] + 1u;
                        d[i][j] = (unsigned char) v;
                }
        return d[la][lb];
}

/* How near word is to candidate, or SIZE_MAX if it is not a plausible typo of it. Differing only in
 * case is distance 0. A near miss must keep part of the name: "Ab" is not a typo of "VM". */
static size_t near_miss(const char *word, const char *candidate) {
        size_t d = edit_distance(word, candidate);

        if (d > 2 || d >= strlen(candidate))
                return SIZE_MAX;
        return d;
}

static const ConfSection *find_section(const ConfSection *sections, const char *name) {
        for (const ConfSection *s = sections; s->name; s++)
                if (strcmp(s->name, name) == 0)
                        return s;
        return NULL;
}

static const ConfKey *find_key(const ConfSection *section, const char *name) {
        for (const ConfKey *k = section->keys; k->name; k++)
                if (strcmp(k->name, name) == 0)
                        return k;
        return NULL;
}

static size_t n_keys(const ConfSection *section) {
        size_t n = 0;

        while (section->keys[n].name)
                n++;
        return n;
}

/* Ends the current section instance: reports its missing required keys, then lets the schema check
 * the instance as a whole if nothing was wrong with it so far. */
static int end_instance(ConfParser *p) {
        const ConfSection *s = p->section;
        char reason[CONF_REASON_MAX] = "";
        int r;

        if (!s)
                return 0;
        p->section = NULL;

        for (size_t i = 0; s->keys[i].name; i++)
                if (s->keys[i].required && p->key_lines[i] == 0)
                        conf_error(p, p->section_line, s->name, s->keys[i].name, "%s= is required but not set",
                                   s->keys[i].name);

        if (!s->verify || p->instance_errors > 0)
                return 0;
        r = s->verify(p->userdata, p->instance, reason);
        if (r == -EINVAL || r == -ERANGE)
                conf_error(p, p->section_line, s->name, NULL, "%s", reason[0] ? reason : "invalid section");
        else if (r < 0)
                return log_error_errno(r, "%s:%u: [%s] Failed to check section: %m", p->path,
                                       p->section_line, s->name);
        return 0;
}

static int parse_header(ConfParser *p, unsigned line, char *l) {
        char reason[CONF_REASON_MAX] = "", buf[SHOW_BUF];
        const ConfSection *s;
        void *instance;
        size_t n = strlen(l), i;
        char *name;
        int r;

        r = end_instance(p);
        if (r < 0)
                return r;
        p->skipping = true; /* until this header is accepted */

        if (n < 3 || l[n - 1] != ']') {
                conf_error(p, line, NULL, NULL, "invalid section header '%s', expected [Name]", show(l, buf));
                return 0;
        }
        l[n - 1] = 0;
        name = l + 1;

        s = find_section(p->sections, name);
        if (!s) {
                const ConfSection *best = NULL;
                size_t best_d = SIZE_MAX;

                for (const ConfSection *c = p->sections; c->name; c++) {
                        size_t d = near_miss(name, c->name);
                        if (d < best_d) {
                                best = c;
                                best_d = d;
                        }
                }
                if (best)
                        conf_error(p, line, NULL, NULL, "unknown section [%s], did you mean [%s]?",
                                   show(name, buf), best->name);
                else
                        conf_error(p, line, NULL, NULL, "unknown section [%s]", show(name, buf));
                return 0;
        }

        i = (size_t) (s - p->sections);
        if (!s->repeatable && p->first_line[i] > 0) {
                conf_error(p, line, NULL, NULL, "duplicate section [%s], already specified on line %u", s->name,
                           p->first_line[i]);
                return 0;
        }
        if (p->first_line[i] == 0)
                p->first_line[i] = line;

        instance = p->userdata;
        if (s->open) {
                r = s->open(p->userdata, p->n_instances[i], line, reason, &instance);
                if (r == -EINVAL || r == -ERANGE) {
                        conf_error(p, line, s->name, NULL, "%s", reason[0] ? reason : "section not allowed here");
                        return 0;
                }
                if (r < 0)
                        return log_error_errno(r, "%s:%u: [%s] Failed to set up section: %m", p->path, line,
                                               s->name);
        }
        p->n_instances[i]++;

        p->section = s;
        p->instance = instance;
        p->section_line = line;
        p->instance_errors = 0;
        p->skipping = false;
        memset(p->key_lines, 0, n_keys(s) * sizeof p->key_lines[0]);
        return 0;
}

static int parse_assignment(ConfParser *p, unsigned line, const char *key, const char *value) {
        char reason[CONF_REASON_MAX] = "", buf[SHOW_BUF], buf2[SHOW_BUF];
        const ConfSection *s = p->section;
        const ConfKey *k;
        size_t i;
        int r;

        k = find_key(s, key);
        if (!k) {
                const ConfKey *best = NULL;
                size_t best_d = SIZE_MAX;

                for (const ConfKey *c = s->keys; c->name; c++) {
                        size_t d = near_miss(key, c->name);
                        if (d < best_d) {
                                best = c;
                                best_d = d;
                        }
                }
                if (best)
                        conf_error(p, line, s->name, show(key, buf), "unknown key '%s', did you mean '%s'?", show(key, buf),
                                   best->name);
                else
                        conf_error(p, line, s->name, show(key, buf), "unknown key '%s'", show(key, buf));
                return 0;
        }

        i = (size_t) (k - s->keys);
        if (p->key_lines[i] > 0) {
                conf_error(p, line, s->name, k->name, "duplicate key %s=, already set on line %u", k->name,
                           p->key_lines[i]);
                return 0;
        }
        /* Counts as set even if the value is bad, so that it is not also reported as missing. */
        p->key_lines[i] = line;

        r = k->parse(k, value, (char *) p->instance + k->offset, reason);
        if (r == -EINVAL || r == -ERANGE)
                conf_error(p, line, s->name, k->name, "%s=%s: %s", k->name, show(value, buf2),
                           reason[0] ? reason : "invalid value");
        else if (r < 0)
                return log_error_errno(r, "%s:%u: [%s] Failed to parse %s=: %m", p->path, line, s->name,
                                       k->name);
        return 0;
}

static bool is_header(const char *s, size_t n) {
        size_t i = 0;

        while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
        return i < n && s[i] == '[';
}

/* For a line that cannot be parsed as a whole (too long, bad bytes): the key of the current section it
 * assigns, if the bytes before its '=' name one exactly. Only such a key is named in the message (the
 * bytes themselves may be anything), and it then counts as set, so it is not also reported missing. */
static const ConfKey *raw_key(ConfParser *p, unsigned line, const char *s, size_t n) {
        const char *eq;
        size_t a = 0, b;

        if (!p->section)
                return NULL;
        eq = memchr(s, '=', n);
        if (!eq)
                return NULL;
        b = (size_t) (eq - s);
        while (a < b && (s[a] == ' ' || s[a] == '\t'))
                a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
                b--;
        for (const ConfKey *k = p->section->keys; k->name; k++)
                if (strlen(k->name) == b - a && memcmp(k->name, s + a, b - a) == 0) {
                        size_t i = (size_t) (k - p->section->keys);

                        if (p->key_lines[i] == 0)
                                p->key_lines[i] = line;
                        return k;
                }
        return NULL;
}

static int parse_line(ConfParser *p, unsigned line, const char *raw, size_t n) {
        const char *section = p->section ? p->section->name : NULL;
        char buf[SHOW_BUF], buf2[SHOW_BUF], what[64];
        char *l, *eq, *key, *value;

        if (n > CONF_LINE_MAX)
                (void) snprintf(what, sizeof what, "line too long (%zu bytes), at most %d", n,
                                CONF_LINE_MAX);
        if (n > CONF_LINE_MAX || !line_is_text(raw, n, what)) {
                const ConfKey *k;

                /* A broken header still ends the section before it, and the lines after it must not be
                 * taken as part of that section. */
                if (is_header(raw, n)) {
                        int r = end_instance(p);
                        if (r < 0)
                                return r;
                        p->skipping = true;
                        conf_error(p, line, NULL, NULL, "%s", what);
                        return 0;
                }
                k = p->skipping ? NULL : raw_key(p, line, raw, n);
                conf_error(p, line, section, k ? k->name : NULL, "%s%s%s", k ? k->name : "", k ? "=: " : "", what);
                return 0;
        }

        memcpy(p->line_buf, raw, n);
        p->line_buf[n] = 0;
        l = strip(p->line_buf);

        if (l[0] == 0 || l[0] == '#' || l[0] == ';')
                return 0;
        if (l[0] == '[')
                return parse_header(p, line, l);
        if (p->skipping)
                return 0;

        eq = strchr(l, '=');
        if (!eq) {
                conf_error(p, line, section, NULL, "'%s': expected Key=Value, a [Section] header or a comment",
                           show(l, buf));
                return 0;
        }
        *eq = 0;
        key = strip(l);
        value = strip(eq + 1);

        if (key[0] == 0) {
                conf_error(p, line, section, NULL, "'=%s': missing key before '='", show(value, buf));
                return 0;
        }
        if (!p->section) {
                conf_error(p, line, NULL, NULL,
                           "%s=%s: assignment outside of any section, expected a [Section] header first",
                           show(key, buf), show(value, buf2));
                return 0;
        }
        return parse_assignment(p, line, key, value);
}

int conf_parse(const char *path, const char *data, size_t size, const ConfSection *sections,
               void *userdata) {
        _cleanup_(conf_parser_done) ConfParser p = {
                .path = path ?: "<input>",
                .sections = sections,
                .userdata = userdata,
        };
        size_t n_sections = 0, max_keys = 1, pos = 0;
        unsigned line = 0;
        int r;

        if (size > CONF_FILE_MAX) {
                char a[FORMAT_SIZE_MAX];
                return log_error_errno(EFBIG, "%s: too large (%zu bytes), at most %s", p.path, size,
                                       format_size(a, CONF_FILE_MAX));
        }

        for (const ConfSection *s = sections; s->name; s++) {
                n_sections++;
                if (n_keys(s) > max_keys)
                        max_keys = n_keys(s);
        }
        p.line_buf = malloc(CONF_LINE_MAX + 1);
        p.key_lines = calloc(max_keys, sizeof p.key_lines[0]);
        p.first_line = calloc(n_sections + 1, sizeof p.first_line[0]);
        p.n_instances = calloc(n_sections + 1, sizeof p.n_instances[0]);
        if (!p.line_buf || !p.key_lines || !p.first_line || !p.n_instances)
                return log_oom();

        /* Editors on other systems like to start a UTF-8 file with a byte order mark; it says nothing. */
        if (size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
                pos = 3;

        while (pos < size) {
                const char *start = data + pos, *nl;
                size_t n;

                nl = memchr(start, '\n', size - pos);
                n = nl ? (size_t) (nl - start) : size - pos;
                pos += n + (nl ? 1 : 0);
                line++; /* at most CONF_FILE_MAX lines: no overflow */

                if (n > 0 && start[n - 1] == '\r') /* CRLF line endings are fine; other CRs are not */
                        n--;
                r = parse_line(&p, line, start, n);
                if (r < 0)
                        return r;
        }

        r = end_instance(&p);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_sections; i++) {
                const ConfSection *s = sections + i;

                if (s->repeatable || p.first_line[i] > 0)
                        continue;
                for (const ConfKey *k = s->keys; k->name; k++)
                        if (k->required)
                                conf_error(&p, 0, s->name, k->name,
                                           "%s= is required but not set (there is no [%s] section)", k->name,
                                           s->name);
        }

        if (p.n_errors > CONF_ERRORS_MAX)
                log_error("%s: %u more errors not shown", p.path, p.n_errors - CONF_ERRORS_MAX);
        return p.n_errors > 0 ? -EINVAL : 0;
}

int conf_read_file(const char *path, char **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        char a[FORMAT_SIZE_MAX];
        size_t n = 0, allocated;
        struct stat st;

        /* O_NONBLOCK: opening a FIFO someone left in the config directory must not hang us. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat %s: %m", path);
        if (S_ISDIR(st.st_mode))
                return log_error_errno(EISDIR, "%s: is a directory, expected a config file", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EBADFD, "%s: not a regular file, refusing to read it", path);
        if (st.st_size > CONF_FILE_MAX)
                return log_error_errno(EFBIG, "%s: file too large (%lld bytes), at most %s", path,
                                       (long long) st.st_size, format_size(a, CONF_FILE_MAX));

        /* Room for one byte more than allowed, to notice a file that grew past the limit, and the NUL. */
        allocated = (size_t) st.st_size + 1 < 4096 ? 4096 : (size_t) st.st_size + 1;
        buf = malloc(allocated);
        if (!buf)
                return log_oom();
        for (;;) {
                ssize_t k;

                if (n + 1 >= allocated) {
                        size_t m = allocated * 2 > CONF_FILE_MAX + 2 ? CONF_FILE_MAX + 2 : allocated * 2;
                        char *b;

                        if (m <= allocated)
                                break; /* full at CONF_FILE_MAX + 1 bytes: reported below */
                        b = realloc(buf, m);
                        if (!b)
                                return log_oom();
                        buf = b;
                        allocated = m;
                }
                k = read(fd, buf + n, allocated - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "Failed to read %s: %m", path);
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n > CONF_FILE_MAX)
                return log_error_errno(EFBIG, "%s: file too large (more than %s)", path,
                                       format_size(a, CONF_FILE_MAX));
        buf[n] = 0;

        *ret_data = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

int conf_parse_file(const char *path, const ConfSection *sections, void *userdata) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = conf_read_file(path, &data, &size);
        if (r < 0)
                return r;
        return conf_parse(path, data, size, sections, userdata);
}

/* Writes why a number or size is not within the key's bounds. */
static int out_of_range(const ConfKey *key, bool size, char *reason) {
        char a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX];

        if (key->max == 0)
                (void) snprintf(reason, CONF_REASON_MAX, "out of range");
        else if (size)
                (void) snprintf(reason, CONF_REASON_MAX, "out of range, must be between %s and %s",
                                format_size(a, key->min), format_size(b, key->max));
        else
                (void) snprintf(reason, CONF_REASON_MAX, "out of range, must be between %llu and %llu",
                                (unsigned long long) key->min, (unsigned long long) key->max);
        return -ERANGE;
}

static bool in_range(const ConfKey *key, uint64_t v) {
        return v >= key->min && (key->max == 0 || v <= key->max);
}

int conf_parse_string(const ConfKey *key, const char *value, void *data, char *reason) {
        char **s = data, *copy;
        size_t n = strlen(value);

        if (key->max > 0 && n > key->max) {
                (void) snprintf(reason, CONF_REASON_MAX, "too long (%zu bytes), at most %llu bytes", n,
                                (unsigned long long) key->max);
                return -ERANGE;
        }
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        free(*s);
        *s = copy;
        return 0;
}

int conf_parse_path(const ConfKey *key, const char *value, void *data, char *reason) {
        size_t n = strlen(value),
               max = key->max > 0 && key->max < PATH_MAX ? (size_t) key->max : PATH_MAX - 1;

        if (value[0] != '/') {
                (void) snprintf(reason, CONF_REASON_MAX, "not an absolute path");
                return -EINVAL;
        }
        if (n > max) {
                (void) snprintf(reason, CONF_REASON_MAX, "path too long (%zu bytes), at most %zu bytes", n,
                                max);
                return -ERANGE;
        }
        /* Every component must be a name: not empty ("//", a trailing '/'), ".", or "..". */
        for (const char *c = value + 1;;) {
                size_t len = strcspn(c, "/");

                if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) {
                        (void) snprintf(reason, CONF_REASON_MAX,
                                        "not a normalized path to a file (no '.' or '..' components, "
                                        "no '//', no trailing '/')");
                        return -EINVAL;
                }
                if (c[len] == 0)
                        break;
                c += len + 1;
        }
        return conf_parse_string(key, value, data, reason);
}

int conf_parse_bool(const ConfKey *key, const char *value, void *data, char *reason) {
        if (parse_boolean(value, data) < 0) {
                (void) snprintf(reason, CONF_REASON_MAX, "invalid boolean, expected yes or no");
                return -EINVAL;
        }
        return 0;
}

int conf_parse_uint32(const ConfKey *key, const char *value, void *data, char *reason) {
        uint32_t v;
        int r;

        r = parse_uint32(value, &v);
        if (r == -ERANGE || (r >= 0 && !in_range(key, v)))
                return out_of_range(key, false, reason);
        if (r < 0) {
                (void) snprintf(reason, CONF_REASON_MAX, "invalid number, expected a decimal integer");
                return -EINVAL;
        }
        *(uint32_t *) data = v;
        return 0;
}

int conf_parse_size(const ConfKey *key, const char *value, void *data, char *reason) {
        uint64_t v;
        size_t n;
        int r;

        /* Digits and at most a suffix, checked here so that a long malformed value is called invalid,
         * not too large. */
        n = strspn(value, "0123456789");
        if (n == 0 || (value[n] != 0 && (!strchr("KMGT", value[n]) || value[n + 1] != 0)))
                r = -EINVAL;
        else
                r = parse_size(value, &v);
        if (r == -ERANGE || (r >= 0 && !in_range(key, v)))
                return out_of_range(key, true, reason);
        if (r < 0) {
                (void) snprintf(reason, CONF_REASON_MAX,
                                "invalid size, expected a number with an optional K, M, G or T suffix");
                return -EINVAL;
        }
        *(uint64_t *) data = v;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "cleanup.h"
#include "conf-parser.h"

/* A test-local schema: one plain section with a required key, a repeatable one that collects its
 * instances in an array, and an optional one. */

typedef struct Drive {
        char *path;
        bool read_only;
        uint32_t weight; /* 0: not set */
        unsigned line;   /* of its header, as open() was told */
} Drive;

typedef struct TestConf {
        char *name;
        uint32_t count;
        uint64_t size;
        bool flag;
        char *path;
        char *mode;
        Drive *drives;
        size_t n_drives;
} TestConf;

#define MAX_DRIVES 4

static int drive_open(void *userdata, unsigned index, unsigned line, char *reason, void **ret_instance) {
        TestConf *t = userdata;
        Drive *d;

        assert_int_equal(index, t->n_drives);
        if (index >= MAX_DRIVES) {
                snprintf(reason, CONF_REASON_MAX, "too many drives, at most %d", MAX_DRIVES);
                return -ERANGE;
        }
        d = realloc(t->drives, (t->n_drives + 1) * sizeof *d);
        if (!d)
                return -ENOMEM;
        t->drives = d;
        d[t->n_drives] = (Drive) { .line = line };
        *ret_instance = &d[t->n_drives++];
        return 0;
}

static int drive_verify(void *userdata, void *instance, char *reason) {
        Drive *d = instance;

        if (d->read_only && d->weight > 0) {
                snprintf(reason, CONF_REASON_MAX, "Weight= makes no sense with ReadOnly=yes");
                return -EINVAL;
        }
        return 0;
}

static const ConfKey main_keys[] = {
        { .name = "Name", .parse = conf_parse_string, .offset = offsetof(TestConf, name), .max = 16,
          .required = true },
        { .name = "Count", .parse = conf_parse_uint32, .offset = offsetof(TestConf, count), .min = 1,
          .max = 10 },
        { .name = "Size", .parse = conf_parse_size, .offset = offsetof(TestConf, size), .min = 1024,
          .max = 1 << 30 },
        { .name = "Flag", .parse = conf_parse_bool, .offset = offsetof(TestConf, flag) },
        { .name = "Path", .parse = conf_parse_path, .offset = offsetof(TestConf, path) },
        {},
};

static const ConfKey drive_keys[] = {
        { .name = "Path", .parse = conf_parse_path, .offset = offsetof(Drive, path), .required = true },
        { .name = "ReadOnly", .parse = conf_parse_bool, .offset = offsetof(Drive, read_only) },
        { .name = "Weight", .parse = conf_parse_uint32, .offset = offsetof(Drive, weight), .min = 1,
          .max = 1000 },
        {},
};

static const ConfKey optional_keys[] = {
        { .name = "Mode", .parse = conf_parse_string, .offset = offsetof(TestConf, mode) },
        {},
};

static const ConfSection sections[] = {
        { .name = "Main", .keys = main_keys },
        { .name = "Drive", .keys = drive_keys, .repeatable = true, .open = drive_open,
          .verify = drive_verify },
        { .name = "Optional", .keys = optional_keys },
        {},
};

static void test_conf_done(TestConf *t) {
        free(t->name);
        free(t->path);
        free(t->mode);
        for (size_t i = 0; i < t->n_drives; i++)
                free(t->drives[i].path);
        free(t->drives);
        *t = (TestConf) {};
}

/* Parses size bytes into *t, returning the result and (in *ret_log) what was logged. */
static int parse_n(const char *data, size_t size, TestConf *t, char **ret_log) {
        Capture c;
        int r;

        capture_begin(&c);
        r = conf_parse("t.conf", data, size, sections, t);
        *ret_log = capture_end(&c);
        return r;
}

/* Parses text and checks the log is exactly expected (and the result -EINVAL, or 0 if expected is ""). */
static void check_log(const char *text, const char *expected) {
        TestConf t = {};
        char *out;
        int r;

        r = parse_n(text, strlen(text), &t, &out);
        if (strcmp(out, expected) != 0)
                print_error("input:\n%s\n", text);
        assert_string_equal(out, expected);
        assert_int_equal(r, expected[0] ? -EINVAL : 0);
        free(out);
        test_conf_done(&t);
}

static void test_valid(void **state) {
        /* A byte order mark, CRLF, tabs and spaces around keys and values, comments of both kinds. */
        static const char text[] = "\xef\xbb\xbf# comment\n"
                                   "; another comment\n"
                                   "\n"
                                   "[Main]\r\n"
                                   "  Name =\thello world  \n"
                                   "Count=10\n"
                                   "Size=4K\n"
                                   "Flag=yes\n"
                                   "\t# indented comment\n"
                                   "Path=/var/lib/x.img\n"
                                   "[Drive]\n"
                                   "Path=/a\n"
                                   "[Drive]\n"
                                   "Path=/b\n"
                                   "ReadOnly=yes\n"
                                   "[Drive]\n"
                                   "Weight=1000\n"
                                   "Path=/c/d\n"
                                   "[Optional]\n"
                                   "Mode=caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80=x\n"
                                   "[Main2]"; /* no final newline: still a line */
        TestConf t = {};
        char *out;
        int r;

        /* [Main2] is unknown: the one error, on the last line, proves it was read. */
        r = parse_n(text, strlen(text), &t, &out);
        assert_string_equal(out, "t.conf:21: unknown section [Main2], did you mean [Main]?\n");
        assert_int_equal(r, -EINVAL);
        free(out);
        test_conf_done(&t);

        r = parse_n(text, strlen(text) - strlen("[Main2]"), &t, &out);
        assert_string_equal(out, "");
        assert_int_equal(r, 0);
        free(out);
        assert_string_equal(t.name, "hello world");
        assert_int_equal(t.count, 10);
        assert_true(t.size == 4096);
        assert_true(t.flag);
        assert_string_equal(t.path, "/var/lib/x.img");
        /* Only the first '=' splits. */
        assert_string_equal(t.mode, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80=x");
        assert_int_equal(t.n_drives, 3);
        assert_string_equal(t.drives[0].path, "/a");
        assert_int_equal(t.drives[0].line, 11);
        assert_int_equal(t.drives[2].line, 16);
        assert_false(t.drives[0].read_only);
        assert_string_equal(t.drives[1].path, "/b");
        assert_true(t.drives[1].read_only);
        assert_string_equal(t.drives[2].path, "/c/d");
        assert_int_equal(t.drives[2].weight, 1000);
        test_conf_done(&t);
}

static void test_explicit_length(void **state) {
        static const char text[] = "[Main]\nName=abc\nthis is not part of the input";
        TestConf t = {};
        char *buf, *out;
        size_t n = strlen("[Main]\nName=abc\n");
        int r;

        /* An exactly sized heap copy without a NUL: the sanitizer build catches any read past it. */
        buf = malloc(n);
        assert_non_null(buf);
        memcpy(buf, text, n);
        r = parse_n(buf, n, &t, &out);
        assert_int_equal(r, 0);
        assert_string_equal(out, "");
        assert_string_equal(t.name, "abc");
        free(out);
        test_conf_done(&t);

        /* Cut in the middle of a value: the value ends there. */
        r = parse_n(buf, n - 2, &t, &out);
        assert_int_equal(r, 0);
        assert_string_equal(t.name, "ab");
        free(out);
        test_conf_done(&t);
        free(buf);

        check_log("", "t.conf: [Main] Name= is required but not set (there is no [Main] section)\n");
        check_log("\n\n# nothing\n",
                  "t.conf: [Main] Name= is required but not set (there is no [Main] section)\n");
}

static void test_unknown_section(void **state) {
        /* The keys of an unknown section are not reported one by one. */
        check_log("[Main]\nName=a\n[Drives]\nPath=/x\nFoo=bar\n",
                  "t.conf:3: unknown section [Drives], did you mean [Drive]?\n");
        check_log("[main]\nName=a\n",
                  "t.conf:1: unknown section [main], did you mean [Main]?\n"
                  "t.conf: [Main] Name= is required but not set (there is no [Main] section)\n");
        check_log("[Main]\nName=a\n[Frobnicate]\n", "t.conf:3: unknown section [Frobnicate]\n");
        check_log("[Main]\nName=a\n[Ma]\n", "t.conf:3: unknown section [Ma], did you mean [Main]?\n");
        check_log("[Main]\nName=a\n[Op]\n", "t.conf:3: unknown section [Op]\n");
        check_log("[Main]\nName=a\n[XY]\n", "t.conf:3: unknown section [XY]\n"); /* not a typo of "Main" */
        check_log("[Main]\nName=a\n[ Main ]\n",
                  "t.conf:3: unknown section [ Main ], did you mean [Main]?\n");
}

static void test_unknown_key(void **state) {
        check_log("[Main]\nName=a\nCuont=1\n",
                  "t.conf:3: [Main] unknown key 'Cuont', did you mean 'Count'?\n");
        check_log("[Main]\nName=a\nname=b\n", "t.conf:3: [Main] unknown key 'name', did you mean 'Name'?\n");
        check_log("[Main]\nName=a\nSIZE=1K\n",
                  "t.conf:3: [Main] unknown key 'SIZE', did you mean 'Size'?\n");
        check_log("[Main]\nName=a\nColour=1\n", "t.conf:3: [Main] unknown key 'Colour'\n");
        check_log("[Main]\nName=a\nCounts=1\n",
                  "t.conf:3: [Main] unknown key 'Counts', did you mean 'Count'?\n");
        check_log("[Main]\nName=a\nCountess=1\n",
                  "t.conf:3: [Main] unknown key 'Countess'\n"); /* distance 3 */
        /* Suggestions come from the section's own keys. */
        check_log("[Main]\nName=a\n[Drive]\nPath=/x\nWieght=3\nMode=x\n",
                  "t.conf:5: [Drive] unknown key 'Wieght', did you mean 'Weight'?\n"
                  "t.conf:6: [Drive] unknown key 'Mode'\n");
        /* A long key is quoted shortened. */
        check_log("[Main]\nName=a\n"
                  "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK=1\n",
                  "t.conf:3: [Main] unknown key "
                  "'KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK...'\n");
}

static void test_syntax(void **state) {
        check_log("Name=a\n[Main]\nName=b\n",
                  "t.conf:1: Name=a: assignment outside of any section, expected a [Section] header first\n");
        check_log("[Main]\nName a\n",
                  "t.conf:2: [Main] 'Name a': expected Key=Value, a [Section] header or a comment\n"
                  "t.conf:1: [Main] Name= is required but not set\n");
        check_log("[Main]\nName=a\n = x\n", "t.conf:3: [Main] '=x': missing key before '='\n");
        check_log("[Main]\nName=a\n[Main\n", "t.conf:3: invalid section header '[Main', expected [Name]\n");
        check_log("[Main]\nName=a\n[]\n", "t.conf:3: invalid section header '[]', expected [Name]\n");
        /* No trailing comments, as in systemd. */
        check_log("[Main] # the main section\nName=a\n",
                  "t.conf:1: invalid section header '[Main] # the main section', expected [Name]\n"
                  "t.conf: [Main] Name= is required but not set (there is no [Main] section)\n");
        check_log("[Main]\nName=a\nCount=2 # two\n",
                  "t.conf:3: [Main] Count=2 # two: invalid number, expected a decimal integer\n");
}

static void test_bad_values(void **state) {
        check_log("[Main]\nName=a\nCount=0\n",
                  "t.conf:3: [Main] Count=0: out of range, must be between 1 and 10\n");
        check_log("[Main]\nName=a\nCount=11\n",
                  "t.conf:3: [Main] Count=11: out of range, must be between 1 and 10\n");
        check_log("[Main]\nName=a\nCount=4294967296\n",
                  "t.conf:3: [Main] Count=4294967296: out of range, must be between 1 and 10\n");
        check_log("[Main]\nName=a\nCount=-1\n",
                  "t.conf:3: [Main] Count=-1: invalid number, expected a decimal integer\n");
        check_log("[Main]\nName=a\nCount=\n",
                  "t.conf:3: [Main] Count=: invalid number, expected a decimal integer\n");
        check_log("[Main]\nName=a\nSize=12X\n",
                  "t.conf:3: [Main] Size=12X: invalid size, expected a number with an optional K, M, G or T suffix\n");
        check_log("[Main]\nName=a\nSize=1023\n",
                  "t.conf:3: [Main] Size=1023: out of range, must be between 1K and 1G\n");
        check_log("[Main]\nName=a\nSize=1025M\n",
                  "t.conf:3: [Main] Size=1025M: out of range, must be between 1K and 1G\n");
        check_log("[Main]\nName=a\nSize=99999999999999999999T\n",
                  "t.conf:3: [Main] Size=99999999999999999999T: out of range, must be between 1K and 1G\n");
        /* Malformed beyond parse_size()'s buffer: still malformed, not "too large". */
        check_log("[Main]\nName=a\nSize=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                  "t.conf:3: [Main] Size=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: invalid size, expected a number "
                  "with an optional K, M, G or T suffix\n");
        check_log("[Main]\nName=a\nFlag=maybe\n",
                  "t.conf:3: [Main] Flag=maybe: invalid boolean, expected yes or no\n");
        check_log("[Main]\nName=0123456789abcdefg\n",
                  "t.conf:2: [Main] Name=0123456789abcdefg: too long (17 bytes), at most 16 bytes\n");
        check_log("[Main]\nName=0123456789abcdef\n", "");
        check_log("[Main]\nName=a\nPath=x/y\n", "t.conf:3: [Main] Path=x/y: not an absolute path\n");
        check_log("[Main]\nName=a\nPath=\n", "t.conf:3: [Main] Path=: not an absolute path\n");
        static const char *const unnormalized[] = {
                "/", "/a/", "/a//b", "/a/./b", "/a/../b", "/..", "/a/.",
        };
        for (size_t i = 0; i < ELEMENTSOF(unnormalized); i++) {
                char text[128], expected[256];

                snprintf(text, sizeof text, "[Main]\nName=a\nPath=%s\n", unnormalized[i]);
                snprintf(expected, sizeof expected,
                         "t.conf:3: [Main] Path=%s: not a normalized path to a file (no '.' or '..' components, "
                         "no '//', no trailing '/')\n",
                         unnormalized[i]);
                check_log(text, expected);
        }
        check_log("[Main]\nName=a\nPath=/.a/..b/.../c\n", "");
}

static void test_duplicates(void **state) {
        check_log("[Main]\nName=a\nCount=1\nName=b\n",
                  "t.conf:4: [Main] duplicate key Name=, already set on line 2\n");
        /* A bad value still counts as set. */
        check_log("[Main]\nName=a\nCount=x\nCount=2\n",
                  "t.conf:3: [Main] Count=x: invalid number, expected a decimal integer\n"
                  "t.conf:4: [Main] duplicate key Count=, already set on line 3\n");
        /* A second non-repeatable section is one error; its keys are not looked at. */
        check_log("[Main]\nName=a\n[Optional]\nMode=x\n[Main]\nName=b\nBogus=1\n",
                  "t.conf:5: duplicate section [Main], already specified on line 1\n");
        /* The same key in two instances of a repeatable section is fine. */
        check_log("[Main]\nName=a\n[Drive]\nPath=/a\n[Drive]\nPath=/a\n", "");
}

static void test_bad_bytes(void **state) {
        static const struct {
                const char *text;
                size_t size;
                const char *expected;
        } cases[] = {
#define C(t, e) { t, sizeof(t) - 1, "t.conf:" e }
                C("[Main]\nName=a\0b\n", "2: [Main] Name=: NUL byte at column 7\n"),
                C("[Main]\nName=a\nCount=1\0\n", "3: [Main] Count=: NUL byte at column 8\n"),
                C("[Main]\nName=a\n\0\n", "3: [Main] NUL byte at column 1\n"),
                C("\0", "1: NUL byte at column 1\n"
                        "t.conf: [Main] Name= is required but not set (there is no [Main] section)\n"),
                C("[Main]\nName=a\x1b[31m\n", "2: [Main] Name=: control character U+001B at column 7\n"),
                C("[Main]\nName=a\x7f\n", "2: [Main] Name=: control character U+007F at column 7\n"),
                C("[Main]\nName=a\xc2\x85\n", "2: [Main] Name=: control character U+0085 at column 7\n"),
                C("[Main]\nName=a\rb\n", "2: [Main] Name=: control character U+000D at column 7\n"),
                C("[Main]\nName=a\v\n", "2: [Main] Name=: control character U+000B at column 7\n"),
                C("[Main]\nName=a\xff\n", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                C("[Main]\nName=a\x80\n", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                /* overlong '/' */
                C("[Main]\nName=a\xc0\xaf\n", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                C("[Main]\nName=a\xe0\x80\xaf\n", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                /* a surrogate */
                C("[Main]\nName=a\xed\xa0\x80\n", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                C("[Main]\nName=a\xf4\x90\x80\x80\n", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                /* truncated, before a newline and at the very end */
                C("[Main]\nName=a\xe2\x82\n", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                C("[Main]\nName=a\xe2\x82", "2: [Main] Name=: invalid UTF-8 at column 7\n"),
                C("[Main]\nName=a\nNmae=\x01\n", "3: [Main] control character U+0001 at column 6\n"),
                /* A broken header ends the section before it, and what follows is not taken for it. */
                C("[Main]\nName=a\n[Dri\x01ve]\nPath=/x\n", "3: control character U+0001 at column 5\n"),
                C("[Main]\n[Dri\x01ve]\nName=a\n", "1: [Main] Name= is required but not set\n"
                                                   "t.conf:2: control character U+0001 at column 5\n"),
#undef C
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TestConf t = {};
                char *out;
                int r;

                r = parse_n(cases[i].text, cases[i].size, &t, &out);
                if (strcmp(out, cases[i].expected) != 0)
                        print_error("case %zu\n", i);
                assert_string_equal(out, cases[i].expected);
                assert_int_equal(r, -EINVAL);
                free(out);
                test_conf_done(&t);
        }
}

static void test_long_line(void **state) {
        TestConf t = {};
        char *text, *out;
        size_t n;
        int r;

        /* Exactly CONF_LINE_MAX bytes is fine ("Mode=" and the value). */
        text = malloc(CONF_LINE_MAX + 64);
        assert_non_null(text);
        n = (size_t) sprintf(text, "[Main]\nName=a\n[Optional]\nMode=");
        memset(text + n, 'x', CONF_LINE_MAX - 5);
        n += CONF_LINE_MAX - 5;
        r = parse_n(text, n, &t, &out);
        assert_string_equal(out, "");
        assert_int_equal(r, 0);
        assert_int_equal(strlen(t.mode), CONF_LINE_MAX - 5);
        free(out);
        test_conf_done(&t);

        /* One more byte is not, and the key is named (and so not reported missing). */
        text[n++] = 'x';
        r = parse_n(text, n, &t, &out);
        assert_string_equal(out, "t.conf:4: [Optional] Mode=: line too long (8193 bytes), at most 8192\n");
        assert_int_equal(r, -EINVAL);
        free(out);
        test_conf_done(&t);

        n = (size_t) sprintf(text, "[Main]\nName=");
        memset(text + n, 'x', CONF_LINE_MAX);
        n += CONF_LINE_MAX;
        r = parse_n(text, n, &t, &out);
        assert_string_equal(out, "t.conf:2: [Main] Name=: line too long (8197 bytes), at most 8192\n");
        assert_int_equal(r, -EINVAL);
        free(out);
        test_conf_done(&t);
        free(text);
}

static void test_repeatable(void **state) {
        check_log("[Main]\nName=a\n[Drive]\nReadOnly=yes\n[Drive]\nPath=/b\n",
                  "t.conf:3: [Drive] Path= is required but not set\n");
        check_log("[Main]\nName=a\n[Drive]\nPath=/a\nReadOnly=yes\nWeight=5\n[Drive]\nPath=/b\n",
                  "t.conf:3: [Drive] Weight= makes no sense with ReadOnly=yes\n");
        /* verify() only sees instances without errors of their own. */
        check_log("[Main]\nName=a\n[Drive]\nPath=/a\nReadOnly=yes\nWeight=5000\n",
                  "t.conf:6: [Drive] Weight=5000: out of range, must be between 1 and 1000\n");
        /* open() may refuse an instance: one error, and its keys are ignored. */
        check_log("[Main]\nName=a\n"
                  "[Drive]\nPath=/1\n[Drive]\nPath=/2\n[Drive]\nPath=/3\n[Drive]\nPath=/4\n"
                  "[Drive]\nPath=/5\nBogus=1\n[Drive]\nPath=/6\n",
                  "t.conf:11: [Drive] too many drives, at most 4\n"
                  "t.conf:14: [Drive] too many drives, at most 4\n");
}

static void test_all_errors_reported(void **state) {
        check_log("# a file with one of everything\n"
                  "CPUs=2\n"
                  "[Main]\n"
                  "Name=a\n"
                  "Cuont=3\n"
                  "Size=12X\n"
                  "Name=b\n"
                  "garbage\n"
                  "[Drive]\n"
                  "ReadOnly=perhaps\n"
                  "[Main]\n"
                  "[Drvie]\n"
                  "Path=x\n",
                  "t.conf:2: CPUs=2: assignment outside of any section, expected a [Section] header first\n"
                  "t.conf:5: [Main] unknown key 'Cuont', did you mean 'Count'?\n"
                  "t.conf:6: [Main] Size=12X: invalid size, expected a number with an optional K, M, G or T suffix\n"
                  "t.conf:7: [Main] duplicate key Name=, already set on line 4\n"
                  "t.conf:8: [Main] 'garbage': expected Key=Value, a [Section] header or a comment\n"
                  "t.conf:10: [Drive] ReadOnly=perhaps: invalid boolean, expected yes or no\n"
                  "t.conf:9: [Drive] Path= is required but not set\n"
                  "t.conf:11: duplicate section [Main], already specified on line 3\n"
                  "t.conf:12: unknown section [Drvie], did you mean [Drive]?\n");
}

static void test_error_cap(void **state) {
        char text[4096], expected[8192];
        size_t n, m;

        n = (size_t) snprintf(text, sizeof text, "[Main]\nName=a\n");
        m = 0;
        for (unsigned i = 0; i < 30; i++) {
                n += (size_t) snprintf(text + n, sizeof text - n, "Bogus%u=1\n", i);
                if (i < CONF_ERRORS_MAX)
                        m += (size_t) snprintf(expected + m, sizeof expected - m,
                                               "t.conf:%u: [Main] unknown key 'Bogus%u'\n", i + 3, i);
        }
        snprintf(expected + m, sizeof expected - m, "t.conf: 10 more errors not shown\n");
        check_log(text, expected);
}

static int open_enomem(void *userdata, unsigned index, unsigned line, char *reason, void **ret_instance) {
        return -ENOMEM;
}

static void test_fatal(void **state) {
        static const ConfSection broken[] = {
                { .name = "Main", .keys = main_keys, .open = open_enomem },
                {},
        };
        TestConf t = {};
        Capture c;
        char *out, big[16] = "";
        int r;

        capture_begin(&c);
        r = conf_parse("t.conf", "[Main]\nName=a\n", 14, broken, &t);
        out = capture_end(&c);
        assert_int_equal(r, -ENOMEM);
        assert_string_equal(out, "t.conf:1: [Main] Failed to set up section: Cannot allocate memory\n");
        free(out);

        capture_begin(&c);
        r = conf_parse("t.conf", big, (size_t) CONF_FILE_MAX + 1, sections, &t); /* not read */
        out = capture_end(&c);
        assert_int_equal(r, -EFBIG);
        assert_string_equal(out, "t.conf: too large (1048577 bytes), at most 1M\n");
        free(out);
        test_conf_done(&t);
}

static void test_generic_parsers(void **state) {
        ConfKey key = { .name = "X" };
        char reason[CONF_REASON_MAX] = "";
        char *s = NULL;
        uint64_t u64 = 7;
        uint32_t u32 = 7;
        bool b = true;

        /* Untouched on failure. */
        assert_int_equal(conf_parse_uint32(&key, "x", &u32, reason), -EINVAL);
        assert_int_equal(u32, 7);
        assert_int_equal(conf_parse_uint32(&key, "4294967296", &u32, reason), -ERANGE);
        assert_string_equal(reason, "out of range");
        assert_int_equal(conf_parse_uint32(&key, "4294967295", &u32, reason), 0); /* no bounds */
        assert_true(u32 == UINT32_MAX);
        assert_int_equal(conf_parse_size(&key, "1.5G", &u64, reason), -EINVAL);
        assert_true(u64 == 7);
        assert_int_equal(conf_parse_size(&key, "0", &u64, reason), 0);
        assert_true(u64 == 0);
        assert_int_equal(conf_parse_bool(&key, "", &b, reason), -EINVAL);
        assert_true(b);
        assert_int_equal(conf_parse_path(&key, "a", &s, reason), -EINVAL);
        assert_null(s);
        assert_int_equal(conf_parse_path(&key, "/a", &s, reason), 0);
        assert_string_equal(s, "/a");
        assert_int_equal(conf_parse_string(&key, "b", &s, reason), 0); /* replaces and frees */
        assert_string_equal(s, "b");
        free(s);
        s = NULL;

        key.max = 8;
        assert_int_equal(conf_parse_path(&key, "/12345678", &s, reason), -ERANGE);
        assert_string_equal(reason, "path too long (9 bytes), at most 8 bytes");
        assert_int_equal(conf_parse_path(&key, "/1234567", &s, reason), 0);
        free(s);
}

static void write_file(const char *path, const char *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        close(fd);
}

static void test_read_file(void **state) {
        char dir[] = "/tmp/test-conf-parser.XXXXXX", path[256], expected[1024];
        TestConf t = {};
        Capture c;
        char *data = NULL, *out;
        size_t size = 0;
        int r, fd;

        assert_non_null(mkdtemp(dir));

        snprintf(path, sizeof path, "%s/ok.conf", dir);
        write_file(path, "[Main]\nName=x\n", 14);
        assert_int_equal(conf_read_file(path, &data, &size), 0);
        assert_int_equal(size, 14);
        assert_string_equal(data, "[Main]\nName=x\n");
        free(data);
        assert_int_equal(conf_parse_file(path, sections, &t), 0);
        assert_string_equal(t.name, "x");
        test_conf_done(&t);
        unlink(path);

        /* An empty file. */
        write_file(path, "", 0);
        assert_int_equal(conf_read_file(path, &data, &size), 0);
        assert_int_equal(size, 0);
        assert_string_equal(data, "");
        free(data);

        /* Exactly the limit, and one byte more (sparse files: no need to write a megabyte). */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, CONF_FILE_MAX), 0);
        assert_int_equal(conf_read_file(path, &data, &size), 0);
        assert_int_equal(size, CONF_FILE_MAX);
        free(data);
        assert_int_equal(ftruncate(fd, CONF_FILE_MAX + 1), 0);
        close(fd);
        data = NULL;
        capture_begin(&c);
        r = conf_read_file(path, &data, &size);
        out = capture_end(&c);
        assert_int_equal(r, -EFBIG);
        assert_null(data);
        snprintf(expected, sizeof expected, "%s: file too large (1048577 bytes), at most 1M\n", path);
        assert_string_equal(out, expected);
        free(out);
        unlink(path);

        /* Not there. */
        capture_begin(&c);
        r = conf_read_file(path, &data, &size);
        out = capture_end(&c);
        assert_int_equal(r, -ENOENT);
        snprintf(expected, sizeof expected, "Failed to open %s: No such file or directory\n", path);
        assert_string_equal(out, expected);
        free(out);

        /* A directory. */
        capture_begin(&c);
        r = conf_read_file(dir, &data, &size);
        out = capture_end(&c);
        assert_int_equal(r, -EISDIR);
        snprintf(expected, sizeof expected, "%s: is a directory, expected a config file\n", dir);
        assert_string_equal(out, expected);
        free(out);

        /* A FIFO: refused, and opening it does not hang. */
        snprintf(path, sizeof path, "%s/fifo.conf", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        capture_begin(&c);
        r = conf_read_file(path, &data, &size);
        out = capture_end(&c);
        assert_int_equal(r, -EBADFD);
        snprintf(expected, sizeof expected, "%s: not a regular file, refusing to read it\n", path);
        assert_string_equal(out, expected);
        free(out);
        unlink(path);

        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_explicit_length),
                cmocka_unit_test(test_unknown_section),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_syntax),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_bad_bytes),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_repeatable),
                cmocka_unit_test(test_all_errors_reported),
                cmocka_unit_test(test_error_cap),
                cmocka_unit_test(test_fatal),
                cmocka_unit_test(test_generic_parsers),
                cmocka_unit_test(test_read_file),
        };
        unsetenv("JOURNAL_STREAM");
        return cmocka_run_group_tests(tests, NULL, NULL);
}

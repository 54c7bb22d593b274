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
#include "vm-config.h"

#define PATH "/etc/vms/web.conf"
#define BOOT "[Boot]\nKernel=/boot/vmlinuz\n"

/* Parses text as PATH; returns the result, the config (or NULL) and what was logged. */
static int parse(const char *text, VmConfig **ret, char **ret_log) {
        Capture c;
        int r;

        *ret = NULL;
        capture_begin(&c);
        r = vm_config_parse(text, strlen(text), PATH, "web", ret);
        *ret_log = capture_end(&c);
        return r;
}

/* Checks that text is rejected with exactly the messages expected. */
static void check_error(const char *text, const char *expected) {
        VmConfig *c;
        char *out;
        int r;

        r = parse(text, &c, &out);
        if (strcmp(out, expected) != 0)
                print_error("input:\n%s\n", text);
        assert_string_equal(out, expected);
        assert_int_equal(r, -EINVAL);
        assert_null(c);
        free(out);
}

/* Checks that text is accepted silently and returns the config. */
static VmConfig *check_ok(const char *text) {
        VmConfig *c;
        char *out;
        int r;

        r = parse(text, &c, &out);
        if (strcmp(out, "") != 0)
                print_error("input:\n%s\n", text);
        assert_string_equal(out, "");
        assert_int_equal(r, 0);
        assert_non_null(c);
        free(out);
        return c;
}

static void test_full(void **state) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL;

        c = check_ok("# the web server\n"
                     "[VM]\n"
                     "Description=Web server (nginx), \"front\" 100%\n"
                     "CPUs=2\n"
                     "Memory=1G\n"
                     "Autostart=yes\n"
                     "\n"
                     "[Boot]\n"
                     "Kernel=/var/lib/vms/images/vmlinuz\n"
                     "Initrd=/var/lib/vms/images/initrd.img\n"
                     "CommandLine=console=ttyS0 root=/dev/vda rw quiet\n");
        assert_string_equal(c->name, "web");
        assert_string_equal(c->path, PATH);
        assert_string_equal(c->description, "Web server (nginx), \"front\" 100%");
        assert_int_equal(c->cpus, 2);
        assert_true(c->memory == UINT64_C(1) << 30);
        assert_true(c->autostart);
        assert_string_equal(c->kernel, "/var/lib/vms/images/vmlinuz");
        assert_string_equal(c->initrd, "/var/lib/vms/images/initrd.img");
        assert_string_equal(c->cmdline, "console=ttyS0 root=/dev/vda rw quiet");
}

static void test_defaults(void **state) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL, *d = NULL;

        c = check_ok(BOOT);
        assert_string_equal(c->name, "web");
        assert_null(c->description);
        assert_int_equal(c->cpus, VM_CPUS_DEFAULT);
        assert_int_equal(c->cpus, 1);
        assert_true(c->memory == UINT64_C(512) << 20);
        assert_false(c->autostart);
        assert_string_equal(c->kernel, "/boot/vmlinuz");
        assert_null(c->initrd);
        assert_null(c->cmdline);

        /* Sections in any order; an empty [VM] is fine. */
        d = check_ok(BOOT "[VM]\n");
        assert_int_equal(d->cpus, 1);
}

static void test_missing_kernel(void **state) {
        check_error("[VM]\nCPUs=2\n",
                    PATH ": [Boot] Kernel= is required but not set (there is no [Boot] section)\n");
        check_error("[VM]\nCPUs=2\n[Boot]\nInitrd=/boot/initrd\n",
                    PATH ":3: [Boot] Kernel= is required but not set\n");
        check_error("", PATH ": [Boot] Kernel= is required but not set (there is no [Boot] section)\n");
        /* A bad Kernel= is one error, not also a missing one. */
        check_error("[Boot]\nKernel=vmlinuz\n", PATH ":2: [Boot] Kernel=vmlinuz: not an absolute path\n");
        check_error("[Boot]\nKernel=\n", PATH ":2: [Boot] Kernel=: not an absolute path\n");
}

static void test_cpus(void **state) {
        _cleanup_(vm_config_freep) VmConfig *a = NULL, *b = NULL;

        check_error("[VM]\nCPUs=0\n" BOOT,
                    PATH ":2: [VM] CPUs=0: out of range, must be between 1 and 128\n");
        a = check_ok("[VM]\nCPUs=1\n" BOOT);
        assert_int_equal(a->cpus, 1);
        b = check_ok("[VM]\nCPUs=128\n" BOOT);
        assert_int_equal(b->cpus, 128);
        check_error("[VM]\nCPUs=129\n" BOOT,
                    PATH ":2: [VM] CPUs=129: out of range, must be between 1 and 128\n");
        check_error("[VM]\nCPUs=99999999999999999999\n" BOOT,
                    PATH ":2: [VM] CPUs=99999999999999999999: out of range, must be between 1 and 128\n");
        check_error("[VM]\nCPUs=two\n" BOOT,
                    PATH ":2: [VM] CPUs=two: invalid number, expected a decimal integer\n");
        check_error("[VM]\nCPUs=-1\n" BOOT,
                    PATH ":2: [VM] CPUs=-1: invalid number, expected a decimal integer\n");
        check_error("[VM]\nCPUs=0x10\n" BOOT,
                    PATH ":2: [VM] CPUs=0x10: invalid number, expected a decimal integer\n");
        check_error("[VM]\nCPUs=\n" BOOT,
                    PATH ":2: [VM] CPUs=: invalid number, expected a decimal integer\n");
}

static void test_memory(void **state) {
        static const struct {
                const char *value;
                uint64_t bytes;
        } good[] = {
                { "128M", UINT64_C(128) << 20 },
                { "131072K", UINT64_C(128) << 20 },
                { "134217728", UINT64_C(128) << 20 },
                { "1536M", UINT64_C(1536) << 20 },
                { "1G", UINT64_C(1) << 30 },
                { "1T", UINT64_C(1) << 40 },
                { "1024G", UINT64_C(1) << 40 },
        };
        static const struct {
                const char *value;
                const char *reason;
        } bad[] = {
                { "127M", "out of range, must be between 128M and 1T" },
                { "1048577M", "out of range, must be between 128M and 1T" }, /* 1T + 1M */
                { "2T", "out of range, must be between 128M and 1T" },
                { "1500K", "out of range, must be between 128M and 1T" },
                { "0", "out of range, must be between 128M and 1T" },
                { "999999999999T", "out of range, must be between 128M and 1T" },
                { "131073K", "not a multiple of 1M" }, /* 128M + 1K */
                { "134217729", "not a multiple of 1M" },
                { "12X", "invalid size, expected a number with an optional K, M, G or T suffix" },
                { "1.5G", "invalid size, expected a number with an optional K, M, G or T suffix" },
                { "1g", "invalid size, expected a number with an optional K, M, G or T suffix" },
                { "1GB", "invalid size, expected a number with an optional K, M, G or T suffix" },
                { "1 G", "invalid size, expected a number with an optional K, M, G or T suffix" },
                { "G", "invalid size, expected a number with an optional K, M, G or T suffix" },
                { "", "invalid size, expected a number with an optional K, M, G or T suffix" },
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_(vm_config_freep) VmConfig *c = NULL;
                char text[256];

                snprintf(text, sizeof text, "[VM]\nMemory=%s\n" BOOT, good[i].value);
                c = check_ok(text);
                assert_true(c->memory == good[i].bytes);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char text[256], expected[512];

                snprintf(text, sizeof text, "[VM]\nMemory=%s\n" BOOT, bad[i].value);
                snprintf(expected, sizeof expected, PATH ":2: [VM] Memory=%s: %s\n", bad[i].value,
                         bad[i].reason);
                check_error(text, expected);
        }
}

static void test_other_keys(void **state) {
        _cleanup_(vm_config_freep) VmConfig *a = NULL, *b = NULL, *c = NULL;
        static char text[8192];
        size_t n;

        a = check_ok("[VM]\nAutostart=no\nDescription=\n" BOOT);
        assert_false(a->autostart);
        assert_string_equal(a->description, "");
        check_error("[VM]\nAutostart=sometimes\n" BOOT,
                    PATH ":2: [VM] Autostart=sometimes: invalid boolean, expected yes or no\n");
        check_error(BOOT "Initrd=initrd.img\n", PATH ":3: [Boot] Initrd=initrd.img: not an absolute path\n");
        check_error("[Boot]\nKernel=/boot/../vmlinuz\n",
                    PATH ":2: [Boot] Kernel=/boot/../vmlinuz: not a normalized path to a file (no '.' or '..' "
                    "components, no '//', no trailing '/')\n");

        /* CommandLine= of 4095 bytes is fine, 4096 is not; the value is quoted shortened. */
        n = (size_t) sprintf(text, BOOT "CommandLine=");
        memset(text + n, 'a', 4095);
        strcpy(text + n + 4095, "\n");
        b = check_ok(text);
        assert_int_equal(strlen(b->cmdline), 4095);
        strcpy(text + n + 4095, "b\n");
        check_error(text, PATH ":3: [Boot] CommandLine=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: "
                          "too long (4096 bytes), at most 4095 bytes\n");

        /* Description= up to VM_DESCRIPTION_MAX bytes, any text. */
        n = (size_t) sprintf(text, BOOT "[VM]\nDescription=");
        memset(text + n, 'd', VM_DESCRIPTION_MAX);
        strcpy(text + n + VM_DESCRIPTION_MAX, "\n");
        c = check_ok(text);
        assert_int_equal(strlen(c->description), VM_DESCRIPTION_MAX);
}

static void test_description(void **state) {
        _cleanup_(vm_config_freep) VmConfig *a = NULL;

        /* A backslash is fine anywhere but at the end, where it would continue the unit file's line. */
        a = check_ok("[VM]\nDescription=C:\\vms\\web 100%\n" BOOT);
        assert_string_equal(a->description, "C:\\vms\\web 100%");
        check_error("[VM]\nDescription=C:\\vms\\\n" BOOT,
                    PATH ":2: [VM] Description=C:\\vms\\: ends in a backslash, which would continue the line "
                    "in the unit file\n");
        check_error("[VM]\nDescription=\\   \n" BOOT,
                    PATH ":2: [VM] Description=\\: ends in a backslash, which would continue the line in the "
                    "unit file\n");
}

/* ControlGroup=, MonitorGroup= and ConsoleGroup=: a group that exists (root does everywhere), by a sane
 * name. */
static void test_groups(void **state) {
        _cleanup_(vm_config_freep) VmConfig *a = NULL, *b = NULL;

        a = check_ok("[VM]\nControlGroup=root\nMonitorGroup=root\n" BOOT);
        assert_string_equal(a->control_group, "root");
        assert_string_equal(a->monitor_group, "root");
        assert_null(a->console_group);
        check_error("[VM]\nMonitorGroup=sdvm-no-such-group\n" BOOT,
                    PATH ":2: [VM] MonitorGroup=sdvm-no-such-group: no such group\n");
        b = check_ok(BOOT "[VM]\nConsoleGroup=root\n");
        assert_string_equal(b->console_group, "root");
        check_error("[VM]\nControlGroup=sdvm-no-such-group\n" BOOT,
                    PATH ":2: [VM] ControlGroup=sdvm-no-such-group: no such group\n");
        check_error("[VM]\nConsoleGroup=wheel\\n\n" BOOT,
                    PATH ":2: [VM] ConsoleGroup=wheel\\n: invalid group name, expected 1-31 characters of A-Z "
                    "a-z 0-9 _ . - not starting with '-' or '.'\n");
        check_error("[VM]\nControlGroup=-root\nConsoleGroup=\n" BOOT,
                    PATH ":2: [VM] ControlGroup=-root: invalid group name, expected 1-31 characters of A-Z a-z 0-9 "
                    "_ . - not starting with '-' or '.'\n" PATH ":3: [VM] ConsoleGroup=: invalid group name, "
                    "expected 1-31 characters of A-Z a-z 0-9 _ . - not starting with '-' or '.'\n");
}

static void test_resources(void **state) {
        _cleanup_(vm_config_freep) VmConfig *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        /* Nothing set: systemd's defaults. */
        a = check_ok(BOOT "[Resources]\n");
        assert_int_equal(a->cpu_quota, 0);
        assert_int_equal(a->cpu_weight, 0);
        assert_null(a->allowed_cpus);
        assert_int_equal(a->io_weight, 0);
        assert_true(a->tasks_max == 0);
        assert_true(a->memory_overhead == 0);

        b = check_ok(BOOT "[Resources]\n"
                          "CPUQuota=150%\n"
                          "CPUWeight=200\n"
                          "AllowedCPUs=0-3,6\n"
                          "IOWeight=50\n"
                          "TasksMax=256\n"
                          "MemoryOverhead=100M\n");
        assert_int_equal(b->cpu_quota, 150);
        assert_int_equal(b->cpu_weight, 200);
        assert_string_equal(b->allowed_cpus, "0-3,6");
        assert_int_equal(b->io_weight, 50);
        assert_true(b->tasks_max == 256);
        assert_true(b->memory_overhead == UINT64_C(100) << 20);

        /* The bounds and the special values. */
        c = check_ok("[Resources]\nCPUQuota=1%\nCPUWeight=idle\nIOWeight=1\nTasksMax=infinity\n"
                     "MemoryOverhead=16M\n" BOOT);
        assert_int_equal(c->cpu_quota, 1);
        assert_int_equal(c->cpu_weight, VM_CPU_WEIGHT_IDLE);
        assert_int_equal(c->io_weight, 1);
        assert_true(c->tasks_max == VM_TASKS_MAX_INFINITY);
        assert_true(c->memory_overhead == UINT64_C(16) << 20);
        d = check_ok("[Resources]\nCPUQuota=102400%\nCPUWeight=10000\nIOWeight=10000\nTasksMax=1\n"
                     "MemoryOverhead=1T\n" BOOT);
        assert_int_equal(d->cpu_quota, 102400);
        assert_int_equal(d->cpu_weight, 10000);
        assert_int_equal(d->io_weight, 10000);
        assert_true(d->tasks_max == 1);
        assert_true(d->memory_overhead == UINT64_C(1) << 40);
}

static void test_resources_errors(void **state) {
        static const struct {
                const char *line;
                const char *expected; /* after PATH ":3: [Resources] " */
        } bad[] = {
                { "CPUQuota=0%", "CPUQuota=0%: out of range, must be between 1% and 102400%" },
                { "CPUQuota=102401%", "CPUQuota=102401%: out of range, must be between 1% and 102400%" },
                { "CPUQuota=99999999999999999999%",
                  "CPUQuota=99999999999999999999%: out of range, must be between 1% and 102400%" },
                { "CPUQuota=150", "CPUQuota=150: invalid percentage, expected a whole number followed by '%', "
                                  "e.g. 150%" },
                { "CPUQuota=%", "CPUQuota=%: invalid percentage, expected a whole number followed by '%', e.g. "
                                "150%" },
                { "CPUQuota=1.5%", "CPUQuota=1.5%: invalid percentage, expected a whole number followed by "
                                   "'%', e.g. 150%" },
                { "CPUQuota=-5%", "CPUQuota=-5%: invalid percentage, expected a whole number followed by "
                                  "'%', e.g. 150%" },
                { "CPUQuota= 50 %", "CPUQuota=50 %: invalid percentage, expected a whole number followed by "
                                    "'%', e.g. 150%" },
                { "CPUQuota=", "CPUQuota=: invalid percentage, expected a whole number followed by '%', e.g. "
                               "150%" },
                { "CPUWeight=0", "CPUWeight=0: out of range, must be between 1 and 10000, or idle" },
                { "CPUWeight=10001", "CPUWeight=10001: out of range, must be between 1 and 10000, or idle" },
                { "CPUWeight=Idle", "CPUWeight=Idle: invalid weight, expected a number between 1 and 10000, or "
                                    "idle" },
                { "CPUWeight=", "CPUWeight=: invalid weight, expected a number between 1 and 10000, or idle" },
                { "IOWeight=0", "IOWeight=0: out of range, must be between 1 and 10000" },
                { "IOWeight=10001", "IOWeight=10001: out of range, must be between 1 and 10000" },
                { "IOWeight=idle", "IOWeight=idle: invalid number, expected a decimal integer" },
                { "TasksMax=0", "TasksMax=0: out of range, must be at least 1, or infinity" },
                { "TasksMax=18446744073709551615",
                  "TasksMax=18446744073709551615: out of range, must be at least 1, or infinity" },
                { "TasksMax=18446744073709551616",
                  "TasksMax=18446744073709551616: out of range, must be at least 1, or infinity" },
                { "TasksMax=50%", "TasksMax=50%: invalid number, expected a number or infinity" },
                { "TasksMax=unlimited", "TasksMax=unlimited: invalid number, expected a number or infinity" },
                { "MemoryOverhead=15M", "MemoryOverhead=15M: out of range, must be between 16M and 1T" },
                { "MemoryOverhead=2T", "MemoryOverhead=2T: out of range, must be between 16M and 1T" },
                { "MemoryOverhead=64MB", "MemoryOverhead=64MB: invalid size, expected a number with an optional "
                                         "K, M, G or T suffix" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char text[256], expected[512];

                snprintf(text, sizeof text, BOOT "[Resources]\n%s\n", bad[i].line);
                snprintf(expected, sizeof expected, PATH ":4: [Resources] %s\n", bad[i].expected);
                check_error(text, expected);
        }

        check_error(BOOT "[Resources]\nCPUQuota=50%\nCPUQuota=60%\n",
                    PATH ":5: [Resources] duplicate key CPUQuota=, already set on line 4\n");
        check_error(BOOT "[Resources]\nCPUQota=50%\n",
                    PATH ":4: [Resources] unknown key 'CPUQota', did you mean 'CPUQuota'?\n");
        check_error(BOOT "[Resources]\nMemoryMax=2G\n", PATH ":4: [Resources] unknown key 'MemoryMax'\n");
        check_error(BOOT "[Resources]\n[Resources]\n",
                    PATH ":4: duplicate section [Resources], already specified on line 3\n");
        check_error(BOOT "[Resource]\n", PATH ":3: unknown section [Resource], did you mean [Resources]?\n");
}

static void test_allowed_cpus(void **state) {
        static const struct {
                const char *value;
                const char *normalised;
        } good[] = {
                { "0", "0" },
                { "0-3,6", "0-3,6" },
                { "6", "6" },
                { "5-5", "5" },
                { "0,1", "0-1" },
                { "0,1,2-3,6", "0-3,6" },
                { "0-1,2-3,4-5", "0-5" },
                { "0,2,4,6", "0,2,4,6" },
                { "1-2,4,5,7-9,10", "1-2,4-5,7-10" },
                { "007,010", "7,10" },
                { "0-8191", "0-8191" },
                { "8191", "8191" },
        };
        static const struct {
                const char *value;
                const char *reason;
        } bad[] = {
                { "", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { ",", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "0,", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { ",0", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "0,,1", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "0-", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "-3", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "1-2-3", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "0 1", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "0, 1", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "a-b", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "all", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "0x3", "invalid CPU list, expected CPU numbers and ranges separated by commas, e.g. 0-3,6" },
                { "8192", "CPU number out of range, must be between 0 and 8191" },
                { "0-8192", "CPU number out of range, must be between 0 and 8191" },
                { "99999999999999999999999", "CPU number out of range, must be between 0 and 8191" },
                { "3-1", "invalid range 3-1, its first CPU is above its last" },
                { "3,1", "CPUs must be listed in ascending order without repeats (1 comes after 3)" },
                { "1,1", "CPUs must be listed in ascending order without repeats (1 comes after 1)" },
                { "0-3,2-5", "CPUs must be listed in ascending order without repeats (2 comes after 3)" },
                { "0-3,3", "CPUs must be listed in ascending order without repeats (3 comes after 3)" },
                { "4-7,0-3", "CPUs must be listed in ascending order without repeats (0 comes after 7)" },
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_(vm_config_freep) VmConfig *c = NULL;
                char text[256];

                snprintf(text, sizeof text, "[Resources]\nAllowedCPUs=%s\n" BOOT, good[i].value);
                c = check_ok(text);
                assert_string_equal(c->allowed_cpus, good[i].normalised);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char text[256], expected[512];

                snprintf(text, sizeof text, "[Resources]\nAllowedCPUs=%s\n" BOOT, bad[i].value);
                snprintf(expected, sizeof expected, PATH ":2: [Resources] AllowedCPUs=%s: %s\n", bad[i].value,
                         bad[i].reason);
                check_error(text, expected);
        }
}

static void test_allowed_cpus_long(void **state) {
        _cleanup_(vm_config_freep) VmConfig *a = NULL, *b = NULL;
        static char text[8192], expected[8192];
        size_t n, e = 0;

        /* Every even CPU up to 2998: as long as a line allows, and nothing merges. */
        n = (size_t) sprintf(text, "[Resources]\nAllowedCPUs=");
        for (unsigned cpu = 0; cpu < 3000; cpu += 2)
                e += (size_t) sprintf(expected + e, "%s%u", cpu > 0 ? "," : "", cpu);
        memcpy(text + n, expected, e);
        strcpy(text + n + e, "\n" BOOT);
        a = check_ok(text);
        assert_string_equal(a->allowed_cpus, expected);

        /* Every CPU from 0 to 1499 one by one: merges into one range. */
        n = (size_t) sprintf(text, "[Resources]\nAllowedCPUs=");
        for (unsigned cpu = 0; cpu < 1500; cpu++)
                n += (size_t) sprintf(text + n, "%s%u", cpu > 0 ? "," : "", cpu);
        strcpy(text + n, "\n" BOOT);
        b = check_ok(text);
        assert_string_equal(b->allowed_cpus, "0-1499");
}

static void test_memory_max(void **state) {
        static const struct {
                const char *config;
                uint64_t max, high;
        } cases[] = {
                /* 64M + Memory/32 */
                { "", (UINT64_C(512) + 64 + 16) << 20, (UINT64_C(512) + 60) << 20 },
                { "[VM]\nMemory=1G\n", (UINT64_C(1024) + 96) << 20, (UINT64_C(1024) + 72) << 20 },
                { "[VM]\nMemory=128M\n", (UINT64_C(128) + 68) << 20, (UINT64_C(128) + 51) << 20 },
                { "[VM]\nMemory=129M\n", ((UINT64_C(129) + 64) << 20) + (UINT64_C(129) << 15),
                  ((UINT64_C(129) + 48) << 20) + (UINT64_C(129) << 15) / 4 * 3 },
                { "[VM]\nMemory=16G\n", (UINT64_C(16384) + 64 + 512) << 20, (UINT64_C(16384) + 432) << 20 },
                { "[VM]\nMemory=1T\n", (UINT64_C(1) << 40) + (UINT64_C(64) << 20) + (UINT64_C(32) << 30),
                  (UINT64_C(1) << 40) + (UINT64_C(48) << 20) + (UINT64_C(24) << 30) },
                /* MemoryOverhead= replaces the default. */
                { "[VM]\nMemory=1G\n[Resources]\nMemoryOverhead=200M\n", (UINT64_C(1024) + 200) << 20,
                  (UINT64_C(1024) + 150) << 20 },
                { "[Resources]\nMemoryOverhead=16M\n", (UINT64_C(512) + 16) << 20, (UINT64_C(512) + 12) << 20 },
                { "[VM]\nMemory=1T\n[Resources]\nMemoryOverhead=1T\n", UINT64_C(2) << 40,
                  (UINT64_C(1) << 40) + (UINT64_C(768) << 30) },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(vm_config_freep) VmConfig *c = NULL;
                uint64_t high = 0;
                char text[256];

                snprintf(text, sizeof text, "%s" BOOT, cases[i].config);
                c = check_ok(text);
                assert_true(vm_config_memory_max(c, &high) == cases[i].max);
                assert_true(high == cases[i].high);
                assert_true(vm_config_memory_max(c, NULL) == cases[i].max);
                assert_true(high > c->memory && high < cases[i].max);
        }
}

static void test_disks(void **state) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL, *d = NULL;
        _cleanup_free_ char *log = NULL;
        VmConfig *e;

        c = check_ok(BOOT
                     "[Disk]\n"                               /* line 3 */
                     "Path=/var/lib/vms/web/root.img\n"
                     "[Disk]\n"                               /* line 5 */
                     "Path=/dev/vg0/data\n"
                     "ReadOnly=yes\n"
                     "Serial=data disk #1~\n"
                     "[Disk]\n"
                     "Path=/srv/img:with:colons%and%percent\n");
        assert_int_equal(c->n_disks, 3);
        assert_string_equal(c->disks[0].path, "/var/lib/vms/web/root.img");
        assert_false(c->disks[0].read_only);
        assert_string_equal(c->disks[0].serial, "sdvm-web-0");
        assert_int_equal(c->disks[0].line, 3);
        assert_string_equal(c->disks[1].path, "/dev/vg0/data");
        assert_true(c->disks[1].read_only);
        assert_string_equal(c->disks[1].serial, "data disk #1~");
        assert_int_equal(c->disks[1].line, 5);
        assert_string_equal(c->disks[2].serial, "sdvm-web-2");
        assert_int_equal(c->n_networks, 0);
        assert_null(c->networks);

        /* The default serial keeps its index and fits in 20 bytes by shortening the name. */
        assert_int_equal(vm_config_parse(BOOT "[Disk]\nPath=/a\n", strlen(BOOT "[Disk]\nPath=/a\n"), PATH,
                                         "a-very-long-vm-name.example", &d), 0);
        assert_int_equal(d->n_disks, 1);
        assert_string_equal(d->disks[0].serial, "sdvm-a-very-long-v-0");

        /* Sixteen disks: the last one's serial has two digits. */
        {
                char text[2048];
                size_t n = (size_t) snprintf(text, sizeof text, "%s", BOOT);

                for (unsigned i = 0; i < VM_DISKS_MAX; i++)
                        n += (size_t) snprintf(text + n, sizeof text - n, "[Disk]\nPath=/d%u\n", i);
                assert_int_equal(vm_config_parse(text, n, PATH, "abcdefghijklmnopqrstuvwxyz", &e), 0);
                assert_int_equal(e->n_disks, VM_DISKS_MAX);
                assert_string_equal(e->disks[15].serial, "sdvm-abcdefghijkl-15");
                assert_string_equal(e->disks[9].serial, "sdvm-abcdefghijklm-9");
                vm_config_free(e);

                /* One more is an error, and so is every one after it. */
                n += (size_t) snprintf(text + n, sizeof text - n, "[Disk]\nPath=/x\n[Disk]\nPath=/y\n");
                assert_int_equal(parse(text, &e, &log), -EINVAL);
                assert_null(e);
                assert_string_equal(log, PATH ":35: [Disk] too many disks, at most 16\n"
                                         PATH ":37: [Disk] too many disks, at most 16\n");
        }
}

static void test_disk_errors(void **state) {
        check_error(BOOT "[Disk]\nReadOnly=yes\n", PATH ":3: [Disk] Path= is required but not set\n");
        check_error(BOOT "[Disk]\nPath=root.img\n", PATH ":4: [Disk] Path=root.img: not an absolute path\n");
        check_error(BOOT "[Disk]\nPath=/a/../b\n",
                    PATH ":4: [Disk] Path=/a/../b: not a normalized path to a file (no '.' or '..' components, "
                    "no '//', no trailing '/')\n");
        check_error(BOOT "[Disk]\nPath=/a\nReadOnly=maybe\n",
                    PATH ":5: [Disk] ReadOnly=maybe: invalid boolean, expected yes or no\n");
        check_error(BOOT "[Disk]\nPath=/a\nSerial=\n", PATH ":5: [Disk] Serial=: must be 1 to 20 bytes long\n");
        check_error(BOOT "[Disk]\nPath=/a\nSerial=123456789012345678901\n",
                    PATH ":5: [Disk] Serial=123456789012345678901: must be 1 to 20 bytes long\n");
        check_error(BOOT "[Disk]\nPath=/a\nSerial=caf\xc3\xa9\n",
                    PATH ":5: [Disk] Serial=caf\xc3\xa9: must be printable ASCII\n");
        check_error(BOOT "[Disk]\nPath=/a\nPath=/b\n", PATH ":5: [Disk] duplicate key Path=, already set on line 4\n");
        check_error(BOOT "[Disk]\nPath=/a\nNetwork=x\n", PATH ":5: [Disk] unknown key 'Network'\n");
        /* Duplicates across sections, reported at the later one's header. */
        check_error(BOOT "[Disk]\nPath=/a\n[Disk]\nPath=/b\n[Disk]\nPath=/a\nReadOnly=yes\n",
                    PATH ":7: [Disk] #3: Path=/a is already used by [Disk] #1 on line 3\n");
        check_error(BOOT "[Disk]\nPath=/a\n[Disk]\nPath=/b\nSerial=sdvm-web-0\n",
                    PATH ":5: [Disk] #2: Serial=sdvm-web-0 is already used by [Disk] #1 on line 3\n");
        check_error(BOOT "[Disk]\nPath=/a\nSerial=x\n[Disk]\nPath=/b\nSerial=x\n",
                    PATH ":6: [Disk] #2: Serial=x is already used by [Disk] #1 on line 3\n");
}

static void test_networks(void **state) {
        _cleanup_(vm_config_freep) VmConfig *c = NULL, *d = NULL, *e = NULL;
        uint8_t mac[6], mac2[6];

        c = check_ok(BOOT
                     "[Network]\n"                            /* line 3 */
                     "[Network]\n"
                     "Tap=tap-web.1\n"
                     "Bridge=br0\n"
                     "MACAddress=02:AB:cd:00:00:01\n");
        assert_int_equal(c->n_networks, 2);
        assert_string_equal(c->networks[0].tap, "vm-web-0");
        assert_null(c->networks[0].bridge);
        assert_memory_equal(c->networks[0].mac, ((uint8_t[]) { 0x52, 0x54, 0x00, 0x50, 0xc1, 0x33 }), 6);
        assert_int_equal(c->networks[0].line, 3);
        assert_string_equal(c->networks[1].tap, "tap-web.1");
        assert_string_equal(c->networks[1].bridge, "br0");
        assert_memory_equal(c->networks[1].mac, ((uint8_t[]) { 0x02, 0xab, 0xcd, 0x00, 0x00, 0x01 }), 6);
        assert_int_equal(c->networks[1].line, 4);

        /* The default MAC: stable (these bytes must never change), per name and index. */
        vm_config_default_mac("web", 1, mac);
        assert_memory_equal(mac, ((uint8_t[]) { 0x52, 0x54, 0x00, 0x1b, 0x04, 0xa2 }), 6);
        vm_config_default_mac("web", 0, mac2);
        assert_memory_not_equal(mac, mac2, 6);
        vm_config_default_mac("wec", 0, mac);
        assert_memory_not_equal(mac, mac2, 6);

        /* A long name: the hashed tap name, 15 characters, and different for each index. */
        assert_int_equal(vm_config_parse(BOOT "[Network]\n[Network]\n", strlen(BOOT "[Network]\n[Network]\n"),
                                         PATH, "verylongname", &d), 0);
        assert_string_equal(d->networks[0].tap, "vm-veryl948e4-0");
        assert_string_equal(d->networks[1].tap, "vm-verylf0575-1");
        assert_int_equal(strlen(d->networks[1].tap), 15);
        /* Nine characters still fit as they are. */
        assert_int_equal(vm_config_parse(BOOT "[Network]\n", strlen(BOOT "[Network]\n"), PATH, "ninechars", &e),
                         0);
        assert_string_equal(e->networks[0].tap, "vm-ninechars-0");
}

static void test_network_errors(void **state) {
        char text[1024];
        size_t n;

        check_error(BOOT "[Network]\nTap=\n",
                    PATH ":4: [Network] Tap=: not a valid interface name: must be 1 to 15 bytes long\n");
        check_error(BOOT "[Network]\nTap=0123456789abcdef\n",
                    PATH ":4: [Network] Tap=0123456789abcdef: not a valid interface name: must be 1 to 15 bytes "
                    "long\n");
        check_error(BOOT "[Network]\nTap=tap%d\n",
                    PATH ":4: [Network] Tap=tap%d: not a valid interface name: must not be '.' or '..', or "
                    "contain '/', ':', '%' or whitespace\n");
        check_error(BOOT "[Network]\nBridge=..\n",
                    PATH ":4: [Network] Bridge=..: not a valid interface name: must not be '.' or '..', or "
                    "contain '/', ':', '%' or whitespace\n");
        check_error(BOOT "[Network]\nBridge=br 0\n",
                    PATH ":4: [Network] Bridge=br 0: not a valid interface name: must not be '.' or '..', or "
                    "contain '/', ':', '%' or whitespace\n");
        check_error(BOOT "[Network]\nBridge=br:0\n",
                    PATH ":4: [Network] Bridge=br:0: not a valid interface name: must not be '.' or '..', or "
                    "contain '/', ':', '%' or whitespace\n");
        check_error(BOOT "[Network]\nTap=t\xc3\xa4p\n",
                    PATH ":4: [Network] Tap=t\xc3\xa4p: not a valid interface name: must be ASCII\n");
        check_error(BOOT "[Network]\nMACAddress=01:00:5e:00:00:01\n",
                    PATH ":4: [Network] MACAddress=01:00:5e:00:00:01: a multicast address, expected a unicast "
                    "one\n");
        check_error(BOOT "[Network]\nMACAddress=00:00:00:00:00:00\n",
                    PATH ":4: [Network] MACAddress=00:00:00:00:00:00: the all-zero address is not a valid MAC "
                    "address\n");
        for (size_t i = 0; i < 6; i++) {
                static const char *const bad[] = {
                        "52:54:00:12:34", "52:54:00:12:34:5", "52-54-00-12-34-56", "52:54:00:12:34:567",
                        "52:54:00:12:34:5g", "5254.0012.3456",
                };
                char expected[512];

                snprintf(text, sizeof text, BOOT "[Network]\nMACAddress=%s\n", bad[i]);
                snprintf(expected, sizeof expected,
                         PATH ":4: [Network] MACAddress=%s: invalid MAC address, expected six hex octets separated "
                         "by ':', e.g. 52:54:00:12:34:56\n", bad[i]);
                check_error(text, expected);
        }
        check_error(BOOT "[Network]\nTap=t0\nBridge=t0\n", PATH ":3: [Network] #1: Bridge=t0 names the tap itself\n");
        check_error(BOOT "[Network]\nTap=vm-web-1\n[Network]\n",
                    PATH ":5: [Network] #2: Tap=vm-web-1 is already used by [Network] #1 on line 3\n");
        check_error(BOOT "[Network]\nMACAddress=52:54:00:1b:04:a2\n[Network]\n",
                    PATH ":5: [Network] #2: MACAddress=52:54:00:1b:04:a2 is already used by [Network] #1 on "
                    "line 3\n");
        check_error(BOOT "[Network]\nMACAddress=02:00:00:00:00:01\n[Network]\nMACAddress=02:00:00:00:00:01\n",
                    PATH ":5: [Network] #2: MACAddress=02:00:00:00:00:01 is already used by [Network] #1 on "
                    "line 3\n");

        n = (size_t) snprintf(text, sizeof text, "%s", BOOT);
        for (unsigned i = 0; i <= VM_NETWORKS_MAX; i++)
                n += (size_t) snprintf(text + n, sizeof text - n, "[Network]\n");
        check_error(text, PATH ":11: [Network] too many networks, at most 8\n");
}

static void test_errors(void **state) {
        check_error("[VM]\nMemroy=1G\n" BOOT,
                    PATH ":2: [VM] unknown key 'Memroy', did you mean 'Memory'?\n");
        check_error("[VM]\ncpus=2\n" BOOT, PATH ":2: [VM] unknown key 'cpus', did you mean 'CPUs'?\n");
        check_error("[VM]\nCPU=2\n" BOOT, PATH ":2: [VM] unknown key 'CPU', did you mean 'CPUs'?\n");
        check_error("[VM]\nKernel=/boot/vmlinuz\n" BOOT, PATH ":2: [VM] unknown key 'Kernel'\n");
        check_error("[Vm]\n" BOOT, PATH ":1: unknown section [Vm], did you mean [VM]?\n");
        check_error("[Boots]\nKernel=/k\n",
                    PATH ":1: unknown section [Boots], did you mean [Boot]?\n" PATH
                    ": [Boot] Kernel= is required but not set (there is no [Boot] section)\n");
        check_error("[Disks]\nPath=/x\n" BOOT, PATH ":1: unknown section [Disks], did you mean [Disk]?\n");
        check_error("CPUs=2\n" BOOT,
                    PATH ":1: CPUs=2: assignment outside of any section, expected a [Section] header first\n");
        check_error("[VM]\nCPUs 2\n" BOOT,
                    PATH ":2: [VM] 'CPUs 2': expected Key=Value, a [Section] header or a comment\n");
        check_error("[VM]\nCPUs=2\nCPUs=4\n" BOOT,
                    PATH ":3: [VM] duplicate key CPUs=, already set on line 2\n");
        check_error("[VM]\n" BOOT "[VM]\nCPUs=4\n",
                    PATH ":4: duplicate section [VM], already specified on line 1\n");
        check_error(BOOT "Kernel=/other\n",
                    PATH ":3: [Boot] duplicate key Kernel=, already set on line 2\n");
        check_error("[VM]\nDescription=caf\xc3\n" BOOT,
                    PATH ":2: [VM] Description=: invalid UTF-8 at column 16\n");
        check_error("[VM]\nDescription=a\tb\x07\n" BOOT,
                    PATH ":2: [VM] Description=: control character U+0007 at column 16\n");
}

static void test_many_errors(void **state) {
        /* The operator sees the whole list at once. */
        check_error("[VM]\n"
                    "CPUs=0\n"
                    "Memory=12X\n"
                    "Memroy=1G\n"
                    "Autostart=perhaps\n"
                    "[Boot]\n"
                    "Kernel=vmlinuz\n"
                    "Initrd=/a//b\n"
                    "[Bot]\n",
                    PATH ":2: [VM] CPUs=0: out of range, must be between 1 and 128\n"
                    PATH ":3: [VM] Memory=12X: invalid size, expected a number with an optional K, M, G or T suffix\n"
                    PATH ":4: [VM] unknown key 'Memroy', did you mean 'Memory'?\n"
                    PATH ":5: [VM] Autostart=perhaps: invalid boolean, expected yes or no\n"
                    PATH ":7: [Boot] Kernel=vmlinuz: not an absolute path\n"
                    PATH ":8: [Boot] Initrd=/a//b: not a normalized path to a file (no '.' or '..' components, "
                    "no '//', no trailing '/')\n"
                    PATH ":9: unknown section [Bot], did you mean [Boot]?\n");
}

static void test_names(void **state) {
        char name65[66];
        char *n = NULL;

        assert_true(vm_name_is_valid("web"));
        assert_true(vm_name_is_valid("a"));
        assert_true(vm_name_is_valid("Web_01.prod-2"));
        assert_true(vm_name_is_valid("0"));
        assert_true(vm_name_is_valid("a..b"));
        assert_false(vm_name_is_valid(NULL));
        assert_false(vm_name_is_valid(""));
        assert_false(vm_name_is_valid(".hidden"));
        assert_false(vm_name_is_valid("-x"));
        assert_false(vm_name_is_valid("a b"));
        assert_false(vm_name_is_valid("a/b"));
        assert_false(vm_name_is_valid("a@b"));
        assert_false(vm_name_is_valid("a\\x2db"));
        assert_false(vm_name_is_valid("caf\xc3\xa9"));
        assert_false(vm_name_is_valid("a\n"));
        memset(name65, 'x', 65);
        name65[65] = 0;
        assert_false(vm_name_is_valid(name65));
        name65[64] = 0;
        assert_true(vm_name_is_valid(name65));

        assert_int_equal(vm_name_from_path("/etc/vms/web.conf", &n), 0);
        assert_string_equal(n, "web");
        free(n);
        assert_int_equal(vm_name_from_path("web.conf", &n), 0);
        assert_string_equal(n, "web");
        free(n);
        assert_int_equal(vm_name_from_path("/etc/vms/db.old.conf", &n), 0);
        assert_string_equal(n, "db.old");
        free(n);
        n = NULL;
        assert_int_equal(vm_name_from_path("/etc/vms/.conf", &n), -EINVAL);
        assert_int_equal(vm_name_from_path("/etc/vms/web", &n), -EINVAL);
        assert_int_equal(vm_name_from_path("/etc/vms/web.conf~", &n), -EINVAL);
        assert_int_equal(vm_name_from_path("/etc/vms/web.conf/", &n), -EINVAL);
        assert_int_equal(vm_name_from_path("/etc/vms/.web.conf", &n), -EINVAL);
        assert_int_equal(vm_name_from_path("/etc/vms/-web.conf", &n), -EINVAL);
        assert_int_equal(vm_name_from_path("/etc/vms/we b.conf", &n), -EINVAL);
        assert_int_equal(vm_name_from_path(NULL, &n), -EINVAL);
        assert_null(n); /* untouched on failure */

        /* A name passed in must be valid too. */
        {
                VmConfig *c = NULL;
                Capture cap;
                char *out;
                int r;

                capture_begin(&cap);
                r = vm_config_parse(BOOT, strlen(BOOT), "x.conf", "-bad", &c);
                out = capture_end(&cap);
                assert_int_equal(r, -EINVAL);
                assert_null(c);
                assert_string_equal(out, "x.conf: invalid VM name\n");
                free(out);

                /* No name at all is fine (vmctl validate on some file). */
                r = vm_config_parse(BOOT, strlen(BOOT), NULL, NULL, &c);
                assert_int_equal(r, 0);
                assert_null(c->name);
                assert_null(c->path);
                c = vm_config_free(c);
        }
}

static void test_load(void **state) {
        char dir[] = "/tmp/test-vm-config.XXXXXX", path[256], expected[1024];
        static const char text[] = "[VM]\nCPUs=4\n" BOOT;
        VmConfig *c = NULL;
        Capture cap;
        char *out;
        int fd, r;

        assert_non_null(mkdtemp(dir));

        snprintf(path, sizeof path, "%s/build-01.conf", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        assert_int_equal(vm_config_load(path, &c), 0);
        assert_string_equal(c->name, "build-01");
        assert_string_equal(c->path, path);
        assert_int_equal(c->cpus, 4);
        c = vm_config_free(c);
        assert_null(c);

        /* Errors name the file as given. */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "[VM]\nCPUs=400\n", 14), 14);
        close(fd);
        capture_begin(&cap);
        r = vm_config_load(path, &c);
        out = capture_end(&cap);
        assert_int_equal(r, -EINVAL);
        assert_null(c);
        snprintf(expected, sizeof expected,
                 "%s:2: [VM] CPUs=400: out of range, must be between 1 and 128\n"
                 "%s: [Boot] Kernel= is required but not set (there is no [Boot] section)\n",
                 path, path);
        assert_string_equal(out, expected);
        free(out);
        unlink(path);

        /* A bad name is refused before the file is even opened. */
        snprintf(path, sizeof path, "%s/-web.conf", dir);
        capture_begin(&cap);
        r = vm_config_load(path, &c);
        out = capture_end(&cap);
        assert_int_equal(r, -EINVAL);
        snprintf(expected, sizeof expected,
                 "%s: invalid file name, expected NAME.conf where NAME is 1-64 characters of A-Z a-z 0-9 _ . - "
                 "not starting with '.' or '-'\n",
                 path);
        assert_string_equal(out, expected);
        free(out);

        /* A missing file. */
        snprintf(path, sizeof path, "%s/gone.conf", dir);
        capture_begin(&cap);
        r = vm_config_load(path, &c);
        out = capture_end(&cap);
        assert_int_equal(r, -ENOENT);
        snprintf(expected, sizeof expected, "Failed to open %s: No such file or directory\n", path);
        assert_string_equal(out, expected);
        free(out);

        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_missing_kernel),
                cmocka_unit_test(test_cpus),
                cmocka_unit_test(test_memory),
                cmocka_unit_test(test_other_keys),
                cmocka_unit_test(test_description),
                cmocka_unit_test(test_groups),
                cmocka_unit_test(test_resources),
                cmocka_unit_test(test_resources_errors),
                cmocka_unit_test(test_allowed_cpus),
                cmocka_unit_test(test_allowed_cpus_long),
                cmocka_unit_test(test_memory_max),
                cmocka_unit_test(test_disks),
                cmocka_unit_test(test_disk_errors),
                cmocka_unit_test(test_networks),
                cmocka_unit_test(test_network_errors),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_many_errors),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_load),
        };
        unsetenv("JOURNAL_STREAM");
        return cmocka_run_group_tests(tests, NULL, NULL);
}

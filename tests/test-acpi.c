/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "device/pci/hotplug.h"
#include "cleanup.h"

/* Offsets below are from ACPI 6.4 chapter 5 (RSDP 5.2.5.3, header 5.2.6, FADT 5.2.9, MADT 5.2.12). */

static uint16_t get_u16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) {
        return get_u32(p) | (uint64_t) get_u32(p + 4) << 32;
}

static uint8_t sum_bytes(const uint8_t *p, size_t n) {
        uint8_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += p[i];
        return s;
}

typedef struct Image {
        uint8_t buf[X86_ACPI_MAX];
        size_t len;
} Image;

static Image *build(unsigned n_cpus, bool cmos_rtc) {
        Image *img = calloc(1, sizeof *img);

        assert_non_null(img);
        /* With the board's PCI window, so that the DSDT has the host bridge and its hotplug slots. */
        assert_int_equal(acpi_build(&(AcpiConfig) { .n_cpus = n_cpus,
                                                    .cmos_rtc = cmos_rtc,
                                                    .pci_mmio_base = X86_PCI_MMIO_BASE,
                                                    .pci_mmio_size = X86_PCI_MMIO_SIZE },
                                    img->buf, sizeof img->buf, &img->len),
                         0);
        assert_true(img->len > 0 && img->len <= sizeof img->buf);
        return img;
}

/* A table by guest-physical address: checks that it lies inside the image, is aligned and has a
 * correct length and checksum, then returns it. */
static const uint8_t *table_at(const Image *img, uint64_t addr, const char *signature) {
        const uint8_t *t;
        uint64_t off;
        uint32_t len;

        assert_true(addr >= X86_ACPI_ADDR);
        off = addr - X86_ACPI_ADDR;
        assert_true(off % 16 == 0);
        assert_true(off + 36 <= img->len);
        t = img->buf + off;
        len = get_u32(t + 4);
        assert_true(len >= 36 && off + len <= img->len);
        assert_memory_equal(t, signature, 4);
        assert_int_equal(sum_bytes(t, len), 0);
        assert_memory_equal(t + 10, "SDVM  ", 6);
        assert_memory_equal(t + 16, "SDVM    ", 8);
        assert_memory_equal(t + 28, "SDVM", 4);
        return t;
}

static const uint8_t *xsdt_of(const Image *img) {
        const uint8_t *rsdp = img->buf;

        return table_at(img, get_u64(rsdp + 24), "XSDT");
}

/* The n-th XSDT entry must be the table with this signature. */
static const uint8_t *xsdt_entry(const Image *img, size_t n, const char *signature) {
        const uint8_t *xsdt = xsdt_of(img);

        assert_true(36 + 8 * (n + 1) <= get_u32(xsdt + 4));
        return table_at(img, get_u64(xsdt + 36 + 8 * n), signature);
}

static void test_rsdp(void **state) {
        _cleanup_free_ Image *img = build(1, false);
        const uint8_t *r = img->buf;

        assert_memory_equal(r, "RSD PTR ", 8);
        assert_int_equal(sum_bytes(r, 20), 0);
        assert_int_equal(sum_bytes(r, 36), 0);
        assert_memory_equal(r + 9, "SDVM  ", 6);
        assert_int_equal(r[15], 2);
        assert_int_equal(get_u32(r + 16), 0); /* no RSDT */
        assert_int_equal(get_u32(r + 20), 36);
        assert_int_equal(r[33] | r[34] | r[35], 0);
        (void) xsdt_of(img);
}

static void test_xsdt(void **state) {
        _cleanup_free_ Image *img = build(2, false);
        const uint8_t *xsdt = xsdt_of(img);

        assert_int_equal(xsdt[8], 1);
        assert_int_equal(get_u32(xsdt + 4), 36 + 2 * 8);
        (void) xsdt_entry(img, 0, "FACP");
        (void) xsdt_entry(img, 1, "APIC");
}

static void assert_gas_io8(const uint8_t *g, uint16_t port) {
        assert_int_equal(g[0], 1); /* SystemIO */
        assert_int_equal(g[1], 8); /* bit width */
        assert_int_equal(g[2], 0); /* bit offset */
        assert_int_equal(g[3], 1); /* byte access */
        assert_int_equal(get_u64(g + 4), port);
}

static void test_fadt(void **state) {
        _cleanup_free_ Image *img = build(1, false);
        const uint8_t *f = xsdt_entry(img, 0, "FACP");
        const uint8_t *dsdt;
        uint32_t flags;
        uint16_t boot;

        assert_int_equal(get_u32(f + 4), 276);
        assert_int_equal(f[8], 6);    /* revision */
        assert_int_equal(f[131], 4);  /* minor version: 6.4 */
        assert_int_equal(get_u32(f + 36), 0);  /* FIRMWARE_CTRL: no FACS */
        assert_int_equal(get_u64(f + 132), 0); /* X_FIRMWARE_CTRL */
        assert_int_equal(get_u16(f + 46), 0);  /* SCI_INT */
        assert_int_equal(get_u32(f + 48), 0);  /* SMI_CMD */
        for (size_t off = 56; off < 88; off += 4) /* PM1a_EVT_BLK .. GPE1_BLK */
                assert_int_equal(get_u32(f + off), 0);
        for (size_t off = 148; off < 244; off++) /* X_PM1a_EVT_BLK .. X_GPE1_BLK */
                assert_int_equal(f[off], 0);

        dsdt = table_at(img, get_u64(f + 140), "DSDT");
        assert_int_equal(get_u32(f + 40), get_u64(f + 140));
        assert_int_equal(dsdt[8], 2);

        flags = get_u32(f + 112);
        assert_true(flags & (1U << 20));  /* HW_REDUCED_ACPI */
        assert_true(flags & (1U << 10));  /* RESET_REG_SUP */
        assert_true(flags & (1U << 4));   /* PWR_BUTTON: control method */
        assert_false(flags & (1U << 21)); /* LOW_POWER_S0_IDLE_CAPABLE */

        boot = get_u16(f + 109);
        assert_false(boot & (1U << 0)); /* LEGACY_DEVICES */
        assert_false(boot & (1U << 1)); /* 8042 */
        assert_true(boot & (1U << 2));  /* VGA Not Present */
        assert_false(boot & (1U << 3)); /* MSI Not Supported */
        assert_true(boot & (1U << 5));  /* CMOS RTC Not Present */

        assert_gas_io8(f + 116, X86_PORT_ACPI_RESET);
        assert_int_equal(f[128], X86_ACPI_RESET_VALUE);
        assert_gas_io8(f + 244, X86_PORT_ACPI_SLEEP_CONTROL);
        assert_gas_io8(f + 256, X86_PORT_ACPI_SLEEP_STATUS);
        assert_memory_equal(f + 268, "SDVM\0\0\0\0", 8);

        free(img);
        img = build(1, true);
        f = xsdt_entry(img, 0, "FACP");
        assert_false(get_u16(f + 109) & (1U << 5));
}

static void check_madt(unsigned n_cpus) {
        _cleanup_free_ Image *img = build(n_cpus, false);
        const uint8_t *m = xsdt_entry(img, 1, "APIC");
        uint32_t len = get_u32(m + 4);
        unsigned n_lapic = 0, n_ioapic = 0, n_override = 0, n_nmi = 0, n_other = 0;

        assert_int_equal(m[8], 5);
        assert_int_equal(get_u32(m + 36), X86_LAPIC_ADDR);
        assert_int_equal(get_u32(m + 40), 1); /* PCAT_COMPAT */

        for (size_t off = 44; off < len;) {
                const uint8_t *e = m + off;

                assert_true(off + 2 <= len);
                assert_true(e[1] >= 2 && off + e[1] <= len);
                switch (e[0]) {
                case 0: /* Processor Local APIC, in vCPU order */
                        assert_int_equal(e[1], 8);
                        assert_int_equal(e[2], n_lapic); /* ACPI Processor UID */
                        assert_int_equal(e[3], n_lapic); /* APIC ID */
                        assert_int_equal(get_u32(e + 4), 1);
                        n_lapic++;
                        break;
                case 1:
                        assert_int_equal(e[1], 12);
                        assert_int_equal(e[2], X86_IOAPIC_ID);
                        assert_int_equal(get_u32(e + 4), X86_IOAPIC_ADDR);
                        assert_int_equal(get_u32(e + 8), 0);
                        n_ioapic++;
                        break;
                case 2:
                        assert_int_equal(e[1], 10);
                        assert_int_equal(e[2], 0); /* ISA */
                        assert_int_equal(e[3], 0); /* IRQ 0 */
                        assert_int_equal(get_u32(e + 4), 2);
                        assert_int_equal(get_u16(e + 8), 0x5); /* edge, active high */
                        n_override++;
                        break;
                case 4:
                        assert_int_equal(e[1], 6);
                        assert_int_equal(e[2], 0xff); /* all processors */
                        assert_int_equal(e[5], 1);    /* LINT1 */
                        n_nmi++;
                        break;
                default:
                        n_other++;
                        break;
                }
                off += e[1];
        }
        assert_int_equal(n_lapic, n_cpus);
        assert_int_equal(n_ioapic, 1);
        assert_int_equal(n_override, 1);
        assert_int_equal(n_nmi, 1);
        assert_int_equal(n_other, 0);
        assert_int_equal(len, 44 + 8 * n_cpus + 12 + 10 + 6);
}

static void test_madt(void **state) {
        const unsigned counts[] = { 1, 2, 4, 16, 255 };

        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
                check_madt(counts[i]);
}

/* Every table the RSDP leads to sums to zero, for every vCPU count. */
static void test_checksums(void **state) {
        for (unsigned n = 1; n <= ACPI_CPUS_MAX; n++) {
                _cleanup_free_ Image *img = build(n, n % 2);
                const uint8_t *f;

                assert_int_equal(sum_bytes(img->buf, 20), 0);
                assert_int_equal(sum_bytes(img->buf, 36), 0);
                f = xsdt_entry(img, 0, "FACP");
                (void) xsdt_entry(img, 1, "APIC");
                (void) table_at(img, get_u64(f + 140), "DSDT");
        }
}

/* The DSDT must contain this byte string. */
#define assert_contains(d, len, ...)                                                              \
        do {                                                                                      \
                static const uint8_t _needle_[] = { __VA_ARGS__ };                                \
                assert_non_null(memmem(d, len, _needle_, sizeof _needle_));                       \
        } while (0)

static void test_dsdt_aml(void **state) {
        _cleanup_free_ Image *img = build(4, false);
        const uint8_t *f = xsdt_entry(img, 0, "FACP");
        const uint8_t *d = table_at(img, get_u64(f + 140), "DSDT");
        size_t len = get_u32(d + 4);

        /* Name(\_S5, Package(4) { X86_ACPI_S5_TYPE, 0, 0, 0 }) */
        assert_contains(d, len, 0x08, '\\', '_', 'S', '5', '_', /* Name(\_S5, */
                        0x12, 0x07, 0x04, 0x0a, X86_ACPI_S5_TYPE, 0, 0, 0);
        /* \_SB, as Scope(\_SB) names it */
        assert_contains(d, len, '\\', '_', 'S', 'B', '_');
        /* Name(_HID, EisaId("PNP0C0C")) and EisaId("PNP0501") */
        assert_contains(d, len, 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c);
        assert_contains(d, len, 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01);
        assert_contains(d, len, 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00);
        assert_contains(d, len, 0x0d, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00);
        /* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { X86_IRQ_ACPI_GED } */
        assert_contains(d, len, 0x89, 0x06, 0x00, 0x03, 0x01, X86_IRQ_ACPI_GED, 0, 0, 0);
        /* Method(_EVT, 1) { If (LEqual(Arg0, GSI)) { Notify(\_SB.PWRB, 0x80) } } */
        assert_contains(d, len, '_', 'E', 'V', 'T', 0x01, 0xa0, 0x12, 0x93, 0x68, 0x0a, X86_IRQ_ACPI_GED,
                        0x86, '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80);
        /* IO(Decode16, COM1, COM1, 1, 8) IRQNoFlags() {COM1} */
        assert_contains(d, len, 0x47, 0x01, X86_PORT_COM1 & 0xff, X86_PORT_COM1 >> 8, X86_PORT_COM1 & 0xff,
                        X86_PORT_COM1 >> 8, 0x01, 0x08, 0x22, 1 << X86_IRQ_COM1, 0x00);
        /* IO(Decode16, PVPANIC, PVPANIC, 1, 1) and Name(_STA, 0x0f) */
        assert_contains(d, len, 0x47, 0x01, X86_PORT_PVPANIC & 0xff, X86_PORT_PVPANIC >> 8,
                        X86_PORT_PVPANIC & 0xff, X86_PORT_PVPANIC >> 8, 0x01, 0x01);
        assert_contains(d, len, 0x08, '_', 'S', 'T', 'A', 0x0a, 0x0f);

        /* ACPI PCI hotplug: the GED's second interrupt, and its _EVT calling \_SB.PCI0.PCNT */
        assert_contains(d, len, 0x89, 0x06, 0x00, 0x03, 0x01, X86_IRQ_ACPI_GED_HOTPLUG, 0, 0, 0);
        assert_contains(d, len, 0x93, 0x68, 0x0a, X86_IRQ_ACPI_GED_HOTPLUG, '\\', 0x2f, 0x03, '_', 'S', 'B', '_',
                        'P', 'C', 'I', '0', 'P', 'C', 'N', 'T');
        /* OperationRegion(PCHP, SystemIO, X86_PORT_PCI_HOTPLUG, PCI_HOTPLUG_REGS) */
        assert_contains(d, len, 0x5b, 0x80, 'P', 'C', 'H', 'P', 0x01, 0x0b, X86_PORT_PCI_HOTPLUG & 0xff,
                        X86_PORT_PCI_HOTPLUG >> 8, 0x0a, PCI_HOTPLUG_REGS);
        /* Field(PCHP, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32, B0EJ, 32 } */
        assert_contains(d, len, 'P', 'C', 'H', 'P', 0x43, 'P', 'C', 'I', 'U', 0x20, 'P', 'C', 'I', 'D', 0x20, 'B',
                        '0', 'E', 'J', 0x20);
        /* Device(S05) { Name(_ADR, 0x00050000) Name(_SUN, 5) Method(_EJ0, 1) { Store(1 << 5, B0EJ) } } */
        assert_contains(d, len, 'S', '0', '5', '_', 0x08, '_', 'A', 'D', 'R', 0x0c, 0x00, 0x00, 0x05, 0x00, 0x08,
                        '_', 'S', 'U', 'N', 0x0a, 0x05);
        assert_contains(d, len, '_', 'E', 'J', '0', 0x01, 0x70, 0x0a, 1 << 5, 'B', '0', 'E', 'J');
        /* Slot 31 too; and in PCNT: If (And(Local0, 1 << 31, Zero)) { Notify(S1F, 1) } */
        assert_contains(d, len, 'S', '1', 'F', '_', 0x08, '_', 'A', 'D', 'R', 0x0c, 0x00, 0x00, 0x1f, 0x00);
        assert_contains(d, len, 0x7b, 0x60, 0x0c, 0x00, 0x00, 0x00, 0x80, 0x00, 0x86, 'S', '1', 'F', '_', 0x01);
}

static void test_sleep_control_decode(void **state) {
        assert_int_equal(acpi_sleep_control_decode((X86_ACPI_S5_TYPE << 2) | 0x20), X86_ACPI_S5_TYPE);
        assert_int_equal(acpi_sleep_control_decode(0x34), 5);
        assert_int_equal(acpi_sleep_control_decode(X86_ACPI_S5_TYPE << 2), -EAGAIN);
        assert_int_equal(acpi_sleep_control_decode(0xff), 7);
}

static void test_invalid(void **state) {
        _cleanup_free_ uint8_t *buf = malloc(X86_ACPI_MAX);
        size_t len = 12345, need;

        assert_non_null(buf);
        assert_int_equal(acpi_build(&(AcpiConfig) { .n_cpus = 0 }, buf, X86_ACPI_MAX, &len), -EINVAL);
        assert_int_equal(acpi_build(&(AcpiConfig) { .n_cpus = 256 }, buf, X86_ACPI_MAX, &len), -EINVAL);
        assert_int_equal(len, 12345);

        for (unsigned n = 1; n <= ACPI_CPUS_MAX; n += 127) {
                assert_int_equal(acpi_build(&(AcpiConfig) { .n_cpus = n }, buf, X86_ACPI_MAX, &need), 0);
                memset(buf, 0xaa, X86_ACPI_MAX);
                len = 12345;
                assert_int_equal(acpi_build(&(AcpiConfig) { .n_cpus = n }, buf, need - 1, &len), -ENOBUFS);
                assert_int_equal(acpi_build(&(AcpiConfig) { .n_cpus = n }, buf, 0, &len), -ENOBUFS);
                assert_int_equal(len, 12345);
                for (size_t i = 0; i < X86_ACPI_MAX; i++) /* untouched on failure */
                        assert_int_equal(buf[i], 0xaa);
                assert_int_equal(acpi_build(&(AcpiConfig) { .n_cpus = n }, buf, need, &len), 0);
                assert_int_equal(len, need);
        }
}

/* iasl from PATH, or NULL. */
static char *find_iasl(void) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = strdup(path ? path : "/usr/bin:/bin");

        assert_non_null(copy);
        for (char *dir = strtok(copy, ":"); dir; dir = strtok(NULL, ":")) {
                char *p;

                if (asprintf(&p, "%s/iasl", dir) < 0)
                        fail();
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

static char *read_file(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char *s;
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        rewind(f);
        s = malloc((size_t) n + 1);
        assert_non_null(s);
        assert_int_equal(fread(s, 1, (size_t) n, f), (size_t) n);
        s[n] = 0;
        return s;
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, n, f), n);
}

/* Whether iasl's output reports a problem: a line with "error" or "warning" in any case, other than
 * in a summary such as "0 Errors, 0 Warnings". iasl -d exits 0 even for a table with a bad checksum,
 * which it only reports as a "Firmware Warning". */
static bool reports_problem(const char *out) {
        static const char *const words[] = { "error", "warning" };

        for (const char *line = out; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t n = end ? (size_t) (end - line) : strlen(line);
                _cleanup_free_ char *l = strndup(line, n);

                assert_non_null(l);
                for (char *c = l; *c; c++)
                        if (*c >= 'A' && *c <= 'Z')
                                *c = (char) (*c - 'A' + 'a');
                for (size_t i = 0; i < ELEMENTSOF(words); i++)
                        for (const char *e = strstr(l, words[i]); e; e = strstr(e + 1, words[i])) {
                                /* "0 errors": a zero count, not a digit string ending in 0 */
                                bool zero_count = e >= l + 2 && e[-1] == ' ' && e[-2] == '0' &&
                                                  (e == l + 2 || e[-3] < '0' || e[-3] > '9');
                                if (!zero_count) {
                                        print_message("iasl reports: %s\n", l);
                                        return true;
                                }
                        }
                line = end ? end + 1 : NULL;
        }
        return false;
}

/* Runs iasl with args in dir; returns its exit status (-1 if it did not exit) and its output. */
static int run_iasl(const char *iasl, const char *dir, const char *args, char **ret_out) {
        _cleanup_free_ char *cmd = NULL, *log = NULL;
        int status;

        assert_true(asprintf(&log, "%s/iasl.log", dir) >= 0);
        assert_true(asprintf(&cmd, "cd '%s' && '%s' %s >'%s' 2>&1", dir, iasl, args, log) >= 0);
        status = system(cmd);
        *ret_out = read_file(log);
        (void) unlink(log);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *path_in(const char *dir, const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, name) >= 0);
        return p;
}

/* Some iasl releases (20250404 among them) take any binary RSDP for a signature-less CDAT table and
 * refuse it, even the one iasl itself compiles from its own template (iasl -T RSDP). Whether this
 * one can is found out with that template, so that a failure on ours means something. */
static bool rsdp_disassembles(const char *iasl, const char *dir) {
        _cleanup_free_ char *out = NULL, *asl = path_in(dir, "tmpl.asl"), *aml = path_in(dir, "tmpl.aml"),
                            *dsl = path_in(dir, "tmpl.dsl"), *rsdp_asl = path_in(dir, "rsdp.asl");
        bool ok;

        /* iasl -T writes rsdp.asl; it is moved aside so as not to clash with our rsdp.* files. */
        assert_int_equal(run_iasl(iasl, dir, "-T RSDP", &out), 0);
        assert_int_equal(rename(rsdp_asl, asl), 0);
        free(out);
        assert_int_equal(run_iasl(iasl, dir, "tmpl.asl", &out), 0);
        free(out);
        ok = run_iasl(iasl, dir, "-d tmpl.aml", &out) == 0;
        (void) unlink(asl);
        (void) unlink(aml);
        (void) unlink(dsl);
        return ok;
}

/* Disassembles one table with iasl -d in dir and returns the .dsl text. */
static char *iasl_disassemble(const char *iasl, const char *dir, const char *name, const uint8_t *p,
                              size_t n) {
        _cleanup_free_ char *args = NULL, *dat_name = NULL, *dsl_name = NULL, *dat = NULL, *dsl = NULL,
                            *out = NULL;
        int r;

        assert_true(asprintf(&dat_name, "%s.dat", name) >= 0);
        assert_true(asprintf(&dsl_name, "%s.dsl", name) >= 0);
        assert_true(asprintf(&args, "-d %s", dat_name) >= 0);
        dat = path_in(dir, dat_name);
        dsl = path_in(dir, dsl_name);
        write_file(dat, p, n);

        r = run_iasl(iasl, dir, args, &out);
        print_message("--- iasl -d %s (%zu bytes): exit status %d\n%s", dat_name, n, r, out);
        assert_int_equal(r, 0);
        assert_false(reports_problem(out));
        (void) unlink(dat);

        /* What iasl -d finds wrong inside a data table (a zero-length MADT entry, a table that ends
         * in the middle of a field) it writes into the .dsl, marked like this. */
        free(out);
        out = read_file(dsl);
        assert_null(strstr(out, "****"));
        assert_null(strstr(out, "Invalid"));
        assert_null(strstr(out, "invalid"));
        (void) unlink(dsl);
        return TAKE_PTR(out);
}

/* Compiles the disassembled DSDT again, without iasl's optimizations, and compares the AML with ours:
 * equal but for what iasl fills in itself, the header's checksum and compiler ID/revision, and the
 * checksum byte of each resource template's End Tag (iasl writes 0, "no checksum"). */
static void check_dsdt_round_trip(const char *iasl, const char *dir, const char *dsl_text,
                                  const uint8_t *dsdt) {
        _cleanup_free_ char *dsl = path_in(dir, "rt.dsl"), *aml = path_in(dir, "rt.aml"), *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        uint8_t again[X86_ACPI_MAX];
        size_t len = get_u32(dsdt + 4), n;
        int r;

        f = fopen(dsl, "we");
        assert_non_null(f);
        assert_true(fputs(dsl_text, f) >= 0);
        assert_int_equal(fclose(TAKE_PTR(f)), 0);

        r = run_iasl(iasl, dir, "-oa -p rt rt.dsl", &out);
        print_message("--- iasl -oa rt.dsl: exit status %d\n%s", r, out);
        assert_int_equal(r, 0);
        assert_false(reports_problem(out));

        f = fopen(aml, "re");
        assert_non_null(f);
        n = fread(again, 1, sizeof again, f);
        assert_int_equal(n, len);
        for (size_t i = 0; i < len; i++) {
                if (i == 9 || (i >= 28 && i < 36))
                        continue;
                if (again[i] != dsdt[i])
                        assert_true(i > 36 && dsdt[i - 1] == 0x79 && again[i - 1] == 0x79 && again[i] == 0);
        }
        (void) unlink(dsl);
        (void) unlink(aml);
}

static void check_iasl(unsigned n_cpus) {
        _cleanup_free_ char *iasl = find_iasl(), *dsdt_dsl = NULL;
        _cleanup_free_ Image *img = NULL;
        char dir[] = "/tmp/test-acpi-XXXXXX";
        const uint8_t *xsdt, *fadt, *madt, *dsdt;

        if (!iasl) {
                print_message("iasl (acpica-tools) is not in PATH; skipping the disassembly check.\n");
                skip();
        }
        img = build(n_cpus, false);
        xsdt = xsdt_of(img);
        fadt = xsdt_entry(img, 0, "FACP");
        madt = xsdt_entry(img, 1, "APIC");
        dsdt = table_at(img, get_u64(fadt + 140), "DSDT");

        assert_non_null(mkdtemp(dir));
        if (rsdp_disassembles(iasl, dir))
                free(iasl_disassemble(iasl, dir, "rsdp", img->buf, 36));
        else
                print_message("--- this iasl cannot disassemble any RSDP, not even its own template; "
                              "the RSDP is checked by test_rsdp only\n");
        free(iasl_disassemble(iasl, dir, "xsdt", xsdt, get_u32(xsdt + 4)));
        free(iasl_disassemble(iasl, dir, "facp", fadt, get_u32(fadt + 4)));
        free(iasl_disassemble(iasl, dir, "apic", madt, get_u32(madt + 4)));
        dsdt_dsl = iasl_disassemble(iasl, dir, "dsdt", dsdt, get_u32(dsdt + 4));
        print_message("--- dsdt.dsl:\n%s", dsdt_dsl);
        check_dsdt_round_trip(iasl, dir, dsdt_dsl, dsdt);
        assert_int_equal(rmdir(dir), 0);

        assert_non_null(strstr(dsdt_dsl, "PNP0C0C"));
        assert_non_null(strstr(dsdt_dsl, "ACPI0013"));
        assert_non_null(strstr(dsdt_dsl, "PNP0501"));
        assert_non_null(strstr(dsdt_dsl, "QEMU0001"));
        assert_non_null(strstr(dsdt_dsl, "_S5_"));
}

static void test_iasl_1(void **state) {
        check_iasl(1);
}

static void test_iasl_4(void **state) {
        check_iasl(4);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rsdp),
                cmocka_unit_test(test_xsdt),
                cmocka_unit_test(test_fadt),
                cmocka_unit_test(test_madt),
                cmocka_unit_test(test_checksums),
                cmocka_unit_test(test_dsdt_aml),
                cmocka_unit_test(test_sleep_control_decode),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_iasl_1),
                cmocka_unit_test(test_iasl_4),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

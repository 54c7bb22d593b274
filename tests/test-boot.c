/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "arch/x86/boot.h"
#include "arch/x86/bootparam.h"
#include "arch/x86/layout.h"
#include "log.h"
#include "core/memory.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- helpers ---- */

/* Raw little-endian access at absolute offsets, independent of bootparam.h's structs, so a wrong
 * offset there shows up here. */
static void put16(uint8_t *p, size_t off, uint16_t v) {
        memcpy(p + off, &v, sizeof(v));
}
static void put32(uint8_t *p, size_t off, uint32_t v) {
        memcpy(p + off, &v, sizeof(v));
}
static void put64(uint8_t *p, size_t off, uint64_t v) {
        memcpy(p + off, &v, sizeof(v));
}
static uint8_t get8(const GuestMemory *m, uint64_t gpa) {
        uint8_t v = 0;
        assert_int_equal(guest_read(m, gpa, &v, sizeof(v)), 0);
        return v;
}
static uint16_t get16(const GuestMemory *m, uint64_t gpa) {
        uint16_t v = 0;
        assert_int_equal(guest_read(m, gpa, &v, sizeof(v)), 0);
        return v;
}
static uint32_t get32(const GuestMemory *m, uint64_t gpa) {
        uint32_t v = 0;
        assert_int_equal(guest_read(m, gpa, &v, sizeof(v)), 0);
        return v;
}
static uint64_t get64(const GuestMemory *m, uint64_t gpa) {
        uint64_t v = 0;
        assert_int_equal(guest_read(m, gpa, &v, sizeof(v)), 0);
        return v;
}

static GuestMemory *mem_new(uint64_t size) {
        GuestMemory *m = NULL;
        assert_int_equal(guest_memory_new(size, X86_PCI_HOLE_START, X86_HIGH_RAM_START, &m), 0);
        return m;
}

/* Fields of a synthetic bzImage. */
typedef struct Bz {
        uint8_t setup_sects;
        uint16_t boot_flag;
        uint8_t hdr_len; /* byte at 0x201 */
        uint16_t version;
        uint8_t loadflags;
        uint32_t initrd_addr_max;
        uint32_t kernel_alignment;
        uint8_t relocatable;
        uint16_t xloadflags;
        uint32_t cmdline_size;
        uint64_t pref_address;
        uint32_t init_size;
        size_t pm_size;
        uint32_t syssize; /* 0: pm_size / 16 */
        size_t truncate;  /* if nonzero, the file is cut to this size */
} Bz;

static Bz bz_default(void) {
        /* Shaped like Debian's 6.12 kernel, only smaller. */
        return (Bz) {
                .setup_sects = 4,
                .boot_flag = 0xaa55,
                .hdr_len = 0x26c - 0x202,
                .version = 0x020f,
                .loadflags = 0x01,
                .initrd_addr_max = 0x7fffffff,
                .kernel_alignment = 0x200000,
                .relocatable = 1,
                .xloadflags = 0x7f,
                .cmdline_size = 0x7ff,
                .pref_address = 0x1000000,
                .init_size = 8 * MiB,
                .pm_size = 64 * KiB,
        };
}

static uint8_t *bz_make(const Bz *bz, size_t *ret_size) {
        size_t setup = ((size_t) (bz->setup_sects ?: 4) + 1) * 512, size = setup + bz->pm_size;
        uint8_t *p = calloc(1, size);

        assert_non_null(p);
        p[0x1f1] = bz->setup_sects;
        put32(p, 0x1f4, bz->syssize ?: (uint32_t) (bz->pm_size / 16));
        put16(p, 0x1fe, bz->boot_flag);
        p[0x200] = 0xeb; /* jmp short */
        p[0x201] = bz->hdr_len;
        memcpy(p + 0x202, "HdrS", 4);
        put16(p, 0x206, bz->version);
        p[0x211] = bz->loadflags;
        put32(p, 0x214, 0x100000);
        put32(p, 0x22c, bz->initrd_addr_max);
        put32(p, 0x230, bz->kernel_alignment);
        p[0x234] = bz->relocatable;
        p[0x235] = 21;
        put16(p, 0x236, bz->xloadflags);
        put32(p, 0x238, bz->cmdline_size);
        put64(p, 0x250, 0xdeadbeef); /* setup_data: must not reach the guest */
        put64(p, 0x258, bz->pref_address);
        put32(p, 0x260, bz->init_size);
        put32(p, 0x268, 0x1234); /* kernel_info_offset: a 2.15 field */
        p[0x1ef] = 0xff; /* the image's sentinel byte is not part of the header */
        for (size_t i = 0; i < bz->pm_size; i++)
                p[setup + i] = (uint8_t) (i * 7 + 3);
        *ret_size = bz->truncate ?: size;
        return p;
}

static uint8_t *initrd_make(size_t size) {
        uint8_t *p = malloc(size);
        assert_non_null(p);
        for (size_t i = 0; i < size; i++)
                p[i] = (uint8_t) (i ^ 0x5a);
        return p;
}

/* Runs x86_load_kernel() with stderr captured into buf: the test checks what an operator would read. */
static int load_capture(GuestMemory *m, const X86BootInput *in, X86BootInfo *info, char *buf, size_t size) {
        FILE *f = tmpfile();
        int saved, r;
        size_t n;

        assert_non_null(f);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
        r = x86_load_kernel(m, in, info);
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        rewind(f);
        n = fread(buf, 1, size - 1, f);
        buf[n] = 0;
        fclose(f);
        return r;
}

/* The load fails with error, logs exactly one line that names the kernel (or initrd) and contains
 * what, and leaves *ret untouched. */
static void expect_error(GuestMemory *m, const X86BootInput *in, int error, const char *name,
                         const char *what) {
        X86BootInfo info, before;
        char buf[4096];
        int r;

        memset(&info, 0xa5, sizeof(info));
        before = info;
        r = load_capture(m, in, &info, buf, sizeof(buf));
        print_message("  %s", buf); /* the log reads like the operator's journal would */
        if (r != error || !strstr(buf, what) || (name && !strstr(buf, name)))
                print_error("got %d, message: %s", r, buf);
        assert_int_equal(r, error);
        assert_non_null(strstr(buf, what));
        if (name)
                assert_non_null(strstr(buf, name));
        assert_non_null(strchr(buf, '\n'));
        assert_ptr_equal(strchr(buf, '\n') + 1, buf + strlen(buf)); /* one line */
        assert_memory_equal(&info, &before, sizeof(info));
}

static void expect_bz_error(uint64_t ram, const Bz *bz, const char *cmdline, size_t initrd_size, int error,
                            const char *what) {
        GuestMemory *m = mem_new(ram);
        size_t size;
        uint8_t *k = bz_make(bz, &size), *initrd = initrd_size ? initrd_make(initrd_size) : NULL;
        X86BootInput in = {
                .kernel = k, .kernel_size = size, .kernel_path = "/test/bzImage",
                .initrd = initrd, .initrd_size = initrd_size, .initrd_path = "/test/initrd.img",
                .cmdline = cmdline,
        };

        expect_error(m, &in, error, initrd_size ? "/test/initrd.img" : "/test/bzImage", what);
        free(initrd);
        free(k);
        guest_memory_free(m);
}

/* ---- e820 ---- */

static void check_e820(uint64_t ram, const X86E820Entry *want, size_t n_want) {
        GuestMemory *m = mem_new(ram);
        X86E820Entry e[8];
        size_t n = 0;

        assert_int_equal(x86_e820_build(m, e, ELEMENTSOF(e), &n), 0);
        assert_int_equal(n, n_want);
        for (size_t i = 0; i < n; i++) {
                assert_true(e[i].addr == want[i].addr);
                assert_true(e[i].size == want[i].size);
                assert_int_equal(e[i].type, want[i].type);
        }
        guest_memory_free(m);
}

static void test_e820_256m(void **state) {
        const X86E820Entry want[] = {
                { 0, 0x9fc00, X86_E820_RAM },
                { 0x9fc00, 0x100000 - 0x9fc00, X86_E820_RESERVED },
                { 0x100000, 255 * MiB, X86_E820_RAM },
        };
        check_e820(256 * MiB, want, ELEMENTSOF(want));
}

static void test_e820_1g(void **state) {
        const X86E820Entry want[] = {
                { 0, 0x9fc00, X86_E820_RAM },
                { 0x9fc00, 0x60400, X86_E820_RESERVED },
                { 0x100000, 1023 * MiB, X86_E820_RAM },
        };
        check_e820(1 * GiB, want, ELEMENTSOF(want));
}

static void test_e820_3g(void **state) {
        /* exactly what fits below the hole: no high entry */
        const X86E820Entry want[] = {
                { 0, 0x9fc00, X86_E820_RAM },
                { 0x9fc00, 0x60400, X86_E820_RESERVED },
                { 0x100000, 3 * GiB - 1 * MiB, X86_E820_RAM },
        };
        check_e820(3 * GiB, want, ELEMENTSOF(want));
}

static void test_e820_5g(void **state) {
        const X86E820Entry want[] = {
                { 0, 0x9fc00, X86_E820_RAM },
                { 0x9fc00, 0x60400, X86_E820_RESERVED },
                { 0x100000, 3 * GiB - 1 * MiB, X86_E820_RAM },
                { 4 * GiB, 2 * GiB, X86_E820_RAM },
        };
        check_e820(5 * GiB, want, ELEMENTSOF(want));
}

static void test_e820_errors(void **state) {
        GuestMemory *m = mem_new(5 * GiB), *tiny = mem_new(1 * MiB);
        X86E820Entry e[4];
        size_t n = 42;

        assert_int_equal(x86_e820_build(m, e, 3, &n), -E2BIG);
        assert_int_equal(n, 42); /* untouched */
        assert_int_equal(x86_e820_build(m, e, 4, &n), 0);
        assert_int_equal(n, 4);
        n = 42;
        assert_int_equal(x86_e820_build(tiny, e, 4, &n), -EINVAL);
        assert_int_equal(n, 42);
        guest_memory_free(tiny);
        guest_memory_free(m);
}

/* ---- bzImage ---- */

static void test_bzimage_load(void **state) {
        Bz bz = bz_default();
        GuestMemory *m = mem_new(256 * MiB);
        size_t size, initrd_size = 1 * MiB + 123;
        uint8_t *k = bz_make(&bz, &size), *initrd = initrd_make(initrd_size);
        const char *cmdline = "console=ttyS0 root=/dev/vda rw";
        X86BootInput in = {
                .kernel = k, .kernel_size = size, .kernel_path = "/test/bzImage",
                .initrd = initrd, .initrd_size = initrd_size, .initrd_path = "/test/initrd.img",
                .cmdline = cmdline,
        };
        X86BootInfo info = {};
        uint64_t zp = X86_ZERO_PAGE_ADDR, initrd_addr = 256 * MiB - 1 * MiB - 4096;
        uint8_t hdr_image[0x26c - 0x1f1];

        /* a stale zero page must not leak into the new one */
        assert_non_null(memset(guest_ptr(m, zp, 4096), 0xcc, 4096));

        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_int_equal(info.mode, X86_BOOT_MODE_LINUX64);
        assert_string_equal(x86_boot_mode_to_string(info.mode), "linux64");
        assert_true(info.entry == 0x1000200);
        assert_true(info.params_addr == X86_ZERO_PAGE_ADDR);
        assert_true(info.kernel_start == 0x1000000);
        assert_true(info.kernel_end == 0x1000000 + 8 * MiB);
        assert_int_equal(info.bzimage_version, 0x020f);

        /* the protected-mode part, from (setup_sects + 1) * 512 of the file */
        assert_memory_equal(guest_ptr(m, 0x1000000, bz.pm_size), k + 5 * 512, bz.pm_size);

        /* initrd: highest page-aligned address below the end of RAM */
        assert_true(info.initrd_addr == initrd_addr);
        assert_true(info.initrd_size == initrd_size);
        assert_true(initrd_addr % 4096 == 0);
        assert_memory_equal(guest_ptr(m, initrd_addr, initrd_size), initrd, initrd_size);

        /* command line */
        assert_string_equal((const char *) guest_ptr(m, X86_CMDLINE_ADDR, strlen(cmdline) + 1), cmdline);

        /* zero page, at raw offsets */
        memcpy(hdr_image, k + 0x1f1, sizeof(hdr_image));
        assert_int_equal(get8(m, zp + 0x1f1), 4);                 /* setup_sects, copied */
        assert_int_equal(get32(m, zp + 0x202), 0x53726448);       /* HdrS */
        assert_int_equal(get16(m, zp + 0x206), 0x020f);           /* version */
        assert_int_equal(get16(m, zp + 0x236), 0x7f);             /* xloadflags */
        assert_int_equal(get32(m, zp + 0x238), 0x7ff);            /* cmdline_size */
        assert_int_equal(get32(m, zp + 0x260), 8 * MiB);          /* init_size */
        assert_int_equal(get32(m, zp + 0x268), 0x1234);           /* kernel_info_offset */
        assert_true(get64(m, zp + 0x258) == 0x1000000);           /* pref_address */
        assert_int_equal(get8(m, zp + 0x210), 0xff);              /* type_of_loader */
        assert_int_equal(get8(m, zp + 0x211), 0x81);              /* LOADED_HIGH | CAN_USE_HEAP */
        assert_int_equal(get16(m, zp + 0x224), 0xde00);           /* heap_end_ptr */
        assert_int_equal(get16(m, zp + 0x1fa), 0xffff);           /* vid_mode */
        assert_int_equal(get32(m, zp + 0x214), 0x1000000);        /* code32_start */
        assert_int_equal(get32(m, zp + 0x228), X86_CMDLINE_ADDR); /* cmd_line_ptr */
        assert_int_equal(get32(m, zp + 0x0c8), 0);                /* ext_cmd_line_ptr */
        assert_int_equal(get32(m, zp + 0x218), initrd_addr);      /* ramdisk_image */
        assert_int_equal(get32(m, zp + 0x21c), initrd_size);      /* ramdisk_size */
        assert_int_equal(get32(m, zp + 0x0c0), 0);                /* ext_ramdisk_image */
        assert_true(get64(m, zp + 0x070) == X86_ACPI_ADDR);       /* acpi_rsdp_addr */
        assert_true(get64(m, zp + 0x250) == 0);                   /* setup_data */
        assert_int_equal(get8(m, zp + 0x1ef), 0);                 /* sentinel */
        assert_int_equal(get8(m, zp + 0x000), 0);                 /* the rest is zero */
        assert_int_equal(get8(m, zp + 0xfff), 0);
        assert_int_equal(get8(m, zp + 0x1e8), 3);                 /* e820_entries */
        assert_true(get64(m, zp + 0x2d0) == 0);
        assert_true(get64(m, zp + 0x2d8) == 0x9fc00);
        assert_int_equal(get32(m, zp + 0x2e0), X86_E820_RAM);
        assert_true(get64(m, zp + 0x2e4) == 0x9fc00);
        assert_true(get64(m, zp + 0x2ec) == 0x60400);
        assert_int_equal(get32(m, zp + 0x2f4), X86_E820_RESERVED);
        assert_true(get64(m, zp + 0x2f8) == 0x100000);
        assert_true(get64(m, zp + 0x300) == 255 * MiB);
        assert_int_equal(get32(m, zp + 0x308), X86_E820_RAM);
        assert_true(get64(m, zp + 0x30c) == 0); /* no 4th entry */

        free(initrd);
        free(k);
        guest_memory_free(m);
}

static void test_bzimage_no_initrd(void **state) {
        Bz bz = bz_default();
        GuestMemory *m = mem_new(256 * MiB);
        size_t size;
        uint8_t *k = bz_make(&bz, &size);
        X86BootInput in = { .kernel = k, .kernel_size = size }; /* no path, no cmdline */
        X86BootInfo info = {};

        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_true(info.initrd_addr == 0 && info.initrd_size == 0);
        assert_int_equal(get32(m, X86_ZERO_PAGE_ADDR + 0x218), 0);
        assert_int_equal(get32(m, X86_ZERO_PAGE_ADDR + 0x21c), 0);
        assert_int_equal(get8(m, X86_CMDLINE_ADDR), 0); /* empty command line */
        free(k);
        guest_memory_free(m);
}

static void check_initrd_at(uint64_t ram, uint32_t initrd_addr_max, size_t initrd_size, uint64_t want) {
        Bz bz = bz_default();
        GuestMemory *m = mem_new(ram);
        size_t size;
        uint8_t *k, *initrd = initrd_make(initrd_size);
        X86BootInput in = { .initrd = initrd, .initrd_size = initrd_size };
        X86BootInfo info = {};

        bz.initrd_addr_max = initrd_addr_max;
        k = bz_make(&bz, &size);
        in.kernel = k;
        in.kernel_size = size;
        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_true(info.initrd_addr == want);
        assert_true(info.initrd_addr % 4096 == 0);
        assert_true(info.initrd_addr + initrd_size - 1 <= initrd_addr_max);
        assert_true(info.initrd_addr >= info.kernel_end);
        assert_int_equal(get32(m, X86_ZERO_PAGE_ADDR + 0x218), want);
        assert_memory_equal(guest_ptr(m, info.initrd_addr, initrd_size), initrd, initrd_size);
        free(initrd);
        free(k);
        guest_memory_free(m);
}

static void test_bzimage_initrd_placement(void **state) {
        /* end of RAM is the limit */
        check_initrd_at(1 * GiB, 0x7fffffff, 4 * MiB, 1 * GiB - 4 * MiB);
        check_initrd_at(1 * GiB, 0x7fffffff, 4 * MiB + 1, 1 * GiB - 4 * MiB - 4096);
        /* initrd_addr_max is the limit: the last byte may be at initrd_addr_max */
        check_initrd_at(1 * GiB, 0x1fffffff, 4 * MiB, 512 * MiB - 4 * MiB);
        /* an unaligned initrd_addr_max rounds down to a page */
        check_initrd_at(1 * GiB, 0x1fffff00, 4096, 512 * MiB - 2 * 4096);
        /* 5 GiB: RAM goes to 3 GiB, but Debian-like kernels take an initrd only below 2 GiB */
        check_initrd_at(5 * GiB, 0x7fffffff, 10 * MiB, 2 * GiB - 10 * MiB);
        /* a 64-bit-clean initrd_addr_max still stops at the hole */
        check_initrd_at(5 * GiB, 0xffffffff, 10 * MiB, 3 * GiB - 10 * MiB);
        /* exactly fills the room between the kernel's end (24 MiB) and the end of a 64 MiB guest */
        check_initrd_at(64 * MiB, 0x7fffffff, 40 * MiB, 24 * MiB);
}

static void test_bzimage_initrd_too_big(void **state) {
        Bz bz = bz_default();

        expect_bz_error(64 * MiB, &bz, NULL, 40 * MiB + 1, -E2BIG, "does not fit");
        /* room in RAM, but not below initrd_addr_max */
        bz.initrd_addr_max = 0x18fffff; /* 25 MiB - 1: only 1 MiB above the kernel */
        expect_bz_error(256 * MiB, &bz, NULL, 1 * MiB + 1, -E2BIG, "Initrd");
        /* larger than the guest */
        bz = bz_default();
        expect_bz_error(64 * MiB, &bz, NULL, 100 * MiB, -E2BIG, "(104857600 bytes) does not fit");
}

static void check_load_address(const Bz *bz, uint64_t ram, uint64_t want_load, uint64_t want_start,
                               uint64_t want_end) {
        GuestMemory *m = mem_new(ram);
        size_t size;
        uint8_t *k = bz_make(bz, &size);
        X86BootInput in = { .kernel = k, .kernel_size = size, .kernel_path = "/test/bzImage" };
        X86BootInfo info = {};

        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_true(info.entry == want_load + 0x200);
        assert_true(info.kernel_start == want_start);
        assert_true(info.kernel_end == want_end);
        assert_int_equal(get32(m, X86_ZERO_PAGE_ADDR + 0x214), want_load); /* code32_start */
        assert_memory_equal(guest_ptr(m, want_load, bz->pm_size), k + ((bz->setup_sects ?: 4) + 1) * 512,
                            bz->pm_size);
        free(k);
        guest_memory_free(m);
}

static void test_bzimage_load_address(void **state) {
        Bz bz = bz_default();

        /* pref_address rounded up to kernel_alignment */
        bz.pref_address = 0x1100000;
        check_load_address(&bz, 256 * MiB, 0x1200000, 0x1200000, 0x1200000 + 8 * MiB);
        bz.kernel_alignment = 0x1000000;
        check_load_address(&bz, 256 * MiB, 0x2000000, 0x2000000, 0x2000000 + 8 * MiB);
        /* a pref_address below 1 MiB is not taken literally */
        bz = bz_default();
        bz.pref_address = 0;
        check_load_address(&bz, 256 * MiB, 0x200000, 0x200000, 0x200000 + 8 * MiB);
        /* a small guest: not at 16 MiB + 8 MiB, but as low as alignment allows */
        bz = bz_default();
        check_load_address(&bz, 16 * MiB, 0x200000, 0x200000, 0x200000 + 8 * MiB);
        /* init_size smaller than the file: the file's size counts */
        bz = bz_default();
        bz.init_size = 4096;
        check_load_address(&bz, 256 * MiB, 0x1000000, 0x1000000, 0x1000000 + 64 * KiB);
        /* setup_sects 0 means 4 */
        bz = bz_default();
        bz.setup_sects = 0;
        check_load_address(&bz, 256 * MiB, 0x1000000, 0x1000000, 0x1000000 + 8 * MiB);
        bz.setup_sects = 30;
        check_load_address(&bz, 256 * MiB, 0x1000000, 0x1000000, 0x1000000 + 8 * MiB);
        /* not relocatable: loaded at 1 MiB, moves itself to pref_address and needs init_size there */
        bz = bz_default();
        bz.relocatable = 0;
        check_load_address(&bz, 256 * MiB, 0x100000, 0x100000, 0x1000000 + 8 * MiB);
}

static void test_bzimage_old_protocol_fields(void **state) {
        Bz bz = bz_default();
        GuestMemory *m = mem_new(256 * MiB);
        size_t size;
        uint8_t *k;
        X86BootInput in = {};
        X86BootInfo info = {};

        /* 2.12: accepted, but acpi_rsdp_addr is a 2.14 field and stays 0; header ends at 0x268 */
        bz.version = 0x020c;
        bz.hdr_len = 0x268 - 0x202;
        k = bz_make(&bz, &size);
        in = (X86BootInput) { .kernel = k, .kernel_size = size };
        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_int_equal(info.bzimage_version, 0x020c);
        assert_true(get64(m, X86_ZERO_PAGE_ADDR + 0x070) == 0);
        assert_int_equal(get32(m, X86_ZERO_PAGE_ADDR + 0x268), 0); /* past the header: not copied */
        free(k);
        guest_memory_free(m);
}

static void test_bzimage_cmdline(void **state) {
        Bz bz = bz_default();
        GuestMemory *m = mem_new(256 * MiB);
        char line[17];
        char *huge;
        size_t size;
        uint8_t *k;
        X86BootInput in;
        X86BootInfo info;

        /* exactly cmdline_size bytes (the NUL not counted) is fine, one more is not */
        bz.cmdline_size = 16;
        k = bz_make(&bz, &size);
        memset(line, 'x', 16);
        line[16] = 0;
        in = (X86BootInput) {
                .kernel = k, .kernel_size = size, .kernel_path = "/test/bzImage", .cmdline = line,
        };
        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_string_equal((const char *) guest_ptr(m, X86_CMDLINE_ADDR, 17), line);
        free(k);
        guest_memory_free(m);

        expect_bz_error(256 * MiB, &bz, "console=ttyS0 quiet", 0, -E2BIG, "at most 16 bytes");

        /* a kernel that takes any length still meets the room reserved for it */
        bz.cmdline_size = 0xffffffff;
        huge = malloc(X86_CMDLINE_MAX + 1);
        assert_non_null(huge);
        memset(huge, 'y', X86_CMDLINE_MAX);
        huge[X86_CMDLINE_MAX] = 0;
        expect_bz_error(256 * MiB, &bz, huge, 0, -E2BIG, "command line");
        huge[X86_CMDLINE_MAX - 1] = 0;
        m = mem_new(256 * MiB);
        k = bz_make(&bz, &size);
        in = (X86BootInput) { .kernel = k, .kernel_size = size, .cmdline = huge };
        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_int_equal(get8(m, X86_CMDLINE_ADDR + X86_CMDLINE_MAX - 1), 0);
        assert_int_equal(get8(m, X86_CMDLINE_ADDR + X86_CMDLINE_MAX - 2), 'y');
        free(k);
        free(huge);
        guest_memory_free(m);
}

static void test_bzimage_errors(void **state) {
        Bz bz;

        bz = bz_default();
        bz.version = 0x020b;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "2.11");
        bz = bz_default();
        bz.version = 0x0100;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "2.12 or newer");

        bz = bz_default();
        bz.xloadflags = 0x0002;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "64-bit entry");

        bz = bz_default();
        bz.loadflags = 0;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "zImage");

        bz = bz_default();
        bz.boot_flag = 0x1234;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "boot flag");

        bz = bz_default();
        bz.kernel_alignment = 0x300000;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "kernel_alignment");
        bz.kernel_alignment = 0;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "kernel_alignment");

        bz = bz_default();
        bz.relocatable = 0;
        bz.pref_address = 0x80000;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "below 1 MiB");

        /* header claims to end before the 2.12 fields */
        bz = bz_default();
        bz.hdr_len = 0x230 - 0x202;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "too short");

        /* truncated: in the header, in the setup code, in the kernel proper */
        bz = bz_default();
        bz.truncate = 0x240;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "truncated");
        bz.truncate = 5 * 512;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "truncated");
        bz.truncate = 5 * 512 + 100;
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "truncated");
        bz = bz_default();
        bz.syssize = 0xffffffff; /* more than the file has; * 16 would wrap 32 bits */
        expect_bz_error(256 * MiB, &bz, NULL, 0, -ENOEXEC, "truncated");

        /* too big for memory */
        bz = bz_default();
        bz.init_size = 64 * MiB;
        expect_bz_error(32 * MiB, &bz, NULL, 0, -E2BIG, "more than the guest has");
        bz.relocatable = 0;
        expect_bz_error(32 * MiB, &bz, NULL, 0, -E2BIG, "more than the guest has");
        bz = bz_default();
        bz.init_size = 0xffffffff;
        expect_bz_error(5 * GiB, &bz, NULL, 0, -E2BIG, "more than the guest has");
        bz.pref_address = UINT64_MAX - 4096; /* rounding up wraps */
        expect_bz_error(256 * MiB, &bz, NULL, 0, -E2BIG, "more than the guest has");
}

static void test_unknown_format(void **state) {
        GuestMemory *m = mem_new(256 * MiB), *tiny = mem_new(1 * MiB);
        uint8_t junk[4096];
        X86BootInput in = { .kernel = junk, .kernel_size = sizeof(junk), .kernel_path = "/test/junk" };

        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (uint8_t) (i * 13);
        expect_error(m, &in, -ENOEXEC, "/test/junk", "neither a bzImage nor an ELF");
        in.kernel_size = 0;
        expect_error(m, &in, -ENOEXEC, "/test/junk", "neither");
        in.kernel = NULL;
        expect_error(m, &in, -ENOEXEC, "/test/junk", "neither");
        /* "HdrS" cut short before the version */
        memcpy(junk + 0x202, "HdrS", 4);
        in = (X86BootInput) { .kernel = junk, .kernel_size = 0x206, .kernel_path = "/test/junk" };
        expect_error(m, &in, -ENOEXEC, "/test/junk", "neither");
        /* "\x7fELF" alone */
        memcpy(junk, ELFMAG, SELFMAG);
        in.kernel_size = SELFMAG;
        expect_error(m, &in, -ENOEXEC, "/test/junk", "truncated");
        /* no room for a kernel at all */
        in.kernel_size = sizeof(junk);
        expect_error(tiny, &in, -EINVAL, "/test/junk", "too small");
        guest_memory_free(tiny);
        guest_memory_free(m);
}

/* ---- ELF / PVH ---- */

typedef struct Elf {
        uint8_t class;
        uint16_t machine;
        uint16_t phentsize;
        uint64_t phoff;
        uint64_t seg0_paddr, seg0_filesz, seg0_memsz, seg0_offset;
        uint64_t seg1_paddr; /* a second PT_LOAD, 0x2000 bytes */
        uint32_t note_type;
        uint32_t note_descsz; /* 4 or 8 */
        uint32_t note_namesz;
        uint64_t entry;
        bool note_truncated;
        size_t truncate;
} Elf;

static Elf elf_default(void) {
        return (Elf) {
                .class = ELFCLASS64,
                .machine = EM_X86_64,
                .phentsize = sizeof(Elf64_Phdr),
                .phoff = sizeof(Elf64_Ehdr),
                .seg0_paddr = 0x1000000,
                .seg0_filesz = 0x3000,
                .seg0_memsz = 0x5000,
                .seg0_offset = 0x1000,
                .seg1_paddr = 0x1200000,
                .note_type = 18,
                .note_descsz = 8,
                .note_namesz = 4,
                .entry = 0x1000b20,
        };
}

#define ELF_FILE_SIZE 0x6000
#define ELF_NOTE_OFFSET 0x400
#define ELF_SEG1_OFFSET 0x4000

/* ELF header, 3 program headers (PT_LOAD, PT_NOTE, PT_LOAD), a note segment with a "Linux" note
 * before the "Xen" one, and segment contents. */
static uint8_t *elf_make(const Elf *o, size_t *ret_size) {
        uint8_t *p = calloc(1, ELF_FILE_SIZE), *n;
        Elf64_Ehdr eh = {
                .e_type = ET_EXEC,
                .e_machine = o->machine,
                .e_version = EV_CURRENT,
                .e_entry = 0xffffffff81000000,
                .e_phoff = o->phoff,
                .e_ehsize = sizeof(Elf64_Ehdr),
                .e_phentsize = o->phentsize,
                .e_phnum = 3,
        };
        Elf64_Phdr ph[3] = {
                { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = o->seg0_offset,
                  .p_vaddr = 0xffffffff81000000, .p_paddr = o->seg0_paddr, .p_filesz = o->seg0_filesz,
                  .p_memsz = o->seg0_memsz, .p_align = 0x1000 },
                { .p_type = PT_NOTE, .p_offset = ELF_NOTE_OFFSET, .p_filesz = 0, .p_align = 4 },
                { .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = ELF_SEG1_OFFSET,
                  .p_vaddr = 0xffffffff81200000, .p_paddr = o->seg1_paddr, .p_filesz = 0x2000,
                  .p_memsz = 0x2000, .p_align = 0x1000 },
        };
        Elf64_Nhdr nh;
        size_t off = ELF_NOTE_OFFSET;

        assert_non_null(p);
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = o->class;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        memcpy(p, &eh, sizeof(eh));

        /* a note that is not ours, with a name that needs padding */
        nh = (Elf64_Nhdr) { .n_namesz = 6, .n_descsz = 4, .n_type = 1 };
        memcpy(p + off, &nh, sizeof(nh));
        memcpy(p + off + 12, "Linux", 6);
        off += 12 + 8 + 4;
        /* Xen's PHYS32_ENTRY */
        nh = (Elf64_Nhdr) { .n_namesz = o->note_namesz, .n_descsz = o->note_descsz, .n_type = o->note_type };
        memcpy(p + off, &nh, sizeof(nh));
        memcpy(p + off + 12, "Xen", 4);
        n = p + off + 12 + ((o->note_namesz + 3) & ~3u);
        if (o->note_descsz == 4)
                put32(n, 0, (uint32_t) o->entry);
        else if (o->note_descsz == 8)
                put64(n, 0, o->entry);
        off += 12 + ((o->note_namesz + 3) & ~3u) + ((o->note_descsz + 3) & ~3u);
        ph[1].p_filesz = off - ELF_NOTE_OFFSET - (o->note_truncated ? 4 : 0);
        memcpy(p + sizeof(Elf64_Ehdr), ph, sizeof(ph)); /* where e_phoff says, unless a test lies */

        for (size_t i = 0x1000; i < 0x4000; i++)
                p[i] = (uint8_t) (i * 3 + 1);
        for (size_t i = ELF_SEG1_OFFSET; i < ELF_SEG1_OFFSET + 0x2000; i++)
                p[i] = (uint8_t) (i * 5 + 2);
        *ret_size = o->truncate ?: ELF_FILE_SIZE;
        return p;
}

static void test_pvh_load(void **state) {
        Elf o = elf_default();
        GuestMemory *m = mem_new(5 * GiB);
        size_t size, initrd_size = 3 * MiB + 5;
        uint8_t *k = elf_make(&o, &size), *initrd = initrd_make(initrd_size);
        const char *cmdline = "console=hvc0";
        X86BootInput in = {
                .kernel = k, .kernel_size = size, .kernel_path = "/test/vmlinux",
                .initrd = initrd, .initrd_size = initrd_size, .cmdline = cmdline,
        };
        X86BootInfo info = {};
        uint64_t si = X86_PVH_INFO_ADDR, mods, mm, initrd_addr = 3 * GiB - 3 * MiB - 4096;
        const X86E820Entry want[] = {
                { 0, 0x9fc00, X86_E820_RAM },
                { 0x9fc00, 0x60400, X86_E820_RESERVED },
                { 0x100000, 3 * GiB - 1 * MiB, X86_E820_RAM },
                { 4 * GiB, 2 * GiB, X86_E820_RAM },
        };

        /* the bss must be zeroed over whatever was there */
        memset(guest_ptr(m, 0x1000000, 0x10000), 0xaa, 0x10000);

        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_int_equal(info.mode, X86_BOOT_MODE_PVH);
        assert_string_equal(x86_boot_mode_to_string(info.mode), "pvh");
        assert_true(info.entry == 0x1000b20);
        assert_true(info.params_addr == X86_PVH_INFO_ADDR);
        assert_true(info.kernel_start == 0x1000000);
        assert_true(info.kernel_end == 0x1202000);
        assert_int_equal(info.bzimage_version, 0);

        /* segments at p_paddr, bss zeroed, nothing written past memsz */
        assert_memory_equal(guest_ptr(m, 0x1000000, 0x3000), k + 0x1000, 0x3000);
        for (uint64_t a = 0x1003000; a < 0x1005000; a++)
                assert_int_equal(get8(m, a), 0);
        assert_int_equal(get8(m, 0x1005000), 0xaa);
        assert_memory_equal(guest_ptr(m, 0x1200000, 0x2000), k + ELF_SEG1_OFFSET, 0x2000);

        /* start_info */
        assert_int_equal(get32(m, si + 0), 0x336ec578);
        assert_int_equal(get32(m, si + 4), 1);
        assert_int_equal(get32(m, si + 8), 0);
        assert_int_equal(get32(m, si + 12), 1); /* nr_modules */
        mods = get64(m, si + 16);
        assert_true(get64(m, si + 24) == X86_CMDLINE_ADDR);
        assert_true(get64(m, si + 32) == X86_ACPI_ADDR);
        mm = get64(m, si + 40);
        assert_int_equal(get32(m, si + 48), 4);
        assert_int_equal(get32(m, si + 52), 0);
        /* module list and memory map in the same page, after start_info, not overlapping */
        assert_true(mods >= si + 56 && mods + 32 <= mm && mm + 4 * 24 <= si + 4096);
        assert_string_equal((const char *) guest_ptr(m, X86_CMDLINE_ADDR, strlen(cmdline) + 1), cmdline);

        /* the initrd module: highest page below the hole (no initrd_addr_max for PVH) */
        assert_true(info.initrd_addr == initrd_addr);
        assert_true(get64(m, mods + 0) == initrd_addr);
        assert_true(get64(m, mods + 8) == initrd_size);
        assert_true(get64(m, mods + 16) == 0);
        assert_true(get64(m, mods + 24) == 0);
        assert_memory_equal(guest_ptr(m, initrd_addr, initrd_size), initrd, initrd_size);

        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_true(get64(m, mm + i * 24) == want[i].addr);
                assert_true(get64(m, mm + i * 24 + 8) == want[i].size);
                assert_int_equal(get32(m, mm + i * 24 + 16), want[i].type);
                assert_int_equal(get32(m, mm + i * 24 + 20), 0);
        }

        free(initrd);
        free(k);
        guest_memory_free(m);
}

static void test_pvh_no_initrd_note32(void **state) {
        Elf o = elf_default();
        GuestMemory *m = mem_new(256 * MiB);
        size_t size;
        uint8_t *k;
        X86BootInput in;
        X86BootInfo info = {};

        o.note_descsz = 4; /* .long form of the note */
        o.entry = 0x1201000;
        k = elf_make(&o, &size);
        in = (X86BootInput) { .kernel = k, .kernel_size = size };
        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_true(info.entry == 0x1201000);
        assert_true(info.initrd_addr == 0 && info.initrd_size == 0);
        assert_int_equal(get32(m, X86_PVH_INFO_ADDR + 12), 0); /* nr_modules */
        assert_true(get64(m, X86_PVH_INFO_ADDR + 16) == 0);    /* modlist_paddr */
        assert_int_equal(get32(m, X86_PVH_INFO_ADDR + 48), 3); /* memmap_entries */
        assert_true(get64(m, X86_PVH_MEMMAP_ADDR + 2 * 24 + 8) == 255 * MiB);
        free(k);
        guest_memory_free(m);
}

static void expect_elf_error(uint64_t ram, const Elf *o, size_t initrd_size, const char *cmdline, int error,
                             const char *what) {
        GuestMemory *m = mem_new(ram);
        size_t size;
        uint8_t *k = elf_make(o, &size), *initrd = initrd_size ? initrd_make(initrd_size) : NULL;
        X86BootInput in = {
                .kernel = k, .kernel_size = size, .kernel_path = "/test/vmlinux",
                .initrd = initrd, .initrd_size = initrd_size, .initrd_path = "/test/initrd.img",
                .cmdline = cmdline,
        };

        expect_error(m, &in, error, initrd_size ? "/test/initrd.img" : "/test/vmlinux", what);
        free(initrd);
        free(k);
        guest_memory_free(m);
}

static void test_pvh_errors(void **state) {
        Elf o;
        char *huge;

        o = elf_default();
        o.note_type = 17;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "without a PVH entry point");
        o = elf_default();
        o.note_namesz = 3; /* "Xen" without its NUL is not the Xen note */
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "without a PVH entry point");
        o = elf_default();
        o.note_descsz = 2;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "malformed PVH entry note");
        o = elf_default();
        o.note_truncated = true;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "truncated ELF note");

        o = elf_default();
        o.class = ELFCLASS32;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "32-bit");
        o = elf_default();
        o.machine = EM_AARCH64;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "not an x86-64 executable");
        o = elf_default();
        o.phentsize = 32;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "program headers");

        /* truncated: header, program headers, segment contents */
        o = elf_default();
        o.truncate = 32;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "truncated");
        o.truncate = sizeof(Elf64_Ehdr) + 10;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "truncated");
        o.truncate = 0x5000;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "truncated");
        o = elf_default();
        o.phoff = UINT64_MAX - 8; /* wraps */
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "truncated");
        o = elf_default();
        o.seg0_offset = UINT64_MAX - 0x1000;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "truncated");

        o = elf_default();
        o.seg0_filesz = 0x6000; /* more than memsz */
        o.seg0_offset = 0;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "malformed segment");

        /* segments outside RAM: below 1 MiB (our tables), in the hole, wrapping */
        o = elf_default();
        o.seg0_paddr = 0x7000;
        o.entry = 0x7000;
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "outside the RAM");
        o = elf_default();
        o.seg1_paddr = 0xfee00000;
        expect_elf_error(5 * GiB, &o, 0, NULL, -ENOEXEC, "outside the RAM");
        o.seg1_paddr = 4 * GiB; /* RAM, but not reachable from a 32-bit entry */
        expect_elf_error(5 * GiB, &o, 0, NULL, -ENOEXEC, "outside the RAM");
        o.seg1_paddr = UINT64_MAX - 0x1000;
        expect_elf_error(5 * GiB, &o, 0, NULL, -ENOEXEC, "outside the RAM");
        /* ... and past the end of a small guest */
        o = elf_default();
        o.seg1_paddr = 300 * MiB;
        expect_elf_error(256 * MiB, &o, 0, NULL, -E2BIG, "does not fit");

        o = elf_default();
        o.entry = 0x1100000; /* between the segments */
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "outside its loaded segments");
        o.entry = 0x1005000; /* just past the first one's bss */
        expect_elf_error(256 * MiB, &o, 0, NULL, -ENOEXEC, "outside its loaded segments");

        o = elf_default();
        expect_elf_error(64 * MiB, &o, 64 * MiB - 0x1202000 + 1, NULL, -E2BIG, "does not fit");

        huge = malloc(X86_CMDLINE_MAX + 1);
        assert_non_null(huge);
        memset(huge, 'z', X86_CMDLINE_MAX);
        huge[X86_CMDLINE_MAX] = 0;
        expect_elf_error(256 * MiB, &o, 0, huge, -E2BIG, "command line");
        free(huge);
}

/* Random damage to the headers must give a clean error or a load inside RAM, never a crash (run it
 * under ASan/UBSan to see reads and writes too). */
static void test_mutations(void **state) {
        GuestMemory *m = mem_new(64 * MiB);
        Bz bz = bz_default();
        Elf o = elf_default();
        size_t bz_size, elf_size;
        uint8_t *bz_orig = bz_make(&bz, &bz_size), *elf_orig = elf_make(&o, &elf_size);
        uint8_t *buf = malloc(bz_size > elf_size ? bz_size : elf_size);
        int level = log_get_max_level(), ok = 0;

        assert_non_null(buf);
        srand(1234);
        log_set_max_level(LOG_EMERG);
        for (int i = 0; i < 20000; i++) {
                bool is_elf = i & 1;
                size_t size = is_elf ? elf_size : bz_size, span = is_elf ? 0x500 : 0x280;
                X86BootInput in;
                X86BootInfo info;
                int r;

                memcpy(buf, is_elf ? elf_orig : bz_orig, size);
                for (int j = rand() % 6 + 1; j > 0; j--)
                        buf[rand() % span] = (uint8_t) rand();
                if (rand() % 8 == 0)
                        size = (size_t) rand() % size;
                in = (X86BootInput) { .kernel = buf, .kernel_size = size, .cmdline = "x" };
                r = x86_load_kernel(m, &in, &info);
                assert_true(r == 0 || r == -ENOEXEC || r == -E2BIG);
                if (r == 0) {
                        ok++;
                        assert_non_null(guest_ptr(m, info.entry, 1));
                        assert_true(info.kernel_start >= X86_HIGH_MEMORY);
                        assert_true(info.kernel_end <= 64 * MiB);
                }
        }
        log_set_max_level(level);
        assert_true(ok > 0);
        free(buf);
        free(elf_orig);
        free(bz_orig);
        guest_memory_free(m);
}

/* ---- real kernels ---- */

static uint8_t *read_file(const char *path, size_t *ret_size) {
        struct stat st;
        uint8_t *p;
        size_t done = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return NULL;
        assert_int_equal(fstat(fd, &st), 0);
        p = malloc(st.st_size);
        assert_non_null(p);
        while (done < (size_t) st.st_size) {
                ssize_t n = read(fd, p + done, st.st_size - done);
                assert_true(n > 0);
                done += n;
        }
        close(fd);
        *ret_size = done;
        return p;
}

static void test_real_bzimage(void **state) {
        glob_t g = {};
        GuestMemory *m;
        uint8_t *k, *initrd;
        size_t size, initrd_size = 8 * MiB;
        X86BootInput in;
        X86BootInfo info = {};
        X86SetupHeader hdr;

        if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
                globfree(&g);
                print_message("No /boot/vmlinuz-* here, skipping.\n");
                skip();
        }
        k = read_file(g.gl_pathv[0], &size);
        assert_non_null(k);
        memcpy(&hdr, k + X86_SETUP_HEADER_OFFSET, sizeof(hdr));
        print_message("%s: boot protocol %u.%02u, pref_address 0x%" PRIx64 ", init_size 0x%" PRIx32
                      ", xloadflags 0x%" PRIx16 ", cmdline_size 0x%" PRIx32 ", initrd_addr_max 0x%" PRIx32
                      ", kernel_alignment 0x%" PRIx32 ", relocatable %u, setup_sects %u, %zu bytes\n",
                      g.gl_pathv[0], hdr.version >> 8, hdr.version & 0xff, hdr.pref_address, hdr.init_size,
                      hdr.xloadflags, hdr.cmdline_size, hdr.initrd_addr_max, hdr.kernel_alignment,
                      hdr.relocatable_kernel, hdr.setup_sects, size);

        m = mem_new(1 * GiB);
        initrd = initrd_make(initrd_size);
        in = (X86BootInput) {
                .kernel = k, .kernel_size = size, .kernel_path = g.gl_pathv[0],
                .initrd = initrd, .initrd_size = initrd_size,
                .cmdline = "console=ttyS0 root=/dev/vda rw",
        };
        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_int_equal(info.mode, X86_BOOT_MODE_LINUX64);
        assert_true(info.entry == info.kernel_start + 0x200);
        assert_true(info.kernel_start == hdr.pref_address);
        assert_true(info.kernel_end == hdr.pref_address + hdr.init_size);
        assert_true(info.bzimage_version >= 0x020c);
        assert_true(info.initrd_addr == 1 * GiB - initrd_size);
        assert_int_equal(get16(m, X86_ZERO_PAGE_ADDR + 0x206), hdr.version);
        assert_int_equal(get8(m, X86_ZERO_PAGE_ADDR + 0x210), 0xff);
        print_message("loaded at 0x%" PRIx64 ", entry 0x%" PRIx64 ", needs up to 0x%" PRIx64
                      ", initrd at 0x%" PRIx64 "\n",
                      info.kernel_start, info.entry, info.kernel_end, info.initrd_addr);

        free(initrd);
        free(k);
        guest_memory_free(m);
        globfree(&g);
}

/* An uncompressed vmlinux is not installed anywhere by default; point SDVM_TEST_VMLINUX at one to check
 * the PVH path against a real kernel. */
static void test_real_vmlinux(void **state) {
        const char *path = getenv("SDVM_TEST_VMLINUX");
        GuestMemory *m;
        uint8_t *k;
        size_t size;
        X86BootInput in;
        X86BootInfo info = {};

        if (!path || !*path) {
                print_message("SDVM_TEST_VMLINUX not set, skipping.\n");
                skip();
        }
        k = read_file(path, &size);
        assert_non_null(k);
        m = mem_new(1 * GiB);
        in = (X86BootInput) {
                .kernel = k, .kernel_size = size, .kernel_path = path, .cmdline = "console=ttyS0",
        };
        assert_int_equal(x86_load_kernel(m, &in, &info), 0);
        assert_int_equal(info.mode, X86_BOOT_MODE_PVH);
        assert_int_equal(get32(m, X86_PVH_INFO_ADDR), 0x336ec578);
        print_message("%s: PVH entry 0x%" PRIx64 ", kernel [0x%" PRIx64 ", 0x%" PRIx64 ")\n", path,
                      info.entry, info.kernel_start, info.kernel_end);
        free(k);
        guest_memory_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_e820_256m),
                cmocka_unit_test(test_e820_1g),
                cmocka_unit_test(test_e820_3g),
                cmocka_unit_test(test_e820_5g),
                cmocka_unit_test(test_e820_errors),
                cmocka_unit_test(test_bzimage_load),
                cmocka_unit_test(test_bzimage_no_initrd),
                cmocka_unit_test(test_bzimage_initrd_placement),
                cmocka_unit_test(test_bzimage_initrd_too_big),
                cmocka_unit_test(test_bzimage_load_address),
                cmocka_unit_test(test_bzimage_old_protocol_fields),
                cmocka_unit_test(test_bzimage_cmdline),
                cmocka_unit_test(test_bzimage_errors),
                cmocka_unit_test(test_unknown_format),
                cmocka_unit_test(test_pvh_load),
                cmocka_unit_test(test_pvh_no_initrd_note32),
                cmocka_unit_test(test_pvh_errors),
                cmocka_unit_test(test_mutations),
                cmocka_unit_test(test_real_bzimage),
                cmocka_unit_test(test_real_vmlinux),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

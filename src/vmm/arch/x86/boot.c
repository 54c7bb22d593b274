/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/bootparam.h"
#include "arch/x86/layout.h"
#include "log.h"
#include "string-table.h"

#define PAGE_4K 4096ULL

/* The end of the setup code's heap and stack, relative to the real-mode segment, for protocol >= 2.02
 * kernels (boot.rst's layout). We enter at the 64-bit entry, so the 16-bit setup never runs; the
 * field still gets the value a real-mode loader would give it. */
#define SETUP_HEAP_END 0xe000

/* The header may grow past the fields we know (its length is in the image); whatever it says, what we
 * copy stops before the zero page's EDD MBR signature buffer at 0x290. */
#define SETUP_HEADER_COPY_END 0x290

static const char *const x86_boot_mode_table[_X86_BOOT_MODE_MAX] = {
        [X86_BOOT_MODE_LINUX64] = "linux64",
        [X86_BOOT_MODE_PVH] = "pvh",
};

DEFINE_STRING_TABLE_TO_STRING(x86_boot_mode, X86BootMode);

static uint64_t align_down(uint64_t v, uint64_t a) {
        return v & ~(a - 1);
}

/* a is a power of two. False if rounding up would wrap. */
static bool align_up(uint64_t v, uint64_t a, uint64_t *ret) {
        if (v > UINT64_MAX - (a - 1))
                return false;
        *ret = (v + a - 1) & ~(a - 1);
        return true;
}

static uint64_t max_u64(uint64_t a, uint64_t b) {
        return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

/* Whether [addr, addr + size) lies in [lo, hi), without overflowing. */
static bool range_within(uint64_t addr, uint64_t size, uint64_t lo, uint64_t hi) {
        return addr >= lo && addr <= hi && size <= hi - addr;
}

static const char *kernel_name(const X86BootInput *in) {
        return in->kernel_path ?: "kernel image";
}

static const char *initrd_name(const X86BootInput *in) {
        return in->initrd_path ?: "initrd";
}

static bool have_initrd(const X86BootInput *in) {
        return in->initrd && in->initrd_size > 0;
}

int x86_e820_build(const GuestMemory *mem, X86E820Entry *entries, size_t max, size_t *ret_n) {
        X86E820Entry e[3 + GUEST_MEMORY_REGIONS_MAX];
        size_t n = 0;
        uint64_t low_end;

        assert(mem);
        assert(entries || max == 0);
        assert(ret_n);

        if (mem->n_regions == 0 || mem->regions[0].gpa != 0)
                return -EINVAL;
        low_end = guest_memory_low_end(mem);
        if (low_end <= X86_HIGH_MEMORY)
                return -EINVAL;

        e[n++] = (X86E820Entry) { 0, X86_EBDA_START, X86_E820_RAM };
        /* EBDA, VGA hole and BIOS area: nothing there is RAM the guest may use, and the ACPI tables live
         * at X86_ACPI_ADDR inside it. */
        e[n++] = (X86E820Entry) { X86_EBDA_START, X86_HIGH_MEMORY - X86_EBDA_START, X86_E820_RESERVED };
        e[n++] = (X86E820Entry) { X86_HIGH_MEMORY, low_end - X86_HIGH_MEMORY, X86_E820_RAM };
        for (size_t i = 1; i < mem->n_regions; i++)
                if (mem->regions[i].size > 0)
                        e[n++] = (X86E820Entry) { mem->regions[i].gpa, mem->regions[i].size, X86_E820_RAM };

        if (n > max)
                return -E2BIG;
        memcpy(entries, e, n * sizeof(e[0]));
        *ret_n = n;
        return 0;
}

/* The command line's length without its NUL, checked against the kernel's limit (limit_kernel, 0 for
 * none) and the room reserved for it at X86_CMDLINE_ADDR. */
static int cmdline_check(const X86BootInput *in, uint64_t limit_kernel, size_t *ret_len) {
        size_t len = in->cmdline ? strlen(in->cmdline) : 0;

        if (limit_kernel > 0 && len > limit_kernel)
                return log_error_errno(
                        E2BIG,
                        "Kernel command line is %zu bytes long, but %s accepts at most %" PRIu64 " bytes.",
                        len, kernel_name(in), limit_kernel);
        if (len >= X86_CMDLINE_MAX)
                return log_error_errno(
                        E2BIG, "Kernel command line for %s is %zu bytes long, but at most %d bytes fit.",
                        kernel_name(in), len, X86_CMDLINE_MAX - 1);
        *ret_len = len;
        return 0;
}

/* The initrd goes as high as it may, page-aligned, below top and the end of low RAM and above the
 * kernel's end: kernels decompress and set up their early page tables above themselves, and the
 * highest placement leaves them the most room. *ret_addr is 0 when there is no initrd. */
static int initrd_place(const GuestMemory *mem, const X86BootInput *in, uint64_t kernel_end, uint64_t top,
                        uint64_t *ret_addr) {
        uint64_t bottom, free_bytes;

        if (!have_initrd(in)) {
                *ret_addr = 0;
                return 0;
        }

        top = align_down(min_u64(top, guest_memory_low_end(mem)), PAGE_4K);
        if (!align_up(kernel_end, PAGE_4K, &bottom))
                bottom = UINT64_MAX;
        free_bytes = bottom < top ? top - bottom : 0;
        if (in->initrd_size > free_bytes)
                return log_error_errno(E2BIG,
                                       "Initrd %s (%zu bytes) does not fit in guest memory: %" PRIu64
                                       " bytes are free between the kernel's end at 0x%" PRIx64
                                       " and 0x%" PRIx64 ".",
                                       initrd_name(in), in->initrd_size, free_bytes, kernel_end, top);

        *ret_addr = align_down(top - in->initrd_size, PAGE_4K);
        return 0;
}

static int write_common(GuestMemory *mem, const X86BootInput *in, size_t cmdline_len, uint64_t initrd_addr) {
        int r;

        r = guest_write(mem, X86_CMDLINE_ADDR, in->cmdline ?: "", cmdline_len + 1);
        if (r < 0)
                return log_error_errno(r, "Failed to write the kernel command line to guest memory: %m");
        if (have_initrd(in)) {
                r = guest_write(mem, initrd_addr, in->initrd, in->initrd_size);
                if (r < 0)
                        return log_error_errno(r, "Failed to write %s to guest memory: %m", initrd_name(in));
        }
        return 0;
}

/* ---- bzImage ---- */

/* Where a bzImage runs: a relocatable one at its preferred address rounded up to its alignment, or, if
 * that does not fit a small guest, as low as it may go; a fixed one is loaded at 1 MiB and moves itself
 * to pref_address. Either way it needs init_size bytes from where it runs. */
static int bzimage_place(const GuestMemory *mem, const X86BootInput *in, const X86SetupHeader *hdr,
                         size_t pm_size, uint64_t *ret_load, uint64_t *ret_start, uint64_t *ret_end) {
        uint64_t low_end = guest_memory_low_end(mem), need = max_u64(hdr->init_size, pm_size);

        if (hdr->relocatable_kernel) {
                uint64_t align = hdr->kernel_alignment, candidates[2];

                if (align == 0 || (align & (align - 1)) != 0)
                        return log_error_errno(
                                ENOEXEC,
                                "Kernel %s is not a bootable bzImage: kernel_alignment 0x%" PRIx64
                                " is not a power of two.",
                                kernel_name(in), align);
                if (!align_up(max_u64(hdr->pref_address, X86_HIGH_MEMORY), align, &candidates[0]))
                        candidates[0] = UINT64_MAX;
                if (!align_up(X86_HIGH_MEMORY, align, &candidates[1]))
                        candidates[1] = UINT64_MAX;

                for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
                        if (range_within(candidates[i], need, X86_HIGH_MEMORY, low_end)) {
                                *ret_load = *ret_start = candidates[i];
                                *ret_end = candidates[i] + need;
                                return 0;
                        }
                return log_error_errno(E2BIG,
                                       "Kernel %s needs %" PRIu64 " bytes of RAM from 0x%" PRIx64
                                       ", more than the guest has below 0x%" PRIx64 ".",
                                       kernel_name(in), need, min_u64(candidates[0], candidates[1]),
                                       low_end);
        }

        if (hdr->pref_address < X86_HIGH_MEMORY)
                return log_error_errno(
                        ENOEXEC,
                        "Kernel %s is not a bootable bzImage: it is not relocatable and wants to "
                        "run at 0x%" PRIx64 ", below 1 MiB.",
                        kernel_name(in), hdr->pref_address);
        if (!range_within(X86_HIGH_MEMORY, pm_size, X86_HIGH_MEMORY, low_end) ||
            !range_within(hdr->pref_address, hdr->init_size, X86_HIGH_MEMORY, low_end))
                return log_error_errno(E2BIG,
                                       "Kernel %s needs %" PRIu32 " bytes of RAM from 0x%" PRIx64
                                       ", more than the guest has below 0x%" PRIx64 ".",
                                       kernel_name(in), hdr->init_size, hdr->pref_address, low_end);
        *ret_load = X86_HIGH_MEMORY;
        *ret_start = min_u64(X86_HIGH_MEMORY, hdr->pref_address);
        *ret_end = max_u64(X86_HIGH_MEMORY + pm_size, hdr->pref_address + hdr->init_size);
        return 0;
}

static int load_bzimage(GuestMemory *mem, const X86BootInput *in, X86BootInfo *ret) {
        const char *path = kernel_name(in);
        X86SetupHeader hdr = {};
        X86BootParams bp = {};
        X86E820Entry e820[X86_E820_MAX_ZEROPAGE];
        size_t hdr_end, setup_size, pm_size, cmdline_len, n_e820;
        uint64_t load = 0, kernel_start = 0, kernel_end = 0, initrd_addr = 0;
        int r;

        /* The caller saw "HdrS", so the version right after it is in the file. */
        assert(in->kernel_size >= X86_SETUP_OFFSET(version) + sizeof(hdr.version));
        memcpy(&hdr.version, in->kernel + X86_SETUP_OFFSET(version), sizeof(hdr.version));
        if (hdr.version < X86_BOOT_PROTOCOL(2, 12))
                return log_error_errno(ENOEXEC,
                                       "Kernel %s uses boot protocol %u.%02u, but 2.12 or newer is needed "
                                       "(for the 64-bit entry point).",
                                       path, hdr.version >> 8, hdr.version & 0xff);

        /* The header's length is in the image: the short jump at 0x200 skips exactly over it. 2.12
         * headers reach at least to the end of handover_offset. */
        hdr_end = 0x202 + (size_t) in->kernel[0x201];
        if (hdr_end < X86_SETUP_OFFSET(handover_offset) + sizeof(hdr.handover_offset))
                return log_error_errno(
                        ENOEXEC,
                        "Kernel %s is not a bootable bzImage: its setup header ends at 0x%zx, "
                        "too short for boot protocol %u.%02u.",
                        path, hdr_end, hdr.version >> 8, hdr.version & 0xff);
        if (hdr_end > in->kernel_size)
                return log_error_errno(
                        ENOEXEC,
                        "Kernel %s is truncated: %zu bytes, not even its setup header (0x%zx bytes).", path,
                        in->kernel_size, hdr_end);
        memcpy(&hdr, in->kernel + X86_SETUP_HEADER_OFFSET,
               min_u64(hdr_end - X86_SETUP_HEADER_OFFSET, sizeof(hdr)));

        if (hdr.boot_flag != X86_SETUP_BOOT_FLAG)
                return log_error_errno(ENOEXEC,
                                       "Kernel %s is not a bootable bzImage: boot flag 0x%04x, not 0x%04x.",
                                       path, hdr.boot_flag, X86_SETUP_BOOT_FLAG);
        if (!(hdr.xloadflags & X86_XLF_KERNEL_64))
                return log_error_errno(ENOEXEC,
                                       "Kernel %s has no 64-bit entry point (XLF_KERNEL_64 is not set in "
                                       "xloadflags 0x%04x); a 64-bit x86 kernel is needed.",
                                       path, hdr.xloadflags);
        if (!(hdr.loadflags & X86_LOADFLAG_LOADED_HIGH))
                return log_error_errno(
                        ENOEXEC, "Kernel %s is a zImage (not loaded high), which is not supported.", path);

        setup_size = ((size_t) (hdr.setup_sects ?: X86_SETUP_SECTS_DEFAULT) + 1) * X86_SETUP_SECTOR_SIZE;
        if (setup_size >= in->kernel_size)
                return log_error_errno(
                        ENOEXEC, "Kernel %s is truncated: %zu bytes, but its setup code alone takes %zu.",
                        path, in->kernel_size, setup_size);
        pm_size = in->kernel_size - setup_size;
        if ((uint64_t) hdr.syssize * 16 > pm_size)
                return log_error_errno(ENOEXEC,
                                       "Kernel %s is truncated: its header announces %" PRIu64
                                       " bytes of kernel after the setup code, the file has %zu.",
                                       path, (uint64_t) hdr.syssize * 16, pm_size);

        r = bzimage_place(mem, in, &hdr, pm_size, &load, &kernel_start, &kernel_end);
        if (r < 0)
                return r;

        r = cmdline_check(in, hdr.cmdline_size, &cmdline_len);
        if (r < 0)
                return r;

        r = initrd_place(mem, in, kernel_end, (uint64_t) hdr.initrd_addr_max + 1, &initrd_addr);
        if (r < 0)
                return r;

        r = x86_e820_build(mem, e820, ELEMENTSOF(e820), &n_e820);
        if (r < 0)
                return log_error_errno(r, "Failed to build the e820 memory map: %m");

        /* The zero page: the image's own header (so the kernel sees its own fields back), then what the
         * loader fills in. Everything else stays zero, the sentinel at 0x1ef included. */
        memcpy((uint8_t *) &bp + X86_SETUP_HEADER_OFFSET, in->kernel + X86_SETUP_HEADER_OFFSET,
               min_u64(hdr_end, SETUP_HEADER_COPY_END) - X86_SETUP_HEADER_OFFSET);
        bp.hdr.type_of_loader = X86_SETUP_TYPE_OF_LOADER_UNDEFINED;
        bp.hdr.loadflags |= X86_LOADFLAG_CAN_USE_HEAP;
        bp.hdr.heap_end_ptr = SETUP_HEAP_END - 0x200;
        bp.hdr.vid_mode = X86_SETUP_VID_MODE_NORMAL;
        bp.hdr.code32_start = (uint32_t) load;
        bp.hdr.cmd_line_ptr = X86_CMDLINE_ADDR;
        bp.hdr.ramdisk_image = (uint32_t) initrd_addr;
        bp.hdr.ramdisk_size = have_initrd(in) ? (uint32_t) in->initrd_size : 0;
        bp.hdr.setup_data = 0; /* we pass no setup_data list, whatever the image had there */
        if (hdr.version >= X86_BOOT_PROTOCOL(2, 14))
                bp.acpi_rsdp_addr = X86_ACPI_ADDR;
        bp.e820_entries = (uint8_t) n_e820;
        for (size_t i = 0; i < n_e820; i++)
                bp.e820_table[i] = (X86BootE820Entry) {
                        .addr = e820[i].addr, .size = e820[i].size, .type = e820[i].type,
                };

        r = guest_write(mem, load, in->kernel + setup_size, pm_size);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s to guest memory: %m", path);
        r = write_common(mem, in, cmdline_len, initrd_addr);
        if (r < 0)
                return r;
        r = guest_write(mem, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp));
        if (r < 0)
                return log_error_errno(r, "Failed to write the zero page to guest memory: %m");

        log_debug("Loaded bzImage %s (boot protocol %u.%02u) at 0x%" PRIx64 ", entry 0x%" PRIx64
                  ", initrd at 0x%" PRIx64 ".",
                  path, hdr.version >> 8, hdr.version & 0xff, load, load + X86_SETUP_ENTRY64_OFFSET,
                  initrd_addr);

        *ret = (X86BootInfo) {
                .mode = X86_BOOT_MODE_LINUX64,
                .entry = load + X86_SETUP_ENTRY64_OFFSET,
                .params_addr = X86_ZERO_PAGE_ADDR,
                .kernel_start = kernel_start,
                .kernel_end = kernel_end,
                .initrd_addr = initrd_addr,
                .initrd_size = have_initrd(in) ? in->initrd_size : 0,
                .bzimage_version = hdr.version,
        };
        return 0;
}

/* ---- ELF vmlinux with a PVH note ---- */

/* Looks through one PT_NOTE segment's bytes for Xen's PHYS32_ENTRY note. 1 and *ret_entry if found, 0 if
 * not, -ENOEXEC (logged) for a malformed note. */
static int elf_find_pvh_note(const X86BootInput *in, const uint8_t *p, size_t size, uint64_t *ret_entry) {
        static const char name[] = X86_PVH_NOTE_NAME;

        while (size >= sizeof(Elf64_Nhdr)) {
                Elf64_Nhdr nh;
                uint64_t name_len, desc_len;

                memcpy(&nh, p, sizeof(nh));
                /* name and descriptor are each padded to 4 bytes */
                name_len = ((uint64_t) nh.n_namesz + 3) & ~3ULL;
                desc_len = ((uint64_t) nh.n_descsz + 3) & ~3ULL;
                if (name_len + desc_len > size - sizeof(nh))
                        return log_error_errno(ENOEXEC, "Kernel %s has a truncated ELF note.",
                                               kernel_name(in));

                if (nh.n_namesz == sizeof(name) && memcmp(p + sizeof(nh), name, sizeof(name)) == 0 &&
                    nh.n_type == X86_PVH_NOTE_PHYS32_ENTRY) {
                        const uint8_t *desc = p + sizeof(nh) + name_len;
                        uint32_t e32;
                        uint64_t e64;

                        /* Linux has used both .long and a pointer-sized field for it. */
                        if (nh.n_descsz == sizeof(e32)) {
                                memcpy(&e32, desc, sizeof(e32));
                                e64 = e32;
                        } else if (nh.n_descsz == sizeof(e64))
                                memcpy(&e64, desc, sizeof(e64));
                        else
                                return log_error_errno(ENOEXEC,
                                                       "Kernel %s has a malformed PVH entry note (%" PRIu32
                                                       " bytes).",
                                                       kernel_name(in), (uint32_t) nh.n_descsz);
                        *ret_entry = e64;
                        return 1;
                }

                p += sizeof(nh) + name_len + desc_len;
                size -= sizeof(nh) + name_len + desc_len;
        }
        return 0;
}

static int load_elf(GuestMemory *mem, const X86BootInput *in, X86BootInfo *ret) {
        const char *path = kernel_name(in);
        uint64_t low_end = guest_memory_low_end(mem), kernel_start = UINT64_MAX, kernel_end = 0, entry = 0,
                 initrd_addr = 0;
        bool have_entry = false, entry_loaded = false;
        X86E820Entry e820[(PAGE_4K - (X86_PVH_MEMMAP_ADDR - X86_PVH_INFO_ADDR)) / sizeof(X86PvhMemmapEntry)];
        X86PvhMemmapEntry memmap[ELEMENTSOF(e820)];
        X86PvhStartInfo si;
        X86PvhModlistEntry mod;
        size_t cmdline_len, n_e820;
        Elf64_Ehdr eh;
        int r;

        if (in->kernel_size < sizeof(eh))
                return log_error_errno(ENOEXEC,
                                       "Kernel %s is truncated: %zu bytes, shorter than an ELF header.",
                                       path, in->kernel_size);
        memcpy(&eh, in->kernel, sizeof(eh));
        if (eh.e_ident[EI_CLASS] != ELFCLASS64)
                return log_error_errno(
                        ENOEXEC, "Kernel %s is a 32-bit ELF file; only 64-bit vmlinux is supported.", path);
        if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC)
                return log_error_errno(ENOEXEC, "Kernel %s is an ELF file, but not an x86-64 executable.",
                                       path);
        if (eh.e_phnum == 0 || eh.e_phnum == PN_XNUM || eh.e_phentsize != sizeof(Elf64_Phdr))
                return log_error_errno(ENOEXEC, "Kernel %s has no usable ELF program headers.", path);
        if (eh.e_phoff > in->kernel_size ||
            (uint64_t) eh.e_phnum * sizeof(Elf64_Phdr) > in->kernel_size - eh.e_phoff)
                return log_error_errno(
                        ENOEXEC, "Kernel %s is truncated: its program headers lie past its end.", path);

        /* First pass: check every segment and find the entry, before writing anything. */
        for (size_t i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;

                memcpy(&ph, in->kernel + eh.e_phoff + i * sizeof(ph), sizeof(ph));
                if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
                        continue;
                if (!range_within(ph.p_offset, ph.p_filesz, 0, in->kernel_size))
                        return log_error_errno(
                                ENOEXEC,
                                "Kernel %s is truncated: segment %zu needs file bytes [0x%" PRIx64
                                ", +0x%" PRIx64 "), the file has %zu.",
                                path, i, (uint64_t) ph.p_offset, (uint64_t) ph.p_filesz, in->kernel_size);

                if (ph.p_type == PT_NOTE) {
                        if (have_entry)
                                continue;
                        r = elf_find_pvh_note(in, in->kernel + ph.p_offset, ph.p_filesz, &entry);
                        if (r < 0)
                                return r;
                        have_entry = r > 0;
                        continue;
                }

                if (ph.p_memsz == 0)
                        continue;
                if (ph.p_filesz > ph.p_memsz)
                        return log_error_errno(ENOEXEC,
                                               "Kernel %s has a malformed segment %zu: 0x%" PRIx64
                                               " bytes in the file, more than its 0x%" PRIx64 " in memory.",
                                               path, i, (uint64_t) ph.p_filesz, (uint64_t) ph.p_memsz);
                /* Below 1 MiB are our own tables; the PVH entry runs with paging off, so everything must be
                 * below 4 GiB, and the PCI hole is not RAM. */
                if (!range_within(ph.p_paddr, ph.p_memsz, X86_HIGH_MEMORY, X86_PCI_HOLE_START))
                        return log_error_errno(
                                ENOEXEC,
                                "Kernel %s has segment %zu at [0x%" PRIx64 ", +0x%" PRIx64
                                "), outside the RAM a kernel may be loaded into [0x%x, 0x%llx).",
                                path, i, (uint64_t) ph.p_paddr, (uint64_t) ph.p_memsz, X86_HIGH_MEMORY,
                                X86_PCI_HOLE_START);
                if (!range_within(ph.p_paddr, ph.p_memsz, X86_HIGH_MEMORY, low_end))
                        return log_error_errno(
                                E2BIG,
                                "Kernel %s does not fit in guest memory: segment %zu ends at 0x%" PRIx64
                                ", the guest has RAM up to 0x%" PRIx64 ".",
                                path, i, (uint64_t) (ph.p_paddr + ph.p_memsz), low_end);
                kernel_start = min_u64(kernel_start, ph.p_paddr);
                kernel_end = max_u64(kernel_end, ph.p_paddr + ph.p_memsz);
        }

        if (!have_entry)
                return log_error_errno(
                        ENOEXEC,
                        "Kernel %s is an ELF file without a PVH entry point (no Xen PHYS32_ENTRY "
                        "note); boot its bzImage instead, or build it with CONFIG_PVH=y.",
                        path);
        if (kernel_end == 0)
                return log_error_errno(ENOEXEC, "Kernel %s has no loadable segments.", path);

        for (size_t i = 0; i < eh.e_phnum && !entry_loaded; i++) {
                Elf64_Phdr ph;

                memcpy(&ph, in->kernel + eh.e_phoff + i * sizeof(ph), sizeof(ph));
                entry_loaded =
                        ph.p_type == PT_LOAD && entry >= ph.p_paddr && entry - ph.p_paddr < ph.p_memsz;
        }
        if (!entry_loaded)
                return log_error_errno(ENOEXEC,
                                       "Kernel %s has its PVH entry point 0x%" PRIx64
                                       " outside its loaded segments.",
                                       path, entry);

        r = cmdline_check(in, 0, &cmdline_len);
        if (r < 0)
                return r;

        r = initrd_place(mem, in, kernel_end, low_end, &initrd_addr);
        if (r < 0)
                return r;

        r = x86_e820_build(mem, e820, ELEMENTSOF(e820), &n_e820);
        if (r < 0)
                return log_error_errno(r, "Failed to build the memory map: %m");

        /* Second pass: load. The checks above make every write land in RAM. */
        for (size_t i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                uint8_t *dst;

                memcpy(&ph, in->kernel + eh.e_phoff + i * sizeof(ph), sizeof(ph));
                if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
                        continue;
                dst = guest_ptr(mem, ph.p_paddr, ph.p_memsz);
                if (!dst)
                        return log_error_errno(EFAULT, "Failed to write %s segment %zu to guest memory: %m",
                                               path, i);
                memcpy(dst, in->kernel + ph.p_offset, ph.p_filesz);
                memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        }

        r = write_common(mem, in, cmdline_len, initrd_addr);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_e820; i++)
                memmap[i] = (X86PvhMemmapEntry) {
                        .addr = e820[i].addr, .size = e820[i].size, .type = e820[i].type,
                };
        si = (X86PvhStartInfo) {
                .magic = X86_PVH_START_MAGIC,
                .version = X86_PVH_START_VERSION,
                .cmdline_paddr = X86_CMDLINE_ADDR,
                .rsdp_paddr = X86_ACPI_ADDR,
                .memmap_paddr = X86_PVH_MEMMAP_ADDR,
                .memmap_entries = (uint32_t) n_e820,
        };
        if (have_initrd(in)) {
                mod = (X86PvhModlistEntry) { .paddr = initrd_addr, .size = in->initrd_size };
                si.nr_modules = 1;
                si.modlist_paddr = X86_PVH_MODLIST_ADDR;
                r = guest_write(mem, X86_PVH_MODLIST_ADDR, &mod, sizeof(mod));
                if (r < 0)
                        return log_error_errno(r, "Failed to write the PVH module list to guest memory: %m");
        }
        r = guest_write(mem, X86_PVH_MEMMAP_ADDR, memmap, n_e820 * sizeof(memmap[0]));
        if (r < 0)
                return log_error_errno(r, "Failed to write the PVH memory map to guest memory: %m");
        r = guest_write(mem, X86_PVH_INFO_ADDR, &si, sizeof(si));
        if (r < 0)
                return log_error_errno(r, "Failed to write the PVH start_info to guest memory: %m");

        log_debug("Loaded ELF kernel %s at [0x%" PRIx64 ", 0x%" PRIx64 "), PVH entry 0x%" PRIx64
                  ", initrd at 0x%" PRIx64 ".",
                  path, kernel_start, kernel_end, entry, initrd_addr);

        *ret = (X86BootInfo) {
                .mode = X86_BOOT_MODE_PVH,
                .entry = entry,
                .params_addr = X86_PVH_INFO_ADDR,
                .kernel_start = kernel_start,
                .kernel_end = kernel_end,
                .initrd_addr = initrd_addr,
                .initrd_size = have_initrd(in) ? in->initrd_size : 0,
        };
        return 0;
}

int x86_load_kernel(GuestMemory *mem, const X86BootInput *in, X86BootInfo *ret) {
        uint32_t magic;

        assert(mem);
        assert(in);
        assert(in->kernel || in->kernel_size == 0);
        assert(ret);

        /* Our own tables sit below 1 MiB and every kernel above it. */
        if (mem->n_regions == 0 || mem->regions[0].gpa != 0 || guest_memory_low_end(mem) <= X86_HIGH_MEMORY)
                return log_error_errno(EINVAL,
                                       "Guest memory is too small to boot %s: more than 1 MiB is needed.",
                                       kernel_name(in));

        if (in->kernel_size >= X86_SETUP_OFFSET(version) + sizeof(uint16_t)) {
                memcpy(&magic, in->kernel + X86_SETUP_OFFSET(header), sizeof(magic));
                if (magic == X86_SETUP_HEADER_MAGIC)
                        return load_bzimage(mem, in, ret);
        }
        if (in->kernel_size >= SELFMAG && memcmp(in->kernel, ELFMAG, SELFMAG) == 0)
                return load_elf(mem, in, ret);

        return log_error_errno(ENOEXEC, "Kernel %s is neither a bzImage nor an ELF vmlinux (%zu bytes).",
                               kernel_name(in), in->kernel_size);
}

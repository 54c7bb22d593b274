/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest ABIs that a loader of Linux speaks on x86, defined here from their documentation (Linux's
 * Documentation/arch/x86/boot.rst and zero-page.rst, Xen's hvm/start_info.h) rather than taken from
 * the kernel's internal headers: the bzImage setup header, the zero page ("struct boot_params") and the
 * PVH start_info block with its module list and memory map. Every field we read or write is named and
 * its offset asserted; what we never touch stays anonymous padding. All little-endian, like the
 * hosts vmm runs on. */

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* ---- bzImage (boot protocol 2.x) ---- */

#define X86_SETUP_HEADER_OFFSET 0x1f1         /* where the setup header starts, in the image and zero page */
#define X86_SETUP_HEADER_MAGIC 0x53726448     /* "HdrS" at 0x202 */
#define X86_SETUP_BOOT_FLAG 0xaa55            /* at 0x1fe */
#define X86_SETUP_SECTS_DEFAULT 4             /* setup_sects == 0 means 4 */
#define X86_SETUP_SECTOR_SIZE 512
#define X86_SETUP_ENTRY64_OFFSET 0x200        /* 64-bit entry, from the protected-mode part's start */
#define X86_SETUP_TYPE_OF_LOADER_UNDEFINED 0xff
#define X86_SETUP_VID_MODE_NORMAL 0xffff      /* "normal" VGA: no mode prompt */

/* loadflags */
#define X86_LOADFLAG_LOADED_HIGH 0x01
#define X86_LOADFLAG_CAN_USE_HEAP 0x80
/* xloadflags (protocol 2.12) */
#define X86_XLF_KERNEL_64 0x0001
#define X86_XLF_CAN_BE_LOADED_ABOVE_4G 0x0002

#define X86_BOOT_PROTOCOL(major, minor) ((uint16_t) (((major) << 8) | (minor)))

typedef struct __attribute__((packed)) X86SetupHeader {
        uint8_t setup_sects;            /* 0x1f1 */
        uint16_t root_flags;            /* 0x1f2 */
        uint32_t syssize;               /* 0x1f4: protected-mode code size in 16-byte units */
        uint16_t ram_size;              /* 0x1f8 */
        uint16_t vid_mode;              /* 0x1fa */
        uint16_t root_dev;              /* 0x1fc */
        uint16_t boot_flag;             /* 0x1fe */
        uint16_t jump;                  /* 0x200: its second byte + 0x202 = end of this header */
        uint32_t header;                /* 0x202 */
        uint16_t version;               /* 0x206 */
        uint32_t realmode_swtch;        /* 0x208 */
        uint16_t start_sys_seg;         /* 0x20c */
        uint16_t kernel_version;        /* 0x20e */
        uint8_t type_of_loader;         /* 0x210 */
        uint8_t loadflags;              /* 0x211 */
        uint16_t setup_move_size;       /* 0x212 */
        uint32_t code32_start;          /* 0x214 */
        uint32_t ramdisk_image;         /* 0x218 */
        uint32_t ramdisk_size;          /* 0x21c */
        uint32_t bootsect_kludge;       /* 0x220 */
        uint16_t heap_end_ptr;          /* 0x224 */
        uint8_t ext_loader_ver;         /* 0x226 */
        uint8_t ext_loader_type;        /* 0x227 */
        uint32_t cmd_line_ptr;          /* 0x228 */
        uint32_t initrd_addr_max;       /* 0x22c: highest address the initrd may occupy */
        uint32_t kernel_alignment;      /* 0x230 */
        uint8_t relocatable_kernel;     /* 0x234 */
        uint8_t min_alignment;          /* 0x235 */
        uint16_t xloadflags;            /* 0x236 */
        uint32_t cmdline_size;          /* 0x238: longest command line, without its NUL */
        uint32_t hardware_subarch;      /* 0x23c */
        uint64_t hardware_subarch_data; /* 0x240 */
        uint32_t payload_offset;        /* 0x248 */
        uint32_t payload_length;        /* 0x24c */
        uint64_t setup_data;            /* 0x250 */
        uint64_t pref_address;          /* 0x258 */
        uint32_t init_size;             /* 0x260 */
        uint32_t handover_offset;       /* 0x264 */
        uint32_t kernel_info_offset;    /* 0x268 */
} X86SetupHeader;

/* Offsets in this struct are relative to 0x1f1; these name the absolute ones. */
#define X86_SETUP_OFFSET(field) (X86_SETUP_HEADER_OFFSET + offsetof(X86SetupHeader, field))

static_assert(sizeof(X86SetupHeader) == 0x26c - 0x1f1, "setup header size");
static_assert(X86_SETUP_OFFSET(header) == 0x202, "setup header layout");
static_assert(X86_SETUP_OFFSET(type_of_loader) == 0x210, "setup header layout");
static_assert(X86_SETUP_OFFSET(cmd_line_ptr) == 0x228, "setup header layout");
static_assert(X86_SETUP_OFFSET(xloadflags) == 0x236, "setup header layout");
static_assert(X86_SETUP_OFFSET(pref_address) == 0x258, "setup header layout");
static_assert(X86_SETUP_OFFSET(init_size) == 0x260, "setup header layout");

#define X86_E820_MAX_ZEROPAGE 128

typedef struct __attribute__((packed)) X86BootE820Entry {
        uint64_t addr;
        uint64_t size;
        uint32_t type;
} X86BootE820Entry;

/* The zero page: one 4 KiB page whose address the 64-bit entry gets in RSI. */
typedef struct __attribute__((packed)) X86BootParams {
        uint8_t _screen_info_etc[0x070];                  /* 0x000: screen, APM, tboot, IST */
        uint64_t acpi_rsdp_addr;                          /* 0x070: protocol 2.14 */
        uint8_t _pad1[0x0c0 - 0x078];                     /* 0x078: legacy disk and firmware info */
        uint32_t ext_ramdisk_image;                       /* 0x0c0 */
        uint32_t ext_ramdisk_size;                        /* 0x0c4 */
        uint32_t ext_cmd_line_ptr;                        /* 0x0c8 */
        uint8_t _pad2[0x1e8 - 0x0cc];                     /* 0x0cc: EDID, EFI info, ... */
        uint8_t e820_entries;                             /* 0x1e8 */
        uint8_t _pad3[0x1ef - 0x1e9];                     /* 0x1e9: EDD counts, kbd, secure boot */
        uint8_t sentinel;                                 /* 0x1ef: must stay 0 */
        uint8_t _pad4;                                    /* 0x1f0 */
        X86SetupHeader hdr;                               /* 0x1f1 */
        uint8_t _pad5[0x2d0 - 0x26c];                     /* 0x26c: header growth, EDD MBR signatures */
        X86BootE820Entry e820_table[X86_E820_MAX_ZEROPAGE]; /* 0x2d0 */
        uint8_t _pad6[0x1000 - 0xcd0];                    /* 0xcd0: EDD info */
} X86BootParams;

static_assert(sizeof(X86BootParams) == 4096, "zero page size");
static_assert(offsetof(X86BootParams, acpi_rsdp_addr) == 0x070, "zero page layout");
static_assert(offsetof(X86BootParams, ext_cmd_line_ptr) == 0x0c8, "zero page layout");
static_assert(offsetof(X86BootParams, e820_entries) == 0x1e8, "zero page layout");
static_assert(offsetof(X86BootParams, sentinel) == 0x1ef, "zero page layout");
static_assert(offsetof(X86BootParams, hdr) == X86_SETUP_HEADER_OFFSET, "zero page layout");
static_assert(offsetof(X86BootParams, e820_table) == 0x2d0, "zero page layout");

/* ---- PVH (Xen's direct boot ABI, which Linux's ELF vmlinux also implements) ---- */

#define X86_PVH_NOTE_NAME "Xen"                 /* ELF note owner, NUL included in namesz */
#define X86_PVH_NOTE_PHYS32_ENTRY 18            /* XEN_ELFNOTE_PHYS32_ENTRY */
#define X86_PVH_START_MAGIC 0x336ec578
#define X86_PVH_START_VERSION 1                 /* the version that has the memory map */

typedef struct X86PvhStartInfo {
        uint32_t magic;
        uint32_t version;
        uint32_t flags;
        uint32_t nr_modules;
        uint64_t modlist_paddr;
        uint64_t cmdline_paddr;
        uint64_t rsdp_paddr;
        /* version 1 */
        uint64_t memmap_paddr;
        uint32_t memmap_entries;
        uint32_t reserved;
} X86PvhStartInfo;

typedef struct X86PvhModlistEntry {
        uint64_t paddr;
        uint64_t size;
        uint64_t cmdline_paddr;
        uint64_t reserved;
} X86PvhModlistEntry;

/* The memory map's types are the e820 ones. */
typedef struct X86PvhMemmapEntry {
        uint64_t addr;
        uint64_t size;
        uint32_t type;
        uint32_t reserved;
} X86PvhMemmapEntry;

static_assert(sizeof(X86PvhStartInfo) == 56, "hvm_start_info size");
static_assert(offsetof(X86PvhStartInfo, rsdp_paddr) == 32, "hvm_start_info layout");
static_assert(offsetof(X86PvhStartInfo, memmap_entries) == 48, "hvm_start_info layout");
static_assert(sizeof(X86PvhModlistEntry) == 32, "hvm_modlist_entry size");
static_assert(sizeof(X86PvhMemmapEntry) == 24, "hvm_memmap_table_entry size");

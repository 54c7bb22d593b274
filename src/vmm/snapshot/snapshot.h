/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The state file: a paused VM's identity, its KVM and device records (vm_save()) and its guest RAM, in
 * one file that is written crash-safely and read back trusting nothing. Also in vmm(8), STATE FILE.
 *
 * Format, version 1. Every integer is little-endian; offsets are from the start of the file.
 *
 *   0  header, 16 bytes: magic "SDVMSNAP" (8), version (le32, 1), flags (le32, 0)
 *  16  sections, back to back without padding, each:
 *          tag     le32   four ASCII characters, first in the file: "idty", "stat", "ram ", "end "
 *          flags   le32   bit 0: optional, a reader that does not know the tag skips it; others 0
 *          length  le64   the bytes that follow
 *          data    length bytes
 *      "idty", "stat" and "ram " come exactly once each, in any order; "end " closes the list.
 *  ... zero padding (a hole) up to data_offset
 *  data_offset (a multiple of 2 MiB): guest RAM as a sparse image, to the end of the file. The byte at
 *      RAM offset x is at data_offset + x, so the file is data_offset + memory bytes long; what the
 *      extent table does not list is a hole in the file and zeros in the guest.
 *
 * "idty", 728 bytes, SnapshotIdentity:
 *      0 name (64, NUL-padded)  64 memory (le64)  72 cpus (le32)  76 tsc_khz (le32)  80 n_disks (le32)
 *     84 reserved (le32, 0)     88 16 disks of 40 bytes: size (le64), dev (le64), ino (le64),
 *                                  mtime_sec (le64, signed), mtime_nsec (le32), reserved (le32, 0);
 *                                  the unused ones all zero
 * "stat": a StateWriter's records (vm_save()), at most SNAPSHOT_STATE_MAX bytes, opaque here:
 *      vm_restore() judges them.
 * "ram ", 56 + 32 * n_extents bytes:
 *      0 n_regions (le32, 1..2)  4 reserved (le32, 0)  8 2 regions of 16 bytes: gpa (le64), size (le64)
 *        (GuestMemory's layout; the unused one zero)  40 data_offset (le64)  48 n_extents (le64)
 *     56 extents of 32 bytes: ram_offset (le64), length (le64), file_offset (le64), crc32c (le32),
 *        flags (le32, 0). RAM offsets count through the regions in order (the memfd's offsets), not
 *        guest-physical addresses. Extents are 4 KiB aligned, ascending, do not overlap, lie inside
 *        the RAM, and file_offset is data_offset + ram_offset: stored so that each entry says where its
 *        bytes are, required to be linear so that a region maps with one mmap() whatever the number
 *        of extents (each mmap() would be a VMA, and vm.max_map_count is 65530 by default).
 * "end ", 8 bytes: crc32c (le32) of the file from offset 0 up to this field: the header, every section
 *      header and every byte of the sections, the end section's own header included; reserved (le32, 0).
 *
 * Checksums (crc32c.h). The metadata (everything before data_offset) is read and checked whole on
 * every open. RAM is not: snapshot_open() and snapshot_map_ram() cost the same for 1 GiB and 1 TiB,
 * and the guest's pages are read when it touches them. Each extent has its own CRC-32C instead, in the
 * checked table; snapshot_read_ram() checks them as it reads anyway, and snapshot_verify_ram() reads
 * the whole RAM and checks them, and that the holes hold nothing, for a caller that will map and wants
 * the guarantee at the price of a full read.
 *
 * Alignment. 4 KiB is what mmap() needs; data_offset is a multiple of 2 MiB so that a file offset is
 * congruent to its RAM offset modulo 2 MiB too, and the kernel can map a large page-cache folio (or a
 * transparent huge page) at a 2 MiB guest boundary. It costs nothing: the padding is a hole.
 *
 * Errors from snapshot_open(): -EBADMSG: not an intact state file (magic, truncation, framing, sizes,
 * a section missing or twice, the checksum, bytes after the RAM); -EPROTO: another version of the
 * format (version, flags, an unknown section that is not optional); -EINVAL: intact, but a value out of
 * range (identity, RAM layout, extents). Each logs one line: "state file LABEL: what is wrong". */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "core/memory.h"
#include "core/state.h"
#include "vm-config.h"

#define SNAPSHOT_MAGIC     "SDVMSNAP"
#define SNAPSHOT_VERSION   1U
#define SNAPSHOT_STATE_MAX (UINT64_C(64) << 20)
#define SNAPSHOT_DISKS_MAX VM_DISKS_MAX
#define SNAPSHOT_PAGE_SIZE UINT64_C(4096)
#define SNAPSHOT_DATA_ALIGN (UINT64_C(2) << 20)

/* A disk as the host saw it when the VM was saved (the devices quiesced, so nothing writes it any more):
 * a restore onto a disk that changed since is wrong. st_dev is what stat() says; it need not survive a
 * reboot (btrfs, device-mapper and NFS number devices as they come), which is the caller's to weigh. */
typedef struct SnapshotDisk {
        uint64_t size;
        uint64_t dev; /* st_dev */
        uint64_t ino; /* st_ino */
        int64_t mtime_sec;
        uint32_t mtime_nsec;
} SnapshotDisk;

/* What the caller compares with its config before it restores anything. */
typedef struct SnapshotIdentity {
        char name[VM_NAME_MAX + 1]; /* vm_name_is_valid() */
        uint64_t memory;            /* bytes, VM_MEMORY_MIN .. VM_MEMORY_MAX, a multiple of 4 KiB */
        uint32_t cpus;              /* VM_CPUS_MIN .. VM_CPUS_MAX */
        uint32_t tsc_khz;           /* the host's TSC frequency the guest ran at; 0: none known */
        uint32_t n_disks;           /* .. SNAPSHOT_DISKS_MAX */
        SnapshotDisk disks[SNAPSHOT_DISKS_MAX];
} SnapshotIdentity;

/* Called as the bytes go through, after each piece of at most 4 MiB; done reaches total at the end.
 * A negative return stops the work with that error (a cancel, or a test's injected failure). */
typedef int (*SnapshotProgress)(uint64_t done, uint64_t total, void *userdata);

typedef struct SnapshotParams {
        const SnapshotIdentity *identity; /* memory must be memory->ram_size */
        const void *state;                /* vm_save()'s records: a StateWriter's data and size */
        size_t state_size;
        /* The guest's RAM, paused. Read where it holds data: SEEK_DATA/SEEK_HOLE over the memfd, or,
         * where snapshot_map_ram() put a file under it (file_mapped), every page, keeping those that
         * are not zero; that costs a read of all of RAM, which nothing cheaper tells apart. */
        const GuestMemory *memory;
        const char *label; /* the file in messages; NULL: the name, or "fd N" */
        SnapshotProgress progress; /* NULL for none */
        void *userdata;
        bool no_tmpfile; /* write_at: a named temporary file even where O_TMPFILE works (tests) */
} SnapshotParams;

/* Writes the state file NAME in dir_fd (an open directory, not O_PATH) so that NAME is at every moment
 * either the previous file or the complete new one, also across a crash, kill -9 or power loss: an
 * unnamed O_TMPFILE file in the directory, written, fdatasync()ed, linked as ".#NAME.XXXXXX", renamed
 * over NAME, and the directory fsync()ed. Where the file system has no O_TMPFILE, ".#NAME.XXXXXX" is
 * created and written instead; a crash then leaves it behind (the loader refuses it: its metadata comes
 * last), and any other failure removes it. The file is 0600. Logs; returns 0 or a negative errno. */
int snapshot_write_at(int dir_fd, const char *name, const SnapshotParams *p);

/* Writes the state file into fd, a regular file opened for writing (not O_APPEND) that a client passed,
 * where no rename is possible: the file is emptied (and that made durable) first, the RAM written and
 * fdatasync()ed, then the metadata, then fdatasync() again. A write that stops anywhere leaves a file
 * the loader refuses: no magic yet, or a checksum that does not match, never the old file with new
 * RAM. Refuses (-EBUSY) the file that memory is mapped from: emptying it would pull the RAM from under
 * the guest. Logs. */
int snapshot_write_fd(int fd, const SnapshotParams *p);

typedef struct Snapshot Snapshot;

/* Reads and checks the metadata of the state file open at fd (read access; the Snapshot keeps its own
 * duplicate, whose file offset it may move). label names it in messages (NULL: "fd N"). Reads no RAM.
 * Logs one line and returns -EBADMSG, -EPROTO, -EINVAL (see above) or an I/O error. */
int snapshot_open(int fd, const char *label, Snapshot **ret);
Snapshot *snapshot_free(Snapshot *s);
DEFINE_FREEP(Snapshot, snapshot_free);

const SnapshotIdentity *snapshot_identity(const Snapshot *s);
/* The records for vm_restore(); valid while s is. */
StateReader snapshot_state(const Snapshot *s);
/* Bytes of RAM the file holds (the sum of its extents) and how many extents. */
uint64_t snapshot_ram_data_size(const Snapshot *s);
size_t snapshot_ram_extents(const Snapshot *s);

/* Two ways to put the saved RAM into m, whose layout (regions) must be the saved one:
 *
 * snapshot_map_ram() maps the file MAP_PRIVATE | MAP_FIXED over each region: O(1) in the RAM's size,
 * pages come in from the file as the guest touches them and a write copies the page, so the file never
 * changes. The file must then stay as it is for the VM's life: a page not yet touched shows what the
 * file holds when it is touched, and a file truncated under the mapping is SIGBUS. Saving again by
 * snapshot_write_at() is safe (the rename leaves the mapped inode alone); so is unlinking it. RAM is
 * not checked (see snapshot_verify_ram()), the memfd stops holding the RAM (m->file_mapped), and the
 * next save reads all of RAM. Call it before the vCPUs run; on failure m is unusable.
 *
 * snapshot_read_ram() preads every extent into the memfd's mapping, checking its CRC-32C, and punches
 * the rest of the memfd: O(RAM data), for files that cannot be mapped (a file system without mmap(),
 * a file that will not stay unchanged, one passed by a client) or when the memfd must stay the RAM (it
 * is shared with another process, or the next save should be cheap). m must not be file_mapped. */
int snapshot_map_ram(Snapshot *s, GuestMemory *m);
int snapshot_read_ram(Snapshot *s, GuestMemory *m, SnapshotProgress progress, void *userdata);

/* Reads all RAM data and checks every extent's CRC-32C and that the holes between extents hold only
 * zeros. -EBADMSG (logged) where they do not. */
int snapshot_verify_ram(Snapshot *s, SnapshotProgress progress, void *userdata);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hostile state files against snapshot_open(), and for those it accepts, the RAM paths. An input is
 *   - raw (first byte even): the rest is the start of the file;
 *   - edits (first byte odd): changes to a valid file saved at start-up, 3 bytes each: offset (le16) and
 *     an XOR mask. Offsets below 0x8000 are into the metadata; from 0x8000 on, into the RAM data, byte
 *     data_offset + 64 * (offset - 0x8000), which covers the first 2 MiB of RAM, where its data is.
 * Bit 1 of the first byte recomputes the checksum afterwards (where the framing as written leads to an
 * end section), so that the checks behind it are reached at all; bit 2 sizes the file as its identity
 * and RAM table say (data_offset + memory), so that a raw file can be whole.
 *
 * What must hold for a file the loader accepts: its identity is in range; RAM that verifies also reads,
 * and maps to the same bytes; and RAM that reads saves again into a file that opens and verifies, with
 * the same identity and state. Seeds: snapshot-seeds.py. */

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "byteorder.h"
#include "core/memory.h"
#include "core/state.h"
#include "fuzz.h"
#include "log.h"
#include "snapshot/crc32c.h"
#include "snapshot/snapshot.h"

#define MIB        (UINT64_C(1) << 20)
#define RAM        (128 * MIB)
#define HOLE       (64 * MIB) /* the layout every GuestMemory here has: [0, 64M) and from 4G on */
#define HIGH       (UINT64_C(4) << 30)
#define MEMORY_MAX (256 * MIB) /* bigger ones are only opened */
#define META_MAX   65536
#define RAM_EDITS  0x8000

static uint8_t valid_meta[META_MAX];
static uint64_t valid_size, valid_data_offset;
static const struct {
        uint64_t offset, length;
} valid_extents[] = { { 0, 4096 }, { 64 * 1024, 64 * 1024 }, { MIB, 4096 } };
static uint8_t valid_ram[2 * MIB];

static void check(bool ok) {
        if (!ok)
                abort(); /* our bug: make the fuzzer see it */
}

static int new_file(void) {
        int fd = memfd_create("fuzz-snapshot", MFD_CLOEXEC);
        check(fd >= 0);
        return fd;
}

static void setup(void) {
        SnapshotIdentity id = { .name = "fuzz", .memory = RAM, .cpus = 4, .tsc_khz = 3000000, .n_disks = 1 };
        StateWriter w = {};
        GuestMemory *m;
        uint64_t a = 42;
        uint8_t b[16] = "sixteen bytes..";
        int fd;

        if (!getenv("SDVM_FUZZ_LOG"))
                log_set_max_level(-1);
        id.disks[0] = (SnapshotDisk) { .size = 1 << 30, .dev = 0x801, .ino = 12, .mtime_sec = 1,
                                       .mtime_nsec = 2 };
        check(state_write(&w, STATE_TAG('f', 'z', 'z', 'a'), &a, sizeof a) >= 0);
        check(state_write(&w, STATE_TAG('f', 'z', 'z', 'b'), b, sizeof b) >= 0);
        check(guest_memory_new(RAM, HOLE, HIGH, &m) >= 0);
        for (size_t i = 0; i < ELEMENTSOF(valid_extents); i++)
                for (uint64_t o = 0; o < valid_extents[i].length; o++)
                        m->map[valid_extents[i].offset + o] = (uint8_t) ((valid_extents[i].offset + o) * 13 + 1);
        /* pread, not a read through the mapping: that would fill shmem's holes with pages. */
        check(pread(m->memfd, valid_ram, sizeof valid_ram, 0) == (ssize_t) sizeof valid_ram);

        fd = new_file();
        check(snapshot_write_fd(fd, &(SnapshotParams) { .identity = &id, .state = w.data,
                                                        .state_size = w.size, .memory = m }) >= 0);
        valid_size = (uint64_t) lseek(fd, 0, SEEK_END);
        check(pread(fd, valid_meta, sizeof valid_meta, 0) == (ssize_t) sizeof valid_meta);
        valid_data_offset = valid_size - RAM;
        close(fd);
        guest_memory_free(m);
        state_writer_done(&w);
}

/* The offset of the end section's checksum as the framing in buf leads to it, or 0. */
static size_t find_crc(const uint8_t *buf, size_t size) {
        uint64_t o = 16;

        while (o <= size && size - o >= 16) {
                uint64_t len = le_read(buf + o + 8, 8);
                if ((uint32_t) le_read(buf + o, 4) == STATE_TAG('e', 'n', 'd', ' '))
                        return size - (o + 16) >= 4 ? (size_t) (o + 16) : 0;
                if (len > size)
                        return 0;
                o += 16 + len;
        }
        return 0;
}

/* data_offset + memory as the sections in buf say, or 0. */
static uint64_t implied_size(const uint8_t *buf, size_t size) {
        uint64_t o = 16, memory = 0, data_offset = 0;

        while (o <= size && size - o >= 16) {
                uint32_t tag = (uint32_t) le_read(buf + o, 4);
                uint64_t len = le_read(buf + o + 8, 8);

                if (len > size - o - 16)
                        break;
                if (tag == STATE_TAG('i', 'd', 't', 'y') && len >= 72)
                        memory = le_read(buf + o + 16 + 64, 8);
                if (tag == STATE_TAG('r', 'a', 'm', ' ') && len >= 48)
                        data_offset = le_read(buf + o + 16 + 40, 8);
                o += 16 + len;
        }
        if (memory == 0 || memory > (UINT64_C(1) << 40) || data_offset > (UINT64_C(1) << 40))
                return 0;
        return data_offset + memory;
}

static int build_file(const uint8_t *data, size_t size) {
        static uint8_t meta[META_MAX];
        uint8_t mode = data[0];
        size_t n, crc_at;
        int fd = new_file();

        data++, size--;
        if (!(mode & 1)) {
                n = size < sizeof meta ? size : sizeof meta;
                memcpy(meta, data, n);
                if (mode & 4) {
                        uint64_t want = implied_size(meta, n);
                        if (want > n)
                                check(ftruncate(fd, (off_t) want) == 0);
                }
        } else {
                n = sizeof meta;
                memcpy(meta, valid_meta, n);
                check(ftruncate(fd, (off_t) valid_size) == 0);
                for (size_t i = 0; i < ELEMENTSOF(valid_extents); i++)
                        check(pwrite(fd, valid_ram + valid_extents[i].offset, valid_extents[i].length,
                                     (off_t) (valid_data_offset + valid_extents[i].offset)) ==
                              (ssize_t) valid_extents[i].length);
                for (size_t i = 0; i + 3 <= size; i += 3) {
                        uint16_t off = (uint16_t) le_read(data + i, 2);
                        if (off < RAM_EDITS) {
                                meta[off] ^= data[i + 2];
                        } else {
                                uint64_t at = valid_data_offset + 64 * (uint64_t) (off - RAM_EDITS);
                                uint8_t byte = 0;
                                check(pread(fd, &byte, 1, (off_t) at) == 1);
                                byte ^= data[i + 2];
                                check(pwrite(fd, &byte, 1, (off_t) at) == 1);
                        }
                }
        }
        if ((mode & 2) && (crc_at = find_crc(meta, n)) > 0)
                le_write(meta + crc_at, 4, crc32c(0, meta, crc_at));
        check(pwrite(fd, meta, n, 0) == (ssize_t) n);
        return fd;
}

static bool same_identity(const SnapshotIdentity *a, const SnapshotIdentity *b) {
        if (strcmp(a->name, b->name) != 0 || a->memory != b->memory || a->cpus != b->cpus ||
            a->tsc_khz != b->tsc_khz || a->n_disks != b->n_disks)
                return false;
        for (uint32_t i = 0; i < a->n_disks; i++)
                if (a->disks[i].size != b->disks[i].size || a->disks[i].dev != b->disks[i].dev ||
                    a->disks[i].ino != b->disks[i].ino || a->disks[i].mtime_sec != b->disks[i].mtime_sec ||
                    a->disks[i].mtime_nsec != b->disks[i].mtime_nsec)
                        return false;
        return true;
}

/* Saves what was read into m again: it must load, whole, with the same identity and state. */
static void save_again(const Snapshot *s, const GuestMemory *m) {
        const SnapshotIdentity *id = snapshot_identity(s);
        StateReader st = snapshot_state(s);
        Snapshot *t = NULL;
        StateReader st2;
        int fd = new_file();

        check(snapshot_write_fd(fd, &(SnapshotParams) { .identity = id, .state = st.data,
                                                        .state_size = st.size, .memory = m }) >= 0);
        check(snapshot_open(fd, "fuzz again", &t) >= 0);
        check(same_identity(id, snapshot_identity(t)));
        st2 = snapshot_state(t);
        check(st.size == st2.size && (st.size == 0 || memcmp(st.data, st2.data, st.size) == 0));
        check(snapshot_ram_data_size(t) >= snapshot_ram_data_size(s));
        check(snapshot_verify_ram(t, NULL, NULL) >= 0);
        snapshot_free(t);
        close(fd);
}

static void ram_paths(Snapshot *s) {
        const SnapshotIdentity *id = snapshot_identity(s);
        GuestMemory *m = NULL, *mapped = NULL;
        int verified, read;

        verified = snapshot_verify_ram(s, NULL, NULL);
        check(verified >= 0 || verified == -EBADMSG);
        if (id->memory > MEMORY_MAX || id->memory <= HOLE)
                return;
        check(guest_memory_new(id->memory, HOLE, HIGH, &m) >= 0);
        read = snapshot_read_ram(s, m, NULL, NULL);
        /* -EINVAL: another layout. Otherwise read checks less than verify does. */
        check(read >= 0 || read == -EINVAL || (read == -EBADMSG && verified < 0));
        if (read >= 0)
                save_again(s, m);
        if (read >= 0 && verified >= 0) {
                check(guest_memory_new(id->memory, HOLE, HIGH, &mapped) >= 0);
                check(snapshot_map_ram(s, mapped) >= 0);
                check(memcmp(m->map, mapped->map, 2 * MIB) == 0);
                check(memcmp(m->map + id->memory - 4096, mapped->map + id->memory - 4096, 4096) == 0);
                guest_memory_free(mapped);
        }
        guest_memory_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool initialized = false;
        const SnapshotIdentity *id;
        Snapshot *s = NULL;
        int fd, r;

        if (!initialized) {
                setup();
                initialized = true;
        }
        if (size < 1)
                return 0;

        fd = build_file(data, size);
        r = snapshot_open(fd, "fuzz", &s);
        check(r >= 0 || r == -EBADMSG || r == -EPROTO || r == -EINVAL);
        check((r >= 0) == !!s);
        if (r >= 0) {
                id = snapshot_identity(s);
                check(vm_name_is_valid(id->name) && id->memory >= VM_MEMORY_MIN &&
                      id->memory <= VM_MEMORY_MAX && id->memory % 4096 == 0 && id->cpus >= VM_CPUS_MIN &&
                      id->cpus <= VM_CPUS_MAX && id->n_disks <= SNAPSHOT_DISKS_MAX);
                check(snapshot_ram_extents(s) <= id->memory / 4096 &&
                      snapshot_ram_data_size(s) <= id->memory);
                check(snapshot_state(s).size <= SNAPSHOT_STATE_MAX);
                ram_paths(s);
                snapshot_free(s);
        }
        close(fd);
        return 0;
}

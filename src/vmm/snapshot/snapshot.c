/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "log.h"
#include "snapshot/crc32c.h"
#include "snapshot/snapshot.h"
#include "test-hook.h"

/* The layout, as snapshot.h describes it. */
#define HEADER_SIZE      16U
#define SECTION_HEADER   16U
#define IDENTITY_SIZE    728U
#define IDENTITY_DISKS   88U
#define DISK_SIZE        40U
#define RAM_HEADER       56U
#define RAM_REGION_SIZE  16U
#define EXTENT_SIZE      32U
#define END_SIZE         8U
#define SECTION_OPTIONAL 1U
#define SECTIONS_MAX     32U
/* A section this version does not know: bounded so that a hostile sparse file cannot make the checksum
 * read terabytes of holes. */
#define UNKNOWN_MAX      (UINT64_C(64) << 20)
/* The most bytes one pread/pwrite moves: the unit of progress, and small enough to stay in cache
 * between the checksum and the copy. */
#define CHUNK            (UINT64_C(4) << 20)

#define TAG_IDENTITY STATE_TAG('i', 'd', 't', 'y')
#define TAG_STATE    STATE_TAG('s', 't', 'a', 't')
#define TAG_RAM      STATE_TAG('r', 'a', 'm', ' ')
#define TAG_END      STATE_TAG('e', 'n', 'd', ' ')

static const struct {
        uint32_t tag;
        const char *name;
        uint64_t max;
        bool exact; /* the size is max, not at most max */
} known_sections[] = {
        { TAG_IDENTITY, "identity", IDENTITY_SIZE, true },
        { TAG_STATE, "state", SNAPSHOT_STATE_MAX, false },
        { TAG_RAM, "ram", RAM_HEADER + EXTENT_SIZE * (VM_MEMORY_MAX / SNAPSHOT_PAGE_SIZE), false },
        { TAG_END, "end", END_SIZE, true },
};

typedef struct Extent {
        uint64_t ram_offset, length;
        uint32_t crc;
} Extent;

typedef struct SnapshotRegion {
        uint64_t gpa, size;
} SnapshotRegion;

struct Snapshot {
        int fd;
        char *label;
        uint64_t file_size, dev, ino;
        SnapshotIdentity identity;
        uint8_t *state;
        size_t state_size;
        SnapshotRegion regions[GUEST_MEMORY_REGIONS_MAX];
        size_t n_regions;
        uint64_t data_offset, data_size;
        Extent *extents;
        size_t n_extents;
};

#define bad(label, error, fmt, ...) log_error_errno(error, "state file %s: " fmt, label, ##__VA_ARGS__)

static uint64_t align_up(uint64_t v, uint64_t a) {
        return (v + a - 1) & ~(a - 1);
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

/* Reads up to size bytes; fewer only at the end of the file. */
static ssize_t pread_full(int fd, void *buf, size_t size, uint64_t offset) {
        size_t done = 0;

        if (offset > INT64_MAX || size > INT64_MAX - offset)
                return -EFBIG;
        while (done < size) {
                ssize_t k = pread(fd, (uint8_t *) buf + done, size - done, (off_t) (offset + done));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

static int pwrite_full(int fd, const void *buf, size_t size, uint64_t offset) {
        while (size > 0) {
                ssize_t k = pwrite(fd, buf, size, (off_t) offset);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                buf = (const uint8_t *) buf + k;
                size -= (size_t) k;
                offset += (uint64_t) k;
        }
        return 0;
}

static bool is_zero(const uint8_t *p, size_t n) {
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* "identity" for the sections this version knows, 'abcd' or 0x01020304 for the others. */
static const char *section_name(uint32_t tag, char buf[static 16]) {
        bool printable = true;

        for (size_t i = 0; i < ELEMENTSOF(known_sections); i++)
                if (known_sections[i].tag == tag)
                        return known_sections[i].name;
        for (unsigned i = 0; i < 4; i++) {
                uint8_t c = (uint8_t) (tag >> (8 * i));
                printable = printable && c >= 0x20 && c < 0x7f && c != '\'';
        }
        if (printable)
                (void) snprintf(buf, 16, "'%c%c%c%c'", (char) tag, (char) (tag >> 8), (char) (tag >> 16),
                                (char) (tag >> 24));
        else
                (void) snprintf(buf, 16, "0x%08" PRIx32, tag);
        return buf;
}

/* Why id cannot be in a state file, or NULL. The same rules for the writer and the reader. */
static const char *identity_problem(const SnapshotIdentity *id, char *buf, size_t size) {
        if (!vm_name_is_valid(id->name))
                return "invalid VM name";
        if (id->memory < VM_MEMORY_MIN || id->memory > VM_MEMORY_MAX || id->memory % SNAPSHOT_PAGE_SIZE) {
                (void) snprintf(buf, size, "memory size %" PRIu64 " out of range", id->memory);
                return buf;
        }
        if (id->cpus < VM_CPUS_MIN || id->cpus > VM_CPUS_MAX) {
                (void) snprintf(buf, size, "%" PRIu32 " vCPUs", id->cpus);
                return buf;
        }
        if (id->n_disks > SNAPSHOT_DISKS_MAX) {
                (void) snprintf(buf, size, "%" PRIu32 " disks", id->n_disks);
                return buf;
        }
        for (uint32_t i = 0; i < id->n_disks; i++)
                if (id->disks[i].mtime_nsec >= 1000000000U) {
                        (void) snprintf(buf, size, "disk %" PRIu32 " has an mtime of %" PRIu32 " ns", i,
                                        id->disks[i].mtime_nsec);
                        return buf;
                }
        return NULL;
}

static void identity_encode(const SnapshotIdentity *id, uint8_t p[static IDENTITY_SIZE]) {
        memset(p, 0, IDENTITY_SIZE);
        memcpy(p, id->name, strnlen(id->name, VM_NAME_MAX));
        le_write(p + 64, 8, id->memory);
        le_write(p + 72, 4, id->cpus);
        le_write(p + 76, 4, id->tsc_khz);
        le_write(p + 80, 4, id->n_disks);
        for (uint32_t i = 0; i < id->n_disks && i < SNAPSHOT_DISKS_MAX; i++) {
                uint8_t *q = p + IDENTITY_DISKS + DISK_SIZE * i;
                le_write(q, 8, id->disks[i].size);
                le_write(q + 8, 8, id->disks[i].dev);
                le_write(q + 16, 8, id->disks[i].ino);
                le_write(q + 24, 8, (uint64_t) id->disks[i].mtime_sec);
                le_write(q + 32, 4, id->disks[i].mtime_nsec);
        }
}

static const char *identity_decode(const uint8_t p[static IDENTITY_SIZE], SnapshotIdentity *id, char *buf,
                                   size_t size) {
        size_t name_len = strnlen((const char *) p, VM_NAME_MAX);

        *id = (SnapshotIdentity) {};
        if (!is_zero(p + name_len, VM_NAME_MAX - name_len))
                return "VM name not NUL-padded";
        memcpy(id->name, p, name_len);
        id->memory = le_read(p + 64, 8);
        id->cpus = (uint32_t) le_read(p + 72, 4);
        id->tsc_khz = (uint32_t) le_read(p + 76, 4);
        id->n_disks = (uint32_t) le_read(p + 80, 4);
        if (le_read(p + 84, 4) != 0)
                return "reserved field not zero";
        for (uint32_t i = 0; i < SNAPSHOT_DISKS_MAX; i++) {
                const uint8_t *q = p + IDENTITY_DISKS + DISK_SIZE * i;
                if (i >= id->n_disks) {
                        if (!is_zero(q, DISK_SIZE)) {
                                (void) snprintf(buf, size, "unused disk %" PRIu32 " not zero", i);
                                return buf;
                        }
                        continue;
                }
                id->disks[i] = (SnapshotDisk) {
                        .size = le_read(q, 8),
                        .dev = le_read(q + 8, 8),
                        .ino = le_read(q + 16, 8),
                        .mtime_sec = (int64_t) le_read(q + 24, 8),
                        .mtime_nsec = (uint32_t) le_read(q + 32, 4),
                };
                if (le_read(q + 36, 4) != 0) {
                        (void) snprintf(buf, size, "disk %" PRIu32 ": reserved field not zero", i);
                        return buf;
                }
        }
        return identity_problem(id, buf, size);
}

/* ---- writing ---- */

static int extent_add(Extent **e, size_t *n, size_t *allocated, uint64_t offset, uint64_t length) {
        if (*n > 0 && (*e)[*n - 1].ram_offset + (*e)[*n - 1].length == offset) {
                (*e)[*n - 1].length += length;
                return 0;
        }
        if (*n == *allocated) {
                size_t a = *allocated ? *allocated * 2 : 64;
                Extent *p = reallocarray(*e, a, sizeof *p);
                if (!p)
                        return -ENOMEM;
                *e = p;
                *allocated = a;
        }
        (*e)[(*n)++] = (Extent) { .ram_offset = offset, .length = length };
        return 0;
}

/* The ranges of the memfd that hold pages, as SEEK_DATA/SEEK_HOLE report them (page by page on shmem,
 * huge page by huge page with THP or hugetlbfs). */
static int extents_from_memfd(const GuestMemory *m, Extent **ret, size_t *ret_n) {
        _cleanup_free_ Extent *e = NULL;
        size_t n = 0, allocated = 0;
        uint64_t offset = 0;

        while (offset < m->ram_size) {
                off_t data = lseek(m->memfd, (off_t) offset, SEEK_DATA), hole;
                uint64_t start, end;
                int r;

                if (data < 0 && errno == ENXIO)
                        break;
                if (data < 0)
                        return -errno;
                if ((uint64_t) data >= m->ram_size)
                        break;
                hole = lseek(m->memfd, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                start = (uint64_t) data & ~(SNAPSHOT_PAGE_SIZE - 1);
                end = min_u64(align_up((uint64_t) hole, SNAPSHOT_PAGE_SIZE), m->ram_size);
                if (end <= offset) /* cannot happen; never loop forever on a kernel's surprise */
                        return -EIO;
                if (start < offset)
                        start = offset;
                r = extent_add(&e, &n, &allocated, start, end - start);
                if (r < 0)
                        return r;
                offset = end;
        }
        *ret = TAKE_PTR(e);
        *ret_n = n;
        return 0;
}

/* Memory mapped from a file (snapshot_map_ram()): the memfd says nothing, the mapping's pages are the
 * file's or copies the guest wrote. The pages that are not zero, read through the mapping. */
static int extents_from_scan(const GuestMemory *m, Extent **ret, size_t *ret_n) {
        _cleanup_free_ Extent *e = NULL;
        size_t n = 0, allocated = 0;

        for (uint64_t offset = 0; offset < m->ram_size; offset += SNAPSHOT_PAGE_SIZE) {
                int r;

                if (is_zero(m->map + offset, SNAPSHOT_PAGE_SIZE))
                        continue;
                r = extent_add(&e, &n, &allocated, offset, SNAPSHOT_PAGE_SIZE);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(e);
        *ret_n = n;
        return 0;
}

static uint8_t *put_section(uint8_t *p, uint32_t tag, uint64_t length) {
        le_write(p, 4, tag);
        le_write(p + 4, 4, 0);
        le_write(p + 8, 8, length);
        return p + SECTION_HEADER;
}

/* What the writer will not put in a file, refused before any file is touched. */
static int check_params(const SnapshotParams *p, const char *label) {
        const char *problem;
        char buf[128];

        problem = identity_problem(p->identity, buf, sizeof buf);
        if (problem)
                return bad(label, EINVAL, "cannot save: bad identity: %s", problem);
        if (p->identity->memory != p->memory->ram_size)
                return bad(label, EINVAL,
                           "cannot save: identity says %" PRIu64 " bytes of RAM, the VM has %" PRIu64,
                           p->identity->memory, p->memory->ram_size);
        if (p->state_size > SNAPSHOT_STATE_MAX || (p->state_size > 0 && !p->state))
                return bad(label, EINVAL, "cannot save: %zu bytes of state", p->state_size);
        return 0;
}

/* RAM first, the metadata last: whatever stops the writing half-way, the file has no valid header. */
static int write_contents(int fd, const SnapshotParams *p, const char *label, bool sync_ram_first) {
        const GuestMemory *m = p->memory;
        _cleanup_free_ Extent *extents = NULL;
        _cleanup_free_ uint8_t *meta = NULL;
        uint64_t meta_size, data_offset, data_size = 0, done = 0, total;
        uint8_t *q, *table;
        size_t n_extents = 0;
        int r;

        r = m->file_mapped ? extents_from_scan(m, &extents, &n_extents)
                           : extents_from_memfd(m, &extents, &n_extents);
        if (r < 0)
                return bad(label, r, "cannot find the RAM's data: %m");
        for (size_t i = 0; i < n_extents; i++)
                data_size += extents[i].length;

        meta_size = HEADER_SIZE + SECTION_HEADER + IDENTITY_SIZE + SECTION_HEADER + p->state_size +
                    SECTION_HEADER + RAM_HEADER + (uint64_t) EXTENT_SIZE * n_extents + SECTION_HEADER +
                    END_SIZE;
        data_offset = align_up(meta_size, SNAPSHOT_DATA_ALIGN);
        total = data_size + meta_size;
        meta = calloc(1, meta_size);
        if (!meta)
                return log_oom();

        memcpy(meta, SNAPSHOT_MAGIC, 8);
        le_write(meta + 8, 4, SNAPSHOT_VERSION);
        q = put_section(meta + HEADER_SIZE, TAG_IDENTITY, IDENTITY_SIZE);
        identity_encode(p->identity, q);
        q = put_section(q + IDENTITY_SIZE, TAG_STATE, p->state_size);
        if (p->state_size > 0)
                memcpy(q, p->state, p->state_size);
        q = put_section(q + p->state_size, TAG_RAM, RAM_HEADER + (uint64_t) EXTENT_SIZE * n_extents);
        le_write(q, 4, m->n_regions);
        for (size_t i = 0; i < m->n_regions && i < GUEST_MEMORY_REGIONS_MAX; i++) {
                le_write(q + 8 + RAM_REGION_SIZE * i, 8, m->regions[i].gpa);
                le_write(q + 16 + RAM_REGION_SIZE * i, 8, m->regions[i].size);
        }
        le_write(q + 40, 8, data_offset);
        le_write(q + 48, 8, n_extents);
        table = q + RAM_HEADER;
        q = put_section(table + (uint64_t) EXTENT_SIZE * n_extents, TAG_END, END_SIZE);

        /* The holes come from sizing the file, the data from writing at offsets. */
        if (ftruncate(fd, (off_t) (data_offset + m->ram_size)) < 0)
                return bad(label, errno, "cannot size the file: %m");

        for (size_t i = 0; i < n_extents; i++) {
                Extent *e = &extents[i];

                for (uint64_t o = 0; o < e->length; o += CHUNK) {
                        const uint8_t *src = m->map + e->ram_offset + o;
                        size_t c = (size_t) min_u64(CHUNK, e->length - o);

                        e->crc = crc32c(e->crc, src, c);
                        r = pwrite_full(fd, src, c, data_offset + e->ram_offset + o);
                        if (r < 0)
                                return bad(label, r, "cannot write RAM: %m");
                        done += c;
                        if (p->progress && (r = p->progress(done, total, p->userdata)) < 0)
                                return bad(label, r, "writing stopped: %m");
                        if (done - c < data_size / 2 && done >= data_size / 2)
                                test_hook_stop("save-ram");
                }
                le_write(table + EXTENT_SIZE * i, 8, e->ram_offset);
                le_write(table + EXTENT_SIZE * i + 8, 8, e->length);
                le_write(table + EXTENT_SIZE * i + 16, 8, data_offset + e->ram_offset);
                le_write(table + EXTENT_SIZE * i + 24, 4, e->crc);
        }
        if (sync_ram_first && fdatasync(fd) < 0)
                return bad(label, errno, "cannot sync RAM: %m");

        le_write(q, 4, crc32c(0, meta, (size_t) (q - meta)));
        if (p->progress && (r = p->progress(total, total, p->userdata)) < 0)
                return bad(label, r, "writing stopped: %m");
        r = pwrite_full(fd, meta, meta_size, 0);
        if (r < 0)
                return bad(label, r, "cannot write: %m");
        if (fdatasync(fd) < 0)
                return bad(label, errno, "cannot sync: %m");
        return 0;
}

static int random_name(const char *name, char buf[static NAME_MAX + 1]) {
        uint32_t v;

        if (getrandom(&v, sizeof v, 0) != (ssize_t) sizeof v)
                return -errno;
        (void) snprintf(buf, NAME_MAX + 1, ".#%s.%08" PRIx32, name, v);
        return 0;
}

/* Names the O_TMPFILE file. Through /proc, which works without CAP_DAC_READ_SEARCH (vmm has no
 * capabilities); AT_EMPTY_PATH where /proc is missing. */
static int link_tmpfile(int fd, int dir_fd, const char *name, char tmp[static NAME_MAX + 1]) {
        char proc[64];

        (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        for (unsigned tries = 0; tries < 16; tries++) {
                int r = random_name(name, tmp);
                if (r < 0)
                        return r;
                if (linkat(AT_FDCWD, proc, dir_fd, tmp, AT_SYMLINK_FOLLOW) >= 0)
                        return 0;
                if (errno == ENOENT && linkat(fd, "", dir_fd, tmp, AT_EMPTY_PATH) >= 0)
                        return 0;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

static int create_named_tmp(int dir_fd, const char *name, char tmp[static NAME_MAX + 1]) {
        for (unsigned tries = 0; tries < 16; tries++) {
                int r = random_name(name, tmp), fd;
                if (r < 0)
                        return r;
                fd = openat(dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0 || errno != EEXIST)
                        return fd >= 0 ? fd : -errno;
        }
        return -EEXIST;
}

int snapshot_write_at(int dir_fd, const char *name, const SnapshotParams *p) {
        const char *label = p->label ?: name;
        _cleanup_close_ int fd = -EBADF;
        char tmp[NAME_MAX + 1] = "";
        bool tmp_exists = false;
        int r;

        if (!name || !name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            strlen(name) > NAME_MAX - 11)
                return bad(label ?: "(null)", EINVAL, "not a file name");
        r = check_params(p, label);
        if (r < 0)
                return r;

        if (!p->no_tmpfile) {
                fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
                /* EISDIR: a kernel without O_TMPFILE; EOPNOTSUPP: a file system without it. */
                if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return bad(label, errno, "cannot create: %m");
        }
        if (fd < 0) {
                fd = create_named_tmp(dir_fd, name, tmp);
                if (fd < 0)
                        return bad(label, fd, "cannot create a temporary file: %m");
                tmp_exists = true;
        }

        test_hook_stop("save-early");
        r = write_contents(fd, p, label, false);
        if (r >= 0 && !tmp_exists) {
                r = link_tmpfile(fd, dir_fd, name, tmp);
                if (r < 0)
                        (void) bad(label, r, "cannot link the new file: %m");
                tmp_exists = r >= 0;
        }
        if (r >= 0)
                test_hook_stop("save-rename");
        if (r >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = bad(label, errno, "cannot rename the new file into place: %m");
        if (r < 0) {
                if (tmp_exists)
                        (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        if (fsync(dir_fd) < 0)
                return bad(label, errno, "written, but its directory cannot be synced: %m");
        return 0;
}

int snapshot_write_fd(int fd, const SnapshotParams *p) {
        char fd_label[32];
        const char *label = p->label;
        struct stat st;
        int flags, r;

        if (!label) {
                (void) snprintf(fd_label, sizeof fd_label, "fd %d", fd);
                label = fd_label;
        }
        if (fstat(fd, &st) < 0)
                return bad(label, errno, "cannot stat: %m");
        if (!S_ISREG(st.st_mode))
                return bad(label, EINVAL, "not a regular file");
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return bad(label, errno, "cannot get its flags: %m");
        if ((flags & O_ACCMODE) == O_RDONLY || (flags & O_APPEND))
                return bad(label, EINVAL, "not open for writing at offsets (read-only or O_APPEND)");
        if (p->memory->file_mapped && p->memory->file_dev == (uint64_t) st.st_dev &&
            p->memory->file_ino == (uint64_t) st.st_ino)
                return bad(label, EBUSY, "is the file the VM's RAM is mapped from");
        r = check_params(p, label);
        if (r < 0)
                return r;

        /* The old contents go first, durably, so that no moment has the old header over new RAM. */
        if (ftruncate(fd, 0) < 0 || fdatasync(fd) < 0)
                return bad(label, errno, "cannot empty the file: %m");
        return write_contents(fd, p, label, true);
}

/* ---- reading ---- */

Snapshot *snapshot_free(Snapshot *s) {
        if (!s)
                return NULL;
        safe_close(s->fd);
        free(s->label);
        free(s->state);
        free(s->extents);
        free(s);
        return NULL;
}

typedef struct Section {
        uint32_t tag, flags;
        uint64_t offset, length; /* of the data */
} Section;

static const Section *find_section(const Section *sections, size_t n, uint32_t tag) {
        for (size_t i = 0; i < n; i++)
                if (sections[i].tag == tag)
                        return &sections[i];
        return NULL;
}

/* The header and the list of sections up to "end": only framing, before the checksum says anything. */
static int read_framing(Snapshot *s, Section sections[static SECTIONS_MAX], size_t *ret_n) {
        uint8_t h[HEADER_SIZE];
        uint64_t offset = HEADER_SIZE;
        size_t n = 0;
        ssize_t k;
        uint32_t v;
        char nb[16];

        if (s->file_size == 0)
                return bad(s->label, EBADMSG, "empty");
        k = pread_full(s->fd, h, sizeof h, 0);
        if (k < 0)
                return bad(s->label, (int) k, "cannot read: %m");
        if (memcmp(h, SNAPSHOT_MAGIC, min_u64((size_t) k, 8)) != 0)
                return bad(s->label, EBADMSG, "not a state file (bad magic)");
        if ((size_t) k < sizeof h || s->file_size < sizeof h) /* the latter: grown since fstat() */
                return bad(s->label, EBADMSG, "truncated in the header");
        v = (uint32_t) le_read(h + 8, 4);
        if (v != SNAPSHOT_VERSION)
                return bad(s->label, EPROTO, "unknown version %" PRIu32, v);
        v = (uint32_t) le_read(h + 12, 4);
        if (v != 0)
                return bad(s->label, EPROTO, "unknown header flags 0x%" PRIx32, v);

        for (;;) {
                uint8_t sh[SECTION_HEADER];
                uint64_t max = UNKNOWN_MAX;
                bool exact = false;
                Section c;

                if (s->file_size - offset == 0) {
                        if (n == 0)
                                return bad(s->label, EBADMSG, "truncated after the header");
                        return bad(s->label, EBADMSG, "truncated after section %s",
                                   section_name(sections[n - 1].tag, nb));
                }
                if (s->file_size - offset < SECTION_HEADER)
                        return bad(s->label, EBADMSG, "truncated in a section header at offset %" PRIu64,
                                   offset);
                if (n == SECTIONS_MAX)
                        return bad(s->label, EBADMSG, "more than %u sections", SECTIONS_MAX);
                k = pread_full(s->fd, sh, sizeof sh, offset);
                if (k < 0)
                        return bad(s->label, (int) k, "cannot read: %m");
                if ((size_t) k < sizeof sh) /* shrunk under us */
                        return bad(s->label, EBADMSG, "truncated in a section header at offset %" PRIu64,
                                   offset);
                /* What a writer leaves after the end section: the list went past it, or never had one. */
                if (is_zero(sh, sizeof sh))
                        return bad(s->label, EBADMSG, "no section end (zeros at offset %" PRIu64 ")",
                                   offset);
                c = (Section) {
                        .tag = (uint32_t) le_read(sh, 4),
                        .flags = (uint32_t) le_read(sh + 4, 4),
                        .offset = offset + SECTION_HEADER,
                        .length = le_read(sh + 8, 8),
                };
                if (c.length > s->file_size - c.offset)
                        return bad(s->label, EBADMSG,
                                   "truncated in section %s (%" PRIu64 " bytes, %" PRIu64 " left)",
                                   section_name(c.tag, nb), c.length, s->file_size - c.offset);

                for (size_t i = 0; i < ELEMENTSOF(known_sections); i++)
                        if (known_sections[i].tag == c.tag) {
                                max = known_sections[i].max;
                                exact = known_sections[i].exact;
                        }
                if (exact && c.length != max)
                        return bad(s->label, EBADMSG, "section %s has %" PRIu64 " bytes, not %" PRIu64,
                                   section_name(c.tag, nb), c.length, max);
                if (c.length > max)
                        return bad(s->label, EBADMSG, "section %s has %" PRIu64 " bytes, more than %" PRIu64,
                                   section_name(c.tag, nb), c.length, max);

                sections[n++] = c;
                offset = c.offset + c.length;
                if (c.tag == TAG_END)
                        break;
        }
        *ret_n = n;
        return 0;
}

/* CRC-32C of [0, end) of the file, without holding it. */
static int checksum_file(Snapshot *s, uint64_t end, uint32_t *ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint32_t crc = 0;
        size_t size = (size_t) min_u64(end, CHUNK);

        buf = malloc(size > 0 ? size : 1);
        if (!buf)
                return log_oom();
        for (uint64_t o = 0; o < end;) {
                size_t c = (size_t) min_u64(size, end - o);
                ssize_t k = pread_full(s->fd, buf, c, o);
                if (k < 0)
                        return bad(s->label, (int) k, "cannot read: %m");
                if ((size_t) k < c)
                        return bad(s->label, EBADMSG, "truncated while being read");
                crc = crc32c(crc, buf, c);
                o += c;
        }
        *ret = crc;
        return 0;
}

static int read_exact(Snapshot *s, void *buf, size_t size, uint64_t offset) {
        ssize_t k = pread_full(s->fd, buf, size, offset);

        if (k < 0)
                return bad(s->label, (int) k, "cannot read: %m");
        if ((size_t) k < size)
                return bad(s->label, EBADMSG, "truncated while being read");
        return 0;
}

static int read_ram_table(Snapshot *s, const Section *sec, uint64_t meta_end) {
        const uint64_t memory = s->identity.memory;
        uint8_t h[RAM_HEADER];
        uint64_t n, sum = 0, prev_end = 0;
        size_t allocated = 0;
        uint32_t v;
        int r;

        if (sec->length < RAM_HEADER)
                return bad(s->label, EBADMSG,
                           "section ram has %" PRIu64 " bytes, less than its %u-byte header", sec->length,
                           RAM_HEADER);
        r = read_exact(s, h, sizeof h, sec->offset);
        if (r < 0)
                return r;
        n = le_read(h + 48, 8);
        if ((sec->length - RAM_HEADER) % EXTENT_SIZE != 0 || (sec->length - RAM_HEADER) / EXTENT_SIZE != n)
                return bad(s->label, EBADMSG,
                           "section ram has %" PRIu64 " bytes, which do not hold its %" PRIu64 " extents",
                           sec->length, n);

        v = (uint32_t) le_read(h, 4);
        if (v < 1 || v > GUEST_MEMORY_REGIONS_MAX)
                return bad(s->label, EINVAL, "%" PRIu32 " RAM regions", v);
        if (le_read(h + 4, 4) != 0)
                return bad(s->label, EINVAL, "section ram: reserved field not zero");
        s->n_regions = v;
        for (size_t i = 0; i < GUEST_MEMORY_REGIONS_MAX; i++) {
                SnapshotRegion g = { le_read(h + 8 + RAM_REGION_SIZE * i, 8),
                                     le_read(h + 16 + RAM_REGION_SIZE * i, 8) };

                if (i >= s->n_regions) {
                        if (g.gpa != 0 || g.size != 0)
                                return bad(s->label, EINVAL, "unused RAM region %zu not zero", i);
                        continue;
                }
                if (g.size == 0 || g.gpa % SNAPSHOT_PAGE_SIZE || g.size % SNAPSHOT_PAGE_SIZE ||
                    g.size > UINT64_MAX - g.gpa || g.size > memory - sum ||
                    (i > 0 && g.gpa < s->regions[i - 1].gpa + s->regions[i - 1].size))
                        return bad(s->label, EINVAL,
                                   "bad RAM region %zu (0x%" PRIx64 ", 0x%" PRIx64 " bytes)", i, g.gpa,
                                   g.size);
                s->regions[i] = g;
                sum += g.size;
        }
        if (sum != memory)
                return bad(s->label, EINVAL,
                           "RAM regions hold %" PRIu64 " bytes, the identity says %" PRIu64, sum, memory);

        s->data_offset = le_read(h + 40, 8);
        if (s->data_offset % SNAPSHOT_DATA_ALIGN || s->data_offset < meta_end)
                return bad(s->label, EINVAL,
                           "RAM data offset 0x%" PRIx64 " is not a multiple of 2 MiB after the metadata",
                           s->data_offset);
        if (s->data_offset > s->file_size || s->file_size - s->data_offset < memory)
                return bad(s->label, EBADMSG,
                           "truncated in section ram (its RAM ends at %" PRIu64 ", the file at %" PRIu64 ")",
                           s->data_offset > UINT64_MAX - memory ? UINT64_MAX : s->data_offset + memory,
                           s->file_size);
        if (s->file_size - s->data_offset > memory)
                return bad(s->label, EBADMSG, "%" PRIu64 " bytes after the end of the RAM",
                           s->file_size - s->data_offset - memory);
        if (n > memory / SNAPSHOT_PAGE_SIZE)
                return bad(s->label, EINVAL, "%" PRIu64 " RAM extents, more than there are pages", n);

        /* Read and checked a chunk at a time, grown as it goes: a table that is wrong early costs little. */
        for (uint64_t i = 0; i < n;) {
                uint8_t buf[EXTENT_SIZE * 256];
                size_t c = (size_t) min_u64(n - i, 256);

                r = read_exact(s, buf, c * EXTENT_SIZE, sec->offset + RAM_HEADER + i * EXTENT_SIZE);
                if (r < 0)
                        return r;
                if (s->n_extents + c > allocated) {
                        size_t a = allocated ? allocated * 2 : 256;
                        Extent *e;
                        while (a < s->n_extents + c)
                                a *= 2;
                        e = reallocarray(s->extents, a, sizeof *e);
                        if (!e)
                                return log_oom();
                        s->extents = e;
                        allocated = a;
                }
                for (size_t j = 0; j < c; j++, i++) {
                        const uint8_t *q = buf + EXTENT_SIZE * j;
                        Extent e = { le_read(q, 8), le_read(q + 8, 8), (uint32_t) le_read(q + 24, 4) };
                        uint64_t file_offset = le_read(q + 16, 8);

                        if (le_read(q + 28, 4) != 0)
                                return bad(s->label, EINVAL, "RAM extent %" PRIu64 " has unknown flags", i);
                        if (e.length == 0)
                                return bad(s->label, EINVAL, "RAM extent %" PRIu64 " is empty", i);
                        if (e.ram_offset % SNAPSHOT_PAGE_SIZE || e.length % SNAPSHOT_PAGE_SIZE)
                                return bad(s->label, EINVAL,
                                           "RAM extent %" PRIu64 " (0x%" PRIx64 ", 0x%" PRIx64
                                           " bytes) is not 4 KiB aligned",
                                           i, e.ram_offset, e.length);
                        if (e.ram_offset >= memory || e.length > memory - e.ram_offset)
                                return bad(s->label, EINVAL,
                                           "RAM extent %" PRIu64 " (0x%" PRIx64 ", 0x%" PRIx64
                                           " bytes) is outside the 0x%" PRIx64 " bytes of RAM",
                                           i, e.ram_offset, e.length, memory);
                        if (e.ram_offset < prev_end)
                                return bad(s->label, EINVAL,
                                           "RAM extent %" PRIu64 " (0x%" PRIx64
                                           ") overlaps or precedes the one before it",
                                           i, e.ram_offset);
                        if (file_offset != s->data_offset + e.ram_offset)
                                return bad(s->label, EINVAL,
                                           "RAM extent %" PRIu64 " is at file offset 0x%" PRIx64
                                           ", not 0x%" PRIx64,
                                           i, file_offset, s->data_offset + e.ram_offset);
                        prev_end = e.ram_offset + e.length;
                        s->data_size += e.length;
                        s->extents[s->n_extents++] = e;
                }
        }
        return 0;
}

int snapshot_open(int fd, const char *label, Snapshot **ret) {
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        Section sections[SECTIONS_MAX];
        const Section *end, *sec;
        uint8_t id[IDENTITY_SIZE], tail[END_SIZE];
        uint64_t meta_end;
        size_t n = 0;
        struct stat st;
        uint32_t crc = 0;
        char nb[16], buf[128];
        const char *problem;
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        s->fd = -EBADF;
        if (label)
                s->label = strdup(label);
        else if (asprintf(&s->label, "fd %d", fd) < 0)
                s->label = NULL;
        if (!s->label)
                return log_oom();

        if (fstat(fd, &st) < 0)
                return bad(s->label, errno, "cannot stat: %m");
        if (!S_ISREG(st.st_mode))
                return bad(s->label, EINVAL, "not a regular file");
        s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (s->fd < 0)
                return bad(s->label, errno, "cannot duplicate its fd: %m");
        s->file_size = (uint64_t) st.st_size;
        s->dev = (uint64_t) st.st_dev;
        s->ino = (uint64_t) st.st_ino;

        r = read_framing(s, sections, &n);
        if (r < 0)
                return r;
        end = &sections[n - 1];
        meta_end = end->offset + end->length;

        r = checksum_file(s, end->offset, &crc);
        if (r < 0)
                return r;
        r = read_exact(s, tail, sizeof tail, end->offset);
        if (r < 0)
                return r;
        if (crc != (uint32_t) le_read(tail, 4))
                return bad(s->label, EBADMSG, "bad checksum");

        /* From here on the bytes are what a writer wrote: what is wrong now, a writer meant. */
        for (size_t i = 0; i < n; i++) {
                const Section *c = &sections[i];
                bool known = false;

                for (size_t k = 0; k < ELEMENTSOF(known_sections); k++)
                        known = known || known_sections[k].tag == c->tag;
                if (c->flags & ~(known ? 0U : SECTION_OPTIONAL))
                        return bad(s->label, EPROTO, "unknown flags 0x%" PRIx32 " in section %s", c->flags,
                                   section_name(c->tag, nb));
                if (!known && !(c->flags & SECTION_OPTIONAL))
                        return bad(s->label, EPROTO, "unknown section %s", section_name(c->tag, nb));
                if (known && find_section(sections, i, c->tag))
                        return bad(s->label, EBADMSG, "section %s twice", section_name(c->tag, nb));
        }
        for (size_t k = 0; k < ELEMENTSOF(known_sections); k++)
                if (!find_section(sections, n, known_sections[k].tag))
                        return bad(s->label, EBADMSG, "no section %s", known_sections[k].name);
        if (le_read(tail + 4, 4) != 0)
                return bad(s->label, EINVAL, "section end: reserved field not zero");

        sec = find_section(sections, n, TAG_IDENTITY);
        r = read_exact(s, id, sizeof id, sec->offset);
        if (r < 0)
                return r;
        problem = identity_decode(id, &s->identity, buf, sizeof buf);
        if (problem)
                return bad(s->label, EINVAL, "bad identity: %s", problem);

        sec = find_section(sections, n, TAG_STATE);
        s->state_size = (size_t) sec->length;
        if (s->state_size > 0) {
                s->state = malloc(s->state_size);
                if (!s->state)
                        return log_oom();
                r = read_exact(s, s->state, s->state_size, sec->offset);
                if (r < 0)
                        return r;
        }

        r = read_ram_table(s, find_section(sections, n, TAG_RAM), meta_end);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

const SnapshotIdentity *snapshot_identity(const Snapshot *s) {
        return &s->identity;
}

StateReader snapshot_state(const Snapshot *s) {
        return state_reader(s->state, s->state_size);
}

uint64_t snapshot_ram_data_size(const Snapshot *s) {
        return s->data_size;
}

size_t snapshot_ram_extents(const Snapshot *s) {
        return s->n_extents;
}

/* "0x0+0x4000000 0x100000000+0x4000000": where RAM is, region by region. */
static const char *format_layout(char buf[static 128], size_t n, const uint64_t gpa[],
                                 const uint64_t size[]) {
        size_t k = 0;

        buf[0] = 0;
        for (size_t i = 0; i < n && k < 128; i++) {
                int w = snprintf(buf + k, 128 - k, "%s0x%" PRIx64 "+0x%" PRIx64, i ? " " : "", gpa[i],
                                 size[i]);
                if (w < 0)
                        break;
                k += (size_t) w;
        }
        return buf;
}

static int check_layout(const Snapshot *s, const GuestMemory *m) {
        uint64_t sg[GUEST_MEMORY_REGIONS_MAX], ss[GUEST_MEMORY_REGIONS_MAX];
        uint64_t mg[GUEST_MEMORY_REGIONS_MAX], ms[GUEST_MEMORY_REGIONS_MAX];
        bool same = m->ram_size == s->identity.memory && m->n_regions == s->n_regions;
        char a[128], b[128];

        for (size_t i = 0; i < GUEST_MEMORY_REGIONS_MAX; i++) {
                sg[i] = s->regions[i].gpa, ss[i] = s->regions[i].size;
                mg[i] = m->regions[i].gpa, ms[i] = m->regions[i].size;
                same = same && (i >= s->n_regions || (sg[i] == mg[i] && ss[i] == ms[i]));
        }
        if (!same)
                return bad(s->label, EINVAL, "saved with RAM at %s, this VM has it at %s",
                           format_layout(a, s->n_regions, sg, ss), format_layout(b, m->n_regions, mg, ms));
        return 0;
}

int snapshot_map_ram(Snapshot *s, GuestMemory *m) {
        int r = check_layout(s, m);

        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_regions; i++) {
                const GuestRegion *g = &m->regions[i];
                uint64_t ram_offset = (uint64_t) (g->host - m->map);
                void *p;

                /* NORESERVE: a private writable mapping is otherwise charged to the commit limit whole,
                 * though only the pages the guest writes ever become copies. */
                p = mmap(g->host, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
                         s->fd, (off_t) (s->data_offset + ram_offset));
                if (p == MAP_FAILED)
                        return bad(s->label, errno, "cannot map RAM: %m");
                (void) madvise(p, g->size, MADV_DONTDUMP);
        }
        m->file_mapped = true;
        m->file_dev = s->dev;
        m->file_ino = s->ino;
        return 0;
}

/* Reads [from, to) of the file a chunk at a time into dst, or into buf when dst is NULL, and folds it
 * into *crc; without crc, checks that it is all zeros. */
static int read_range(Snapshot *s, uint64_t from, uint64_t to, uint8_t *dst, uint8_t *buf, uint32_t *crc,
                      uint64_t *done, uint64_t total, SnapshotProgress progress, void *userdata) {
        for (uint64_t o = from; o < to;) {
                size_t c = (size_t) min_u64(CHUNK, to - o);
                uint8_t *p = dst ? dst + (o - from) : buf;
                int r;

                r = read_exact(s, p, c, o);
                if (r < 0)
                        return r;
                if (crc)
                        *crc = crc32c(*crc, p, c);
                else if (!is_zero(p, c)) {
                        size_t z = 0;
                        while (p[z] == 0)
                                z++;
                        return bad(s->label, EBADMSG,
                                   "RAM data at file offset 0x%" PRIx64 " is in no extent", o + z);
                }
                o += c;
                if (done) {
                        *done += c;
                        if (progress && (r = progress(*done, total, userdata)) < 0)
                                return bad(s->label, r, "reading stopped: %m");
                }
        }
        return 0;
}

static int check_crc(const Snapshot *s, size_t i, uint32_t crc) {
        if (crc != s->extents[i].crc)
                return bad(s->label, EBADMSG, "bad checksum in RAM extent %zu (RAM offset 0x%" PRIx64 ")", i,
                           s->extents[i].ram_offset);
        return 0;
}

int snapshot_read_ram(Snapshot *s, GuestMemory *m, SnapshotProgress progress, void *userdata) {
        uint64_t prev = 0, done = 0;
        int r = check_layout(s, m);

        if (r < 0)
                return r;
        if (m->file_mapped)
                return bad(s->label, EBUSY, "cannot read RAM into memory mapped from a file");
        for (size_t i = 0; i <= s->n_extents; i++) {
                uint64_t start = i < s->n_extents ? s->extents[i].ram_offset : m->ram_size;
                uint32_t crc = 0;

                /* What the file has no data for is zero: a hole, whatever the memfd held before. */
                if (start > prev && fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                              (off_t) prev, (off_t) (start - prev)) < 0)
                        return bad(s->label, errno, "cannot clear RAM: %m");
                if (i == s->n_extents)
                        break;
                r = read_range(s, s->data_offset + start, s->data_offset + start + s->extents[i].length,
                               m->map + start, NULL, &crc, &done, s->data_size, progress, userdata);
                if (r < 0)
                        return r;
                r = check_crc(s, i, crc);
                if (r < 0)
                        return r;
                prev = start + s->extents[i].length;
        }
        return 0;
}

/* Data the file holds in [from, to), where the table says there is none. Only the parts that are data
 * are read (SEEK_DATA); on a file system that cannot tell, all of it. */
static int check_hole(Snapshot *s, uint64_t from, uint64_t to, uint8_t *buf) {
        while (from < to) {
                off_t data = lseek(s->fd, (off_t) from, SEEK_DATA), hole;
                uint64_t end = to;
                int r;

                if (data < 0 && errno == ENXIO)
                        return 0;
                if (data >= 0) {
                        if ((uint64_t) data >= to)
                                return 0;
                        from = (uint64_t) data;
                        hole = lseek(s->fd, data, SEEK_HOLE);
                        if (hole > data)
                                end = min_u64((uint64_t) hole, to);
                } else if (errno != EINVAL)
                        return bad(s->label, errno, "cannot look for data: %m");
                r = read_range(s, from, end, NULL, buf, NULL, NULL, 0, NULL, NULL);
                if (r < 0)
                        return r;
                from = end;
        }
        return 0;
}

int snapshot_verify_ram(Snapshot *s, SnapshotProgress progress, void *userdata) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t prev = 0, done = 0;
        int r;

        buf = malloc(CHUNK);
        if (!buf)
                return log_oom();
        for (size_t i = 0; i <= s->n_extents; i++) {
                uint64_t start = i < s->n_extents ? s->extents[i].ram_offset : s->identity.memory;
                uint32_t crc = 0;

                r = check_hole(s, s->data_offset + prev, s->data_offset + start, buf);
                if (r < 0)
                        return r;
                if (i == s->n_extents)
                        break;
                r = read_range(s, s->data_offset + start, s->data_offset + start + s->extents[i].length,
                               NULL, buf, &crc, &done, s->data_size, progress, userdata);
                if (r < 0)
                        return r;
                r = check_crc(s, i, crc);
                if (r < 0)
                        return r;
                prev = start + s->extents[i].length;
        }
        return 0;
}

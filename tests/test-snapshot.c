/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state file: a round trip of identity, records and a sparse guest RAM through both restore paths
 * (map and read) and again after a mapped restore; snapshot_write_at() replacing a file atomically,
 * also when the writer fails or is killed half-way; snapshot_write_fd(); and every kind of damage the
 * loader must refuse, each with its one line and without changing the file. The files are built with
 * the format as snapshot.h documents it, so this is also a check of the documentation. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "byteorder.h"
#include "capture.h"
#include "core/memory.h"
#include "core/state.h"
#include "snapshot/crc32c.h"
#include "snapshot/snapshot.h"

#define MIB  (UINT64_C(1) << 20)
#define RAM  (128 * MIB)
#define HOLE (64 * MIB) /* two regions: [0, 64 MiB) and [4 GiB, 4 GiB + 64 MiB) */
#define HIGH (UINT64_C(4) << 30)

DEFINE_FREEP(GuestMemory, guest_memory_free);

static char dir[] = "/var/tmp/test-snapshot.XXXXXX";
static int dir_fd = -EBADF;

/* ---- guest memory with a few extents and holes ---- */

static const struct {
        uint64_t offset, length;
} extents[] = {
        { 0, 4096 },                        /* the first page */
        { MIB, 68 * 1024 },                 /* inside the low region */
        { HOLE - 8192, 16384 },             /* across the two regions: contiguous in the memfd */
        { RAM - 4096, 4096 },               /* the last page */
};

static uint8_t pattern(uint64_t offset, unsigned seed) {
        /* never a whole page of zeros, so that a scan finds the same extents */
        return (uint8_t) ((offset * 7 + seed + (offset >> 12)) | 1);
}

static GuestMemory *make_memory(unsigned seed) {
        GuestMemory *m;

        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &m), 0);
        assert_int_equal(m->n_regions, 2);
        for (size_t i = 0; i < ELEMENTSOF(extents); i++)
                for (uint64_t o = extents[i].offset; o < extents[i].offset + extents[i].length; o++)
                        m->map[o] = pattern(o, seed);
        return m;
}

/* Reads RAM without touching holes: a read through a shmem mapping would allocate them. */
static void ram_read(const GuestMemory *m, uint64_t offset, void *buf, size_t n) {
        if (m->file_mapped)
                memcpy(buf, m->map + offset, n);
        else
                assert_int_equal(pread(m->memfd, buf, n, (off_t) offset), (ssize_t) n);
}

static void assert_memory_equal_all(const GuestMemory *a, const GuestMemory *b) {
        static uint8_t x[MIB], y[MIB];

        assert_true(a->ram_size == b->ram_size);
        for (uint64_t o = 0; o < a->ram_size; o += MIB) {
                ram_read(a, o, x, MIB);
                ram_read(b, o, y, MIB);
                assert_memory_equal(x, y, MIB);
        }
}

/* The memfd's data ranges, as "start-end," text. */
static void data_ranges(int fd, uint64_t size, char *buf, size_t n) {
        uint64_t o = 0;
        size_t k = 0;

        buf[0] = 0;
        while (o < size) {
                off_t d = lseek(fd, (off_t) o, SEEK_DATA), h;
                if (d < 0 || (uint64_t) d >= size)
                        break;
                h = lseek(fd, d, SEEK_HOLE);
                k += (size_t) snprintf(buf + k, n - k, "%llx-%llx,", (unsigned long long) d, (unsigned long long) h);
                o = (uint64_t) h;
        }
}

static SnapshotIdentity identity(void) {
        SnapshotIdentity id = {
                .name = "web-1",
                .memory = RAM,
                .cpus = 2,
                .tsc_khz = 2500000,
                .n_disks = 2,
        };
        id.disks[0] = (SnapshotDisk) { .size = 10 * MIB, .dev = 0x803, .ino = 1234, .mtime_sec = 1700000000,
                                       .mtime_nsec = 999999999 };
        id.disks[1] = (SnapshotDisk) { .size = 1 << 30, .dev = 0xfd00, .ino = 99, .mtime_sec = -1 };
        return id;
}

static void assert_identity_equal(const SnapshotIdentity *a, const SnapshotIdentity *b) {
        assert_string_equal(a->name, b->name);
        assert_true(a->memory == b->memory);
        assert_int_equal(a->cpus, b->cpus);
        assert_int_equal(a->tsc_khz, b->tsc_khz);
        assert_int_equal(a->n_disks, b->n_disks);
        for (uint32_t i = 0; i < a->n_disks; i++) {
                assert_true(a->disks[i].size == b->disks[i].size);
                assert_true(a->disks[i].dev == b->disks[i].dev);
                assert_true(a->disks[i].ino == b->disks[i].ino);
                assert_true(a->disks[i].mtime_sec == b->disks[i].mtime_sec);
                assert_int_equal(a->disks[i].mtime_nsec, b->disks[i].mtime_nsec);
        }
}

#define TAG_A STATE_TAG('t', 's', 't', 'a')
#define TAG_B STATE_TAG('t', 's', 't', 'b')

static StateWriter records(unsigned seed) {
        StateWriter w = {};
        uint64_t a = 0x1122334455667788ULL + seed;
        uint8_t b[300];

        memset(b, (int) seed, sizeof b);
        assert_int_equal(state_write(&w, TAG_A, &a, sizeof a), 0);
        assert_int_equal(state_write(&w, TAG_B, b, sizeof b), 0);
        return w;
}

static void assert_records(const Snapshot *s, unsigned seed) {
        StateReader r = snapshot_state(s);
        uint64_t a;
        uint8_t b[300], e[300];

        memset(e, (int) seed, sizeof e);
        assert_int_equal(state_read(&r, TAG_A, &a, sizeof a), 0);
        assert_true(a == 0x1122334455667788ULL + seed);
        assert_int_equal(state_read(&r, TAG_B, b, sizeof b), 0);
        assert_memory_equal(b, e, sizeof b);
        assert_int_equal(state_peek(&r, &(uint32_t) {}), -ENODATA);
}

/* ---- progress ---- */

typedef struct Progress {
        unsigned calls;
        uint64_t last, total;
        unsigned fail_at; /* 0: never */
        int error;
        bool kill; /* instead of failing: die as kill -9 would have it */
} Progress;

static int progress(uint64_t done, uint64_t total, void *userdata) {
        Progress *p = userdata;

        assert_true(done >= p->last);
        assert_true(done <= total);
        assert_true(p->calls == 0 || total == p->total);
        p->calls++;
        p->last = done;
        p->total = total;
        if (p->fail_at && p->calls == p->fail_at) {
                if (p->kill)
                        raise(SIGKILL);
                return p->error;
        }
        return 0;
}

/* ---- files ---- */

static char *path_of(const char *name) {
        static char buf[4][sizeof dir + 64];
        static unsigned k;
        char *p = buf[k++ % 4];

        snprintf(p, sizeof buf[0], "%s/%s", dir, name);
        return p;
}

static int write_at(const char *name, const GuestMemory *m, unsigned seed, Progress *pr, bool no_tmpfile,
                    char **ret_log) {
        SnapshotIdentity id = identity();
        StateWriter w = records(seed);
        Capture c;
        int r;

        capture_begin(&c);
        r = snapshot_write_at(dir_fd, name, &(SnapshotParams) {
                .identity = &id,
                .state = w.data,
                .state_size = w.size,
                .memory = m,
                .progress = pr ? progress : NULL,
                .userdata = pr,
                .no_tmpfile = no_tmpfile,
        });
        *ret_log = capture_end(&c);
        state_writer_done(&w);
        return r;
}

static void write_ok(const char *name, const GuestMemory *m, unsigned seed) {
        char *log;

        assert_int_equal(write_at(name, m, seed, NULL, false, &log), 0);
        assert_string_equal(log, "");
        free(log);
}

/* A digest of what the file holds (its size, mode, mtime and every data range), read without reading
 * its holes: the loader must not change any of it. */
static uint32_t digest(const char *path) {
        static uint8_t buf[MIB];
        struct stat st;
        uint32_t crc;
        uint64_t o = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        crc = crc32c(0, &st.st_size, sizeof st.st_size);
        crc = crc32c(crc, &st.st_mtim, sizeof st.st_mtim);
        crc = crc32c(crc, &st.st_mode, sizeof st.st_mode);
        while (o < (uint64_t) st.st_size) {
                off_t d = lseek(fd, (off_t) o, SEEK_DATA), h;
                if (d < 0)
                        break;
                h = lseek(fd, d, SEEK_HOLE);
                for (uint64_t p = (uint64_t) d; p < (uint64_t) h;) {
                        ssize_t k = pread(fd, buf, (size_t) (h - (off_t) p < (off_t) MIB ? (uint64_t) h - p : MIB),
                                          (off_t) p);
                        assert_true(k > 0);
                        crc = crc32c(crc, &p, sizeof p);
                        crc = crc32c(crc, buf, (size_t) k);
                        p += (uint64_t) k;
                }
                o = (uint64_t) h;
        }
        close(fd);
        return crc;
}

/* Opens path (O_RDONLY) with its path as the label; returns the result and what it logged. */
static int open_snapshot(const char *path, Snapshot **ret, char **ret_log) {
        Capture c;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        capture_begin(&c);
        r = snapshot_open(fd, path, ret);
        *ret_log = capture_end(&c);
        close(fd);
        return r;
}

static Snapshot *open_ok(const char *path) {
        Snapshot *s = NULL;
        char *log;

        assert_int_equal(open_snapshot(path, &s, &log), 0);
        assert_string_equal(log, "");
        free(log);
        assert_non_null(s);
        return s;
}

static void assert_refused(const char *name, int error, const char *message) {
        const char *path = path_of(name);
        uint32_t before = digest(path);
        Snapshot *s = NULL;
        char expected[1024], *log;

        snprintf(expected, sizeof expected, "state file %s: %s\n", path, message);
        assert_int_equal(open_snapshot(path, &s, &log), error);
        assert_string_equal(log, expected);
        assert_null(s);
        free(log);
        assert_true(digest(path) == before);
}

static void assert_dir_holds(const char *names) {
        char got[1024] = "";
        struct dirent **list;
        int n = scandir(dir, &list, NULL, alphasort);

        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
                        strcat(got, list[i]->d_name);
                        strcat(got, " ");
                }
                free(list[i]);
        }
        free(list);
        assert_string_equal(got, names);
}

static void remove_all_but(const char *keep) {
        struct dirent **list;
        int n = scandir(dir, &list, NULL, alphasort);

        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (list[i]->d_name[0] != '.' || strncmp(list[i]->d_name, ".#", 2) == 0)
                        if (!keep || strcmp(list[i]->d_name, keep) != 0)
                                (void) unlinkat(dir_fd, list[i]->d_name, 0);
                free(list[i]);
        }
        free(list);
}

static int setup(void **state) {
        if (!mkdtemp(dir))
                return -1;
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return dir_fd >= 0 ? 0 : -1;
}

static int teardown(void **state) {
        remove_all_but(NULL);
        close(dir_fd);
        return rmdir(dir);
}

/* ---- the tests ---- */

static void test_crc32c(void **state) {
        uint8_t b[32];

        /* RFC 3720, B.4, and the usual check value. */
        assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
        memset(b, 0, sizeof b);
        assert_int_equal(crc32c(0, b, sizeof b), 0x8a9136aa);
        memset(b, 0xff, sizeof b);
        assert_int_equal(crc32c(0, b, sizeof b), 0x62a8ab43);
        for (unsigned i = 0; i < 32; i++)
                b[i] = (uint8_t) i;
        assert_int_equal(crc32c(0, b, sizeof b), 0x46dd794e);
        for (unsigned i = 0; i < 32; i++)
                b[i] = (uint8_t) (31 - i);
        assert_int_equal(crc32c(0, b, sizeof b), 0x113fdb5c);
        /* In pieces, at every split and from unaligned starts. */
        for (unsigned i = 0; i <= 32; i++)
                assert_int_equal(crc32c(crc32c(0, b, i), b + i, 32 - i), 0x113fdb5c);
        assert_int_equal(crc32c(0, NULL, 0), 0);
}

static void test_round_trip(void **state) {
        _cleanup_(guest_memory_freep) GuestMemory *m = make_memory(1), *r = NULL, *mapped = NULL, *again = NULL;
        SnapshotIdentity id = identity();
        Progress pr = {};
        Snapshot *s;
        struct stat st;
        uint64_t data = 0;
        char *log, a[512], b[512];
        uint8_t page[4096];
        uint32_t before;
        int fd;

        for (size_t i = 0; i < ELEMENTSOF(extents); i++)
                data += extents[i].length;
        assert_int_equal(write_at("vm.state", m, 1, &pr, false, &log), 0);
        assert_string_equal(log, "");
        free(log);
        assert_true(pr.calls >= ELEMENTSOF(extents) + 1);
        assert_true(pr.last == pr.total);
        assert_true(pr.total > data && pr.total < data + 4096);

        /* Sparse: the file is 2 MiB of metadata and padding plus the RAM long, and holds little more
         * than the data. 0600: guest memory is nobody else's. */
        assert_int_equal(stat(path_of("vm.state"), &st), 0);
        assert_true((uint64_t) st.st_size == 2 * MIB + RAM);
        assert_true((uint64_t) st.st_blocks * 512 < data + 256 * 1024);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_dir_holds("vm.state ");

        s = open_ok(path_of("vm.state"));
        assert_identity_equal(snapshot_identity(s), &id);
        assert_records(s, 1);
        /* The memfd's ranges, with the two that meet at the region boundary one extent. */
        assert_int_equal(snapshot_ram_extents(s), ELEMENTSOF(extents));
        assert_true(snapshot_ram_data_size(s) == data);
        pr = (Progress) {};
        assert_int_equal(snapshot_verify_ram(s, progress, &pr), 0);
        assert_true(pr.last == data && pr.total == data);

        /* Read: into memory that held something else, holes and all. */
        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &r), 0);
        memset(r->map + 32 * MIB, 0xaa, 3 * 4096);
        memset(r->map + MIB, 0x55, 4096);
        assert_int_equal(snapshot_read_ram(s, r, NULL, NULL), 0);
        assert_memory_equal_all(m, r);
        data_ranges(m->memfd, RAM, a, sizeof a);
        data_ranges(r->memfd, RAM, b, sizeof b);
        assert_string_equal(a, b);
        assert_false(r->file_mapped);

        /* Map: the same memory, the memfd left out of it from now on. */
        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &mapped), 0);
        assert_int_equal(snapshot_map_ram(s, mapped), 0);
        assert_true(mapped->file_mapped);
        assert_true(mapped->file_ino == (uint64_t) st.st_ino);
        assert_memory_equal_all(m, mapped);
        s = snapshot_free(s);

        /* The guest writes: its copy changes, the file does not. */
        before = digest(path_of("vm.state"));
        memset(mapped->map + 2 * MIB, 0x77, 4096);
        mapped->map[RAM - 1] ^= 0xff;
        mapped->map[0] = 0;
        assert_true(digest(path_of("vm.state")) == before);
        s = open_ok(path_of("vm.state"));
        assert_int_equal(snapshot_verify_ram(s, NULL, NULL), 0);

        /* A client's fd that is the file the RAM comes from is refused: emptying it would be SIGBUS. */
        fd = open(path_of("vm.state"), O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        {
                StateWriter w = records(1);
                Capture c;
                char expected[256];

                capture_begin(&c);
                assert_int_equal(snapshot_write_fd(fd, &(SnapshotParams) { .identity = &id, .state = w.data,
                                                                            .state_size = w.size, .memory = mapped,
                                                                            .label = path_of("vm.state") }),
                                 -EBUSY);
                log = capture_end(&c);
                snprintf(expected, sizeof expected, "state file %s: is the file the VM's RAM is mapped from\n",
                         path_of("vm.state"));
                assert_string_equal(log, expected);
                free(log);
                state_writer_done(&w);
        }
        close(fd);
        assert_true(digest(path_of("vm.state")) == before);
        s = snapshot_free(s);

        /* Saved again from the mapping (a scan), even over the file it is mapped from: the rename leaves
         * the mapped inode alone. Then read back: what the guest wrote is there. */
        write_ok("vm.state", mapped, 1);
        assert_true(digest(path_of("vm.state")) != before);
        s = open_ok(path_of("vm.state"));
        assert_int_equal(snapshot_verify_ram(s, NULL, NULL), 0);
        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &again), 0);
        assert_int_equal(snapshot_read_ram(s, again, NULL, NULL), 0);
        assert_memory_equal_all(mapped, again);
        ram_read(again, 2 * MIB, page, sizeof page);
        assert_int_equal(page[0], 0x77);
        s = snapshot_free(s);

        /* Not onto another layout: one region of the same size. */
        again = guest_memory_free(again);
        assert_int_equal(guest_memory_new(RAM, UINT64_C(3) << 30, HIGH, &again), 0);
        s = open_ok(path_of("vm.state"));
        {
                Capture c;
                char expected[512];

                capture_begin(&c);
                assert_int_equal(snapshot_map_ram(s, again), -EINVAL);
                assert_int_equal(snapshot_read_ram(s, again, NULL, NULL), -EINVAL);
                log = capture_end(&c);
                snprintf(expected, sizeof expected,
                         "state file %1$s: saved with RAM at 0x0+0x4000000 0x100000000+0x4000000, this VM has it at 0x0+0x8000000\n"
                         "state file %1$s: saved with RAM at 0x0+0x4000000 0x100000000+0x4000000, this VM has it at 0x0+0x8000000\n",
                         path_of("vm.state"));
                assert_string_equal(log, expected);
                free(log);
        }
        assert_false(again->file_mapped);
        s = snapshot_free(s);
        remove_all_but(NULL);
}

static void test_write_at_replaces(void **state) {
        _cleanup_(guest_memory_freep) GuestMemory *m1 = make_memory(1), *m2 = make_memory(2), *r = NULL;
        const char *path = path_of("vm.state");
        char expected[256], *log;
        struct stat st1, st2;
        Snapshot *s;
        uint32_t d2;
        int status;
        pid_t pid;

        write_ok("vm.state", m1, 1);
        assert_int_equal(stat(path, &st1), 0);
        write_ok("vm.state", m2, 2);
        assert_int_equal(stat(path, &st2), 0);
        assert_true(st1.st_ino != st2.st_ino); /* a new file renamed over, not the old one rewritten */
        s = open_ok(path);
        assert_records(s, 2);
        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &r), 0);
        assert_int_equal(snapshot_read_ram(s, r, NULL, NULL), 0);
        assert_memory_equal_all(m2, r);
        s = snapshot_free(s);
        d2 = digest(path);
        assert_dir_holds("vm.state ");

        /* A write that fails half-way, with O_TMPFILE and with a named temporary file: the old file
         * stays as it was, and nothing is left behind. */
        for (int named = 0; named <= 1; named++)
                for (unsigned at = 1; at <= 5; at += 2) {
                        Progress pr = { .fail_at = at, .error = -EIO };

                        assert_int_equal(write_at("vm.state", m1, 1, &pr, named, &log), -EIO);
                        assert_string_equal(log, "state file vm.state: writing stopped: Input/output error\n");
                        free(log);
                        assert_true(digest(path) == d2);
                        assert_dir_holds("vm.state ");
                }

        /* Killed half-way (kill -9 from the progress callback: no cleanup runs), and killed just before
         * the metadata would be written. The old file stays valid; with O_TMPFILE nothing is left, a named
         * temporary file is left and refused. */
        for (int named = 0; named <= 1; named++)
                for (unsigned at = 2; at <= 5; at += 3) {
                        Progress pr = { .fail_at = at, .kill = true };

                        pid = fork();
                        assert_true(pid >= 0);
                        if (pid == 0) {
                                (void) write_at("vm.state", m1, 1, &pr, named, &log);
                                _exit(1);
                        }
                        assert_int_equal(waitpid(pid, &status, 0), pid);
                        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                        assert_true(digest(path) == d2);
                        s = open_ok(path);
                        assert_records(s, 2);
                        assert_int_equal(snapshot_verify_ram(s, NULL, NULL), 0);
                        s = snapshot_free(s);
                        if (!named) {
                                assert_dir_holds("vm.state ");
                                continue;
                        }
                        struct dirent **list;
                        int n = scandir(dir, &list, NULL, alphasort), left = 0;
                        for (int i = 0; i < n; i++) {
                                if (strncmp(list[i]->d_name, ".#vm.state.", 11) == 0) {
                                        left++;
                                        snprintf(expected, sizeof expected, "%s", list[i]->d_name);
                                }
                                free(list[i]);
                        }
                        free(list);
                        assert_int_equal(left, 1);
                        assert_int_equal(strlen(expected), strlen(".#vm.state.") + 8);
                        assert_refused(expected, -EBADMSG, "not a state file (bad magic)");
                        remove_all_but("vm.state");
                }

        /* Names that are not one file in the directory. */
        assert_int_equal(write_at("a/b", m1, 1, NULL, false, &log), -EINVAL);
        assert_string_equal(log, "state file a/b: not a file name\n");
        free(log);
        assert_int_equal(write_at("..", m1, 1, NULL, false, &log), -EINVAL);
        free(log);
        assert_true(digest(path) == d2);
        remove_all_but(NULL);
}

static void test_write_fd(void **state) {
        _cleanup_(guest_memory_freep) GuestMemory *m1 = make_memory(1), *m2 = make_memory(2), *r = NULL;
        const char *path = path_of("passed.state");
        SnapshotIdentity id = identity();
        StateWriter w = records(2);
        SnapshotParams p = { .identity = &id, .state = w.data, .state_size = w.size, .memory = m2 };
        char expected[256], *log;
        Progress pr = { .fail_at = 2, .error = -ECANCELED };
        Snapshot *s;
        Capture c;
        int fd, pfd[2];

        /* Over an old state file: the new one, whole. */
        write_ok("passed.state", m1, 1);
        fd = open(path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        capture_begin(&c);
        assert_int_equal(snapshot_write_fd(fd, &p), 0);
        log = capture_end(&c);
        assert_string_equal(log, "");
        free(log);
        close(fd);
        s = open_ok(path);
        assert_records(s, 2);
        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &r), 0);
        assert_int_equal(snapshot_read_ram(s, r, NULL, NULL), 0);
        assert_memory_equal_all(m2, r);
        s = snapshot_free(s);

        /* Stopped half-way: a file the loader refuses, never the old header over new RAM. */
        fd = open(path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        p.progress = progress;
        p.userdata = &pr;
        capture_begin(&c);
        assert_int_equal(snapshot_write_fd(fd, &p), -ECANCELED);
        log = capture_end(&c);
        snprintf(expected, sizeof expected, "state file fd %d: writing stopped: Operation canceled\n", fd);
        assert_string_equal(log, expected);
        free(log);
        close(fd);
        assert_refused("passed.state", -EBADMSG, "not a state file (bad magic)");

        /* Files it cannot write at offsets. */
        p.progress = NULL;
        p.label = "client";
        fd = open(path, O_RDONLY | O_CLOEXEC);
        capture_begin(&c);
        assert_int_equal(snapshot_write_fd(fd, &p), -EINVAL);
        close(fd);
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_int_equal(snapshot_write_fd(fd, &p), -EINVAL);
        close(fd);
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        assert_int_equal(snapshot_write_fd(pfd[1], &p), -EINVAL);
        close(pfd[0]);
        close(pfd[1]);
        log = capture_end(&c);
        assert_string_equal(log, "state file client: not open for writing at offsets (read-only or O_APPEND)\n"
                                 "state file client: not open for writing at offsets (read-only or O_APPEND)\n"
                                 "state file client: not a regular file\n");
        free(log);

        /* What the writer will not put in a file. */
        fd = open(path, O_RDWR | O_CLOEXEC);
        id.cpus = 0;
        capture_begin(&c);
        assert_int_equal(snapshot_write_fd(fd, &p), -EINVAL);
        id = identity();
        id.memory = RAM * 2;
        assert_int_equal(snapshot_write_fd(fd, &p), -EINVAL);
        log = capture_end(&c);
        assert_string_equal(log, "state file client: cannot save: bad identity: 0 vCPUs\n"
                                 "state file client: cannot save: identity says 268435456 bytes of RAM, the VM has 134217728\n");
        free(log);
        close(fd);
        state_writer_done(&w);
        remove_all_but(NULL);
}

/* ---- damage ---- */

#define TAG_IDENTITY STATE_TAG('i', 'd', 't', 'y')
#define TAG_STATE    STATE_TAG('s', 't', 'a', 't')
#define TAG_RAM      STATE_TAG('r', 'a', 'm', ' ')
#define TAG_END      STATE_TAG('e', 'n', 'd', ' ')

/* The good file's metadata, taken apart along the documented framing. */
typedef struct Section {
        uint32_t tag, flags;
        uint64_t length;
        uint64_t offset; /* of the data, in the good file */
        uint8_t data[4096];
} Section;

typedef struct Layout {
        uint8_t header[16];
        Section sections[8];
        size_t n;
        uint64_t size, data_offset;
} Layout;

static Layout good;

static Section *section(Layout *l, uint32_t tag) {
        for (size_t i = 0; i < l->n; i++)
                if (l->sections[i].tag == tag)
                        return &l->sections[i];
        fail();
        return NULL;
}

static void parse_good(void) {
        int fd = open(path_of("good.state"), O_RDONLY | O_CLOEXEC);
        uint64_t o = 16;
        struct stat st;

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        good = (Layout) { .size = (uint64_t) st.st_size };
        assert_int_equal(pread(fd, good.header, 16, 0), 16);
        assert_memory_equal(good.header, "SDVMSNAP\1\0\0\0\0\0\0\0", 16);
        for (;;) {
                Section *s = &good.sections[good.n++];
                uint8_t h[16];

                assert_int_equal(pread(fd, h, 16, (off_t) o), 16);
                s->tag = (uint32_t) le_read(h, 4);
                s->flags = (uint32_t) le_read(h + 4, 4);
                s->length = le_read(h + 8, 8);
                s->offset = o + 16;
                assert_true(s->length <= sizeof s->data);
                assert_int_equal(pread(fd, s->data, s->length, (off_t) s->offset), (ssize_t) s->length);
                o = s->offset + s->length;
                if (s->tag == TAG_END)
                        break;
        }
        close(fd);
        assert_int_equal(good.n, 4);
        assert_true(good.sections[0].tag == TAG_IDENTITY && good.sections[0].length == 728);
        assert_true(good.sections[1].tag == TAG_STATE);
        assert_true(good.sections[2].tag == TAG_RAM && good.sections[2].length == 56 + 32 * 4);
        assert_true(good.sections[3].length == 8);
        good.data_offset = le_read(section(&good, TAG_RAM)->data + 40, 8);
        assert_true(good.data_offset == 2 * MIB);
        assert_true(good.size == good.data_offset + RAM);
        /* The checksum is what the documentation says it is. */
        {
                uint8_t meta[8192];
                uint64_t crc_at = section(&good, TAG_END)->offset;
                fd = open(path_of("good.state"), O_RDONLY | O_CLOEXEC);
                assert_int_equal(pread(fd, meta, crc_at + 8, 0), (ssize_t) (crc_at + 8));
                close(fd);
                assert_int_equal(crc32c(0, meta, crc_at), le_read(meta + crc_at, 4));
        }
}

/* A copy of the good file (sparse: its data ranges only) as name; returns an fd to damage it with. */
static int copy_good(const char *name) {
        static uint8_t buf[MIB];
        int in = open(path_of("good.state"), O_RDONLY | O_CLOEXEC), out;
        uint64_t o = 0;

        out = openat(dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(in >= 0 && out >= 0);
        assert_int_equal(ftruncate(out, (off_t) good.size), 0);
        while (o < good.size) {
                off_t d = lseek(in, (off_t) o, SEEK_DATA), h;
                if (d < 0)
                        break;
                h = lseek(in, d, SEEK_HOLE);
                for (off_t p = d; p < h;) {
                        ssize_t k = pread(in, buf, (size_t) (h - p < (off_t) MIB ? h - p : (off_t) MIB), p);
                        assert_true(k > 0);
                        assert_int_equal(pwrite(out, buf, (size_t) k, p), k);
                        p += k;
                }
                o = (uint64_t) h;
        }
        close(in);
        return out;
}

/* Writes l's metadata over the start of fd: the header, the sections in l's order, and the end
 * section's checksum computed over them unless keep_crc. */
static void put_layout(int fd, const Layout *l, bool keep_crc) {
        static uint8_t meta[65536];
        size_t k = 16;

        memcpy(meta, l->header, 16);
        for (size_t i = 0; i < l->n; i++) {
                const Section *s = &l->sections[i];
                le_write(meta + k, 4, s->tag);
                le_write(meta + k + 4, 4, s->flags);
                le_write(meta + k + 8, 8, s->length);
                memcpy(meta + k + 16, s->data, s->length);
                k += 16 + s->length;
                if (s->tag == TAG_END && !keep_crc)
                        le_write(meta + k - 8, 4, crc32c(0, meta, k - 8));
        }
        assert_int_equal(pwrite(fd, meta, k, 0), (ssize_t) k);
}

static void patch(int fd, uint64_t offset, const void *bytes, size_t n) {
        assert_int_equal(pwrite(fd, bytes, n, (off_t) offset), (ssize_t) n);
}

/* A damaged copy as l describes it, refused as expected. */
static void check_layout_refused(const Layout *l, bool keep_crc, int error, const char *message) {
        int fd = copy_good("bad.state");

        put_layout(fd, l, keep_crc);
        close(fd);
        assert_refused("bad.state", error, message);
}

static void check_patch_refused(uint64_t offset, const void *bytes, size_t n, int error, const char *message) {
        int fd = copy_good("bad.state");

        patch(fd, offset, bytes, n);
        close(fd);
        assert_refused("bad.state", error, message);
}

static void check_truncated(uint64_t size, const char *message) {
        int fd = copy_good("bad.state");

        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        close(fd);
        assert_refused("bad.state", -EBADMSG, message);
}

static void set_extent(Layout *l, size_t i, uint64_t ram_offset, uint64_t length, uint64_t file_offset) {
        uint8_t *q = section(l, TAG_RAM)->data + 56 + 32 * i;
        le_write(q, 8, ram_offset);
        le_write(q + 8, 8, length);
        le_write(q + 16, 8, file_offset);
}

static void test_damage(void **state) {
        _cleanup_(guest_memory_freep) GuestMemory *m = make_memory(3), *r = NULL;
        const Section *id, *st, *ram, *end;
        uint64_t meta_end, x;
        char msg[512];
        Snapshot *s;
        Layout l;
        int fd;

        write_ok("good.state", m, 3);
        parse_good();
        id = section(&good, TAG_IDENTITY);
        st = section(&good, TAG_STATE);
        ram = section(&good, TAG_RAM);
        end = section(&good, TAG_END);
        meta_end = end->offset + end->length;

        /* The copy itself is fine. */
        fd = copy_good("bad.state");
        close(fd);
        s = open_ok(path_of("bad.state"));
        s = snapshot_free(s);

        /* Magic, version, header flags. */
        check_patch_refused(0, "X", 1, -EBADMSG, "not a state file (bad magic)");
        check_patch_refused(8, "\7", 1, -EPROTO, "unknown version 7");
        check_patch_refused(8, "\0", 1, -EPROTO, "unknown version 0");
        l = good;
        l.header[12] = 4;
        check_layout_refused(&l, false, -EPROTO, "unknown header flags 0x4");

        /* A byte flipped in the metadata (identity, a section header's flags, the RAM table, the
         * checksum itself) and in the state. */
        check_patch_refused(id->offset + 1, "X", 1, -EBADMSG, "bad checksum");
        check_patch_refused(st->offset - 12, "\2", 1, -EBADMSG, "bad checksum");
        check_patch_refused(ram->offset + 56 + 32 + 24, "\xff", 1, -EBADMSG, "bad checksum");
        check_patch_refused(end->offset, "\0\0\0\0", 4, -EBADMSG, "bad checksum");
        check_patch_refused(st->offset + st->length / 2, "\xee", 1, -EBADMSG, "bad checksum");

        /* Truncated at every kind of place. */
        check_truncated(0, "empty");
        check_truncated(5, "truncated in the header");
        check_truncated(16, "truncated after the header");
        check_truncated(24, "truncated in a section header at offset 16");
        check_truncated(100, "truncated in section identity (728 bytes, 68 left)");
        check_truncated(st->offset - 16, "truncated after section identity");
        snprintf(msg, sizeof msg, "truncated in section state (%llu bytes, 10 left)", (unsigned long long) st->length);
        check_truncated(st->offset + 10, msg);
        check_truncated(end->offset + 4, "truncated in section end (8 bytes, 4 left)");
        snprintf(msg, sizeof msg, "truncated in section ram (its RAM ends at %llu, the file at %llu)",
                 (unsigned long long) good.size, (unsigned long long) meta_end);
        check_truncated(meta_end, msg);
        snprintf(msg, sizeof msg, "truncated in section ram (its RAM ends at %llu, the file at %llu)",
                 (unsigned long long) good.size, (unsigned long long) (good.data_offset + 40 * MIB));
        check_truncated(good.data_offset + 40 * MIB, msg);
        check_truncated(good.size - 1, "truncated in section ram (its RAM ends at 136314880, the file at 136314879)");
        fd = copy_good("bad.state");
        assert_int_equal(ftruncate(fd, (off_t) (good.size + 4096)), 0);
        close(fd);
        assert_refused("bad.state", -EBADMSG, "4096 bytes after the end of the RAM");

        /* Sections of the wrong size. */
        l = good;
        section(&l, TAG_IDENTITY)->length = 727;
        check_layout_refused(&l, false, -EBADMSG, "section identity has 727 bytes, not 728");
        l = good;
        section(&l, TAG_END)->length = 9;
        check_layout_refused(&l, false, -EBADMSG, "section end has 9 bytes, not 8");
        l = good;
        section(&l, TAG_RAM)->length -= 8;
        check_layout_refused(&l, false, -EBADMSG, "section ram has 176 bytes, which do not hold its 4 extents");
        l = good;
        section(&l, TAG_RAM)->length -= 32;
        check_layout_refused(&l, false, -EBADMSG, "section ram has 152 bytes, which do not hold its 4 extents");
        l = good;
        section(&l, TAG_RAM)->length = 40;
        check_layout_refused(&l, false, -EBADMSG, "section ram has 40 bytes, less than its 56-byte header");
        l = good;
        le_write(section(&l, TAG_STATE)->data, 4, 0); /* vm_restore's to judge, not the file's */
        fd = copy_good("odd-state.state");
        put_layout(fd, &l, false);
        close(fd);
        s = open_ok(path_of("odd-state.state"));
        s = snapshot_free(s);

        /* Sections twice, missing, unknown, reordered. */
        l = good;
        memmove(&l.sections[2], &l.sections[1], 3 * sizeof l.sections[0]);
        l.n = 5;
        check_layout_refused(&l, false, -EBADMSG, "section state twice");
        l = good;
        memmove(&l.sections[1], &l.sections[2], 2 * sizeof l.sections[0]);
        l.n = 3;
        check_layout_refused(&l, false, -EBADMSG, "no section state");
        l = good;
        memmove(&l.sections[0], &l.sections[1], 3 * sizeof l.sections[0]);
        l.n = 3;
        check_layout_refused(&l, false, -EBADMSG, "no section identity");
        l = good;
        l.sections[3] = (Section) { .tag = STATE_TAG('x', 't', 'r', 'a'), .length = 3, .data = "abc" };
        l.sections[4] = good.sections[3];
        l.n = 5;
        check_layout_refused(&l, false, -EPROTO, "unknown section 'xtra'");
        l.sections[3].tag = 0x01020304;
        check_layout_refused(&l, false, -EPROTO, "unknown section 0x01020304");
        l.sections[3].flags = 1; /* optional: skipped */
        fd = copy_good("optional.state");
        put_layout(fd, &l, false);
        close(fd);
        s = open_ok(path_of("optional.state"));
        assert_records(s, 3);
        s = snapshot_free(s);
        l.sections[3].flags = 3;
        check_layout_refused(&l, false, -EPROTO, "unknown flags 0x3 in section 0x01020304");
        l = good;
        section(&l, TAG_STATE)->flags = 1;
        check_layout_refused(&l, false, -EPROTO, "unknown flags 0x1 in section state");
        l = good; /* any order */
        l.sections[0] = good.sections[2];
        l.sections[2] = good.sections[0];
        fd = copy_good("reordered.state");
        put_layout(fd, &l, false);
        close(fd);
        s = open_ok(path_of("reordered.state"));
        assert_records(s, 3);
        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &r), 0);
        assert_int_equal(snapshot_read_ram(s, r, NULL, NULL), 0);
        assert_memory_equal_all(m, r);
        s = snapshot_free(s);
        l = good;
        le_write(section(&l, TAG_END)->data + 4, 4, 1);
        check_layout_refused(&l, false, -EINVAL, "section end: reserved field not zero");
        /* No end section: the walk meets the padding. */
        fd = copy_good("bad.state");
        patch(fd, end->offset - 16, (uint8_t[24]) {}, 24);
        close(fd);
        snprintf(msg, sizeof msg, "no section end (zeros at offset %llu)", (unsigned long long) (end->offset - 16));
        assert_refused("bad.state", -EBADMSG, msg);

        /* Identity values. */
        l = good;
        memcpy(section(&l, TAG_IDENTITY)->data, "bad/name", 8);
        check_layout_refused(&l, false, -EINVAL, "bad identity: invalid VM name");
        l = good;
        section(&l, TAG_IDENTITY)->data[20] = 'x';
        check_layout_refused(&l, false, -EINVAL, "bad identity: VM name not NUL-padded");
        l = good;
        le_write(section(&l, TAG_IDENTITY)->data + 72, 4, 129);
        check_layout_refused(&l, false, -EINVAL, "bad identity: 129 vCPUs");
        l = good;
        le_write(section(&l, TAG_IDENTITY)->data + 64, 8, RAM + 1);
        check_layout_refused(&l, false, -EINVAL, "bad identity: memory size 134217729 out of range");
        l = good;
        le_write(section(&l, TAG_IDENTITY)->data + 64, 8, RAM + 4096);
        check_layout_refused(&l, false, -EINVAL, "RAM regions hold 134217728 bytes, the identity says 134221824");
        l = good;
        le_write(section(&l, TAG_IDENTITY)->data + 80, 4, 17);
        check_layout_refused(&l, false, -EINVAL, "bad identity: 17 disks");
        l = good;
        le_write(section(&l, TAG_IDENTITY)->data + 80, 4, 1);
        check_layout_refused(&l, false, -EINVAL, "bad identity: unused disk 1 not zero");
        l = good;
        le_write(section(&l, TAG_IDENTITY)->data + 88 + 32, 4, 1000000000);
        check_layout_refused(&l, false, -EINVAL, "bad identity: disk 0 has an mtime of 1000000000 ns");
        l = good;
        le_write(section(&l, TAG_IDENTITY)->data + 88 + 36, 4, 1);
        check_layout_refused(&l, false, -EINVAL, "bad identity: disk 0: reserved field not zero");

        /* The RAM table: regions, data offset, extents. */
        l = good;
        le_write(section(&l, TAG_RAM)->data, 4, 3);
        check_layout_refused(&l, false, -EINVAL, "3 RAM regions");
        l = good;
        le_write(section(&l, TAG_RAM)->data + 24, 8, HOLE - 4096); /* region 1 overlaps region 0 */
        check_layout_refused(&l, false, -EINVAL, "bad RAM region 1 (0x3fff000, 0x4000000 bytes)");
        l = good;
        le_write(section(&l, TAG_RAM)->data + 40, 8, good.data_offset + 4096);
        check_layout_refused(&l, false, -EINVAL,
                             "RAM data offset 0x201000 is not a multiple of 2 MiB after the metadata");
        l = good;
        le_write(section(&l, TAG_RAM)->data + 40, 8, 0);
        check_layout_refused(&l, false, -EINVAL, "RAM data offset 0x0 is not a multiple of 2 MiB after the metadata");
        l = good;
        le_write(section(&l, TAG_RAM)->data + 40, 8, 4 * MIB);
        check_layout_refused(&l, false, -EBADMSG,
                             "truncated in section ram (its RAM ends at 138412032, the file at 136314880)");
        l = good;
        set_extent(&l, 3, RAM, 4096, good.data_offset + RAM);
        check_layout_refused(&l, false, -EINVAL,
                             "RAM extent 3 (0x8000000, 0x1000 bytes) is outside the 0x8000000 bytes of RAM");
        l = good;
        set_extent(&l, 3, RAM - 4096, 8192, good.data_offset + RAM - 4096);
        check_layout_refused(&l, false, -EINVAL,
                             "RAM extent 3 (0x7fff000, 0x2000 bytes) is outside the 0x8000000 bytes of RAM");
        l = good;
        set_extent(&l, 3, 4096, UINT64_MAX - 4095, good.data_offset + 4096);
        check_layout_refused(&l, false, -EINVAL,
                             "RAM extent 3 (0x1000, 0xfffffffffffff000 bytes) is outside the 0x8000000 bytes of RAM");
        l = good;
        set_extent(&l, 2, MIB + 4096, 4096, good.data_offset + MIB + 4096);
        check_layout_refused(&l, false, -EINVAL, "RAM extent 2 (0x101000) overlaps or precedes the one before it");
        l = good;
        set_extent(&l, 1, 0, 4096, good.data_offset);
        check_layout_refused(&l, false, -EINVAL, "RAM extent 1 (0x0) overlaps or precedes the one before it");
        l = good;
        set_extent(&l, 1, MIB + 512, 4096, good.data_offset + MIB + 512);
        check_layout_refused(&l, false, -EINVAL, "RAM extent 1 (0x100200, 0x1000 bytes) is not 4 KiB aligned");
        l = good;
        set_extent(&l, 1, MIB, 100, good.data_offset + MIB);
        check_layout_refused(&l, false, -EINVAL, "RAM extent 1 (0x100000, 0x64 bytes) is not 4 KiB aligned");
        l = good;
        set_extent(&l, 1, MIB, 0, good.data_offset + MIB);
        check_layout_refused(&l, false, -EINVAL, "RAM extent 1 is empty");
        l = good;
        set_extent(&l, 1, MIB, 4096, good.size);
        check_layout_refused(&l, false, -EINVAL, "RAM extent 1 is at file offset 0x8200000, not 0x300000");
        l = good;
        le_write(section(&l, TAG_RAM)->data + 56 + 32 + 28, 4, 1);
        check_layout_refused(&l, false, -EINVAL, "RAM extent 1 has unknown flags");
        l = good;
        le_write(section(&l, TAG_RAM)->data + 48, 8, UINT64_MAX);
        check_layout_refused(&l, false, -EBADMSG,
                             "section ram has 184 bytes, which do not hold its 18446744073709551615 extents");

        /* RAM data: not checked by open or map, by read and verify. */
        x = good.data_offset + MIB + 5000;
        fd = copy_good("ram.state");
        patch(fd, x, "\0", 1);
        close(fd);
        s = open_ok(path_of("ram.state"));
        {
                Capture c;
                char *log, expected[512];

                capture_begin(&c);
                assert_int_equal(snapshot_verify_ram(s, NULL, NULL), -EBADMSG);
                r = guest_memory_free(r);
                assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &r), 0);
                assert_int_equal(snapshot_read_ram(s, r, NULL, NULL), -EBADMSG);
                log = capture_end(&c);
                snprintf(expected, sizeof expected,
                         "state file %1$s: bad checksum in RAM extent 1 (RAM offset 0x100000)\n"
                         "state file %1$s: bad checksum in RAM extent 1 (RAM offset 0x100000)\n",
                         path_of("ram.state"));
                assert_string_equal(log, expected);
                free(log);
        }
        s = snapshot_free(s);
        /* Data where the table has a hole: map would show it, so verify refuses it; read never reads it. */
        fd = copy_good("ram.state");
        patch(fd, good.data_offset + 32 * MIB + 77, "\1", 1);
        close(fd);
        s = open_ok(path_of("ram.state"));
        {
                Capture c;
                char *log, expected[512];

                capture_begin(&c);
                assert_int_equal(snapshot_verify_ram(s, NULL, NULL), -EBADMSG);
                log = capture_end(&c);
                snprintf(expected, sizeof expected, "state file %s: RAM data at file offset 0x220004d is in no extent\n",
                         path_of("ram.state"));
                assert_string_equal(log, expected);
                free(log);
        }
        r = guest_memory_free(r);
        assert_int_equal(guest_memory_new(RAM, HOLE, HIGH, &r), 0);
        assert_int_equal(snapshot_read_ram(s, r, NULL, NULL), 0);
        assert_memory_equal_all(m, r);
        s = snapshot_free(s);

        /* Not a regular file. */
        {
                Capture c;
                char *log;

                capture_begin(&c);
                assert_int_equal(snapshot_open(dir_fd, "the dir", &s), -EINVAL);
                log = capture_end(&c);
                assert_string_equal(log, "state file the dir: not a regular file\n");
                free(log);
        }
        remove_all_but(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crc32c),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_write_at_replaces),
                cmocka_unit_test(test_write_fd),
                cmocka_unit_test(test_damage),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

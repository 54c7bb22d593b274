/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* A standalone driver for a libFuzzer target, for builds without libFuzzer (gcc, the unit test suite):
 *
 *         fuzz-NAME [--iterations=N] [--seed=N] [--max-size=BYTES] [--dump=I] SEED-FILE-OR-DIR...
 *
 * Runs every seed through the target, then a bounded, deterministic mutation loop: each input is a seed
 * or the previous input with a few random edits (bit flips, interesting bytes, inserts, deletes,
 * duplicated chunks, runs of a byte, splices of other seeds). There is no coverage feedback; what it
 * gives is a repeatable smoke test that, built with -fsanitize=address,undefined, catches crashes, leaks
 * and out-of-bounds reads. The inputs depend only on the seeds and --seed, so a failure at iteration I
 * is reproduced by --dump=I, which writes that input to stdout instead of running anything. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fuzz.h"

#define SEED_MAX (1024 * 1024)

typedef struct Buf {
        uint8_t *data;
        size_t size;
        char *path; /* of a seed */
} Buf;

typedef struct Corpus {
        Buf *seeds;
        size_t n_seeds;
} Corpus;

static const char *program = "fuzz";
static const char *current_input = NULL; /* seed path, or NULL while mutating */
static uint64_t current_iteration;

/* Sanitizers call this just before they exit on an error, so the report says what input it was. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void death_callback(void) {
        if (current_input)
                fprintf(stderr, "%s: failed on seed %s\n", program, current_input);
        else
                fprintf(stderr, "%s: failed at iteration %" PRIu64 "; reproduce with --dump=%" PRIu64 "\n",
                        program, current_iteration, current_iteration);
}

/* splitmix64: tiny, fast, and the same sequence everywhere for a given seed. */
static uint64_t rng_state;

static uint64_t rng(void) {
        uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* A number in [0, n), n > 0. The slight modulo bias does not matter here. */
static size_t rng_below(size_t n) {
        return (size_t) (rng() % n);
}

static int read_seed(const char *path, Buf *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *data = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > SEED_MAX)
                return -EFBIG;
        /* An exactly sized copy, so that the sanitizers see a read past the end of the input. */
        data = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
        if (!data)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, data + n, (size_t) st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        *ret = (Buf) { .data = TAKE_PTR(data), .size = n };
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int corpus_add(Corpus *c, const char *path) {
        Buf b, *s;
        int r;

        r = read_seed(path, &b);
        if (r < 0) {
                fprintf(stderr, "%s: cannot read seed %s: %s\n", program, path, strerror(-r));
                return r;
        }
        b.path = strdup(path);
        s = realloc(c->seeds, (c->n_seeds + 1) * sizeof *s);
        if (!b.path || !s) {
                free(b.data);
                free(b.path);
                if (s)
                        c->seeds = s;
                return -ENOMEM;
        }
        c->seeds = s;
        c->seeds[c->n_seeds++] = b;
        return 0;
}

/* Adds a file, or the regular files in a directory in name order (so runs repeat exactly). */
static int corpus_load(Corpus *c, const char *path) {
        struct stat st;
        char **names = NULL;
        size_t n = 0;
        DIR *d;
        int r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %s: %s\n", program, path, strerror(errno));
                return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return corpus_add(c, path);

        d = opendir(path);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                char **nn;

                if (de->d_name[0] == '.')
                        continue;
                nn = realloc(names, (n + 1) * sizeof *nn);
                if (!nn) {
                        r = -ENOMEM;
                        break;
                }
                names = nn;
                if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r >= 0 && n > 0)
                qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++) {
                if (r >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
                        r = corpus_add(c, names[i]);
                free(names[i]);
        }
        free(names);
        return r;
}

/* Bytes that matter to text parsers: structure, line ends, digits and suffixes, the edges of UTF-8. */
static const uint8_t interesting[] = {
        0x00, '\n', '\r', '\t', ' ', '=', '[', ']', '#', ';', '/', '.', '-', '0', '1', '9', 'K', 'M', 'G',
        'T', 'y', 'n', 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5,
        0xff,
};

static void insert(Buf *b, size_t max_size, size_t at, const uint8_t *src, size_t n) {
        if (b->size >= max_size)
                return;
        if (n > max_size - b->size)
                n = max_size - b->size;
        memmove(b->data + at + n, b->data + at, b->size - at);
        memcpy(b->data + at, src, n);
        b->size += n;
}

/* One random edit of b (whose buffer holds max_size bytes). */
static void mutate(Buf *b, size_t max_size, const Corpus *c) {
        uint8_t tmp[256];
        size_t at = rng_below(b->size + 1), n;
        const Buf *other;

        switch (rng_below(10)) {
        case 0: /* flip a bit */
                if (b->size > 0)
                        b->data[rng_below(b->size)] ^= (uint8_t) (1u << rng_below(8));
                break;
        case 1: /* overwrite a byte with an interesting one */
                if (b->size > 0)
                        b->data[rng_below(b->size)] = interesting[rng_below(sizeof interesting)];
                break;
        case 2: /* overwrite a byte with any byte */
                if (b->size > 0)
                        b->data[rng_below(b->size)] = (uint8_t) rng();
                break;
        case 3: /* insert interesting bytes */
                n = 1 + rng_below(4);
                for (size_t i = 0; i < n; i++)
                        tmp[i] = interesting[rng_below(sizeof interesting)];
                insert(b, max_size, at, tmp, n);
                break;
        case 4: /* delete a range */
                if (b->size > 0) {
                        at = rng_below(b->size);
                        n = 1 + rng_below(b->size - at < 32 ? b->size - at : 32);
                        memmove(b->data + at, b->data + at + n, b->size - at - n);
                        b->size -= n;
                }
                break;
        case 5: /* duplicate a chunk of itself */
                if (b->size > 0) {
                        size_t from = rng_below(b->size);
                        n = 1 + rng_below(b->size - from < sizeof tmp ? b->size - from : sizeof tmp);
                        memcpy(tmp, b->data + from, n);
                        insert(b, max_size, at, tmp, n);
                }
                break;
        case 6: /* a run of one byte, sometimes long enough to hit line and value limits */
                n = rng_below(4) == 0 ? 1 + rng_below(10000) : 1 + rng_below(sizeof tmp);
                if (n > max_size - b->size)
                        n = max_size - b->size;
                if (n > 0) {
                        uint8_t byte = rng_below(2) ? 'a' : interesting[rng_below(sizeof interesting)];

                        memmove(b->data + at + n, b->data + at, b->size - at);
                        memset(b->data + at, byte, n);
                        b->size += n;
                }
                break;
        case 7: /* splice in a chunk of another seed */
                other = &c->seeds[rng_below(c->n_seeds)];
                if (other->size > 0) {
                        size_t from = rng_below(other->size);
                        n = 1 + rng_below(other->size - from);
                        insert(b, max_size, at, other->data + from, n);
                }
                break;
        case 8: /* cross over: keep a head, take another seed's tail */
                other = &c->seeds[rng_below(c->n_seeds)];
                if (other->size > 0) {
                        size_t from = rng_below(other->size);
                        b->size = at;
                        insert(b, max_size, at, other->data + from, other->size - from);
                }
                break;
        case 9: /* truncate */
                b->size = at;
                break;
        }
}

/* Builds input i: the previous input or a fresh seed, with 1-8 edits. */
static void next_input(Buf *b, size_t max_size, const Corpus *c) {
        size_t n;

        if (b->size == 0 || rng_below(2) == 0) {
                const Buf *s = &c->seeds[rng_below(c->n_seeds)];
                b->size = s->size < max_size ? s->size : max_size;
                memcpy(b->data, s->data, b->size);
        }
        n = 1 + rng_below(8);
        for (size_t i = 0; i < n; i++)
                mutate(b, max_size, c);
}

/* Runs the target on an exactly sized heap copy, so that a read past the end is caught. */
static void run_one(const uint8_t *data, size_t size) {
        uint8_t *copy = malloc(size > 0 ? size : 1);

        if (!copy)
                abort();
        memcpy(copy, data, size);
        (void) LLVMFuzzerTestOneInput(copy, size);
        free(copy);
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;

        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno == 0 && end != s && *end == 0 && s[0] != '-' ? 0 : -EINVAL;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "iterations", required_argument, NULL, 'i' },
                { "seed", required_argument, NULL, 's' },
                { "max-size", required_argument, NULL, 'm' },
                { "dump", required_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        uint64_t iterations = 30000, seed = 1, max_size = 64 * 1024, dump = UINT64_MAX;
        Corpus corpus = {};
        struct timespec t0, t1;
        Buf input = {};
        int c;

        program = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                uint64_t *target = c == 'i' ? &iterations : c == 's' ? &seed : c == 'm' ? &max_size : &dump;

                if (c == 'h') {
                        printf("%s [--iterations=N] [--seed=N] [--max-size=BYTES] [--dump=I] "
                               "SEED-FILE-OR-DIR...\n",
                               program);
                        return 0;
                }
                if (c == '?' || parse_u64(optarg, target) < 0) {
                        fprintf(stderr, "%s: bad arguments, see --help\n", program);
                        return 2;
                }
        }
        if (optind >= argc || max_size == 0 || max_size > SEED_MAX) {
                fprintf(stderr, "%s: need seed files or directories, and 0 < --max-size <= %d\n", program,
                        SEED_MAX);
                return 2;
        }
        for (int i = optind; i < argc; i++)
                if (corpus_load(&corpus, argv[i]) < 0)
                        return 1;
        if (corpus.n_seeds == 0) {
                fprintf(stderr, "%s: no seeds found\n", program);
                return 1;
        }

        if (__sanitizer_set_death_callback)
                __sanitizer_set_death_callback(death_callback);
        clock_gettime(CLOCK_MONOTONIC, &t0);

        for (size_t i = 0; dump == UINT64_MAX && i < corpus.n_seeds; i++) {
                current_input = corpus.seeds[i].path;
                run_one(corpus.seeds[i].data, corpus.seeds[i].size);
        }
        current_input = NULL;

        input.data = malloc(max_size);
        if (!input.data)
                return 1;
        rng_state = seed;
        for (current_iteration = 0; current_iteration < iterations || dump != UINT64_MAX;
             current_iteration++) {
                next_input(&input, max_size, &corpus);
                if (current_iteration == dump) {
                        fwrite(input.data, 1, input.size, stdout);
                        break;
                }
                if (dump == UINT64_MAX)
                        run_one(input.data, input.size);
        }

        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (dump == UINT64_MAX)
                fprintf(stderr,
                        "%s: %zu seeds and %" PRIu64 " mutated inputs (seed %" PRIu64 ") in %.2fs, no crash"
                        "\n",
                        program, corpus.n_seeds, iterations, seed,
                        (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);

        free(input.data);
        for (size_t i = 0; i < corpus.n_seeds; i++) {
                free(corpus.seeds[i].data);
                free(corpus.seeds[i].path);
        }
        free(corpus.seeds);
        return 0;
}

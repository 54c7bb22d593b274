/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Ownership by scope: a variable declared _cleanup_(f) has f(&var) run when it goes out of scope;
 * TAKE_PTR()/TAKE_FD() hand ownership on and leave the variable empty, so cleanup is a no-op. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_GENERIC(var, type, nullvalue)                  \
        ({                                                  \
                type *_pvar_ = &(var);                      \
                type _var_ = *_pvar_;                       \
                type _nullvalue_ = nullvalue;               \
                *_pvar_ = _nullvalue_;                      \
                _var_;                                      \
        })
#define TAKE_PTR(ptr) TAKE_GENERIC(ptr, typeof(ptr), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -EBADF)

/* Defines a function suitable for _cleanup_() that calls func(*p) if *p is not empty. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                     \
        static inline void func##p(type *p) {                       \
                if (*p)                                             \
                        func(*p);                                   \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd); /* on Linux the fd is gone even on EINTR: never retry */
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
        *f = NULL;
}

/* Destructors follow "accept NULL, return NULL", so that x = x_free(x) empties x. */
#define DEFINE_FREEP(type, func)                            \
        static inline void func##p(type **p) {              \
                *p = func(*p);                              \
        }

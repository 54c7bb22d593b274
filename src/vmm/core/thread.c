/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/thread.h"
#include "string-table.h"

static const char *const thread_role_table[_THREAD_ROLE_MAX] = {
        [THREAD_ROLE_MAIN] = "main",
        [THREAD_ROLE_VCPU] = "vcpu",
        [THREAD_ROLE_DEVICE_IO] = "device-io",
};
DEFINE_STRING_TABLE_TO_STRING(thread_role, ThreadRole);

static ThreadSandboxFn sandbox;

void thread_set_sandbox(ThreadSandboxFn fn) {
        sandbox = fn;
}

int thread_enter_main(void) {
        return sandbox ? sandbox(THREAD_ROLE_MAIN, -EBADF) : 0;
}

typedef struct Start {
        ThreadRole role;
        int own_fd;
        char name[16];
        void *(*fn)(void *);
        void *arg;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool done;
        int result;
} Start;

static void *trampoline(void *p) {
        Start *s = p;
        void *(*fn)(void *) = s->fn;
        void *arg = s->arg;
        sigset_t mask;
        int r = 0;

        (void) pthread_setname_np(pthread_self(), s->name);
        if (s->role == THREAD_ROLE_VCPU) {
                sigemptyset(&mask);
                sigaddset(&mask, THREAD_SIGNAL_KICK);
                r = -pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
        }
        if (r >= 0 && sandbox)
                r = sandbox(s->role, s->own_fd);
        pthread_mutex_lock(&s->lock);
        s->result = r;
        s->done = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock); /* s lives on the spawner's stack: not touched from here on */
        return r < 0 ? NULL : fn(arg);
}

int thread_spawn(ThreadRole role, const char *name, int own_fd, void *(*fn)(void *), void *arg, pthread_t *ret) {
        Start s = { .role = role, .own_fd = own_fd, .fn = fn, .arg = arg };
        sigset_t all, old;
        pthread_t t;
        int r;

        (void) snprintf(s.name, sizeof s.name, "%s", name);
        pthread_mutex_init(&s.lock, NULL);
        pthread_cond_init(&s.cond, NULL);
        /* The thread starts with every signal blocked; the trampoline unblocks what its role takes. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&t, NULL, trampoline, &s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r == 0) {
                pthread_mutex_lock(&s.lock);
                while (!s.done)
                        pthread_cond_wait(&s.cond, &s.lock);
                r = s.result;
                pthread_mutex_unlock(&s.lock);
                if (r < 0)
                        (void) pthread_join(t, NULL);
                else
                        *ret = t;
        }
        pthread_cond_destroy(&s.cond);
        pthread_mutex_destroy(&s.lock);
        return r;
}

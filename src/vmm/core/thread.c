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
static bool main_confined;

/* A spare thread: parked until job is set, then runs it and parks again. Main thread only assigns and
 * joins; the spare clears job when it is done. */
typedef struct Spare {
        pthread_t thread;
        ThreadRole role;
        void *(*job)(void *); /* under spare_lock; NULL while parked */
        void *arg;
} Spare;

static Spare spares[THREAD_SPARES_MAX];
static unsigned n_spares;
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spare_cond = PTHREAD_COND_INITIALIZER;

void thread_set_sandbox(ThreadSandboxFn fn) {
        sandbox = fn;
}

int thread_enter_main(void) {
        int r = sandbox ? sandbox(THREAD_ROLE_MAIN, -EBADF) : 0;
        if (r >= 0)
                main_confined = true;
        return r;
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

static void *spare_loop(void *p) {
        Spare *sp = p;

        for (;;) {
                void *(*job)(void *);
                void *arg;

                pthread_mutex_lock(&spare_lock);
                while (!sp->job)
                        pthread_cond_wait(&spare_cond, &spare_lock);
                job = sp->job;
                arg = sp->arg;
                pthread_mutex_unlock(&spare_lock);
                (void) job(arg);
                pthread_mutex_lock(&spare_lock);
                sp->job = NULL;
                sp->arg = NULL;
                pthread_cond_broadcast(&spare_cond);
                pthread_mutex_unlock(&spare_lock);
        }
        return NULL;
}

static int spawn_thread(ThreadRole role, const char *name, int own_fd, void *(*fn)(void *), void *arg,
                        pthread_t *ret);

int thread_make_spares(ThreadRole role, unsigned n) {
        char name[16];
        int r;

        if (main_confined || n > THREAD_SPARES_MAX - n_spares)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++) {
                Spare *sp = &spares[n_spares];
                *sp = (Spare) { .role = role };
                (void) snprintf(name, sizeof name, "spare%u", n_spares);
                r = spawn_thread(role, name, -EBADF, spare_loop, sp, &sp->thread);
                if (r < 0)
                        return r;
                n_spares++;
        }
        return 0;
}

unsigned thread_spares_free(ThreadRole role) {
        unsigned n = 0;

        pthread_mutex_lock(&spare_lock);
        for (unsigned i = 0; i < n_spares; i++)
                n += spares[i].role == role && !spares[i].job;
        pthread_mutex_unlock(&spare_lock);
        return n;
}

/* Hands fn(arg) to a parked spare of role. */
static int take_spare(ThreadRole role, const char *name, void *(*fn)(void *), void *arg, pthread_t *ret) {
        Spare *sp = NULL;

        pthread_mutex_lock(&spare_lock);
        for (unsigned i = 0; i < n_spares && !sp; i++)
                if (spares[i].role == role && !spares[i].job)
                        sp = &spares[i];
        if (sp) {
                sp->job = fn;
                sp->arg = arg;
                pthread_cond_broadcast(&spare_cond);
        }
        pthread_mutex_unlock(&spare_lock);
        if (!sp)
                return -EAGAIN;
        /* Through /proc (the main thread may open files); a name is only for ps and the journal. */
        (void) pthread_setname_np(sp->thread, name);
        *ret = sp->thread;
        return 0;
}

void thread_join(pthread_t t) {
        for (unsigned i = 0; i < n_spares; i++) {
                Spare *sp = &spares[i];
                if (!pthread_equal(sp->thread, t))
                        continue;
                pthread_mutex_lock(&spare_lock);
                while (sp->job)
                        pthread_cond_wait(&spare_cond, &spare_lock);
                pthread_mutex_unlock(&spare_lock);
                return;
        }
        (void) pthread_join(t, NULL);
}

int thread_spawn(ThreadRole role, const char *name, int own_fd, void *(*fn)(void *), void *arg, pthread_t *ret) {
        if (main_confined)
                return own_fd >= 0 ? -EPERM : take_spare(role, name, fn, arg, ret);
        return spawn_thread(role, name, own_fd, fn, arg, ret);
}

static int spawn_thread(ThreadRole role, const char *name, int own_fd, void *(*fn)(void *), void *arg,
                        pthread_t *ret) {
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "device/i8042.h"

enum {
        I8042_CMD_READ_CTR = 0x20,
        I8042_CMD_WRITE_CTR = 0x60,
        I8042_CMD_AUX_DISABLE = 0xa7,
        I8042_CMD_AUX_ENABLE = 0xa8,
        I8042_CMD_AUX_TEST = 0xa9,
        I8042_CMD_SELF_TEST = 0xaa,
        I8042_CMD_KBD_TEST = 0xab,
        I8042_CMD_KBD_DISABLE = 0xad,
        I8042_CMD_KBD_ENABLE = 0xae,
        I8042_CMD_READ_OUTPUT = 0xd0,
        I8042_CMD_WRITE_OUTPUT = 0xd1,
        I8042_CMD_PULSE_FIRST = 0xf0, /* 0xf0-0xff: pulse output port bits 0-3 */
};

#define I8042_SELF_TEST_OK 0x55
#define I8042_INTERFACE_CLOCK_LOW 0x01
/* As firmware leaves it for an OS: system flag, scancode translation, both ports disabled (nothing is
 * attached) and their interrupts off. */
#define I8042_CTR_DEFAULT (I8042_CTR_SYS | I8042_CTR_XLATE | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS)
#define I8042_OUTPUT_DEFAULT (I8042_OUTPUT_RESET | I8042_OUTPUT_A20)

struct I8042 {
        pthread_mutex_t lock; /* vCPUs may hit the ports concurrently */
        I8042ResetFn reset;
        void *opaque;

        uint8_t ctr, output_port, out, pending;
        bool obf, cmd_last;
};

static pthread_mutex_t *i8042_lock(const I8042 *k) {
        return (pthread_mutex_t *) &k->lock;
}

static void i8042_reply(I8042 *k, uint8_t v) {
        k->out = v;
        k->obf = true;
}

/* Returns true if the guest asked for a reset. */
static bool i8042_command(I8042 *k, uint8_t cmd) {
        k->cmd_last = true;
        k->pending = 0; /* a command cancels a parameter that never came */

        if (cmd >= I8042_CMD_PULSE_FIRST)
                return !(cmd & I8042_OUTPUT_RESET);

        switch (cmd) {
        case I8042_CMD_READ_CTR:
                i8042_reply(k, k->ctr);
                break;
        case I8042_CMD_WRITE_CTR:
        case I8042_CMD_WRITE_OUTPUT:
                k->pending = cmd;
                break;
        case I8042_CMD_AUX_DISABLE:
                k->ctr |= I8042_CTR_AUXDIS;
                break;
        case I8042_CMD_AUX_ENABLE:
                k->ctr &= ~I8042_CTR_AUXDIS;
                break;
        case I8042_CMD_KBD_DISABLE:
                k->ctr |= I8042_CTR_KBDDIS;
                break;
        case I8042_CMD_KBD_ENABLE:
                k->ctr &= ~I8042_CTR_KBDDIS;
                break;
        case I8042_CMD_SELF_TEST:
                i8042_reply(k, I8042_SELF_TEST_OK);
                break;
        case I8042_CMD_AUX_TEST:
        case I8042_CMD_KBD_TEST:
                i8042_reply(k, I8042_INTERFACE_CLOCK_LOW);
                break;
        case I8042_CMD_READ_OUTPUT:
                i8042_reply(k, k->output_port);
                break;
        default:
                /* Not modelled (see i8042.h): no reply, no effect. */
                break;
        }
        return false;
}

/* Returns true if the guest asked for a reset. */
static bool i8042_data(I8042 *k, uint8_t v) {
        uint8_t pending = k->pending;

        k->cmd_last = false;
        k->pending = 0;
        switch (pending) {
        case I8042_CMD_WRITE_CTR:
                k->ctr = v;
                return false;
        case I8042_CMD_WRITE_OUTPUT:
                if (!(v & I8042_OUTPUT_RESET))
                        return true;
                k->output_port = v;
                return false;
        default:
                /* A byte for the keyboard, which is not there. */
                return false;
        }
}

static uint8_t i8042_status(const I8042 *k) {
        uint8_t st = I8042_STATUS_UNLOCK;

        if (k->obf)
                st |= I8042_STATUS_OBF;
        if (k->ctr & I8042_CTR_SYS)
                st |= I8042_STATUS_SYS;
        if (k->cmd_last)
                st |= I8042_STATUS_CMD;
        return st;
}

static void i8042_io(I8042 *k, bool cmd_port, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        bool reset = false;

        if (!is_write)
                for (uint32_t i = 0; i < len; i++)
                        data[i] = 0xff;
        if (offset != 0 || len == 0)
                return;

        pthread_mutex_lock(&k->lock);
        if (is_write)
                reset = cmd_port ? i8042_command(k, data[0]) : i8042_data(k, data[0]);
        else if (cmd_port)
                data[0] = i8042_status(k);
        else {
                data[0] = k->out; /* with nothing new, the last byte again, as the real part does */
                k->obf = false;
        }
        pthread_mutex_unlock(&k->lock);

        if (reset && k->reset)
                k->reset(k->opaque);
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        i8042_io(opaque, false, offset, data, len, is_write);
}

void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        i8042_io(opaque, true, offset, data, len, is_write);
}

int i8042_new(I8042ResetFn reset, void *opaque, I8042 **ret) {
        I8042 *k;
        int r;

        k = calloc(1, sizeof *k);
        if (!k)
                return -ENOMEM;
        r = pthread_mutex_init(&k->lock, NULL);
        if (r != 0) {
                free(k);
                return -r;
        }
        k->reset = reset;
        k->opaque = opaque;
        k->ctr = I8042_CTR_DEFAULT;
        k->output_port = I8042_OUTPUT_DEFAULT;
        *ret = k;
        return 0;
}

I8042 *i8042_free(I8042 *k) {
        if (!k)
                return NULL;
        pthread_mutex_destroy(&k->lock);
        free(k);
        return NULL;
}

void i8042_save(const I8042 *k, I8042State *ret) {
        I8042State st = { .version = I8042_STATE_VERSION };

        pthread_mutex_lock(i8042_lock(k));
        st.ctr = k->ctr;
        st.output_port = k->output_port;
        st.out = k->out;
        st.obf = k->obf;
        st.pending = k->pending;
        st.cmd_last = k->cmd_last;
        pthread_mutex_unlock(i8042_lock(k));
        *ret = st;
}

int i8042_restore(I8042 *k, const I8042State *st) {
        if (st->version != I8042_STATE_VERSION)
                return -EINVAL;
        if (st->obf > 1 || st->cmd_last > 1 || st->reserved[0] != 0 || st->reserved[1] != 0)
                return -EINVAL;
        if (st->pending != 0 && st->pending != I8042_CMD_WRITE_CTR && st->pending != I8042_CMD_WRITE_OUTPUT)
                return -EINVAL;
        if (!(st->output_port & I8042_OUTPUT_RESET))
                return -EINVAL;

        pthread_mutex_lock(&k->lock);
        k->ctr = st->ctr;
        k->output_port = st->output_port;
        k->out = st->out;
        k->obf = st->obf;
        k->pending = st->pending;
        k->cmd_last = st->cmd_last;
        pthread_mutex_unlock(&k->lock);
        return 0;
}

/* The device model's view (core/device.h): vCPU exits are all that drive it, so pause has nothing to
 * stop. */
static int i8042_device_save(Device *d, StateWriter *w) {
        I8042State st;

        i8042_save(d->impl, &st);
        return state_write(w, I8042_STATE_TAG, &st, sizeof st);
}

static int i8042_device_restore(Device *d, StateReader *r) {
        I8042State st;
        int k = state_read(r, I8042_STATE_TAG, &st, sizeof st);
        return k < 0 ? k : i8042_restore(d->impl, &st);
}

static int i8042_device_describe(Device *d, sd_json_variant **ret) {
        return sd_json_build(ret, SD_JSON_BUILD_EMPTY_OBJECT);
}

static void i8042_device_remove(Device *d) {
        /* Its ports are all the guest reaches, and the tree has unregistered them. */
}

static void i8042_device_free(void *impl) {
        i8042_free(impl);
}

const DeviceOps i8042_device_ops = {
        .type = "i8042",
        .pause = device_pause_nothing,
        .resume = device_resume_nothing,
        .save = i8042_device_save,
        .restore = i8042_device_restore,
        .describe = i8042_device_describe,
        .remove = i8042_device_remove,
        .free = i8042_device_free,
};

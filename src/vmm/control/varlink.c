/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The io.sdvm.VM server: method handlers that check the VM's state, call the backend and reply. */

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "parse-util.h"
#include "control/varlink.h"

#define VARLINK_PATH_MAX 256U

struct VarlinkServer {
        sd_varlink_server *server;
        const VarlinkBackend *backend;
        void *userdata;
        char *name;
        char *kernel;
        uint32_t vcpus;
        uint64_t memory;
        uint64_t start_usec;
        bool listening;
        VarlinkGrants grants;

        sd_varlink *subscribers[VARLINK_SUBSCRIBERS_MAX]; /* a reference each */
        unsigned n_subscribers;
        VmState last_state; /* what subscribers were told last */
};

static const char *state_string(VmState s) {
        return vm_state_to_string(s) ?: "unknown";
}

static VmState get_state(VarlinkServer *s) {
        return s->backend->get_state(s->userdata);
}

static int reply_not_running(sd_varlink *link) {
        return sd_varlink_error(link, "io.sdvm.VM.NotRunning", NULL);
}

static int reply_invalid_state(sd_varlink *link, VmState state) {
        return sd_varlink_errorbo(link, "io.sdvm.VM.InvalidState",
                                  SD_JSON_BUILD_PAIR_STRING("state", state_string(state)));
}

/* Methods without input: anything in the parameters is an InvalidParameter error (sent). */
static int dispatch_none(sd_varlink *link, sd_json_variant *parameters) {
        static const sd_json_dispatch_field table[] = { {} };
        return sd_varlink_dispatch(link, parameters, table, NULL);
}

static int vl_method_describe(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                              void *userdata) {
        VarlinkServer *s = userdata;
        sd_json_variant *devices = NULL;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        if (s->backend->describe_devices) {
                r = s->backend->describe_devices(s->userdata, &devices);
                if (r < 0)
                        return sd_varlink_error_errno(link, r);
        }
        r = sd_varlink_replybo(link,
                               SD_JSON_BUILD_PAIR_STRING("name", s->name),
                               SD_JSON_BUILD_PAIR_STRING("state", state_string(get_state(s))),
                               SD_JSON_BUILD_PAIR_UNSIGNED("vcpus", s->vcpus),
                               SD_JSON_BUILD_PAIR_UNSIGNED("memory", s->memory),
                               SD_JSON_BUILD_PAIR_UNSIGNED("uptimeUSec", now_usec() - s->start_usec),
                               SD_JSON_BUILD_PAIR_STRING("kernel", s->kernel),
                               SD_JSON_BUILD_PAIR_CONDITION(!!devices, "devices", SD_JSON_BUILD_VARIANT(devices)),
                               SD_JSON_BUILD_PAIR_CONDITION(!devices, "devices", SD_JSON_BUILD_EMPTY_ARRAY));
        sd_json_variant_unref(devices);
        return r;
}

int varlink_tree_lookup(sd_json_variant *tree, const char *path, sd_json_variant **ret) {
        sd_json_variant *v = tree;
        const char *p = path ?: "";

        if (strlen(p) > VARLINK_PATH_MAX)
                return -ENOENT;
        p += strspn(p, "/");
        while (*p) {
                char seg[VARLINK_PATH_MAX + 1];
                size_t n = strcspn(p, "/");

                memcpy(seg, p, n);
                seg[n] = 0;
                if (sd_json_variant_is_object(v))
                        v = sd_json_variant_by_key(v, seg);
                else if (sd_json_variant_is_array(v)) {
                        char *end;
                        unsigned long i;

                        if (seg[0] < '0' || seg[0] > '9')
                                return -ENOENT;
                        errno = 0;
                        i = strtoul(seg, &end, 10);
                        if (errno != 0 || *end || i >= sd_json_variant_elements(v))
                                return -ENOENT;
                        v = sd_json_variant_by_index(v, i);
                } else
                        return -ENOENT;
                if (!v)
                        return -ENOENT;
                p += n;
                if (*p == '/') {
                        p++;
                        if (*p == '/') /* "a//b": an empty name */
                                return -ENOENT;
                }
        }
        *ret = sd_json_variant_ref(v);
        return 0;
}

static int vl_method_inspect(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                             void *userdata) {
        static const sd_json_dispatch_field table[] = {
                { "path", _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_const_string, 0, 0 },
                {},
        };
        VarlinkServer *s = userdata;
        sd_json_variant *tree = NULL, *sub = NULL;
        const char *path = NULL;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &path);
        if (r != 0)
                return r;
        r = s->backend->inspect(s->userdata, &tree);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        r = varlink_tree_lookup(tree, path, &sub);
        sd_json_variant_unref(tree);
        if (r < 0)
                return sd_varlink_errorbo(link, "io.sdvm.VM.NoSuchPath", SD_JSON_BUILD_PAIR_STRING("path", path));
        /* A leaf is wrapped, so that "tree" is always an object. */
        if (sd_json_variant_is_object(sub))
                r = sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_VARIANT("tree", sub));
        else
                r = sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_OBJECT("tree", SD_JSON_BUILD_PAIR_VARIANT("value", sub)));
        sd_json_variant_unref(sub);
        return r;
}

/* Writes what a connection has queued, as far as its socket takes it now; never waits. */
static void flush_nonblocking(sd_varlink *link) {
        for (int i = 0; i < 64; i++) {
                struct pollfd pfd = { .fd = sd_varlink_get_fd(link), .events = POLLOUT };
                int e = sd_varlink_get_events(link);

                if (e < 0 || !(e & EPOLLOUT) || pfd.fd < 0)
                        return;
                if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLOUT))
                        return;
                if (sd_varlink_process(link) <= 0)
                        return;
        }
}

/* Which states allow an operation: created and stopped are NotRunning everywhere. */
typedef enum VarlinkOp {
        OP_PAUSE,
        OP_RESUME,
        OP_POWER_OFF,
        OP_REBOOT,
        OP_TERMINATE,
} VarlinkOp;

/* io.systemd.MachineInstance has two errors for the same cases: NotConnected where io.sdvm.VM says
 * NotRunning (no guest to talk to), NotSupported where it says InvalidState. */
static int reply_refused(sd_varlink *link, bool machine_instance, bool not_running, VmState state) {
        if (machine_instance)
                return sd_varlink_error(link,
                                        not_running ? "io.systemd.MachineInstance.NotConnected"
                                                    : "io.systemd.MachineInstance.NotSupported",
                                        NULL);
        return not_running ? reply_not_running(link) : reply_invalid_state(link, state);
}

static int call_op_full(sd_varlink *link, sd_json_variant *parameters, VarlinkServer *s, VarlinkOp op,
                        bool machine_instance) {
        const VarlinkBackend *b = s->backend;
        VmState state;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        state = get_state(s);
        if (state == VM_STATE_STOPPED || (state == VM_STATE_CREATED && op != OP_TERMINATE))
                return reply_refused(link, machine_instance, true, state);
        if (state == VM_STATE_SHUTTING_DOWN && (op == OP_PAUSE || op == OP_RESUME))
                return reply_refused(link, machine_instance, false, state);

        switch (op) {
        case OP_PAUSE:
                r = b->pause(s->userdata);
                break;
        case OP_RESUME:
                r = b->resume(s->userdata);
                break;
        case OP_POWER_OFF:
                r = b->power_off(s->userdata);
                break;
        case OP_REBOOT:
                r = b->reboot(s->userdata);
                break;
        case OP_TERMINATE:
                r = b->terminate(s->userdata);
                break;
        default:
                r = -EINVAL;
        }
        if (r == -ESHUTDOWN)
                return reply_refused(link, machine_instance, false, get_state(s));
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        r = sd_varlink_reply(link, NULL);
        /* Reboot and Terminate end the event loop soon: the caller should have its answer first. */
        if (r >= 0 && (op == OP_REBOOT || op == OP_TERMINATE))
                flush_nonblocking(link);
        return r;
}

static int call_op(sd_varlink *link, sd_json_variant *parameters, VarlinkServer *s, VarlinkOp op) {
        return call_op_full(link, parameters, s, op, false);
}

static int vl_method_pause(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                           void *userdata) {
        return call_op(link, parameters, userdata, OP_PAUSE);
}

static int vl_method_resume(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                            void *userdata) {
        return call_op(link, parameters, userdata, OP_RESUME);
}

static int vl_method_power_off(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                               void *userdata) {
        return call_op(link, parameters, userdata, OP_POWER_OFF);
}

static int vl_method_reboot(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                            void *userdata) {
        return call_op(link, parameters, userdata, OP_REBOOT);
}

static int vl_method_terminate(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                               void *userdata) {
        return call_op(link, parameters, userdata, OP_TERMINATE);
}

static int vl_method_save(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                          void *userdata) {
        struct {
                sd_json_variant *fd_index;
                bool stop;
        } p = {};
        static const sd_json_dispatch_field table[] = {
                { "fileDescriptor", _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_variant_noref,
                  offsetof(typeof(p), fd_index), SD_JSON_NULLABLE },
                { "stop", SD_JSON_VARIANT_BOOLEAN, sd_json_dispatch_stdbool, offsetof(typeof(p), stop),
                  SD_JSON_NULLABLE },
                {},
        };
        VarlinkServer *s = userdata;
        VarlinkSaveResult res = {};
        _cleanup_close_ int fd = -EBADF;
        VmState state;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &p);
        if (r != 0)
                return r;
        state = get_state(s);
        if (state == VM_STATE_STOPPED || state == VM_STATE_CREATED)
                return reply_not_running(link);
        if (state == VM_STATE_SHUTTING_DOWN)
                return reply_invalid_state(link, state);
        if (p.fd_index && !sd_json_variant_is_null(p.fd_index)) {
                /* An index into what the client pushed; nothing else is a valid file descriptor. */
                if (!sd_json_variant_is_unsigned(p.fd_index) || sd_json_variant_unsigned(p.fd_index) > 255)
                        return sd_varlink_error_invalid_parameter_name(link, "fileDescriptor");
                fd = sd_varlink_take_fd(link, (size_t) sd_json_variant_unsigned(p.fd_index));
                if (fd < 0)
                        return sd_varlink_error_invalid_parameter_name(link, "fileDescriptor");
        }
        r = s->backend->save(s->userdata, TAKE_FD(fd), p.stop, &res);
        if (r == -ESHUTDOWN)
                return reply_invalid_state(link, get_state(s));
        if (r < 0)
                return sd_varlink_errorbo(link, "io.sdvm.VM.SaveFailed",
                                          SD_JSON_BUILD_PAIR_STRING("reason", res.reason[0] ? res.reason : strerror(-r)));
        r = sd_varlink_replybo(link,
                               SD_JSON_BUILD_PAIR_CONDITION(!!res.path[0], "path", SD_JSON_BUILD_STRING(res.path)),
                               SD_JSON_BUILD_PAIR_UNSIGNED("bytes", res.bytes),
                               SD_JSON_BUILD_PAIR_UNSIGNED("pausedUSec", res.paused_usec));
        if (r >= 0 && p.stop)
                flush_nonblocking(link);
        return r;
}

/* A device call's fd: an index into what the client pushed; nothing else is a valid file descriptor. */
static int take_fd_param(sd_varlink *link, int64_t index, int *ret) {
        int fd;

        if (index < 0 || index > 255)
                return sd_varlink_error_invalid_parameter_name(link, "fileDescriptor");
        fd = sd_varlink_take_fd(link, (size_t) index);
        if (fd < 0)
                return sd_varlink_error_invalid_parameter_name(link, "fileDescriptor");
        *ret = fd;
        return 0;
}

/* Device calls need a backend that has them and a VM that runs or is paused; not one that is going. */
static int check_device_state(sd_varlink *link, VarlinkServer *s) {
        VmState state = get_state(s);

        if (!s->backend->add_disk || !s->backend->add_network || !s->backend->remove_device)
                return sd_varlink_error(link, SD_VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, NULL);

        if (state == VM_STATE_STOPPED || state == VM_STATE_CREATED)
                return reply_not_running(link);
        if (state == VM_STATE_SHUTTING_DOWN)
                return reply_invalid_state(link, state);
        return 0;
}

static int reply_add_error(sd_varlink *link, int r, const VarlinkDeviceResult *res) {
        const char *error = r == -EEXIST                ? "io.sdvm.VM.DeviceExists"
                            : r == -ENOSPC || r == -EAGAIN ? "io.sdvm.VM.NoRoom"
                                                          : "io.sdvm.VM.BadDevice";
        return sd_varlink_errorbo(link, error,
                                  SD_JSON_BUILD_PAIR_STRING("reason", res->reason[0] ? res->reason : strerror(-r)));
}

static int vl_method_add_disk(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                              void *userdata) {
        struct {
                int64_t fd_index;
                bool read_only;
                const char *serial;
        } p = { .fd_index = -1 };
        static const sd_json_dispatch_field table[] = {
                { "fileDescriptor", _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_int64, offsetof(typeof(p), fd_index),
                  SD_JSON_MANDATORY },
                { "readOnly", SD_JSON_VARIANT_BOOLEAN, sd_json_dispatch_stdbool, offsetof(typeof(p), read_only),
                  SD_JSON_NULLABLE },
                { "serial", SD_JSON_VARIANT_STRING, sd_json_dispatch_const_string, offsetof(typeof(p), serial),
                  SD_JSON_NULLABLE },
                {},
        };
        VarlinkServer *s = userdata;
        VarlinkDeviceResult res = {};
        int r, fd = -EBADF;

        r = sd_varlink_dispatch(link, parameters, table, &p);
        if (r != 0)
                return r;
        r = check_device_state(link, s);
        if (r != 0)
                return r;
        r = take_fd_param(link, p.fd_index, &fd);
        if (r != 0)
                return r;
        r = s->backend->add_disk(s->userdata, fd, p.read_only, p.serial, &res);
        if (r < 0)
                return reply_add_error(link, r, &res);
        return sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_STRING("name", res.name),
                                  SD_JSON_BUILD_PAIR_STRING("pciAddress", res.pci_address));
}

static int vl_method_add_network(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                                 void *userdata) {
        struct {
                int64_t fd_index;
                const char *mac;
        } p = { .fd_index = -1 };
        static const sd_json_dispatch_field table[] = {
                { "fileDescriptor", _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_int64, offsetof(typeof(p), fd_index),
                  SD_JSON_MANDATORY },
                { "macAddress", SD_JSON_VARIANT_STRING, sd_json_dispatch_const_string, offsetof(typeof(p), mac),
                  SD_JSON_NULLABLE },
                {},
        };
        VarlinkServer *s = userdata;
        VarlinkDeviceResult res = {};
        uint8_t mac[6];
        char text[18];
        int r, fd = -EBADF;

        r = sd_varlink_dispatch(link, parameters, table, &p);
        if (r != 0)
                return r;
        if (p.mac && parse_ether_addr(p.mac, mac) < 0)
                return sd_varlink_error_invalid_parameter_name(link, "macAddress");
        r = check_device_state(link, s);
        if (r != 0)
                return r;
        r = take_fd_param(link, p.fd_index, &fd);
        if (r != 0)
                return r;
        r = s->backend->add_network(s->userdata, fd, p.mac ? mac : NULL, &res);
        if (r < 0)
                return reply_add_error(link, r, &res);
        (void) snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", res.mac[0], res.mac[1], res.mac[2],
                        res.mac[3], res.mac[4], res.mac[5]);
        return sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_STRING("name", res.name),
                                  SD_JSON_BUILD_PAIR_STRING("pciAddress", res.pci_address),
                                  SD_JSON_BUILD_PAIR_STRING("macAddress", text));
}

static int reply_remove_error(sd_varlink *link, int r, const char *name, const char *reason) {
        if (r == -ENOENT)
                return sd_varlink_errorbo(link, "io.sdvm.VM.NoSuchDevice", SD_JSON_BUILD_PAIR_STRING("name", name));
        return sd_varlink_errorbo(link,
                                  r == -EBUSY        ? "io.sdvm.VM.DeviceBusy"
                                  : r == -EPERM      ? "io.sdvm.VM.DeviceProtected"
                                  : r == -ETIMEDOUT  ? "io.sdvm.VM.NotReleased"
                                  : r == -ESHUTDOWN || r == -ECANCELED ? "io.sdvm.VM.NotReleased"
                                                                       : "io.sdvm.VM.BadDevice",
                                  SD_JSON_BUILD_PAIR_STRING("reason", reason && *reason ? reason : strerror(-r)));
}

/* The guest let go (or did not in time): the call that waited gets its answer. cookie holds a reference
 * on the link and the name. */
typedef struct RemoveCall {
        sd_varlink *link;
        char name[32];
} RemoveCall;

static void on_removed(void *cookie, int r, const char *reason) {
        RemoveCall *c = cookie;

        if (r < 0)
                (void) reply_remove_error(c->link, r, c->name, reason);
        else
                (void) sd_varlink_reply(c->link, NULL);
        sd_varlink_unref(c->link);
        free(c);
}

static int remove_device(sd_varlink *link, sd_json_variant *parameters, VarlinkServer *s, VarlinkDeviceKind kind) {
        struct {
                const char *name;
                bool force;
        } p = {};
        static const sd_json_dispatch_field table[] = {
                { "name", SD_JSON_VARIANT_STRING, sd_json_dispatch_const_string, offsetof(typeof(p), name),
                  SD_JSON_MANDATORY },
                { "force", SD_JSON_VARIANT_BOOLEAN, sd_json_dispatch_stdbool, offsetof(typeof(p), force),
                  SD_JSON_NULLABLE },
                {},
        };
        char reason[256];
        RemoveCall *c;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &p);
        if (r != 0)
                return r;
        r = check_device_state(link, s);
        if (r != 0)
                return r;
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->link = sd_varlink_ref(link);
        (void) snprintf(c->name, sizeof c->name, "%s", p.name);
        r = s->backend->remove_device(s->userdata, kind, p.name, p.force, on_removed, c, reason);
        if (r == 1)
                return 0; /* on_removed() answers */
        sd_varlink_unref(c->link);
        free(c);
        if (r < 0)
                return reply_remove_error(link, r, p.name, reason);
        return sd_varlink_reply(link, NULL);
}

static int vl_method_remove_disk(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                                 void *userdata) {
        return remove_device(link, parameters, userdata, VARLINK_DEVICE_DISK);
}

static int vl_method_remove_network(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                                    void *userdata) {
        return remove_device(link, parameters, userdata, VARLINK_DEVICE_NETWORK);
}

/* io.systemd.MachineInstance: the same operations, with that interface's errors. */
static int vl_method_mi_pause(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                              void *userdata) {
        return call_op_full(link, parameters, userdata, OP_PAUSE, true);
}

static int vl_method_mi_resume(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                               void *userdata) {
        return call_op_full(link, parameters, userdata, OP_RESUME, true);
}

static int vl_method_mi_power_off(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                                  void *userdata) {
        return call_op_full(link, parameters, userdata, OP_POWER_OFF, true);
}

static int vl_method_mi_reboot(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                               void *userdata) {
        return call_op_full(link, parameters, userdata, OP_REBOOT, true);
}

static int vl_method_mi_terminate(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                                  void *userdata) {
        return call_op_full(link, parameters, userdata, OP_TERMINATE, true);
}

static int vl_method_mi_describe(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                                 void *userdata) {
        VarlinkServer *s = userdata;
        VmState state;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        state = get_state(s);
        return sd_varlink_replybo(link,
                                  SD_JSON_BUILD_PAIR_BOOLEAN("running", state == VM_STATE_RUNNING),
                                  SD_JSON_BUILD_PAIR_STRING("status", state_string(state)));
}

static int notify_state(sd_varlink *link, VmState state, VmStopReason reason) {
        const char *why = reason != VM_STOP_NONE ? vm_stop_reason_to_string(reason) : NULL;

        /* "stopped" is the last event: a reply without "continues" ends the stream. */
        if (state == VM_STATE_STOPPED)
                return sd_varlink_replybo(link,
                                          SD_JSON_BUILD_PAIR_STRING("event", "state"),
                                          SD_JSON_BUILD_PAIR_STRING("state", state_string(state)),
                                          SD_JSON_BUILD_PAIR_CONDITION(!!why, "reason", SD_JSON_BUILD_STRING(why)));
        return sd_varlink_notifybo(link,
                                   SD_JSON_BUILD_PAIR_STRING("event", "state"),
                                   SD_JSON_BUILD_PAIR_STRING("state", state_string(state)),
                                   SD_JSON_BUILD_PAIR_CONDITION(!!why, "reason", SD_JSON_BUILD_STRING(why)));
}

static void subscriber_drop(VarlinkServer *s, unsigned i) {
        sd_varlink_unref(s->subscribers[i]);
        s->subscribers[i] = s->subscribers[--s->n_subscribers];
        s->subscribers[s->n_subscribers] = NULL;
}

static int vl_method_subscribe_events(sd_varlink *link, sd_json_variant *parameters,
                                      sd_varlink_method_flags_t flags, void *userdata) {
        VarlinkServer *s = userdata;
        VmState state;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        if (!(flags & SD_VARLINK_METHOD_MORE))
                return sd_varlink_error(link, SD_VARLINK_ERROR_EXPECTED_MORE, NULL);
        if (s->n_subscribers >= VARLINK_SUBSCRIBERS_MAX)
                return sd_varlink_error_errno(link, -EBUSY);

        state = get_state(s);
        r = notify_state(link, state, VM_STOP_NONE);
        if (r < 0 || state == VM_STATE_STOPPED)
                return r;
        s->subscribers[s->n_subscribers++] = sd_varlink_ref(link);
        return 0;
}

static bool in_group(gid_t primary_gid, const gid_t *groups, size_t n_groups, gid_t gid) {
        if (primary_gid == gid)
                return true;
        for (size_t i = 0; i < n_groups; i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

VarlinkAccess varlink_peer_access(uid_t uid, gid_t primary_gid, const gid_t *groups, size_t n_groups,
                                  const VarlinkGrants *g) {
        if (uid == 0)
                return VARLINK_ACCESS_CONTROL;
        if (g->control && in_group(primary_gid, groups, n_groups, g->control_gid))
                return VARLINK_ACCESS_CONTROL;
        if (g->monitor && in_group(primary_gid, groups, n_groups, g->monitor_gid))
                return VARLINK_ACCESS_MONITOR;
        return VARLINK_ACCESS_NONE;
}

static bool any_grant(const VarlinkServer *s) {
        return s->grants.control || s->grants.monitor;
}

/* By the credentials the kernel recorded at connect(), and the peer's groups now. *ret_uid for logs. */
static VarlinkAccess peer_access(VarlinkServer *s, sd_varlink *link, uid_t *ret_uid) {
        gid_t groups[256];
        socklen_t len = sizeof groups;
        uid_t uid = (uid_t) -1;
        gid_t gid;
        int r;

        r = sd_varlink_get_peer_uid(link, &uid);
        if (r >= 0)
                r = sd_varlink_get_peer_gid(link, &gid);
        *ret_uid = uid;
        if (r < 0) {
                log_debug_errno(r, "Failed to get a control client's credentials: %m");
                return VARLINK_ACCESS_NONE;
        }
        if (getsockopt(sd_varlink_get_fd(link), SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
                len = 0; /* more than 256 groups (ERANGE), or an old kernel: the primary group only */
        return varlink_peer_access(uid, gid, groups, len / sizeof(gid_t), &s->grants);
}

/* With a group grant sd-varlink lets everyone in (no ROOT_ONLY): refuse whoever is neither root nor in
 * a granted group. */
static int on_connect(sd_varlink_server *server, sd_varlink *link, void *userdata) {
        VarlinkServer *s = userdata;
        uid_t uid;
        int r;

        /* Save takes a file the client opened (sd-varlink 257 has no server-wide flag for this). */
        r = sd_varlink_set_allow_fd_passing_input(link, true);
        if (r < 0)
                return log_debug_errno(r, "Failed to allow file descriptors on a control connection: %m");
        if (!any_grant(s) || peer_access(s, link, &uid) != VARLINK_ACCESS_NONE)
                return 0;
        log_warning("Refused a control connection from UID %u: neither root nor in a granted group"
                    " (ControlGroup=, MonitorGroup=).",
                    (unsigned) uid);
        return -EPERM;
}

/* The calls that change the VM, for ControlGroup= members and root only: a MonitorGroup= member gets
 * PermissionDenied, and its connection stays for what it may call. */
#define CONTROL_ONLY(method, call)                                                                              \
        static int method##_checked(sd_varlink *link, sd_json_variant *parameters,                          \
                                    sd_varlink_method_flags_t flags, void *userdata) {                      \
                VarlinkServer *s = userdata;                                                                \
                uid_t uid;                                                                                  \
                if (any_grant(s) && peer_access(s, link, &uid) != VARLINK_ACCESS_CONTROL) {                 \
                        log_notice("Refused %s to UID %u: MonitorGroup= grants the read-only calls only.", \
                                   call, (unsigned) uid);                                                   \
                        return sd_varlink_error(link, SD_VARLINK_ERROR_PERMISSION_DENIED, NULL);            \
                }                                                                                           \
                return method(link, parameters, flags, userdata);                                           \
        }
CONTROL_ONLY(vl_method_pause, "io.sdvm.VM.Pause")
CONTROL_ONLY(vl_method_resume, "io.sdvm.VM.Resume")
CONTROL_ONLY(vl_method_power_off, "io.sdvm.VM.PowerOff")
CONTROL_ONLY(vl_method_reboot, "io.sdvm.VM.Reboot")
CONTROL_ONLY(vl_method_terminate, "io.sdvm.VM.Terminate")
CONTROL_ONLY(vl_method_save, "io.sdvm.VM.Save")
CONTROL_ONLY(vl_method_add_disk, "io.sdvm.VM.AddDisk")
CONTROL_ONLY(vl_method_remove_disk, "io.sdvm.VM.RemoveDisk")
CONTROL_ONLY(vl_method_add_network, "io.sdvm.VM.AddNetwork")
CONTROL_ONLY(vl_method_remove_network, "io.sdvm.VM.RemoveNetwork")
CONTROL_ONLY(vl_method_mi_pause, "io.systemd.MachineInstance.Pause")
CONTROL_ONLY(vl_method_mi_resume, "io.systemd.MachineInstance.Resume")
CONTROL_ONLY(vl_method_mi_power_off, "io.systemd.MachineInstance.PowerOff")
CONTROL_ONLY(vl_method_mi_reboot, "io.systemd.MachineInstance.Reboot")
CONTROL_ONLY(vl_method_mi_terminate, "io.systemd.MachineInstance.Terminate")

static void on_disconnect(sd_varlink_server *server, sd_varlink *link, void *userdata) {
        VarlinkServer *s = userdata;

        for (unsigned i = 0; i < s->n_subscribers; i++)
                if (s->subscribers[i] == link) {
                        subscriber_drop(s, i);
                        return;
                }
}

void varlink_emit_state(VarlinkServer *s, VmState state, VmStopReason reason) {
        if (!s || state == s->last_state)
                return;
        s->last_state = state;
        for (unsigned i = 0; i < s->n_subscribers;) {
                int r = notify_state(s->subscribers[i], state, reason);
                /* After "stopped" (the stream's end) a subscriber stays listed, so that
                 * varlink_server_free() still pushes its last reply out. */
                if (r < 0) {
                        log_debug_errno(r, "Failed to send an event to a subscriber, dropping it: %m");
                        subscriber_drop(s, i);
                } else
                        i++;
        }
}

void varlink_emit_panic(VarlinkServer *s) {
        if (!s)
                return;
        for (unsigned i = 0; i < s->n_subscribers;) {
                int r = sd_varlink_notifybo(s->subscribers[i], SD_JSON_BUILD_PAIR_STRING("event", "panic"));
                if (r < 0) {
                        log_debug_errno(r, "Failed to send an event to a subscriber, dropping it: %m");
                        subscriber_drop(s, i);
                } else
                        i++;
        }
}

void varlink_emit_device(VarlinkServer *s, const char *event, const char *name, const char *type) {
        if (!s)
                return;
        for (unsigned i = 0; i < s->n_subscribers;) {
                int r = sd_varlink_notifybo(s->subscribers[i], SD_JSON_BUILD_PAIR_STRING("event", event),
                                            SD_JSON_BUILD_PAIR_STRING("device", name),
                                            SD_JSON_BUILD_PAIR_STRING("type", type));
                if (r < 0) {
                        log_debug_errno(r, "Failed to send an event to a subscriber, dropping it: %m");
                        subscriber_drop(s, i);
                } else
                        i++;
        }
}

unsigned varlink_server_n_subscribers(VarlinkServer *s) {
        return s ? s->n_subscribers : 0;
}

bool varlink_server_is_listening(VarlinkServer *s) {
        return s && s->listening;
}

VarlinkServer *varlink_server_free(VarlinkServer *s) {
        sd_varlink_server *server;

        if (!s)
                return NULL;
        /* The stream of a subscriber told "stopped" is over; what it was told may still be queued. */
        while (s->n_subscribers > 0) {
                flush_nonblocking(s->subscribers[0]);
                subscriber_drop(s, 0);
        }
        server = TAKE_PTR(s->server);
        if (server) {
                (void) sd_varlink_server_shutdown(server);
                (void) sd_varlink_server_detach_event(server);
                sd_varlink_server_unref(server);
        }
        free(s->name);
        free(s->kernel);
        free(s);
        return NULL;
}

int varlink_server_new(const VarlinkParams *p, VarlinkServer **ret) {
        _cleanup_(varlink_server_freep) VarlinkServer *s = NULL;
        unsigned flags;
        int r;

        if (!p || !p->backend || !p->backend->get_state || !p->backend->pause || !p->backend->resume ||
            !p->backend->power_off || !p->backend->reboot || !p->backend->terminate || !p->backend->inspect ||
            !p->backend->save ||
            !p->event || !ret)
                return -EINVAL;

        s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        s->backend = p->backend;
        s->userdata = p->userdata;
        s->name = strdup(p->name ?: "");
        s->kernel = strdup(p->kernel ?: "");
        if (!s->name || !s->kernel)
                return log_oom();
        s->vcpus = p->vcpus;
        s->memory = p->memory;
        s->start_usec = p->start_usec;
        s->last_state = _VM_STATE_INVALID;

        s->grants = p->grants;

        /* ROOT_ONLY lets in UID 0 alone; without it sd-varlink lets in anyone who can connect, and
         * on_connect() narrows that to root and the granted groups. */
        flags = (p->access_flags ?: (any_grant(s) ? 0 : SD_VARLINK_SERVER_ROOT_ONLY)) |
                SD_VARLINK_SERVER_INHERIT_USERDATA | SD_VARLINK_SERVER_ACCOUNT_UID;
        r = sd_varlink_server_new(&s->server, flags);
        if (r < 0)
                return log_error_errno(r, "Failed to create the varlink server: %m");
        (void) sd_varlink_server_set_description(s->server, "io.sdvm.VM");
        sd_varlink_server_set_userdata(s->server, s);
        r = sd_varlink_server_set_connections_max(s->server, VARLINK_CONNECTIONS_MAX);
        if (r >= 0)
                r = sd_varlink_server_set_connections_per_uid_max(s->server, VARLINK_CONNECTIONS_PER_UID_MAX);
        if (r < 0)
                return log_error_errno(r, "Failed to limit the varlink connections: %m");
        r = sd_varlink_server_add_interface_many(s->server, &vl_interface_io_sdvm_VM,
                                                 &vl_interface_io_systemd_MachineInstance);
        if (r < 0)
                return log_error_errno(r, "Failed to add the varlink interfaces: %m");
        r = sd_varlink_server_bind_method_many(s->server,
                                               "io.sdvm.VM.Describe", vl_method_describe,
                                               "io.sdvm.VM.Inspect", vl_method_inspect,
                                               "io.sdvm.VM.Pause", vl_method_pause_checked,
                                               "io.sdvm.VM.Resume", vl_method_resume_checked,
                                               "io.sdvm.VM.PowerOff", vl_method_power_off_checked,
                                               "io.sdvm.VM.Reboot", vl_method_reboot_checked,
                                               "io.sdvm.VM.Terminate", vl_method_terminate_checked,
                                               "io.sdvm.VM.Save", vl_method_save_checked,
                                               "io.sdvm.VM.SubscribeEvents", vl_method_subscribe_events,
                                               "io.sdvm.VM.AddDisk", vl_method_add_disk_checked,
                                               "io.sdvm.VM.RemoveDisk", vl_method_remove_disk_checked,
                                               "io.sdvm.VM.AddNetwork", vl_method_add_network_checked,
                                               "io.sdvm.VM.RemoveNetwork", vl_method_remove_network_checked,
                                               "io.systemd.MachineInstance.Pause", vl_method_mi_pause_checked,
                                               "io.systemd.MachineInstance.Resume", vl_method_mi_resume_checked,
                                               "io.systemd.MachineInstance.PowerOff", vl_method_mi_power_off_checked,
                                               "io.systemd.MachineInstance.Reboot", vl_method_mi_reboot_checked,
                                               "io.systemd.MachineInstance.Terminate", vl_method_mi_terminate_checked,
                                               "io.systemd.MachineInstance.Describe", vl_method_mi_describe);
        if (r < 0)
                return log_error_errno(r, "Failed to bind the varlink methods: %m");
        r = sd_varlink_server_bind_connect(s->server, on_connect);
        if (r < 0)
                return log_error_errno(r, "Failed to watch varlink connections: %m");
        r = sd_varlink_server_bind_disconnect(s->server, on_disconnect);
        if (r < 0)
                return log_error_errno(r, "Failed to watch varlink disconnections: %m");

        if (p->address) {
                r = sd_varlink_server_listen_address(s->server, p->address, 0600);
                if (r < 0)
                        return log_error_errno(r, "Failed to listen on %s: %m", p->address);
                s->listening = true;
        } else {
                r = sd_varlink_server_listen_auto(s->server);
                if (r < 0)
                        return log_error_errno(r, "Failed to adopt the control socket passed as \"varlink\": %m");
                s->listening = r > 0;
        }
        r = sd_varlink_server_attach_event(s->server, p->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the varlink server to the event loop: %m");

        *ret = TAKE_PTR(s);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The io.sdvm.VM server with a made-up VM: the server runs its own sd-event loop in a thread, on a
 * socket in a temporary directory; the test talks to it with sd-varlink's client and with raw bytes. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "control/varlink.h"

/* The fake VM; only the server thread touches it. */
static VmState fake_state;
static int fake_pauses, fake_power_offs, fake_reboots, fake_terminates;
static VarlinkServer *server;

static VmState fake_get_state(void *userdata) {
        return fake_state;
}

static int fake_pause(void *userdata) {
        fake_pauses++;
        fake_state = VM_STATE_PAUSED;
        varlink_emit_state(server, fake_state, VM_STOP_NONE);
        return 0;
}

static int fake_resume(void *userdata) {
        fake_state = VM_STATE_RUNNING;
        varlink_emit_state(server, fake_state, VM_STOP_NONE);
        return 0;
}

static int fake_power_off(void *userdata) {
        fake_power_offs++;
        fake_state = VM_STATE_SHUTTING_DOWN;
        varlink_emit_state(server, fake_state, VM_STOP_NONE);
        return 0;
}

static int fake_reboot(void *userdata) {
        fake_reboots++;
        return 0;
}

static int fake_terminate(void *userdata) {
        fake_terminates++;
        fake_state = VM_STATE_STOPPED;
        varlink_emit_state(server, fake_state, VM_STOP_TERMINATE);
        return 0;
}

static int fake_saves;

/* Writes a marker into the passed file, or "saves" to a made-up path; stop stops the VM. */
static int fake_save(void *userdata, int fd, bool stop, VarlinkSaveResult *ret) {
        static const char marker[] = "fake state";

        fake_saves++;
        if (fd >= 0) {
                ssize_t n = write(fd, marker, sizeof marker - 1);
                close(fd);
                if (n != (ssize_t) sizeof marker - 1) {
                        (void) snprintf(ret->reason, sizeof ret->reason, "short write");
                        return -EIO;
                }
        } else
                (void) snprintf(ret->path, sizeof ret->path, "/var/lib/vms/web/suspend.vmstate");
        ret->bytes = sizeof marker - 1;
        ret->paused_usec = 5;
        if (stop) {
                fake_state = VM_STATE_STOPPED;
                varlink_emit_state(server, fake_state, VM_STOP_SAVED);
        }
        return 0;
}

static int fake_inspect(void *userdata, sd_json_variant **ret) {
        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_OBJECT(
                                        "vcpus",
                                        SD_JSON_BUILD_PAIR_OBJECT("0", SD_JSON_BUILD_PAIR_STRING("state", "running"),
                                                                  SD_JSON_BUILD_PAIR_OBJECT("exits",
                                                                                            SD_JSON_BUILD_PAIR_UNSIGNED("io", 7),
                                                                                            SD_JSON_BUILD_PAIR_UNSIGNED("hlt", 3)))),
                        SD_JSON_BUILD_PAIR_OBJECT("memory", SD_JSON_BUILD_PAIR_UNSIGNED("size", 1 << 20),
                                                  SD_JSON_BUILD_PAIR_ARRAY("regions",
                                                                           SD_JSON_BUILD_OBJECT(SD_JSON_BUILD_PAIR_UNSIGNED("gpa", 0)))),
                        SD_JSON_BUILD_PAIR_OBJECT("devices",
                                                  SD_JSON_BUILD_PAIR_OBJECT("console",
                                                                            SD_JSON_BUILD_PAIR_UNSIGNED("outputBytes", 42))));
}

static const VarlinkBackend fake_backend = {
        .get_state = fake_get_state,
        .pause = fake_pause,
        .resume = fake_resume,
        .power_off = fake_power_off,
        .reboot = fake_reboot,
        .terminate = fake_terminate,
        .save = fake_save,
        .inspect = fake_inspect,
};

static char tmpdir[] = "/tmp/test-varlink-XXXXXX";
static char sock_path[128];
static pthread_t thread;
static int stop_fd = -EBADF;
static sd_event *event;

static int on_stop(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        return sd_event_exit(event, 0);
}

static void *server_thread(void *arg) {
        (void) sd_event_loop(event);
        return NULL;
}

/* The server on sock_path, not yet running (see setup()). */
static int start_server(const VarlinkGrants *grants) {
        fake_state = VM_STATE_RUNNING;
        fake_pauses = fake_power_offs = fake_reboots = fake_terminates = fake_saves = 0;
        assert_int_equal(sd_event_new(&event), 0);
        stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        assert_true(stop_fd >= 0);
        assert_int_equal(sd_event_add_io(event, NULL, stop_fd, EPOLLIN, on_stop, NULL), 0);
        assert_int_equal(varlink_server_new(&(VarlinkParams) {
                                                    .event = event,
                                                    .name = "web",
                                                    .kernel = "/boot/vmlinuz",
                                                    .vcpus = 2,
                                                    .memory = 512ULL << 20,
                                                    .start_usec = now_usec(),
                                                    .backend = &fake_backend,
                                                    .address = sock_path,
                                                    .access_flags = grants->control || grants->monitor
                                                                            ? 0
                                                                            : SD_VARLINK_SERVER_MYSELF_ONLY,
                                                    .grants = *grants,
                                            },
                                            &server),
                         0);
        assert_true(varlink_server_is_listening(server));
        return 0;
}

static int setup(void **state) {
        assert_non_null(mkdtemp(tmpdir));
        (void) snprintf(sock_path, sizeof sock_path, "%s/control", tmpdir);
        assert_int_equal(start_server(&(VarlinkGrants) {}), 0);
        assert_int_equal(pthread_create(&thread, NULL, server_thread, NULL), 0);
        return 0;
}

static int teardown(void **state) {
        assert_int_equal(eventfd_write(stop_fd, 1), 0);
        assert_int_equal(pthread_join(thread, NULL), 0);
        server = varlink_server_free(server);
        event = sd_event_unref(event);
        stop_fd = safe_close(stop_fd);
        (void) unlink(sock_path);
        (void) rmdir(tmpdir);
        strcpy(tmpdir, "/tmp/test-varlink-XXXXXX");
        return 0;
}

static sd_varlink *connect_client(void) {
        sd_varlink *link = NULL;
        assert_int_equal(sd_varlink_connect_address(&link, sock_path), 0);
        assert_int_equal(sd_varlink_set_relative_timeout(link, 5 * 1000 * 1000), 0);
        return link;
}

/* Calls method with parameters (JSON text or NULL); returns the error id or NULL, and the reply. */
static const char *call(sd_varlink *link, const char *method, const char *params, sd_json_variant **ret) {
        sd_json_variant *p = NULL, *reply = NULL;
        const char *error_id = NULL;

        if (params)
                assert_int_equal(sd_json_parse(params, 0, &p, NULL, NULL), 0);
        assert_true(sd_varlink_call(link, method, p, &reply, &error_id) >= 0);
        sd_json_variant_unref(p);
        if (ret)
                *ret = sd_json_variant_ref(reply);
        return error_id;
}

static const char *str_field(sd_json_variant *v, const char *key) {
        sd_json_variant *f = sd_json_variant_by_key(v, key);
        return f ? sd_json_variant_string(f) : NULL;
}

/* A fresh connection still gets a sane Describe. */
static void assert_alive(void) {
        sd_varlink *link = connect_client();
        sd_json_variant *reply = NULL;

        assert_null(call(link, "io.sdvm.VM.Describe", NULL, &reply));
        assert_string_equal(str_field(reply, "name"), "web");
        sd_json_variant_unref(reply);
        sd_varlink_unref(link);
}

static int raw_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        strcpy(sa.sun_path, sock_path);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        return fd;
}

static void raw_send(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EPIPE)
                        return; /* the server gave up on us: fine */
                assert_true(k > 0);
                p += k;
                n -= (size_t) k;
        }
}

/* Reads one NUL-terminated message (5 s at most); returns its length, or -1 at EOF/timeout. */
static ssize_t raw_read(int fd, char *buf, size_t size) {
        size_t n = 0;
        while (n < size - 1) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                if (poll(&pfd, 1, 5000) <= 0)
                        return -1;
                ssize_t k = recv(fd, buf + n, 1, 0);
                if (k <= 0)
                        return -1;
                if (buf[n] == 0)
                        return (ssize_t) n;
                n++;
        }
        return -1;
}

static void test_describe(void **state) {
        sd_varlink *link = connect_client();
        sd_json_variant *reply = NULL;

        assert_null(call(link, "io.sdvm.VM.Describe", NULL, &reply));
        assert_string_equal(str_field(reply, "name"), "web");
        assert_string_equal(str_field(reply, "state"), "running");
        assert_string_equal(str_field(reply, "kernel"), "/boot/vmlinuz");
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(reply, "vcpus")), 2);
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(reply, "memory")), 512ULL << 20);
        assert_non_null(sd_json_variant_by_key(reply, "uptimeUSec"));
        assert_true(sd_json_variant_is_array(sd_json_variant_by_key(reply, "devices")));
        sd_json_variant_unref(reply);
        sd_varlink_unref(link);
}

static void test_inspect(void **state) {
        sd_varlink *link = connect_client();
        sd_json_variant *reply = NULL, *tree;

        assert_null(call(link, "io.sdvm.VM.Inspect", NULL, &reply));
        tree = sd_json_variant_by_key(reply, "tree");
        assert_non_null(sd_json_variant_by_key(tree, "vcpus"));
        assert_non_null(sd_json_variant_by_key(tree, "memory"));
        assert_non_null(sd_json_variant_by_key(tree, "devices"));
        sd_json_variant_unref(reply);

        assert_null(call(link, "io.sdvm.VM.Inspect", "{\"path\":null}", &reply));
        assert_non_null(sd_json_variant_by_key(sd_json_variant_by_key(reply, "tree"), "vcpus"));
        sd_json_variant_unref(reply);

        assert_null(call(link, "io.sdvm.VM.Inspect", "{\"path\":\"vcpus/0/exits\"}", &reply));
        tree = sd_json_variant_by_key(reply, "tree");
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(tree, "io")), 7);
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(tree, "hlt")), 3);
        sd_json_variant_unref(reply);

        /* A leaf comes wrapped; arrays take indexes. */
        assert_null(call(link, "io.sdvm.VM.Inspect", "{\"path\":\"devices/console/outputBytes\"}", &reply));
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(sd_json_variant_by_key(reply, "tree"), "value")),
                         42);
        sd_json_variant_unref(reply);
        assert_null(call(link, "io.sdvm.VM.Inspect", "{\"path\":\"memory/regions/0\"}", &reply));
        sd_json_variant_unref(reply);

        const char *bad[] = { "nope", "vcpus/1", "vcpus/0/exits/io/more", "memory/regions/1", "memory/regions/x",
                              "vcpus//0", "memory/regions/-1" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char params[128];
                (void) snprintf(params, sizeof params, "{\"path\":\"%s\"}", bad[i]);
                assert_string_equal(call(link, "io.sdvm.VM.Inspect", params, &reply), "io.sdvm.VM.NoSuchPath");
                assert_string_equal(str_field(reply, "path"), bad[i]);
                sd_json_variant_unref(reply);
        }
        sd_varlink_unref(link);
        assert_alive();
}

static void test_tree_lookup(void **state) {
        sd_json_variant *tree = NULL, *v = NULL;

        assert_int_equal(fake_inspect(NULL, &tree), 0);
        assert_int_equal(varlink_tree_lookup(tree, "/vcpus/0/", &v), 0);
        assert_string_equal(str_field(v, "state"), "running");
        v = sd_json_variant_unref(v);
        assert_int_equal(varlink_tree_lookup(tree, "", &v), 0);
        assert_true(v == tree);
        v = sd_json_variant_unref(v);
        char long_path[400];
        memset(long_path, 'a', sizeof long_path - 1);
        long_path[sizeof long_path - 1] = 0;
        assert_int_equal(varlink_tree_lookup(tree, long_path, &v), -ENOENT);
        sd_json_variant_unref(tree);
}

static void test_pause_resume(void **state) {
        sd_varlink *link = connect_client();
        sd_json_variant *reply = NULL;

        assert_null(call(link, "io.sdvm.VM.Pause", NULL, NULL));
        assert_null(call(link, "io.sdvm.VM.Describe", NULL, &reply));
        assert_string_equal(str_field(reply, "state"), "paused");
        sd_json_variant_unref(reply);
        /* Pausing a paused VM succeeds (vm_pause() does nothing). */
        assert_null(call(link, "io.sdvm.VM.Pause", NULL, NULL));
        assert_null(call(link, "io.sdvm.VM.Resume", NULL, NULL));
        assert_null(call(link, "io.sdvm.VM.Resume", NULL, NULL));
        assert_null(call(link, "io.sdvm.VM.Describe", NULL, &reply));
        assert_string_equal(str_field(reply, "state"), "running");
        sd_json_variant_unref(reply);

        /* Shutting down: the power button again is fine, pause and resume are not. */
        assert_null(call(link, "io.sdvm.VM.PowerOff", NULL, NULL));
        assert_null(call(link, "io.sdvm.VM.PowerOff", NULL, NULL));
        assert_int_equal(fake_power_offs, 2);
        assert_string_equal(call(link, "io.sdvm.VM.Pause", NULL, &reply), "io.sdvm.VM.InvalidState");
        assert_string_equal(str_field(reply, "state"), "shutting-down");
        sd_json_variant_unref(reply);
        assert_string_equal(call(link, "io.sdvm.VM.Resume", NULL, NULL), "io.sdvm.VM.InvalidState");

        assert_null(call(link, "io.sdvm.VM.Reboot", NULL, NULL));
        assert_int_equal(fake_reboots, 1);
        assert_null(call(link, "io.sdvm.VM.Terminate", NULL, NULL));
        assert_int_equal(fake_terminates, 1);
        /* Stopped: nothing left to do. */
        assert_string_equal(call(link, "io.sdvm.VM.Pause", NULL, NULL), "io.sdvm.VM.NotRunning");
        assert_string_equal(call(link, "io.sdvm.VM.PowerOff", NULL, NULL), "io.sdvm.VM.NotRunning");
        assert_string_equal(call(link, "io.sdvm.VM.Reboot", NULL, NULL), "io.sdvm.VM.NotRunning");
        assert_string_equal(call(link, "io.sdvm.VM.Terminate", NULL, NULL), "io.sdvm.VM.NotRunning");
        sd_varlink_unref(link);
        assert_alive();
}

static void test_subscribe(void **state) {
        sd_varlink *link = connect_client();
        char buf[4096];
        int fd = raw_connect();
        static const char sub[] = "{\"method\":\"io.sdvm.VM.SubscribeEvents\",\"more\":true}";

        raw_send(fd, sub, sizeof sub); /* with its NUL */
        assert_true(raw_read(fd, buf, sizeof buf) > 0);
        assert_non_null(strstr(buf, "\"state\":\"running\""));
        assert_non_null(strstr(buf, "\"continues\":true"));

        assert_null(call(link, "io.sdvm.VM.Pause", NULL, NULL));
        assert_true(raw_read(fd, buf, sizeof buf) > 0);
        assert_non_null(strstr(buf, "\"event\":\"state\""));
        assert_non_null(strstr(buf, "\"state\":\"paused\""));
        /* No change, no event: the next one is "running". */
        assert_null(call(link, "io.sdvm.VM.Pause", NULL, NULL));
        assert_null(call(link, "io.sdvm.VM.Resume", NULL, NULL));
        assert_true(raw_read(fd, buf, sizeof buf) > 0);
        assert_non_null(strstr(buf, "\"state\":\"running\""));

        /* "stopped" ends the stream: a reply without "continues". */
        assert_null(call(link, "io.sdvm.VM.Terminate", NULL, NULL));
        assert_true(raw_read(fd, buf, sizeof buf) > 0);
        assert_non_null(strstr(buf, "\"state\":\"stopped\""));
        assert_non_null(strstr(buf, "\"reason\":\"terminate\""));
        assert_null(strstr(buf, "continues"));
        close(fd);

        /* Without "more" it is refused. */
        assert_string_equal(call(link, "io.sdvm.VM.SubscribeEvents", NULL, NULL), "org.varlink.service.ExpectedMore");
        sd_varlink_unref(link);
        assert_alive();
}

static void test_bad_input(void **state) {
        sd_varlink *link = connect_client();
        char buf[4096];
        int fd;

        assert_string_equal(call(link, "io.sdvm.VM.NoSuchMethod", NULL, NULL), "org.varlink.service.MethodNotFound");
        assert_string_equal(call(link, "io.sdvm.VM.Inspect", "{\"path\":42}", NULL),
                            "org.varlink.service.InvalidParameter");
        assert_string_equal(call(link, "io.sdvm.VM.Pause", "{\"now\":true}", NULL),
                            "org.varlink.service.InvalidParameter");
        sd_varlink_unref(link);
        assert_alive();

        /* Malformed JSON: the server drops that connection, nothing else. */
        fd = raw_connect();
        static const char junk[] = "{\"method\": \"io.sdvm.VM.Describe\", ";
        raw_send(fd, junk, sizeof junk);
        assert_true(raw_read(fd, buf, sizeof buf) < 0);
        close(fd);
        assert_alive();

        fd = raw_connect();
        static const char not_object[] = "[1,2,3]";
        raw_send(fd, not_object, sizeof not_object);
        assert_true(raw_read(fd, buf, sizeof buf) < 0);
        close(fd);
        assert_alive();

        /* 1 MiB of garbage, with and without NULs, then the connection is closed. */
        size_t big = 1024 * 1024;
        char *garbage = malloc(big);
        assert_non_null(garbage);
        for (size_t i = 0; i < big; i++)
                garbage[i] = (char) ('a' + i % 26);
        fd = raw_connect();
        raw_send(fd, garbage, big);
        close(fd);
        assert_alive();
        for (size_t i = 0; i < big; i++)
                garbage[i] = (char) (i * 7919 % 251);
        fd = raw_connect();
        raw_send(fd, garbage, big);
        close(fd);
        free(garbage);
        assert_alive();
}

static void test_many_connections(void **state) {
        int fds[100];

        /* 100 idle connections: more than the server takes. It stays up, and answers once they go. */
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                fds[i] = raw_connect();
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                close(fds[i]);
        usleep(100 * 1000);
        assert_alive();

        /* A subscriber that never reads while events pile up costs the VM nothing. */
        int fd = raw_connect();
        static const char sub[] = "{\"method\":\"io.sdvm.VM.SubscribeEvents\",\"more\":true}";
        sd_varlink *link = connect_client();
        raw_send(fd, sub, sizeof sub);
        for (int i = 0; i < 200; i++) {
                assert_null(call(link, "io.sdvm.VM.Pause", NULL, NULL));
                assert_null(call(link, "io.sdvm.VM.Resume", NULL, NULL));
        }
        assert_int_equal(fake_pauses, 200);
        sd_varlink_unref(link);
        close(fd);
        assert_alive();
}

/* io.systemd.MachineInstance on the same socket, onto the same backend, with its own error names. */
static void test_machine_instance(void **state) {
        sd_varlink *link = connect_client();
        sd_json_variant *reply = NULL;

        assert_null(call(link, "io.systemd.MachineInstance.Describe", NULL, &reply));
        assert_true(sd_json_variant_boolean(sd_json_variant_by_key(reply, "running")));
        assert_string_equal(str_field(reply, "status"), "running");
        sd_json_variant_unref(reply);

        assert_null(call(link, "io.systemd.MachineInstance.Pause", NULL, NULL));
        assert_int_equal(fake_pauses, 1);
        assert_null(call(link, "io.sdvm.VM.Describe", NULL, &reply));
        assert_string_equal(str_field(reply, "state"), "paused");
        sd_json_variant_unref(reply);
        assert_null(call(link, "io.systemd.MachineInstance.Describe", NULL, &reply));
        assert_false(sd_json_variant_boolean(sd_json_variant_by_key(reply, "running")));
        assert_string_equal(str_field(reply, "status"), "paused");
        sd_json_variant_unref(reply);
        assert_null(call(link, "io.systemd.MachineInstance.Resume", NULL, NULL));
        assert_int_equal(fake_state, VM_STATE_RUNNING);

        assert_string_equal(call(link, "io.systemd.MachineInstance.Pause", "{\"x\":1}", NULL),
                            "org.varlink.service.InvalidParameter");
        assert_string_equal(call(link, "io.systemd.MachineInstance.SetMemory", "{}", NULL),
                            "org.varlink.service.MethodNotFound");

        assert_null(call(link, "io.systemd.MachineInstance.PowerOff", NULL, NULL));
        assert_int_equal(fake_power_offs, 1);
        assert_string_equal(call(link, "io.systemd.MachineInstance.Pause", NULL, NULL),
                            "io.systemd.MachineInstance.NotSupported");
        assert_null(call(link, "io.systemd.MachineInstance.Reboot", NULL, NULL));
        assert_int_equal(fake_reboots, 1);
        assert_null(call(link, "io.systemd.MachineInstance.Terminate", NULL, NULL));
        assert_int_equal(fake_terminates, 1);
        assert_string_equal(call(link, "io.systemd.MachineInstance.Resume", NULL, NULL),
                            "io.systemd.MachineInstance.NotConnected");
        assert_string_equal(call(link, "io.systemd.MachineInstance.Terminate", NULL, NULL),
                            "io.systemd.MachineInstance.NotConnected");
        assert_null(call(link, "io.systemd.MachineInstance.Describe", NULL, &reply));
        assert_string_equal(str_field(reply, "status"), "stopped");
        sd_json_variant_unref(reply);
        sd_varlink_unref(link);
}

static void test_peer_access(void **state) {
        gid_t groups[] = { 10, 27, 1001 };
        VarlinkGrants control = { .control = true, .control_gid = 1001 },
                      monitor = { .monitor = true, .monitor_gid = 1001 },
                      both = { .control = true, .control_gid = 27, .monitor = true, .monitor_gid = 1001 }, none = {};

        assert_int_equal(varlink_peer_access(0, 0, NULL, 0, &control), VARLINK_ACCESS_CONTROL); /* root */
        assert_int_equal(varlink_peer_access(0, 0, NULL, 0, &none), VARLINK_ACCESS_CONTROL);
        assert_int_equal(varlink_peer_access(1000, 1001, NULL, 0, &control), VARLINK_ACCESS_CONTROL); /* primary */
        assert_int_equal(varlink_peer_access(1000, 1000, groups, 3, &control), VARLINK_ACCESS_CONTROL); /* supplementary */
        assert_int_equal(varlink_peer_access(1000, 1000, groups, 2, &control), VARLINK_ACCESS_NONE); /* not a member */
        assert_int_equal(varlink_peer_access(1000, 1000, NULL, 0, &control), VARLINK_ACCESS_NONE);
        assert_int_equal(varlink_peer_access(1000, 1000, groups, 3, &monitor), VARLINK_ACCESS_MONITOR);
        assert_int_equal(varlink_peer_access(1000, 1001, NULL, 0, &monitor), VARLINK_ACCESS_MONITOR);
        assert_int_equal(varlink_peer_access(1000, 1000, groups, 3, &both), VARLINK_ACCESS_CONTROL); /* the larger */
        assert_int_equal(varlink_peer_access(1000, 1001, NULL, 0, &both), VARLINK_ACCESS_MONITOR);
        assert_int_equal(varlink_peer_access(1000, 1000, groups, 1, &both), VARLINK_ACCESS_NONE);
        assert_int_equal(varlink_peer_access(1000, 1001, NULL, 0, &none), VARLINK_ACCESS_NONE);
}

/* Runs client(link) in a child connected to a server with grants, its socket open to all (0666: the
 * server checks again); as root the child first becomes nobody/nogroup, since the server always lets
 * root in. Returns the child's exit status: 2 and 3 for a failed drop or connect, else client's. */
static int run_granted_client(const VarlinkGrants *grants, int (*client)(sd_varlink *link)) {
        bool drop = getuid() == 0;
        int status;
        pid_t pid;

        assert_non_null(mkdtemp(tmpdir));
        assert_int_equal(chmod(tmpdir, 0755), 0);
        (void) snprintf(sock_path, sizeof sock_path, "%s/control", tmpdir);
        assert_int_equal(start_server(grants), 0);
        assert_int_equal(chmod(sock_path, 0666), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sd_varlink *link = NULL;

                if (drop && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
                        _exit(2);
                if (sd_varlink_connect_address(&link, sock_path) < 0 ||
                    sd_varlink_set_relative_timeout(link, 5 * 1000 * 1000) < 0)
                        _exit(3);
                _exit(client(link));
        }
        assert_int_equal(pthread_create(&thread, NULL, server_thread, NULL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        teardown(NULL);
        return WEXITSTATUS(status);
}

/* The group the child of run_granted_client() is in: nogroup as root, else this user's. */
static gid_t client_gid(void) {
        return getuid() == 0 ? 65534 : getgid();
}

static int describe_client(sd_varlink *link) {
        sd_json_variant *reply = NULL;
        const char *error_id = NULL;

        return sd_varlink_call(link, "io.sdvm.VM.Describe", NULL, &reply, &error_id) < 0 || error_id ? 1 : 0;
}

/* A group grant lets in a member and refuses anyone else. */
static void test_group_grant(void **state) {
        for (int member = 0; member <= 1; member++) {
                VarlinkGrants g = { .control = true, .control_gid = client_gid() + (member ? 0 : 4242) };
                assert_int_equal(run_granted_client(&g, describe_client), member ? 0 : 1);
        }
}

/* A MonitorGroup= member, on one connection: Describe works, every call that changes the VM is refused
 * with PermissionDenied and changes nothing, and Describe still works after. */
static int monitor_client(sd_varlink *link) {
        static const char *const refused[] = { "io.sdvm.VM.Pause", "io.sdvm.VM.PowerOff", "io.sdvm.VM.Reboot",
                                               "io.sdvm.VM.Terminate", "io.sdvm.VM.Save",
                                               "io.systemd.MachineInstance.Pause",
                                               "io.systemd.MachineInstance.Terminate" };
        sd_json_variant *reply = NULL;
        const char *error_id = NULL;

        if (describe_client(link) != 0)
                return 4;
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
                if (sd_varlink_call(link, refused[i], NULL, &reply, &error_id) < 0)
                        return 5;
                if (!error_id || strcmp(error_id, SD_VARLINK_ERROR_PERMISSION_DENIED) != 0)
                        return 10 + (int) i;
        }
        if (sd_varlink_call(link, "io.systemd.MachineInstance.Describe", NULL, &reply, &error_id) < 0 || error_id)
                return 6;
        return describe_client(link) != 0 ? 7 : 0;
}

static void test_monitor_grant(void **state) {
        VarlinkGrants g = { .control = true, .control_gid = client_gid() + 4242, .monitor = true,
                            .monitor_gid = client_gid() };

        assert_int_equal(run_granted_client(&g, monitor_client), 0);
        /* The refused calls reached no backend. */
        assert_int_equal(fake_pauses + fake_power_offs + fake_reboots + fake_terminates + fake_saves, 0);
}

/* The served description and sd-varlink's formatting of the C definition are the .varlink file. */
static void check_idl(const sd_varlink_interface *iface) {
        const char *root = getenv("SDVM_SOURCE_ROOT");
        char path[4096], *text = NULL, *formatted = NULL;
        sd_json_variant *reply = NULL, *params = NULL;
        size_t n = 0;
        FILE *f;

        if (!root)
                skip();
        (void) snprintf(path, sizeof path, "%s/varlink/%s.varlink", root, iface->name);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_true(getdelim(&text, &n, '\0', f) > 0);
        fclose(f);

        assert_int_equal(sd_varlink_idl_format(iface, &formatted), 0);
        if (strcmp(formatted, text) != 0)
                fail_msg("varlink/%s.varlink differs from the C definition, which formats as:\n%s", iface->name,
                         formatted);

        sd_varlink *link = connect_client();
        assert_int_equal(sd_json_buildo(&params, SD_JSON_BUILD_PAIR_STRING("interface", iface->name)), 0);
        const char *error_id = NULL;
        assert_true(sd_varlink_call(link, "org.varlink.service.GetInterfaceDescription", params, &reply,
                                    &error_id) >= 0);
        assert_null(error_id);
        assert_string_equal(str_field(reply, "description"), text);
        sd_json_variant_unref(params);
        sd_varlink_unref(link);
        free(formatted);
        free(text);
}

/* Save: to the state directory, to a file the client opened and pushed, with stop; and refused
 * parameters and states. */
static void test_save(void **state) {
        sd_varlink *link = connect_client();
        sd_json_variant *reply = NULL;
        char path[] = "/tmp/test-varlink-save-XXXXXX", buf[64] = {};
        int fd;

        fake_state = VM_STATE_RUNNING;
        assert_null(call(link, "io.sdvm.VM.Save", "{}", &reply));
        assert_string_equal(str_field(reply, "path"), "/var/lib/vms/web/suspend.vmstate");
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(reply, "bytes")), 10);
        reply = sd_json_variant_unref(reply);

        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_true(sd_varlink_set_allow_fd_passing_output(link, true) >= 0);
        assert_int_equal(sd_varlink_push_dup_fd(link, fd), 0);
        assert_null(call(link, "io.sdvm.VM.Save", "{\"fileDescriptor\":0}", &reply));
        assert_null(sd_json_variant_by_key(reply, "path"));
        reply = sd_json_variant_unref(reply);
        assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), 10);
        assert_string_equal(buf, "fake state");
        close(fd);
        unlink(path);

        /* an index nothing was pushed for, and one that is no index at all */
        assert_string_equal(call(link, "io.sdvm.VM.Save", "{\"fileDescriptor\":3}", NULL),
                            "org.varlink.service.InvalidParameter");
        assert_string_equal(call(link, "io.sdvm.VM.Save", "{\"fileDescriptor\":-1}", NULL),
                            "org.varlink.service.InvalidParameter");
        assert_string_equal(call(link, "io.sdvm.VM.Save", "{\"stop\":\"yes\"}", NULL),
                            "org.varlink.service.InvalidParameter");

        assert_null(call(link, "io.sdvm.VM.Save", "{\"stop\":true}", NULL));
        assert_int_equal(fake_state, VM_STATE_STOPPED);
        assert_string_equal(call(link, "io.sdvm.VM.Save", "{}", NULL), "io.sdvm.VM.NotRunning");
        sd_varlink_unref(link);
}

static void test_idl(void **state) {
        check_idl(&vl_interface_io_sdvm_VM);
        check_idl(&vl_interface_io_systemd_MachineInstance);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inspect, setup, teardown),
                cmocka_unit_test(test_tree_lookup),
                cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_subscribe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_connections, setup, teardown),
                cmocka_unit_test_setup_teardown(test_machine_instance, setup, teardown),
                cmocka_unit_test(test_peer_access),
                cmocka_unit_test(test_monitor_grant),
                cmocka_unit_test(test_group_grant),
                cmocka_unit_test_setup_teardown(test_save, setup, teardown),
                cmocka_unit_test_setup_teardown(test_idl, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

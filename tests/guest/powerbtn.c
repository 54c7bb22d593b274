/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest side of the power-button test, linked statically into the test initramfs: waits for
 * KEY_POWER on any /dev/input/event* and powers the machine off, as systemd-logind would. */

#include <dirent.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
        struct pollfd fds[32];
        nfds_t n = 0;
        DIR *d = opendir("/dev/input");
        struct dirent *de;

        while (d && (de = readdir(d)) && n < 32) {
                char path[300];
                if (strncmp(de->d_name, "event", 5) != 0)
                        continue;
                snprintf(path, sizeof path, "/dev/input/%s", de->d_name);
                fds[n].fd = open(path, O_RDONLY | O_CLOEXEC);
                fds[n].events = POLLIN;
                if (fds[n].fd >= 0)
                        n++;
        }
        if (n == 0) {
                fprintf(stderr, "powerbtn: no /dev/input/event* devices\n");
                return 1;
        }
        printf("powerbtn: watching %lu input devices\n", (unsigned long) n);
        fflush(stdout);
        for (;;) {
                if (poll(fds, n, -1) < 0)
                        continue;
                for (nfds_t i = 0; i < n; i++) {
                        struct input_event ev;
                        if (!(fds[i].revents & POLLIN) || read(fds[i].fd, &ev, sizeof ev) != sizeof ev)
                                continue;
                        if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1) {
                                printf("powerbtn: KEY_POWER pressed, powering off\n");
                                fflush(stdout);
                                sync();
                                reboot(RB_POWER_OFF);
                        }
                }
        }
}

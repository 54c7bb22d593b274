/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MSI GSIs over real KVM (testbed suite; exits 77 without /dev/kvm): a removed source's GSI is taken
 * again by the next one, and msix_done() gives its vectors' GSIs back. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/irq-routing.h"
#include "device/pci/msix.h"
#include "device/pci/pci.h"
#include "log.h"

#define GSI0 IRQ_ROUTING_FIRST_MSI_GSI

static int kvm_fd = -EBADF, vm_fd = -EBADF;

static int setup(void **state) {
        vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
        if (vm_fd < 0 || ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) /* irqfds need the in-kernel irqchip */
                return -1;
        return 0;
}

static int teardown(void **state) {
        vm_fd = safe_close(vm_fd);
        return 0;
}

static bool fd_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

static void test_remove_reuse(void **state) {
        _cleanup_(irq_routing_freep) IrqRouting *r = NULL;
        uint32_t gsi[3], again;
        int fd[3], fd_again;

        assert_int_equal(irq_routing_new(vm_fd, &r), 0);
        for (unsigned i = 0; i < 3; i++) {
                assert_int_equal(irq_routing_add_msi(r, &gsi[i], &fd[i]), 0);
                assert_int_equal(gsi[i], GSI0 + i);
        }
        assert_int_equal(irq_routing_set_msi(r, gsi[1], 0xfee00000, 0x41, true), 0);

        assert_int_equal(irq_routing_remove_msi(r, gsi[1]), 0);
        assert_false(fd_open(fd[1]));
        assert_int_equal(irq_routing_remove_msi(r, gsi[1]), -ENOENT);
        assert_int_equal(irq_routing_set_msi(r, gsi[1], 0xfee00000, 0x41, true), -EINVAL);
        assert_int_equal(irq_routing_remove_msi(r, GSI0 - 1), -ENOENT);
        assert_int_equal(irq_routing_remove_msi(r, GSI0 + IRQ_ROUTING_MSI_MAX), -ENOENT);
        /* The others are untouched: their routes still commit. */
        assert_true(fd_open(fd[0]) && fd_open(fd[2]));
        assert_int_equal(irq_routing_set_msi(r, gsi[2], 0xfee00000, 0x42, true), 0);

        /* The hole is taken first, with a working irqfd. */
        assert_int_equal(irq_routing_add_msi(r, &again, &fd_again), 0);
        assert_int_equal(again, gsi[1]);
        assert_true(fd_open(fd_again));
        assert_int_equal(irq_routing_set_msi(r, again, 0xfee00000, 0x43, true), 0);
        assert_int_equal(write(fd_again, &(uint64_t){1}, 8), 8);

        /* A removed source whose route was never set needs no commit. */
        assert_int_equal(irq_routing_remove_msi(r, gsi[0]), 0);
        assert_int_equal(irq_routing_add_msi(r, &again, &fd_again), 0);
        assert_int_equal(again, gsi[0]);
}

static void test_msix_done(void **state) {
        _cleanup_(irq_routing_freep) IrqRouting *r = NULL;
        _cleanup_(pci_bus_freep) PciBus *bus = NULL;
        PciDevice *pci;
        uint32_t gsi;
        Msix m;
        int fd;

        assert_int_equal(irq_routing_new(vm_fd, &r), 0);
        assert_int_equal(irq_routing_add_msi(r, &gsi, &fd), 0); /* GSI0, held throughout */
        assert_int_equal(pci_bus_new(&(PciBusParams){.mmio_base = 0xc0000000, .mmio_size = 0x20000000}, NULL,
                                     NULL, &bus),
                         0);
        assert_int_equal(pci_bus_add_device(bus, 0x1af4, 0x1044, 0xff0000, NULL, NULL, &pci), 0);
        assert_int_equal(pci_device_add_bar(pci, 0, 0x8000), 0);
        assert_int_equal(msix_init(&m, pci, r, 3, 0, 0x4000, 0x5000), 0);
        for (unsigned v = 0; v < 3; v++)
                assert_int_equal(m.gsi[v], GSI0 + 1 + v);

        msix_done(&m);
        msix_done(&m); /* once is enough; twice is harmless */
        assert_int_equal(irq_routing_add_msi(r, &gsi, &fd), 0);
        assert_int_equal(gsi, GSI0 + 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_remove_reuse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_msix_done, setup, teardown),
        };

        kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm_fd < 0) {
                fprintf(stderr, "No /dev/kvm, skipping.\n");
                return 77;
        }
        log_set_max_level(LOG_ERR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

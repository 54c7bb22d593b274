/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpu-setup.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"
#include "arch/x86/board.h"
#include "device/i8042.h"
#include "device/pci/pci.h"
#include "device/pvpanic.h"
#include "device/serial.h"
#include "log.h"
#include "backend/tap.h"
#include "device/virtio/blk.h"
#include "device/virtio/net.h"
#include "device/virtio/rng.h"
#include "device/virtio/virtio-pci.h"

/* Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3, 11.5.1). */
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI (4U << 8)
#define APIC_MODE_EXTINT (7U << 8)

struct Machine {
        Vm *vm;
        struct kvm_cpuid2 *supported_cpuid;
        Serial *serial;
        Pvpanic *pvpanic;
        I8042 *i8042;
        PciBus *pci;
        VirtioPci *virtio[PCI_SLOTS];
        size_t n_virtio;
        Irq com1_irq;
        Irq ged_irq;
        void (*console_out)(void *opaque, const uint8_t *buf, size_t n);
        void *console_out_opaque;
};

typedef struct MappedFile {
        const uint8_t *data;
        size_t size;
} MappedFile;

static void mapped_file_done(MappedFile *f) {
        if (f->data && f->size > 0)
                (void) munmap((void *) f->data, f->size);
        *f = (MappedFile) {};
}

static int mapped_file_open(const char *what, const char *path, MappedFile *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        void *p;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s %s: %m", what, path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat %s %s: %m", what, path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "%s %s is not a regular file.", what, path);
        if (st.st_size == 0)
                return log_error_errno(ENOEXEC, "%s %s is empty.", what, path);
        p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
                return log_error_errno(errno, "Failed to map %s %s: %m", what, path);
        *ret = (MappedFile) { .data = p, .size = (size_t) st.st_size };
        return 0;
}

Machine *machine_free(Machine *m) {
        if (!m)
                return NULL;
        /* Device threads stop before the bus and guest memory they use go away. */
        for (size_t i = 0; i < m->n_virtio; i++)
                virtio_pci_free(m->virtio[i]);
        pci_bus_free(m->pci);
        serial_free(m->serial);
        pvpanic_free(m->pvpanic);
        i8042_free(m->i8042);
        free(m->supported_cpuid);
        free(m);
        return NULL;
}

static void console_output(void *opaque, const uint8_t *buf, size_t len) {
        Machine *m = opaque;

        if (m->console_out) {
                m->console_out(m->console_out_opaque, buf, len);
                return;
        }
        while (len > 0) {
                ssize_t n = write(STDOUT_FILENO, buf, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return; /* the console is gone; the guest must not notice */
                }
                buf += n;
                len -= (size_t) n;
        }
}

static void on_pvpanic(void *opaque, uint8_t events) {
        Machine *m = opaque;

        if (events & PVPANIC_PANICKED)
                vm_request_stop(m->vm, VM_STOP_PANIC);
        else if (events & PVPANIC_CRASH_LOADED)
                log_warning("Guest panicked and is running its crash kernel (pvpanic crash-loaded).");
}

static void on_i8042_reset(void *opaque) {
        Machine *m = opaque;
        vm_request_stop(m->vm, VM_STOP_REBOOT);
}

/* ACPI sleep control, sleep status, reset: three one-byte registers from X86_PORT_ACPI_SLEEP_CONTROL. */
static void acpi_regs_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Machine *m = opaque;
        uint64_t port = X86_PORT_ACPI_SLEEP_CONTROL + offset;

        if (!is_write) {
                data[0] = 0; /* WAK_STS never set: we do not implement sleep states that wake */
                return;
        }
        if (port == X86_PORT_ACPI_SLEEP_CONTROL) {
                int typ = acpi_sleep_control_decode(data[0]);
                if (typ == X86_ACPI_S5_TYPE)
                        vm_request_stop(m->vm, VM_STOP_POWEROFF);
                else if (typ >= 0)
                        log_warning("Guest asked for ACPI sleep type %d, which is not supported; ignoring.", typ);
        } else if (port == X86_PORT_ACPI_RESET && data[0] == X86_ACPI_RESET_VALUE)
                vm_request_stop(m->vm, VM_STOP_REBOOT);
}

static void boot_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Machine *m = opaque;
        uint64_t now = now_usec(), first;

        if (!is_write || data[0] != X86_BOOT_TIMER_MAGIC)
                return;
        first = __atomic_load_n(&m->vm->first_run_usec, __ATOMIC_RELAXED);
        log_info("Boot timer: guest reached the boot-timer write %llu us after vmm started, %llu us after "
                 "the first KVM_RUN.",
                 (unsigned long long) (now - m->vm->start_usec),
                 (unsigned long long) (first ? now - first : 0));
}

/* There is no firmware, but Linux on a hardware-reduced ACPI machine without a DMI quirk reboots
 * "through EFI", which falls back to a jump to the BIOS reset vector. A three-instruction "BIOS"
 * there writes the ACPI reset register, so that path resets the VM like the others. */
static int write_reset_vector(Machine *m) {
        static const uint8_t stub[] = {
                0xb0, X86_ACPI_RESET_VALUE,                             /* mov al, value */
                0xba, X86_PORT_ACPI_RESET & 0xff, X86_PORT_ACPI_RESET >> 8, /* mov dx, port */
                0xee,                                                   /* out dx, al */
                0xf4,                                                   /* 1: hlt */
                0xeb, 0xfd,                                             /* jmp 1b */
        };
        return guest_write(m->vm->mem, X86_RESET_VECTOR, stub, sizeof stub);
}

static int setup_vcpu(Machine *m, Vcpu *v, const X86CpuSetup *boot) {
        _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
        struct kvm_lapic_state lapic;
        uint32_t *lvt;
        int r;

        r = x86_cpuid_for_vcpu(m->supported_cpuid, v->index, m->vm->n_vcpus, &cpuid);
        if (r < 0)
                return log_error_errno(r, "Failed to build CPUID for vCPU %u: %m", v->index);
        if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
                return log_error_errno(errno, "KVM_SET_CPUID2 on vCPU %u failed: %m", v->index);

        /* LINT0 takes the legacy PIC's interrupts, LINT1 NMIs, as on a PC after firmware. */
        if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
                return log_error_errno(errno, "KVM_GET_LAPIC on vCPU %u failed: %m", v->index);
        lvt = (uint32_t *) (lapic.regs + APIC_LVT0);
        *lvt = (*lvt & ~0x700U) | APIC_MODE_EXTINT;
        lvt = (uint32_t *) (lapic.regs + APIC_LVT1);
        *lvt = (*lvt & ~0x700U) | APIC_MODE_NMI;
        if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
                return log_error_errno(errno, "KVM_SET_LAPIC on vCPU %u failed: %m", v->index);

        if (!boot) /* application processors wait for the guest's INIT/SIPI */
                return 0;

        struct kvm_regs regs;
        struct kvm_sregs sregs;
        struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
        if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
                return log_error_errno(errno, "KVM_GET_SREGS failed: %m");
        x86_cpu_setup_to_kvm(boot, &regs, &sregs);
        if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ||
            ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
                return log_error_errno(errno, "Failed to set the boot vCPU's registers: %m");
        return 0;
}

static int load_kernel(Machine *m, const VmConfig *config, X86BootInfo *ret) {
        MappedFile kernel = {}, initrd = {};
        int r;

        r = mapped_file_open("kernel", config->kernel, &kernel);
        if (r < 0)
                return r;
        if (config->initrd) {
                r = mapped_file_open("initrd", config->initrd, &initrd);
                if (r < 0) {
                        mapped_file_done(&kernel);
                        return r;
                }
        }
        r = x86_load_kernel(m->vm->mem,
                            &(X86BootInput) {
                                    .kernel = kernel.data,
                                    .kernel_size = kernel.size,
                                    .kernel_path = config->kernel,
                                    .initrd = initrd.data,
                                    .initrd_size = initrd.size,
                                    .initrd_path = config->initrd,
                                    .cmdline = config->cmdline,
                            },
                            ret);
        mapped_file_done(&kernel);
        mapped_file_done(&initrd);
        return r;
}

static int register_io(Vm *vm, uint64_t port, uint64_t len, BusHandler h, void *opaque, const char *name) {
        int r = bus_register(&vm->pio, port, len, h, opaque, name);
        if (r < 0)
                return log_error_errno(r, "Failed to register %s at port 0x%llx: %m", name,
                                       (unsigned long long) port);
        return 0;
}

/* Takes dev (also on failure), puts it on the PCI bus and starts its I/O thread. */
static int add_virtio(Machine *m, VirtioDevice *dev) {
        VirtioPci *vp;
        char id[64];
        int r;

        (void) snprintf(id, sizeof id, "%s", dev->id);
        if (m->n_virtio >= ELEMENTSOF(m->virtio)) {
                virtio_device_free(dev);
                return log_error_errno(ENOSPC, "No PCI slot left for %s.", id);
        }
        r = virtio_pci_new(m->pci, m->vm->routing, m->vm->fd, dev, &vp);
        if (r < 0)
                return log_error_errno(r, "Failed to put %s on the PCI bus: %m", id);
        m->virtio[m->n_virtio++] = vp;
        r = virtio_device_start_thread(virtio_pci_device(vp));
        if (r < 0)
                return log_error_errno(r, "Failed to start the I/O thread of %s: %m", id);
        return 0;
}

static int add_disks(Machine *m, const VmConfig *config, int *disk_fds) {
        for (size_t i = 0; i < config->n_disks; i++) {
                const VmDisk *vd = &config->disks[i];
                VirtioDevice *dev;
                Disk *disk;
                char id[16];
                int r;

                r = disk_open(vd, (unsigned) i, disk_fds ? TAKE_FD(disk_fds[i]) : -EBADF, &disk);
                if (r < 0)
                        return r; /* disk_open() said which [Disk] and why */
                (void) snprintf(id, sizeof id, "disk%u", (unsigned) i);
                r = virtio_blk_new(m->vm->mem, id, disk, vd->serial, &dev);
                if (r < 0)
                        return log_error_errno(r, "[Disk] #%zu (%s, line %u): cannot create the device: %m", i + 1,
                                               vd->path, vd->line);
                r = add_virtio(m, dev);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_networks(Machine *m, const VmConfig *config) {
        for (size_t i = 0; i < config->n_networks; i++) {
                const VmNetwork *vn = &config->networks[i];
                VirtioDevice *dev;
                char id[16];
                int r, fd;

                r = tap_open(vn, (unsigned) i, &fd);
                if (r < 0)
                        return r; /* tap_open() said which [Network] and why */
                (void) snprintf(id, sizeof id, "net%u", (unsigned) i);
                r = virtio_net_new(m->vm->mem, id, fd, vn->mac, &dev);
                if (r < 0)
                        return log_error_errno(r, "[Network] #%zu (tap %s, line %u): cannot create the device: %m",
                                               i + 1, vn->tap, vn->line);
                r = add_virtio(m, dev);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* PCI slots in the order the guest names things: disks first (vda, vdb, ...), then networks, then
 * the entropy source. */
static int add_devices(Machine *m, const VmConfig *config, int *disk_fds) {
        VirtioDevice *dev;
        int r;

        r = pci_bus_new(&(PciBusParams) { .mmio_base = X86_PCI_MMIO_BASE, .mmio_size = X86_PCI_MMIO_SIZE },
                        &m->vm->pio, &m->vm->mmio, &m->pci);
        if (r < 0)
                return r;
        r = add_disks(m, config, disk_fds);
        if (r < 0)
                return r;
        r = add_networks(m, config);
        if (r < 0)
                return r;
        r = virtio_rng_new(m->vm->mem, "rng0", &dev);
        if (r < 0)
                return log_error_errno(r, "Failed to create the entropy device: %m");
        return add_virtio(m, dev);
}

int machine_new(Vm *vm, const VmConfig *config, int *disk_fds, Machine **ret) {
        _cleanup_(machine_freep) Machine *m = NULL;
        X86BootInfo boot;
        X86CpuSetup cpu;
        size_t acpi_len;
        uint8_t *acpi;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return log_oom();
        m->vm = vm;
        m->com1_irq = (Irq) { .set_level = vm_irq_set_level, .opaque = vm, .gsi = X86_IRQ_COM1 };
        m->ged_irq = (Irq) { .set_level = vm_irq_set_level, .opaque = vm, .gsi = X86_IRQ_ACPI_GED };

        r = x86_cpuid_get_supported(vm->kvm_fd, &m->supported_cpuid);
        if (r < 0)
                return log_error_errno(r, "KVM_GET_SUPPORTED_CPUID failed: %m");
        r = load_kernel(m, config, &boot);
        if (r < 0)
                return r;
        log_debug("Kernel loaded (%s): entry 0x%llx, initrd at 0x%llx (%llu bytes)",
                  x86_boot_mode_to_string(boot.mode), (unsigned long long) boot.entry,
                  (unsigned long long) boot.initrd_addr, (unsigned long long) boot.initrd_size);

        acpi = guest_ptr(vm->mem, X86_ACPI_ADDR, X86_ACPI_MAX);
        if (!acpi)
                return log_error_errno(EINVAL, "Guest memory too small for the ACPI tables.");
        r = acpi_build(&(AcpiConfig) { .n_cpus = vm->n_vcpus,
                                       .pci_mmio_base = X86_PCI_MMIO_BASE,
                                       .pci_mmio_size = X86_PCI_MMIO_SIZE },
                       acpi, X86_ACPI_MAX, &acpi_len);
        if (r < 0)
                return log_error_errno(r, "Failed to build the ACPI tables: %m");

        r = write_reset_vector(m);
        if (r < 0)
                return log_error_errno(r, "Failed to write the reset vector: %m");

        r = x86_cpu_setup(vm->mem, &boot, &cpu);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the boot CPU state: %m");
        for (uint32_t i = 0; i < vm->n_vcpus; i++) {
                r = setup_vcpu(m, &vm->vcpus[i], i == 0 ? &cpu : NULL);
                if (r < 0)
                        return r;
        }

        r = serial_new(&m->com1_irq, console_output, m, &m->serial);
        if (r < 0)
                return log_error_errno(r, "Failed to create the serial port: %m");
        r = pvpanic_new(on_pvpanic, m, &m->pvpanic);
        if (r < 0)
                return log_error_errno(r, "Failed to create the pvpanic device: %m");
        r = i8042_new(on_i8042_reset, m, &m->i8042);
        if (r < 0)
                return log_error_errno(r, "Failed to create the i8042 controller: %m");

        if ((r = register_io(vm, X86_PORT_COM1, SERIAL_REGS, serial_io, m->serial, "com1")) < 0 ||
            (r = register_io(vm, X86_PORT_PVPANIC, 1, pvpanic_io, m->pvpanic, "pvpanic")) < 0 ||
            (r = register_io(vm, X86_PORT_I8042_DATA, 1, i8042_data_io, m->i8042, "i8042-data")) < 0 ||
            (r = register_io(vm, X86_PORT_I8042_CMD, 1, i8042_cmd_io, m->i8042, "i8042-cmd")) < 0 ||
            (r = register_io(vm, X86_PORT_ACPI_SLEEP_CONTROL, 3, acpi_regs_io, m, "acpi")) < 0 ||
            (r = register_io(vm, X86_PORT_BOOT_TIMER, 1, boot_timer_io, m, "boot-timer")) < 0)
                return r;
        r = add_devices(m, config, disk_fds);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

VirtioDevice *machine_virtio_device(Machine *m, size_t i, unsigned *ret_slot) {
        if (!m || i >= m->n_virtio)
                return NULL;
        if (ret_slot)
                *ret_slot = virtio_pci_pci_device(m->virtio[i])->slot;
        return virtio_pci_device(m->virtio[i]);
}

void machine_press_power_button(Machine *m) {
        irq_pulse(&m->ged_irq);
}

size_t machine_console_input(Machine *m, const uint8_t *buf, size_t n) {
        return serial_receive(m->serial, buf, n);
}

void machine_set_console_rx_ready(Machine *m, void (*rx_ready)(void *opaque), void *opaque) {
        serial_set_rx_ready(m->serial, rx_ready, opaque);
}

void machine_set_console_output(Machine *m, void (*output)(void *opaque, const uint8_t *buf, size_t n),
                                void *opaque) {
        m->console_out = output;
        m->console_out_opaque = opaque;
}

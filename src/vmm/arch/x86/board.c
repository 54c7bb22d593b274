/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/board.h"
#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpu-setup.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/kvm.h"
#include "arch/x86/layout.h"
#include "core/test-trigger.h"
#include "device/i8042.h"
#include "device/pci/hotplug.h"
#include "device/pci/pci.h"
#include "device/pvpanic.h"
#include "device/serial.h"
#include "log.h"
#include "ratelimit.h"

/* Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3, 11.5.1). */
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI (4U << 8)
#define APIC_MODE_EXTINT (7U << 8)

/* The board keeps pointers to the devices it wires (the Vm's tree owns them). */
struct Board {
        Vm *vm;
        struct kvm_cpuid2 *supported_cpuid;
        Serial *serial;
        PciBus *pci;
        Device *pci_node;
        Irq com1_irq;
        Irq ged_irq;
        Irq hotplug_irq; /* the GED's second line: PciHotplug keeps a pointer to it */
        RateLimit guest_log; /* the lines a guest's writes to the platform's registers cause */
        PciHotplug *hotplug;
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

Board *board_free(Board *b) {
        if (!b)
                return NULL;
        free(b->supported_cpuid);
        free(b);
        return NULL;
}

static void console_output(void *opaque, const uint8_t *buf, size_t len) {
        Board *m = opaque;

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
        Board *m = opaque;

        if (events & PVPANIC_PANICKED)
                vm_request_stop(m->vm, VM_STOP_PANIC);
        else if ((events & PVPANIC_CRASH_LOADED) && ratelimit_below(&m->guest_log, NULL))
                log_warning("Guest panicked and is running its crash kernel (pvpanic crash-loaded).");
}

static void on_i8042_reset(void *opaque) {
        Board *m = opaque;
        vm_request_stop(m->vm, VM_STOP_REBOOT);
}

/* ACPI sleep control, sleep status, reset: three one-byte registers from X86_PORT_ACPI_SLEEP_CONTROL. */
static void acpi_regs_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Board *m = opaque;
        uint64_t port = X86_PORT_ACPI_SLEEP_CONTROL + offset;

        if (!is_write) {
                data[0] = 0; /* WAK_STS never set: we do not implement sleep states that wake */
                return;
        }
        if (port == X86_PORT_ACPI_SLEEP_CONTROL) {
                int typ = acpi_sleep_control_decode(data[0]);
                if (typ == X86_ACPI_S5_TYPE)
                        vm_request_stop(m->vm, VM_STOP_POWEROFF);
                else if (typ >= 0 && ratelimit_below(&m->guest_log, NULL))
                        log_warning("Guest asked for ACPI sleep type %d, which is not supported; ignoring.", typ);
        } else if (port == X86_PORT_ACPI_RESET && data[0] == X86_ACPI_RESET_VALUE)
                vm_request_stop(m->vm, VM_STOP_REBOOT);
}

static void boot_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Board *m = opaque;
        uint64_t now = now_usec(), first;

        if (!is_write || data[0] != X86_BOOT_TIMER_MAGIC || !ratelimit_below(&m->guest_log, NULL))
                return;
        first = vm_first_run_usec(m->vm);
        log_info("Boot timer: guest reached the boot-timer write %llu us after vmm started, %llu us after "
                 "the first KVM_RUN.",
                 (unsigned long long) (now - m->vm->start_usec),
                 (unsigned long long) (first ? now - first : 0));
        test_trigger_fire(TEST_TRIGGER_VCPU);
}

/* There is no firmware, but Linux on a hardware-reduced ACPI machine without a DMI quirk reboots
 * "through EFI", which falls back to a jump to the BIOS reset vector. A three-instruction "BIOS"
 * there writes the ACPI reset register, so that path resets the VM like the others. */
static int write_reset_vector(Board *m) {
        static const uint8_t stub[] = {
                0xb0, X86_ACPI_RESET_VALUE,                             /* mov al, value */
                0xba, X86_PORT_ACPI_RESET & 0xff, X86_PORT_ACPI_RESET >> 8, /* mov dx, port */
                0xee,                                                   /* out dx, al */
                0xf4,                                                   /* 1: hlt */
                0xeb, 0xfd,                                             /* jmp 1b */
        };
        return guest_write(m->vm->mem, X86_RESET_VECTOR, stub, sizeof stub);
}

static int setup_vcpu(Board *m, Vcpu *v, const X86CpuSetup *boot) {
        _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
        struct kvm_lapic_state lapic;
        uint32_t *lvt;
        int r;

        r = x86_cpuid_for_vcpu(m->supported_cpuid, v->p.index, m->vm->n_vcpus, &cpuid);
        if (r < 0)
                return log_error_errno(r, "Failed to build CPUID for vCPU %u: %m", v->p.index);
        if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
                return log_error_errno(errno, "KVM_SET_CPUID2 on vCPU %u failed: %m", v->p.index);

        /* LINT0 takes the legacy PIC's interrupts, LINT1 NMIs, as on a PC after firmware. */
        if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
                return log_error_errno(errno, "KVM_GET_LAPIC on vCPU %u failed: %m", v->p.index);
        lvt = (uint32_t *) (lapic.regs + APIC_LVT0);
        *lvt = (*lvt & ~0x700U) | APIC_MODE_EXTINT;
        lvt = (uint32_t *) (lapic.regs + APIC_LVT1);
        *lvt = (*lvt & ~0x700U) | APIC_MODE_NMI;
        if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
                return log_error_errno(errno, "KVM_SET_LAPIC on vCPU %u failed: %m", v->p.index);

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

static int load_kernel(Board *m, const VmConfig *config, X86BootInfo *ret) {
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

/* The ACPI registers and the boot timer: register blocks with no state beyond the Board's wiring. */
static int plain_save(Device *d, StateWriter *w) {
        uint32_t version = 1; /* nothing but the kind of device, so that a restore checks it */
        return state_write(w, STATE_TAG('R', 'E', 'G', 'S'), &version, sizeof version);
}

static int plain_restore(Device *d, StateReader *r) {
        uint32_t version;
        int k = state_read(r, STATE_TAG('R', 'E', 'G', 'S'), &version, sizeof version);
        return k < 0 ? k : version == 1 ? 0 : -EINVAL;
}

static int plain_describe(Device *d, sd_json_variant **ret) {
        return sd_json_build(ret, SD_JSON_BUILD_EMPTY_OBJECT);
}

static void plain_remove(Device *d) {
}

static void plain_free(void *impl) {
        /* impl is the Board, which is not the device's to free */
}

#define PLAIN_REGS_OPS(name)                          \
        {                                             \
                .type = name,                         \
                .pause = device_pause_nothing,        \
                .resume = device_resume_nothing,      \
                .save = plain_save,                   \
                .restore = plain_restore,             \
                .describe = plain_describe,           \
                .remove = plain_remove,               \
                .free = plain_free,                   \
        }
static const DeviceOps acpi_regs_ops = PLAIN_REGS_OPS("acpi-pm");
static const DeviceOps boot_timer_ops = PLAIN_REGS_OPS("boot-timer");

typedef struct PortRange {
        uint64_t port, len;
        BusHandler handler;
} PortRange;

/* Adds a platform device at port with its port ranges; takes impl (also on failure). */
static int add_platform(Board *m, const char *id, const DeviceOps *ops, void *impl, uint64_t port,
                        const PortRange *ranges, size_t n) {
        Device *d;
        int r;

        r = device_add(m->vm->devices, id, ops, impl, DEVICE_ADDRESS_PORT, port, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to add device %s: %m", id);
        for (size_t i = 0; i < n; i++) {
                r = device_add_range(d, &m->vm->pio, ranges[i].port, ranges[i].len, ranges[i].handler, impl,
                                     id);
                if (r < 0)
                        return log_error_errno(r, "Failed to register %s at port 0x%llx: %m", id,
                                               (unsigned long long) ranges[i].port);
        }
        return 0;
}

static int add_platform_devices(Board *m) {
        Serial *serial;
        Pvpanic *pvpanic;
        I8042 *i8042;
        int r;

        r = serial_new(&m->com1_irq, console_output, m, &serial);
        if (r < 0)
                return log_error_errno(r, "Failed to create the serial port: %m");
        m->serial = serial;
        r = add_platform(m, "com1", &serial_device_ops, serial, X86_PORT_COM1,
                         (const PortRange[]) { { X86_PORT_COM1, SERIAL_REGS, serial_io } }, 1);
        if (r < 0)
                return r;
        r = pvpanic_new(on_pvpanic, m, &pvpanic);
        if (r < 0)
                return log_error_errno(r, "Failed to create the pvpanic device: %m");
        r = add_platform(m, "pvpanic", &pvpanic_device_ops, pvpanic, X86_PORT_PVPANIC,
                         (const PortRange[]) { { X86_PORT_PVPANIC, 1, pvpanic_io } }, 1);
        if (r < 0)
                return r;
        r = i8042_new(on_i8042_reset, m, &i8042);
        if (r < 0)
                return log_error_errno(r, "Failed to create the i8042 controller: %m");
        r = add_platform(m, "reset", &i8042_device_ops, i8042, X86_PORT_I8042_CMD,
                         (const PortRange[]) { { X86_PORT_I8042_DATA, 1, i8042_data_io },
                                                         { X86_PORT_I8042_CMD, 1, i8042_cmd_io } },
                         2);
        if (r < 0)
                return r;
        r = add_platform(m, "acpi", &acpi_regs_ops, m, X86_PORT_ACPI_SLEEP_CONTROL,
                         (const PortRange[]) { { X86_PORT_ACPI_SLEEP_CONTROL, 3, acpi_regs_io } }, 1);
        if (r < 0)
                return r;
        return add_platform(m, "boot-timer", &boot_timer_ops, m, X86_PORT_BOOT_TIMER,
                            (const PortRange[]) { { X86_PORT_BOOT_TIMER, 1, boot_timer_io } }, 1);
}

static int add_pci_bus(Board *m) {
        PciBus *pci;
        int r;

        /* The bus's ranges belong to its node in the tree, which unregisters them when it goes. */
        r = pci_bus_new(&(PciBusParams) { .mmio_base = X86_PCI_MMIO_BASE, .mmio_size = X86_PCI_MMIO_SIZE }, NULL,
                        NULL, &pci);
        if (r < 0)
                return r;
        m->pci = pci;
        r = device_add(m->vm->devices, "pci0", &pci_bus_device_ops, pci, DEVICE_ADDRESS_PORT, X86_PORT_PCI_CONFIG,
                       &m->pci_node);
        if (r < 0)
                return log_error_errno(r, "Failed to add the PCI bus: %m");
        r = device_add_range(m->pci_node, &m->vm->pio, X86_PORT_PCI_CONFIG, 8, pci_bus_config_io, pci, "pci-config");
        if (r < 0)
                return log_error_errno(r, "Failed to register the PCI configuration ports: %m");
        r = device_add_range(m->pci_node, &m->vm->mmio, X86_PCI_MMIO_BASE, X86_PCI_MMIO_SIZE, pci_bus_mmio_io, pci,
                             "pci-bars");
        if (r < 0)
                return log_error_errno(r, "Failed to register the PCI memory window: %m");
        return 0;
}

const VmArch *board_vm_arch(void) {
        return &x86_vm_arch;
}

int board_new(Vm *vm, const VmConfig *config, Board **ret) {
        _cleanup_(board_freep) Board *m = NULL;
        X86BootInfo boot;
        X86CpuSetup cpu;
        size_t acpi_len;
        uint8_t *acpi;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return log_oom();
        m->vm = vm;
        m->guest_log = (RateLimit) RATELIMIT_GUEST;
        m->com1_irq = (Irq) { .set_level = vm_irq_set_level, .opaque = vm, .gsi = X86_IRQ_COM1 };
        m->ged_irq = (Irq) { .set_level = vm_irq_set_level, .opaque = vm, .gsi = X86_IRQ_ACPI_GED };
        m->hotplug_irq = (Irq) { .set_level = vm_irq_set_level, .opaque = vm, .gsi = X86_IRQ_ACPI_GED_HOTPLUG };

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

        r = add_platform_devices(m);
        if (r < 0)
                return r;
        r = add_pci_bus(m);
        if (r < 0)
                return r;
        r = pci_hotplug_new(&m->hotplug_irq, &m->hotplug);
        if (r < 0)
                return log_error_errno(r, "Failed to create the PCI hotplug registers: %m");
        r = add_platform(m, "pci-hotplug", &pci_hotplug_device_ops, m->hotplug, X86_PORT_PCI_HOTPLUG,
                         (const PortRange[]) { { X86_PORT_PCI_HOTPLUG, PCI_HOTPLUG_REGS, pci_hotplug_io } }, 1);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

PciBus *board_pci_bus(Board *b) {
        return b->pci;
}

Device *board_pci_node(Board *b) {
        return b->pci_node;
}

PciHotplug *board_pci_hotplug(Board *b) {
        return b->hotplug;
}

void board_press_power_button(Board *b) {
        irq_pulse(&b->ged_irq);
}

size_t board_console_input(Board *b, const uint8_t *buf, size_t n) {
        return serial_receive(b->serial, buf, n);
}

void board_set_console(Board *b, void (*output)(void *opaque, const uint8_t *buf, size_t n),
                       void (*rx_ready)(void *opaque), void *opaque) {
        b->console_out = output;
        b->console_out_opaque = opaque;
        serial_set_rx_ready(b->serial, rx_ready, opaque);
}

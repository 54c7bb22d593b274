#!/usr/bin/env python3
"""Boot time and memory overhead of vmm against QEMU (-M microvm and the default machine), on the same
kernel and initramfs, in one host boot. Not a test: run it through testbed/bench (or directly on a
host with /dev/kvm). Writes JSON and prints a table.

Boot time: from exec of the VMM to the guest's first line on the console after its init wrote the
boot timer (the same marker for every VMM). vmm's own boot-timer figure is reported beside it.
Memory: PSS of the VMM process once the guest idles, minus the PSS of guest RAM mappings (those at
least as large as guest RAM), so that the figure is what the VMM itself costs."""

import argparse, json, os, re, select, signal, statistics, subprocess, sys, time

MARKER = b"SDVM-GUEST: cpus="


def guest_ram_and_total_pss(pid, ram_bytes):
    total = ram = 0
    size = 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                continue
            if line.startswith("Pss:"):
                kb = int(line.split()[1])
                total += kb
                if size >= ram_bytes:
                    ram += kb
    return total * 1024, ram * 1024


def run_once(argv, ram_bytes, timeout):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf = b""
    boot = None
    try:
        while time.monotonic() - t0 < timeout:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                if boot is None and MARKER in buf:
                    boot = time.monotonic() - t0
                    break
        if boot is None:
            raise RuntimeError(f"{argv[0]}: no boot marker within {timeout}s; output:\n" + buf[-2000:].decode(errors="replace"))
        time.sleep(1.0)  # let the guest settle into idle
        total, ram = guest_ram_and_total_pss(p.pid, ram_bytes)
        # drain so the VMM never blocks on a full pipe while we read smaps
        while select.select([p.stdout], [], [], 0)[0] and os.read(p.stdout.fileno(), 65536):
            pass
    finally:
        p.kill()
        rest = p.communicate()[0]
    timer = re.search(rb"Boot timer: guest reached the boot-timer write (\d+) us", buf + rest)
    return {
        "boot_s": boot,
        "pss_total": total,
        "pss_guest_ram": ram,
        "overhead": total - ram,
        "vmm_boot_timer_us": int(timer.group(1)) if timer else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--memory", default="256M")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--json", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()

    ram = int(a.memory[:-1]) << {"M": 20, "G": 30}[a.memory[-1]]
    cmdline = "console=ttyS0 panic=-1 quiet sdvm.action=bench"
    conf = "/tmp/sdvm-bench.conf"
    with open(conf, "w") as f:
        f.write(f"[VM]\nCPUs={a.cpus}\nMemory={a.memory}\n\n[Boot]\nKernel={a.kernel}\nInitrd={a.initrd}\n"
                f"CommandLine={cmdline}\n")
    qemu = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", a.memory, "-smp", str(a.cpus),
            "-kernel", a.kernel, "-initrd", a.initrd, "-append", cmdline,
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot"]
    peers = {
        "vmm": [a.vmm, f"--config={conf}"],
        "qemu-microvm": qemu[:1] + ["-M", "microvm"] + qemu[1:],
        "qemu-default": qemu,
    }
    results = {}
    for name, argv in peers.items():
        runs = []
        for i in range(a.runs):
            r = run_once(argv, ram, a.timeout)
            runs.append(r)
            print(f"{name} run {i + 1}/{a.runs}: boot {r['boot_s']:.3f} s, overhead {r['overhead'] >> 10} KiB",
                  flush=True)
        results[name] = {
            "runs": runs,
            "boot_s_p50": statistics.median(r["boot_s"] for r in runs),
            "overhead_bytes_p50": statistics.median(r["overhead"] for r in runs),
            "pss_total_bytes_p50": statistics.median(r["pss_total"] for r in runs),
        }
        if name == "vmm":
            results[name]["vmm_boot_timer_us_p50"] = statistics.median(r["vmm_boot_timer_us"] for r in runs)
    base = results["vmm"]["boot_s_p50"]
    out = {"memory": a.memory, "cpus": a.cpus, "runs": a.runs, "kernel": a.kernel, "results": results}
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\n{'VMM':<14} {'boot p50 (s)':>12} {'vs vmm':>8} {'overhead p50 (MiB)':>19} {'PSS p50 (MiB)':>14}")
    for name, r in results.items():
        print(f"{name:<14} {r['boot_s_p50']:>12.3f} {r['boot_s_p50'] / base:>8.2f} "
              f"{r['overhead_bytes_p50'] / 2**20:>19.1f} {r['pss_total_bytes_p50'] / 2**20:>14.1f}")
    print(f"vmm's own boot timer p50: {results['vmm']['vmm_boot_timer_us_p50'] / 1e6:.3f} s after vmm start")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Disk and network throughput of vmm against QEMU, in one host boot, on the same kernel, initrd, Debian
guest image (testbed/guest-setup.sh), vCPUs and memory. Not a test: run it through testbed/bench (or
directly as root on a host with /dev/kvm). Writes JSON and prints a table with ratios to QEMU.

Each VMM boots the guest once with a fresh copy of the root image (vda), a 256 MiB data disk (vdb,
written with zeros beforehand so that no read hits a hole) and a NIC on a tap in the host. The guest's
test agent runs fio on vdb (sequential 1 MiB write and read at depth 8, MB/s; 4k random read and write
at depth 32, IOPS; O_DIRECT, libaio) and then iperf3 against the host over the tap (guest to host and
host to guest, Mbit/s), and prints the results on its console.

QEMU runs as "qemu" (-M q35, virtio-blk-pci with QEMU's default cache=writeback, aio=threads, and
virtio-net-pci on the tap with QEMU's userspace backend) and, for reference, as "qemu-direct"
(cache=none, aio=native). Ratios are vmm / qemu, so above 1 means vmm is faster."""

import argparse, json, os, re, shutil, subprocess, sys, time

TAP = "sdvmbench0"
MAC = "52:54:00:5d:4e:02"
METRICS = [("fio", "seqwrite_MBps"), ("fio", "seqread_MBps"), ("fio", "randread_iops"),
           ("fio", "randwrite_iops"), ("iperf", "guest_to_host_Mbps"), ("iperf", "host_to_guest_Mbps"),
           ("boot", "multi_user_s")]


def sh(*argv):
    subprocess.run(argv, check=True)


def make_disks(workdir, name, image):
    d = os.path.join(workdir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    root, data = os.path.join(d, "root.img"), os.path.join(d, "data.img")
    sh("cp", "--sparse=always", image, root)
    sh("dd", "if=/dev/zero", f"of={data}", "bs=1M", "count=256", "conv=fsync", "status=none")
    return root, data


def qemu_argv(a, cmdline, root, data, direct):
    cache = ",cache=none,aio=native" if direct else ""
    argv = ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-cpu", "host", "-smp", str(a.cpus),
            "-m", a.memory, "-kernel", a.kernel, "-initrd", a.initrd, "-append", cmdline,
            "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot", "-serial", "stdio",
            "-netdev", f"tap,id=net0,ifname={TAP},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=net0,mac={MAC}", "-device", "virtio-rng-pci"]
    for i, path in enumerate((root, data)):
        argv += ["-drive", f"file={path},if=none,id=disk{i},format=raw{cache}",
                 "-device", f"virtio-blk-pci,drive=disk{i},serial=sdvm-disk{i}"]
    return argv


def vmm_argv(a, cmdline, root, data, workdir):
    conf = os.path.join(workdir, "vmm", "bench.conf")
    with open(conf, "w") as f:
        f.write(f"[VM]\nCPUs={a.cpus}\nMemory={a.memory}\n\n[Boot]\nKernel={a.kernel}\nInitrd={a.initrd}\n"
                f"CommandLine={cmdline}\n\n[Disk]\nPath={root}\n\n[Disk]\nPath={data}\n\n"
                f"[Network]\nTap={TAP}\nMACAddress={MAC}\n")
    return [a.vmm, f"--config={conf}"]


def run_one(a, name):
    root, data = make_disks(a.workdir, name, a.image)
    cmdline = (f"console=ttyS0 root=/dev/vda rw quiet panic=-1 sdvm.test=boot,fio,iperf sdvm.datadisk=/dev/vdb "
               f"sdvm.runtime={a.runtime} sdvm.ip=fe80::2/64 sdvm.peer=fe80::1")
    if name == "vmm":
        argv = vmm_argv(a, cmdline, root, data, a.workdir)
    else:
        argv = qemu_argv(a, cmdline, root, data, name == "qemu-direct")
    console = os.path.join(a.workdir, name, "console.log")
    t0 = time.monotonic()
    with open(console, "wb") as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    res = {"argv": argv}
    text = ""
    shown, beat = 0, t0
    try:
        while time.monotonic() - t0 < a.timeout:
            with open(console, "rb") as f:
                text = f.read().decode(errors="replace")
            # Progress as it comes: testbed/lib.sh takes a long silence for a hang of the nest.
            lines = re.findall(r"SDVM-AGENT: [^\n]*\n", text)
            for line in lines[shown:]:
                print(f"io-bench: {name}: {line.strip()}", flush=True)
            shown = len(lines)
            if time.monotonic() - beat > 60:
                print(f"io-bench: {name}: {time.monotonic() - t0:.0f} s", flush=True)
                beat = time.monotonic()
            if "SDVM-AGENT: done" in text or p.poll() is not None:
                break
            time.sleep(0.5)
        m = re.search(r"SDVM-AGENT: multi-user.target reached uptime=([0-9.]+)s", text)
        if m:
            res["boot"] = {"multi_user_s": float(m.group(1))}
        for key in ("fio", "iperf"):
            m = re.search(rf"SDVM-AGENT: {key} (\{{.*\}})", text)
            if m:
                res[key] = json.loads(m.group(1))
        errors = re.findall(r"SDVM-AGENT: error: .*", text)
        if errors or "fio" not in res or "iperf" not in res:
            res["error"] = "; ".join(errors) or "no results; console tail:\n" + text[-1500:]
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        res.setdefault("error", "the guest did not power off")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        res["wall_s"] = round(time.monotonic() - t0, 1)
        for path in (root, data):
            os.remove(path)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--image", required=True, help="the guest root image (copied for each VMM)")
    ap.add_argument("--workdir", required=True, help="room for the copies (about 1 GB)")
    ap.add_argument("--vmms", default="qemu,qemu-direct,vmm")
    ap.add_argument("--runtime", type=int, default=8, help="seconds per fio job and iperf3 direction")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--memory", default="1G")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()

    subprocess.run(["ip", "link", "del", TAP], stderr=subprocess.DEVNULL)
    sh("ip", "tuntap", "add", "dev", TAP, "mode", "tap")
    sh("ip", "link", "set", TAP, "up")
    sh("ip", "addr", "add", "fe80::1/64", "dev", TAP, "nodad")
    iperf = subprocess.Popen(["iperf3", "-s"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        for name in a.vmms.split(","):
            print(f"io-bench: {name} ...", flush=True)
            results[name] = run_one(a, name)
            r = results[name]
            print(f"io-bench: {name}: {r.get('boot', {})} {r.get('fio', {})} {r.get('iperf', {})} "
                  f"{r['wall_s']} s" + (f" ERROR: {r['error']}" if "error" in r else ""), flush=True)
    finally:
        iperf.kill()
        subprocess.run(["ip", "link", "del", TAP], stderr=subprocess.DEVNULL)

    names = list(results)
    ratios = {}
    if "vmm" in results and "qemu" in results:
        for grp, key in METRICS:
            v, q = results["vmm"].get(grp, {}).get(key), results["qemu"].get(grp, {}).get(key)
            if v is not None and q:
                ratios[key] = round(v / q, 3)
    out = {"cpus": a.cpus, "memory": a.memory, "runtime_s": a.runtime, "results": results,
           "ratio_vmm_to_qemu": ratios}
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)

    print(f"\n{'metric':22}" + "".join(f"{n:>14}" for n in names) + f"{'vmm/qemu':>10}")
    for grp, key in METRICS:
        row = f"{key:22}"
        for n in names:
            v = results[n].get(grp, {}).get(key)
            row += f"{v:14.1f}" if v is not None else f"{'-':>14}"
        row += f"{ratios[key]:10.2f}" if key in ratios else f"{'-':>10}"
        print(row)
    print("(boot: guest uptime at multi-user.target; nested timings: compare within a column pair only)")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

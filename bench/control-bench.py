#!/usr/bin/env python3
"""Control-plane latency of vmm's varlink socket against QEMU's QMP, on the same kernel and initramfs,
in one host boot. Not a test: run it through testbed/bench (or directly on a host with /dev/kvm).
Writes JSON and prints a table.

One client in one language (this script, raw sockets, no library) for both sides, one connection
each, kept open:
- round trip: io.sdvm.VM.Describe and io.systemd.MachineInstance.Describe against QMP query-status;
- pause: io.sdvm.VM.Pause against QMP stop, resume: io.sdvm.VM.Resume against QMP cont, timed from
  sending the call to its reply. Both replies mean the same thing: every vCPU is out of guest mode
  (vmm: each vCPU thread has left KVM_RUN and parked, and KVM_KVMCLOCK_CTRL was called; QEMU: stop
  returns after pause_all_vcpus() has waited for each vCPU thread) or, for resume, that every vCPU
  has been let go (neither waits for the guest to execute an instruction).
vmm gets its control socket as it does under systemd: passed as "varlink" by systemd-socket-activate."""

import argparse, json, os, select, socket, statistics, subprocess, sys, time

READY = b"SDVM-GUEST: idle for measurement"


def wait_for(p, marker, timeout):
    buf = b""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if select.select([p.stdout], [], [], 0.5)[0]:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if marker in buf:
                return
    raise RuntimeError("guest never got ready; output:\n" + buf[-2000:].decode(errors="replace"))


def drain(p):
    while select.select([p.stdout], [], [], 0)[0] and os.read(p.stdout.fileno(), 65536):
        pass


def connect_unix(path):
    """A stream socket connected to path, retried for 10 s while the server comes up."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(200):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    return s


class Varlink:
    def __init__(self, path):
        self.s = connect_unix(path)
        self.buf = b""

    def call(self, method):
        self.s.sendall(json.dumps({"method": method}).encode() + b"\0")
        while b"\0" not in self.buf:
            self.buf += self.s.recv(65536)
        msg, self.buf = self.buf.split(b"\0", 1)
        reply = json.loads(msg)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply}")
        return reply


class Qmp:
    def __init__(self, path):
        self.s = connect_unix(path)
        self.f = self.s.makefile("rb")
        json.loads(self.f.readline())  # the greeting
        self.call("qmp_capabilities")

    def call(self, command):
        self.s.sendall(json.dumps({"execute": command}).encode() + b"\n")
        while True:
            reply = json.loads(self.f.readline())
            if "event" in reply:  # STOP/RESUME events come before or after the return: skip them
                continue
            if "error" in reply:
                raise RuntimeError(f"{command}: {reply}")
            return reply


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def pause_resume(pause, resume, n):
    p, r = [], []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        pause()
        p.append((time.perf_counter_ns() - t0) / 1000.0)
        time.sleep(0.01)
        t0 = time.perf_counter_ns()
        resume()
        r.append((time.perf_counter_ns() - t0) / 1000.0)
        time.sleep(0.01)
    return p, r


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100.0 * (len(xs) - 1))))]


def summary(xs):
    return {"n": len(xs), "p50_us": statistics.median(xs), "p99_us": pct(xs, 99), "min_us": min(xs),
            "max_us": max(xs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--rtt-runs", type=int, default=1000)
    ap.add_argument("--pause-runs", type=int, default=50)
    ap.add_argument("--memory", default="256M")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--json", required=True)
    ap.add_argument("--timeout", type=float, default=180)
    a = ap.parse_args()

    work = "/tmp/sdvm-control-bench"
    os.makedirs(work, exist_ok=True)
    cmdline = "console=ttyS0 panic=-1 quiet sdvm.action=bench"
    conf = f"{work}/bench.conf"
    with open(conf, "w") as f:
        f.write(f"[VM]\nCPUs={a.cpus}\nMemory={a.memory}\n\n[Boot]\nKernel={a.kernel}\nInitrd={a.initrd}\n"
                f"CommandLine={cmdline}\n")
    ctl, qmp = f"{work}/control", f"{work}/qmp"
    for path in (ctl, qmp):
        if os.path.exists(path):
            os.unlink(path)
    results = {}

    # vmm: the first connection makes systemd-socket-activate start it.
    p = subprocess.Popen(["systemd-socket-activate", "-l", ctl, "--fdname=varlink", "--", a.vmm, f"--config={conf}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        vl = Varlink(ctl)
        wait_for(p, READY, a.timeout)
        drain(p)
        results["vmm Describe (io.sdvm.VM)"] = summary(timed(lambda: vl.call("io.sdvm.VM.Describe"), a.rtt_runs))
        results["vmm Describe (MachineInstance)"] = summary(
                timed(lambda: vl.call("io.systemd.MachineInstance.Describe"), a.rtt_runs))
        pz, rz = pause_resume(lambda: vl.call("io.sdvm.VM.Pause"), lambda: vl.call("io.sdvm.VM.Resume"),
                              a.pause_runs)
        results["vmm Pause"], results["vmm Resume"] = summary(pz), summary(rz)
        drain(p)
    finally:
        p.kill()
        p.communicate()

    qemu = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", a.memory, "-smp", str(a.cpus),
            "-kernel", a.kernel, "-initrd", a.initrd, "-append", cmdline, "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-no-reboot", "-qmp", f"unix:{qmp},server=on,wait=off"]
    p = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(p, READY, a.timeout)
        q = Qmp(qmp)
        drain(p)
        results["qemu query-status"] = summary(timed(lambda: q.call("query-status"), a.rtt_runs))
        pz, rz = pause_resume(lambda: q.call("stop"), lambda: q.call("cont"), a.pause_runs)
        results["qemu stop"], results["qemu cont"] = summary(pz), summary(rz)
    finally:
        p.kill()
        p.communicate()

    ratios = {
        "Describe (io.sdvm.VM) / query-status": results["vmm Describe (io.sdvm.VM)"]["p50_us"]
        / results["qemu query-status"]["p50_us"],
        "Describe (MachineInstance) / query-status": results["vmm Describe (MachineInstance)"]["p50_us"]
        / results["qemu query-status"]["p50_us"],
        "Pause / stop": results["vmm Pause"]["p50_us"] / results["qemu stop"]["p50_us"],
        "Resume / cont": results["vmm Resume"]["p50_us"] / results["qemu cont"]["p50_us"],
    }
    with open(a.json, "w") as f:
        json.dump({"memory": a.memory, "cpus": a.cpus, "kernel": a.kernel, "results": results,
                   "ratios_p50": ratios}, f, indent=2)
    print(f"\n{'call':<32} {'n':>5} {'p50 (us)':>10} {'p99 (us)':>10}")
    for name, r in results.items():
        print(f"{name:<32} {r['n']:>5} {r['p50_us']:>10.1f} {r['p99_us']:>10.1f}")
    for name, v in ratios.items():
        print(f"ratio p50 {name}: {v:.2f}")


if __name__ == "__main__":
    main()

"""Baseline for bench/run.sh: the same full read that gpulse does (every
metric, the utilization sample buffer, the process lists, per-process
utilization, and /proc attribution), written as the Python NVML loop many
monitors are, through ctypes. Prints median wall and CPU time per read."""

import ctypes
import os
import pwd
import statistics
import sys
import time

lib = ctypes.CDLL(os.environ.get("GPULSE_NVML_LIB", "libnvidia-ml.so.1"))
u32, u64 = ctypes.c_uint, ctypes.c_ulonglong


class Memory(ctypes.Structure):
    _fields_ = [("version", u32), ("total", u64), ("reserved", u64), ("free", u64),
                ("used", u64)]


class Util(ctypes.Structure):
    _fields_ = [("gpu", u32), ("memory", u32)]


class Proc(ctypes.Structure):
    _fields_ = [("pid", u32), ("mem", u64), ("gi", u32), ("ci", u32)]


class ProcUtil(ctypes.Structure):
    _fields_ = [("pid", u32), ("ts", u64), ("sm", u32), ("mem", u32), ("enc", u32),
                ("dec", u32)]


class Sample(ctypes.Structure):
    _fields_ = [("ts", u64), ("val", u64)]


def uint_call(fn, h, *args):
    v = u32()
    return v.value if fn(h, *args, ctypes.byref(v)) == 0 else None


def proc_list(fn, h):
    n = u32(0)
    rc = fn(h, ctypes.byref(n), None)
    if rc not in (0, 7):
        return []
    buf = (Proc * (n.value * 2 + 5))()
    n = u32(len(buf))
    return list(buf[: n.value]) if fn(h, ctypes.byref(n), buf) == 0 else []


def attribute(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            uid = next(int(l.split()[1]) for l in f if l.startswith("Uid:"))
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open("/proc/%d/cgroup" % pid) as f:
            cgroup = f.read()
        with open("/proc/%d/stat" % pid) as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        return pwd.getpwuid(uid).pw_name, cmd, cgroup, start
    except (OSError, KeyError, StopIteration):
        return None


def read_all(handles, state):
    out = []
    for i, h in enumerate(handles):
        d = {}
        u = Util()
        if lib.nvmlDeviceGetUtilizationRates(h, ctypes.byref(u)) == 0:
            d["util"] = (u.gpu, u.memory)
        p = u32()
        d["enc"] = lib.nvmlDeviceGetEncoderUtilization(h, ctypes.byref(u32()), ctypes.byref(p))
        d["dec"] = lib.nvmlDeviceGetDecoderUtilization(h, ctypes.byref(u32()), ctypes.byref(p))
        m = Memory(version=0x02000028)
        if lib.nvmlDeviceGetMemoryInfo_v2(h, ctypes.byref(m)) == 0:
            d["mem"] = (m.total, m.used, m.free, m.reserved)
        d["temp"] = uint_call(lib.nvmlDeviceGetTemperature, h, 0)
        d["fan"] = uint_call(lib.nvmlDeviceGetFanSpeed, h)
        d["power"] = uint_call(lib.nvmlDeviceGetPowerUsage, h)
        d["limit"] = uint_call(lib.nvmlDeviceGetEnforcedPowerLimit, h)
        e = u64()
        d["energy"] = e.value if lib.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(e)) == 0 else None
        d["clocks"] = [uint_call(lib.nvmlDeviceGetClockInfo, h, t) for t in (0, 1, 2)]
        d["pstate"] = uint_call(lib.nvmlDeviceGetPerformanceState, h)
        r = u64()
        lib.nvmlDeviceGetCurrentClocksEventReasons(h, ctypes.byref(r))
        cur, pend = ctypes.c_int(), ctypes.c_int()
        if lib.nvmlDeviceGetEccMode(h, ctypes.byref(cur), ctypes.byref(pend)) == 0 and cur.value:
            for et in (0, 1):
                for ct in (0, 1):
                    lib.nvmlDeviceGetTotalEccErrors(h, et, ct, ctypes.byref(u64()))
        rows = [u32() for _ in range(4)]
        lib.nvmlDeviceGetRemappedRows(h, *[ctypes.byref(x) for x in rows])
        # the utilization sample buffer since the last read
        vt, n = ctypes.c_int(), u32()
        last = state.get(("s", i), 0)
        if lib.nvmlDeviceGetSamples(h, 1, u64(last), ctypes.byref(vt), ctypes.byref(n), None) == 0 and n.value:
            buf = (Sample * n.value)()
            if lib.nvmlDeviceGetSamples(h, 1, u64(last), ctypes.byref(vt), ctypes.byref(n), buf) == 0:
                state[("s", i)] = buf[n.value - 1].ts
                d["busy"] = sum(s.val & 0xFFFFFFFF for s in buf[: n.value])
        procs = {}
        for fn in (lib.nvmlDeviceGetComputeRunningProcesses_v3,
                   lib.nvmlDeviceGetGraphicsRunningProcesses_v3,
                   lib.nvmlDeviceGetMPSComputeRunningProcesses_v3):
            for e in proc_list(fn, h):
                procs[e.pid] = e.mem
        n = u32(0)
        last = state.get(("p", i), 0)
        if lib.nvmlDeviceGetProcessUtilization(h, None, ctypes.byref(n), u64(last)) == 7:
            buf = (ProcUtil * n.value)()
            if lib.nvmlDeviceGetProcessUtilization(h, buf, ctypes.byref(n), u64(last)) == 0:
                state[("p", i)] = max(s.ts for s in buf[: n.value])
        d["procs"] = {pid: (mem, attribute(pid)) for pid, mem in procs.items()}
        out.append(d)
    return out


def main():
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    interval = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.1
    assert lib.nvmlInit_v2() == 0
    count = u32()
    lib.nvmlDeviceGetCount_v2(ctypes.byref(count))
    handles = []
    for i in range(count.value):
        h = ctypes.c_void_p()
        lib.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(h))
        handles.append(h)
    state = {}
    for _ in range(3):
        read_all(handles, state)
    wall, cpu = [], []
    for _ in range(reads):
        time.sleep(interval)
        w0, c0 = time.perf_counter(), time.thread_time()
        read_all(handles, state)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    print("python ctypes NVML loop: %d GPUs, %d reads" % (count.value, reads))
    print("  wall per full read: median %.1f us" % (statistics.median(wall) * 1e6))
    print("  CPU  per full read: median %.1f us" % (statistics.median(cpu) * 1e6))
    lib.nvmlShutdown()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the C source of a counting pass-through NVML library: every nvml*
symbol of the library given is exported, counts its calls and jumps to the
real one (x86-64 trampolines, so any signature passes through untouched).
Load it as GPULSE_NVML_LIB with GPULSE_COUNT_TARGET=<the real library>; on
unload it writes "function calls" lines to GPULSE_COUNT_OUT. The counts do
not depend on the gpulse version under test, so an old build is counted
the same way as a new one."""
import subprocess
import sys

lib, out = sys.argv[1], sys.argv[2]
nm = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                    check=True).stdout
names = sorted({line.split()[-1] for line in nm.splitlines() if line.split()[-1].startswith("nvml")})
with open(out, "w") as f:
    f.write("#include <dlfcn.h>\n#include <stdio.h>\n#include <stdlib.h>\n")
    f.write("#define N %d\n" % len(names))
    f.write("static const char *const names[N] = {%s};\n" % ", ".join('"%s"' % n for n in names))
    f.write("__attribute__((visibility(\"hidden\"))) unsigned long gp_count[N];\n")
    f.write("__attribute__((visibility(\"hidden\"))) void *gp_target[N];\n")
    f.write("""
__attribute__((constructor)) static void gp_init(void)
{
    void *h = dlopen(getenv("GPULSE_COUNT_TARGET"), RTLD_NOW | RTLD_LOCAL);
    for (int i = 0; h && i < N; i++) {
        gp_target[i] = dlsym(h, names[i]);
    }
}

__attribute__((destructor)) static void gp_fini(void)
{
    const char *path = getenv("GPULSE_COUNT_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    for (int i = 0; f && i < N; i++) {
        if (gp_count[i]) {
            fprintf(f, "%s %lu\\n", names[i], gp_count[i]);
        }
    }
    if (f) {
        fclose(f);
    }
}
""")
    f.write("__asm__(\".text\\n\"\n")
    for i, n in enumerate(names):
        f.write('  ".globl %s\\n.type %s,@function\\n%s:\\n"\n' % (n, n, n))
        f.write('  "  lock incq gp_count+%d(%%rip)\\n  jmp *gp_target+%d(%%rip)\\n"\n' % (8 * i, 8 * i))
    f.write(");\n")

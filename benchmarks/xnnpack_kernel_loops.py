"""Time the innermost loops of the XNNPACK fp32 GEMM/IGEMM microkernels as shipped in the wheels.

The ExecuTorch 1.5.1 wheel's libexecutorch_backendxnnpack_lowering.so is stripped; perf shows its hot
loop (ResNet-18, 1 thread) at offset 0xffe58..0xffee1: the 5x16 FMA3 IGEMM kernel, built by
GCC 13, with one accumulator spilled to the stack (`vfmadd213ps 0x28(%rsp)` +
`vmovaps %ymm1,0x28(%rsp)` every iteration). LiteRT 2.3.0's libpywrap_litert_common.so has the
same kernel by name (`xnn_f32_igemm_minmax_ukernel_5x16__fma3_broadcast_prfm`, clang 18), with
all ten accumulators in registers. The ExecuTorch GEMM kernel (hand-written 6x16 assembly,
offset 0xfad00..0xfad76) is the path exporters/xnnpack_lowering.py routes convolutions to.

This script disassembles those three loops from the installed libraries (objdump), wraps each
in a tiny driver that runs it over L1-resident data, and reports TSC ticks per 10 FMAs (the
min over many trials, so other processes on the CPU do not inflate it). It needs gcc and
objdump, x86_64 with FMA3, and exactly the wheels above (checked by sha256).

    python -m benchmarks.xnnpack_kernel_loops
Writes benchmarks/results/xnnpack_kernel_loops.json and .md.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from .output import write_pair

LIBS = {
    "executorch": ("executorch/lib/libexecutorch_backendxnnpack_lowering.so",
                   "4e1076a6b1e7c600a21d7e07ea10d2f09c42e441c606f107f1a55dfd3878c816"),
    "litert": ("ai_edge_litert/libpywrap_litert_common.so",
               "8be667880c61d506a3ff5fda0edbe5ccd8ee106335e36489a340e1fdc3d8580d"),
}
# (library, start, stop (exclusive, the loop's closing jne), FMAs per iteration)
LOOPS = {
    "et_igemm_5x16_gcc": ("executorch", 0xFFE58, 0xFFEE1, 10),
    "litert_igemm_5x16_clang": ("litert", 0x9C2D40, 0x9C2DAE, 10),
    "et_gemm_6x16_asm": ("executorch", 0xFAD00, 0xFAD76, 12),
}

# Register set-up for each loop, read off the surrounding code: pointers to A rows, the
# packed weights, the k counter and, for the GCC kernel, the 32-byte aligned spill slot.
WRAPPERS = {
    "et_igemm_5x16_gcc": ("""
    push %rbp; mov %rsp,%rbp; push %rbx; push %r12; push %r13; push %r14; push %r15
    and $-32,%rsp; sub $0x108,%rsp
    mov %rcx,0x80(%rsp)
    mov %rdi,%r11; mov %rdi,%rbx; mov %rdi,%r12; mov %rdi,%r13; mov %rdi,%r15
    mov %rsi,%r8; mov %rdx,%rdi
    vzeroall
    vmovaps %ymm7,0x28(%rsp)
1:  mov %rdi,%rax; mov %r8,%rdx
2:
""", """
    jne 2b
    decq 0x80(%rsp)
    jne 1b
    lea -0x28(%rbp),%rsp
    pop %r15; pop %r14; pop %r13; pop %r12; pop %rbx; pop %rbp
    vzeroupper; ret
""", "end"),
    "litert_igemm_5x16_clang": ("""
    push %rbp; mov %rsp,%rbp; push %rbx; push %r12; push %r13; push %r14; push %r15
    mov %rcx,%r13; mov %rsi,%r8
    mov %rdi,%r12; mov %rdi,%rcx; mov %rdi,%rax; mov %rdi,%rsi; mov %rdi,%r10
    vzeroall
1:  xor %rbx,%rbx; mov %r8,%r9
2:
""", """
    jne 2b
    dec %r13
    jne 1b
    pop %r15; pop %r14; pop %r13; pop %r12; pop %rbx; pop %rbp
    vzeroupper; ret
""", "begin"),
    "et_gemm_6x16_asm": ("""
    push %rbp; mov %rsp,%rbp; push %rbx; push %r12; push %r13; push %r14; push %r15
    mov %rcx,%r13; mov %rsi,%r8
    mov %rdi,%rcx; mov %rdi,%rax; mov %rdi,%r15; mov %rdi,%r14; mov %rdi,%r10; mov %rdi,%r12
    vzeroall
1:  xor %r11,%r11; mov %r8,%r9
2:
""", """
    jne 2b
    dec %r13
    jne 1b
    pop %r15; pop %r14; pop %r13; pop %r12; pop %rbx; pop %rbp
    vzeroupper; ret
""", "begin"),
}

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>
%(decls)s
typedef void (*loop_fn)(const char*, const float*, size_t, long);
int main(void) {
  size_t kc = 256; long reps = 2000;
  float* a = aligned_alloc(64, kc * 4 + 64); float* w = aligned_alloc(64, kc * 64 + 8192);
  for (size_t i = 0; i < kc + 16; i++) a[i] = 1e-3f;
  for (size_t i = 0; i < kc * 16 + 2048; i++) w[i] = 1e-3f;
  loop_fn fns[] = {%(fns)s}; int ends[] = {%(ends)s}; double fmas[] = {%(fmas)s};
  int n = sizeof(fns) / sizeof(fns[0]); double best[16];
  for (int i = 0; i < n; i++) best[i] = 1e30;
  for (int t = 0; t < 300; t++)
    for (int i = 0; i < n; i++) {
      const char* ap = (const char*)a + (ends[i] ? kc * 4 : 0);
      unsigned long long t0 = __rdtsc(); fns[i](ap, w, kc * 4, reps);
      double v = (double)(__rdtsc() - t0) / (reps * kc) * 10.0 / fmas[i];
      if (v < best[i]) best[i] = v;
    }
  for (int i = 0; i < n; i++) printf("%%.4f\n", best[i]);
  return 0;
}
"""


def _site_packages() -> Path:
    import executorch

    return Path(list(executorch.__path__)[0]).resolve().parent


def _loop_text(lib: Path, start: int, stop: int) -> list:
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}",
                          f"--stop-address={stop:#x}", str(lib)], check=True, capture_output=True,
                         text=True).stdout
    return [line.split("\t", 1)[1].strip() for line in out.splitlines()
            if re.match(r"^\s+[0-9a-f]+:\t", line)]


def main() -> int:
    site = _site_packages()
    libs = {}
    for key, (rel, sha) in LIBS.items():
        path = site / rel
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        if digest != sha:
            print(f"{path}: not the wheel these offsets were read from (sha256 {digest}); "
                  "find the hot loop again with `perf record` + `perf report --sort dso,sym`", file=sys.stderr)
            return 2
        libs[key] = path
    names, asm, loops = list(LOOPS), ["    .text"], {}
    for name in names:
        lib, start, stop, _ = LOOPS[name]
        body = _loop_text(libs[lib], start, stop)
        loops[name] = body
        pre, post, _ = WRAPPERS[name]
        asm += [f"    .globl {name}", f"{name}:", pre] + [f"    {ins}" for ins in body] + [post]
    asm.append('    .section .note.GNU-stack,"",@progbits')
    src = DRIVER % {
        "decls": "\n".join(f"void {n}(const char*, const float*, size_t, long);" for n in names),
        "fns": ", ".join(names),
        "ends": ", ".join("1" if WRAPPERS[n][2] == "end" else "0" for n in names),
        "fmas": ", ".join(str(LOOPS[n][3]) for n in names),
    }
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "loops.S").write_text("\n".join(asm) + "\n")
        (t / "main.c").write_text(src)
        subprocess.run(["gcc", "-O2", "-o", str(t / "loops"), str(t / "main.c"), str(t / "loops.S")], check=True)
        vals = [float(v) for v in subprocess.run([str(t / "loops")], check=True, capture_output=True,
                                                 text=True).stdout.split()]
    res = dict(zip(names, vals))
    spills = {n: sum("(%rsp)" in ins for ins in loops[n]) for n in names}
    base = res["litert_igemm_5x16_clang"]
    md = ["# XNNPACK fp32 microkernel inner loops, as shipped (TSC ticks per 10 FMAs, min of 300 trials)", "",
          "| loop | library | ticks / 10 FMA | vs LiteRT IGEMM | stack accesses in loop |", "|---|---|---|---|---|"]
    for n in names:
        md.append(f"| {n} | {LOOPS[n][0]} | {res[n]:.2f} | {res[n] / base:.2f}x | {spills[n]} |")
    text = "\n".join(md) + "\n"
    out = Path(__file__).parent / "results" / "xnnpack_kernel_loops"
    payload = {"ticks_per_10_fma": res, "stack_accesses": spills, "loops": loops,
               "libraries": {k: str(v) for k, v in libs.items()}}
    write_pair(out.with_suffix(".json"), out.with_suffix(".md"), payload, text, echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

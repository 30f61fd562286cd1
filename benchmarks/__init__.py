"""Benchmarks: each module measures one thing; `benchmarks.run` writes the report. Every figure is
recorded with the CPU it was measured on (`cpu()`): speeds from different CPUs are never compared."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A free loopback port (benchmarks run on a plain install: nothing from tests/ is imported)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu() -> dict[str, Any]:
    """What the peaks are computed from: cores available, the clock, and the vector features."""
    from assistant.e5.session import cores

    flags: set[str] = set()
    mhz = 0.0
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags" and not flags:
                flags = set(value.split())
            elif key == "cpu MHz" and not mhz:
                mhz = float(value)
            elif key == "model name":
                model = value.strip()
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]
    n = cores()
    # per core and cycle: AVX-512 has two 16-lane FMA ports (64 fp32 FLOP), AVX2 two 8-lane (32);
    # VNNI's vpdpbusd does 4 int8 MACs per 32-bit lane, four times the fp32 rate (AMX not counted:
    # ONNX Runtime's dynamic-quantisation MatMuls do not use it on the CPU provider)
    fp32_per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 8
    int8_per_cycle = fp32_per_cycle * (4 if "avx512_vnni" in flags else 2)
    ghz = mhz / 1000 if mhz else 2.0
    return {"model": model, "cores": n, "ghz": round(ghz, 2), "features": [f for f in wanted if f in flags],
            "peak_fp32_gflops": round(n * ghz * fp32_per_cycle, 1),
            "peak_int8_gops": round(n * ghz * int8_per_cycle, 1)}


def cpu_line(c: dict[str, Any]) -> str:
    """The CPU as a report names it beside its figures: model, cores, clock, vector features."""
    return f"{c['model']}, {c['cores']} cores at {c['ghz']} GHz ({' '.join(c['features']) or 'no AVX2'})"


def same_cpu(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two runs' figures may stand side by side: the same CPU model and vector features."""
    return bool(a and b and a.get("model") == b.get("model") and a.get("features") == b.get("features"))

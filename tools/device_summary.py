"""The last lines of tools/device_check.sh: a short table of what its steps wrote under OUT.

    python tools/device_summary.py OUT RUN        (RUN: the gpu lesson's run folder)

Only the end of a device run's output comes back, so this is printed last.  Every section
reads its own files and prints a line saying so when they are missing or unreadable; one
section that fails says why and the others still print.
"""

import json
import os
import sys


def steps_and_tests(out):
    with open(os.path.join(out, "steps.txt")) as steps:
        print(steps.read().rstrip())
    tests_log = os.path.join(out, "tests.log")
    if not os.path.exists(tests_log):
        print("tests: no tests.log")
        return
    with open(tests_log) as log:
        for line in log:
            result = any(word in line for word in (" passed", " failed", " error", " skipped"))
            if result and line.strip().endswith("s") and " in " in line and not line.startswith("sharded_tests"):
                print("tests:", line.strip())
                if " skipped" in line and " passed" not in line and " failed" not in line:
                    print("   NO TEST RAN: every test of this run was skipped (no CUDA device answered?)")
            if line.startswith("FAILED") or line.startswith("ERROR"):
                print("  ", line.strip()[:150])


def load(out, name, required=True):
    """The rows of OUT/name; [] (and a line saying why, for a file that should be there) otherwise."""
    path = os.path.join(out, name)
    if not required and not os.path.exists(path):
        return []
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        print(f"{name}: not read ({type(error).__name__})")
        return []


def number(value, spec):
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def mib(value):
    return value / 2**20 if isinstance(value, (int, float)) else None


def bench_table(out):
    rows = load(out, "bench.json")
    plain = {r["batch"]: r for r in load(out, "bench_plain.json")}
    print(f"{'batch':>5} {'ours ms':>8} {'first':>7} {'torch ms':>8} {'ratio':>6} {'plain ms':>8} "
          f"{'our MiB':>8} {'torch MiB':>9} {'in use':>7} {'torch':>7} {'our img/s':>9} {'torch img/s':>11}")
    print("      (MiB: our pool vs torch's reserved, then in use vs torch's allocated)")
    for r in rows:
        print(f"{r['batch']:>5} {number(r.get('tinyunet_step_ms'), '8.2f')} "
              f"{number(r.get('tinyunet_first_step_ms'), '7.0f')} {number(r.get('torch_step_ms'), '8.2f')} "
              f"{number(r.get('ratio'), '6.2f')} {number(plain.get(r['batch'], {}).get('tinyunet_step_ms'), '8.2f')} "
              f"{number(mib(r.get('tinyunet_peak_bytes')), '8.0f')} {number(mib(r.get('torch_reserved_peak_bytes')), '9.0f')} "
              f"{number(mib(r.get('tinyunet_live_peak_bytes')), '7.0f')} {number(mib(r.get('torch_peak_bytes')), '7.0f')} "
              f"{number(r.get('tinyunet_predict_images_per_s'), '9.0f')} "
              f"{number(r.get('torch_predict_images_per_s'), '11.0f')}")
        if not r.get("twin_check_ok", True):
            print("   twin check FAILED:", r.get("twin_check"))
    if rows and "layers" in rows[-1]:
        r = rows[-1]
        slow = sorted(r["layers"].items(), key=lambda kv: -sum(kv[1].values()))[:6]
        print(f"slowest layers at batch {r['batch']} (fwd/bwd ms):",
              ", ".join(f"{k} {'/'.join(f'{v:.1f}' for v in t.values())}" for k, t in slow))


def tiled(out):
    for r in load(out, "bench_tiled.json", required=False):
        print(f"batch {r['batch']}: with TINYUNET_TILED_CONV=1 {number(r.get('tinyunet_step_ms'), '.2f')} ms, pool "
              f"{number(mib(r.get('tinyunet_peak_bytes')), '.0f')} MiB, in use "
              f"{number(mib(r.get('tinyunet_live_peak_bytes')), '.0f')} MiB")


def compiled(out):
    for r in load(out, "bench_compile.json", required=False):
        if "torch_compile_step_ms" not in r:
            print(f"batch {r['batch']}: torch.compile gave no column: {r.get('torch_compile_error')}")
            continue
        ratio = r.get("ratio_compile")
        print(f"batch {r['batch']:>4} vs torch.compile: ours {r['tinyunet_step_ms']:.2f} ms, eager "
              f"{number(r.get('torch_step_ms'), '.2f')}, compiled {r['torch_compile_step_ms']:.2f} (compile "
              f"{number((r.get('torch_compile_first_step_ms') or 0) / 1e3, '.0f')} s, "
              f"{number(mib(r.get('torch_compile_peak_bytes') or 0), '.0f')} MiB), ratio "
              f"{format(ratio, '.2f') if ratio is not None else 'refused: ' + str(r.get('torch_compile_check'))}")


def graphed(out):
    for r in load(out, "bench_graph.json", required=False):
        if "tinyunet_graph_step_ms" not in r:
            print(f"batch {r['batch']}: no CUDA graph column: {r.get('tinyunet_graph_error')}")
            continue
        print(f"batch {r['batch']:>4} as a CUDA graph: {r['tinyunet_graph_step_ms']:.2f} ms (eager ours "
              f"{number(r.get('tinyunet_step_ms'), '.2f')}, torch {number(r.get('torch_step_ms'), '.2f')}; capture "
              f"{number(r.get('tinyunet_graph_first_step_ms'), '.0f')} ms; graph pool "
              f"{number(mib(r.get('tinyunet_graph_pool_bytes') or 0), '.0f')} MiB), ratio graph / torch "
              f"{r.get('ratio_graph')}, check {'ok' if r.get('tinyunet_graph_check_ok') else 'FAILED'}: "
              f"{r.get('tinyunet_graph_check')}")


def own_gemm(out):      # the own matmul against cuBLAS (tools/time_gemm.py): what a graph-capturable step pays
    try:
        with open(os.path.join(out, "bench.log")) as log:
            section = log.read().split("===== own-gemm", 1)[1].splitlines()[1:]
    except (OSError, IndexError):
        print("own matmul vs cuBLAS: not run")
        return
    print("own matmul vs cuBLAS, batch 32:")
    for line in section:
        if line.startswith("====="):
            break
        print("  " + line)


def lesson(run):
    try:
        with open(os.path.join(run, "metrics.json")) as file:
            metrics = json.load(file)
    except (OSError, ValueError) as error:
        print("gpu lesson: no metrics", type(error).__name__, error)
        return
    print(f"gpu lesson: test Dice global {number(metrics.get('test_dice_global'), '.3f')}, per image "
          f"{number(metrics.get('test_dice_per_image'), '.3f')}, baseline "
          f"{number(metrics.get('threshold_baseline_dice'), '.3f')}, "
          f"{number(metrics.get('run_all_seconds'), '.0f')} s in all, training "
          f"{number(metrics.get('training', {}).get('seconds'), '.0f')} s")


def main(argv=None):
    out, run = (argv if argv is not None else sys.argv[1:])[:2]
    print("=" * 78)
    sections = [("steps and tests", steps_and_tests, out), ("bench", bench_table, out), ("tiled", tiled, out),
                ("torch.compile", compiled, out), ("CUDA graph", graphed, out), ("own matmul", own_gemm, out),
                ("gpu lesson", lesson, run)]
    failed = 0
    for name, section, folder in sections:
        try:
            section(folder)
        except Exception as error:       # one unreadable file must not hide the other sections
            failed += 1
            print(f"{name}: not summarised ({type(error).__name__}: {error})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

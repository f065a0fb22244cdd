"""Every benchmark in one command, writing its figures into one folder.

  python benchmarks/run_all.py                       # results/<device kind>/
  python benchmarks/run_all.py --out benchmarks/results/h100/ \\
      --libmine /tmp/minepy/libmine.so --smic-code smic-pytorch \\
      --deepwsd-code DeepWSD
  python benchmarks/run_all.py --tiny [--out DIR]    # a few minutes' check

Runs `selection`, `embed`, `mic`, `smic`, `fr`, `loda` and `radn` (each
script of this folder, in its own process, so one failure or one compiled
program cannot disturb the next) with sizes fit for an accelerator (the
scripts' defaults), or with `--tiny` the smallest sizes that still run every
code path (how the suite checks this command on the CPU). Each writes
OUT/<name>.json with the same keys as on the CPU; OUT/run_all.json records,
per benchmark, its status ("ok", "failed" with the error's last lines, or
"skipped" with what is missing: a peer package, libmine, an official code
folder), its wall time, the command, and the machine (JAX backend and device
kind). A benchmark whose peer is missing is skipped, never half-run.

The default folder is benchmarks/results/<device kind>/ (for example
`nvidia_h100_80gb_hbm3`, or `cpu`), so accelerator figures sit beside the
CPU ones. The torch peers run where torch puts them by default (the CPU);
JAX runs on its default backend.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (needs: python modules, or the options among "libmine"; arguments
# at full size; arguments with --tiny)
BENCHMARKS = {
    "selection": ((), [], ["--tiny"]),
    "embed": (("torch", "torchvision"), [], ["--batch", "8", "--repeats",
                                             "1"]),
    "mic": (("libmine",), [], ["--pairs", "256", "--peer-pairs", "64",
                               "--repeats", "2"]),
    "smic": (("torch", "torchvision", "libmine"), [], ["--repeats", "1"]),
    "fr": (("torch", "torchvision", "lpips", "DISTS_pytorch"), [],
           ["--repeats", "1", "--sizes", "64x64", "--metrics",
            "psnr,ssim,lpips_vgg,dists"]),
    "loda": (("torch", "timm"), [], ["--tiny", "--batch", "2", "--crops",
                                     "2", "--repeats", "1"]),
    "radn": (("torch", "torchvision"), [], ["--tiny", "--images", "1",
                                            "--patches", "4", "--repeats",
                                            "1"]),
}


def device_kind() -> str:
  """JAX's first device kind as a folder name ("cpu", "nvidia_h100_...")."""
  import jax  # pylint: disable=g-import-not-at-top
  d = jax.devices()[0]
  kind = "cpu" if d.platform == "cpu" else d.device_kind
  return re.sub(r"[^a-z0-9]+", "_", kind.lower()).strip("_")


def missing(needs, args) -> list[str]:
  """What a benchmark needs and this machine lacks."""
  out = []
  for need in needs:
    if need == "libmine":
      if not args.libmine:
        out.append("libmine (--libmine FILE; see benchmarks/mic.py)")
      elif not Path(args.libmine).is_file():
        out.append(f"libmine: {args.libmine} does not exist")
    else:
      try:                 # importable, not merely present
        importlib.import_module(need)
      except Exception as e:  # pylint: disable=broad-except
        out.append(f"the Python package {need} ({type(e).__name__}: "
                   f"{str(e)[:80]})")
  return out


def command(name: str, args, out_dir: Path) -> list[str]:
  _, full, tiny = BENCHMARKS[name]
  cmd = [sys.executable, str(HERE / f"{name}.py"),
         *(tiny if args.tiny else full),
         "--out", str(out_dir / f"{name}.json")]
  if name in ("mic", "smic", "fr") and args.libmine:
    cmd += ["--libmine", args.libmine]
  if name == "fr":
    if args.smic_code:
      cmd += ["--smic-code", args.smic_code]
    if args.deepwsd_code:
      cmd += ["--deepwsd-code", args.deepwsd_code]
  return cmd


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", help="results folder (default: "
                 "benchmarks/results/<device kind>/)")
  p.add_argument("--tiny", action="store_true",
                 help="the smallest sizes (a check, not figures to report)")
  p.add_argument("--only", default="", help="comma-separated benchmark "
                 f"names (default: all of {', '.join(BENCHMARKS)})")
  p.add_argument("--libmine", help="the compiled libmine .so (mic, smic, fr)")
  p.add_argument("--smic-code", help="the official smic-pytorch folder (fr)")
  p.add_argument("--deepwsd-code", help="the official DeepWSD folder (fr)")
  p.add_argument("--timeout", type=float, default=1800,
                 help="seconds per benchmark")
  args = p.parse_args(argv)
  names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
  unknown = sorted(set(names) - set(BENCHMARKS))
  if unknown:
    p.error(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
  kind = device_kind()
  if args.out:
    out_dir = Path(args.out)
  elif args.tiny:     # tiny figures never overwrite real ones
    out_dir = Path(tempfile.gettempdir()) / "iqa_jax_benchmarks_tiny" / kind
  else:
    out_dir = HERE / "results" / kind
  out_dir.mkdir(parents=True, exist_ok=True)
  report = {"device_kind": kind, "tiny": args.tiny, "benchmarks": {}}
  t_all = time.perf_counter()
  for name in names:
    lacks = missing(BENCHMARKS[name][0], args)
    if lacks:
      report["benchmarks"][name] = {"status": "skipped",
                                    "missing": lacks}
      print(f"[run_all] {name}: skipped, missing {'; '.join(lacks)}",
            flush=True)
      continue
    cmd = command(name, args, out_dir)
    print(f"[run_all] {name}: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    try:
      done = subprocess.run(cmd, cwd=HERE.parent, capture_output=True,
                            text=True, timeout=args.timeout, check=False)
      ok = done.returncode == 0 and (out_dir / f"{name}.json").is_file()
      tail = (done.stdout + done.stderr)[-3000:]
    except subprocess.TimeoutExpired:
      ok, tail = False, f"timed out after {args.timeout:.0f} s"
    entry = {"status": "ok" if ok else "failed",
             "seconds": round(time.perf_counter() - t0, 1),
             "command": cmd[1:], "results": f"{name}.json" if ok else None}
    if not ok:
      entry["error"] = tail
    report["benchmarks"][name] = entry
    print(f"[run_all] {name}: {entry['status']} in {entry['seconds']} s",
          flush=True)
    if not ok:
      print(tail, file=sys.stderr)
  report["seconds"] = round(time.perf_counter() - t_all, 1)
  (out_dir / "run_all.json").write_text(json.dumps(report, indent=2) + "\n")
  failed = [n for n, e in report["benchmarks"].items()
            if e["status"] == "failed"]
  print(f"[run_all] {len(names) - len(failed)} of {len(names)} without "
        f"failure ({report['seconds']} s); results in {out_dir}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())

"""Multi-process (multi-host) runs: JAX's standard set-up, and who speaks.

  distributed.initialize()                       # from the environment
  distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)
  iqa-jax --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0 ...

One process per host (per GPU node, per TPU VM): every process runs the same
command, `jax.devices()` then spans all hosts and the data mesh
(`parallel.data_mesh`) every device. `parallel.map_batches` and the training
loop place each batch with `jax.make_array_from_process_local_data`, each
process reading only the rows of its own devices; results come back to
every process, and only process 0 writes files (`results.Workdir`,
`iqa-jax score`'s CSV); orbax saves checkpoints from all processes together.
The work directory and the data must be on a filesystem every host sees.

Without arguments `initialize` does nothing unless the environment asks for
a multi-process run: `JAX_COORDINATOR_ADDRESS` (with `JAX_NUM_PROCESSES` and
`JAX_PROCESS_ID`), or a cluster JAX detects itself (SLURM, Open MPI, TPU pod
slices, Kubernetes JobSets: pass `auto=True`, as `iqa-jax --distributed`
does). On the CPU backend the processes talk through gloo
(`jax_cpu_collectives_implementation`), which is how two processes on one
machine are tested. A process that dies makes the others fail within
`heartbeat_timeout` seconds (a collective with a closed peer fails at once)
instead of waiting forever; `guard` turns that into one clear line and exit
status 1.
"""

from __future__ import annotations

import contextlib
import os
import sys

import jax

__all__ = ["initialize", "add_arguments", "from_args", "is_main", "prefix",
           "log", "guard"]

_state = {"initialized": False}


def initialize(coordinator: str | None = None, *,
               num_processes: int | None = None,
               process_id: int | None = None, auto: bool = False,
               heartbeat_timeout: int = 60,
               initialization_timeout: int = 300) -> bool:
  """Joins the processes of a multi-process run (call before using JAX).

  Args:
    coordinator: "HOST:PORT" of process 0's coordination service (default:
      $JAX_COORDINATOR_ADDRESS).
    num_processes, process_id: default $JAX_NUM_PROCESSES /
      $JAX_PROCESS_ID, or what JAX detects on a cluster.
    auto: let JAX detect the cluster (SLURM, Open MPI, TPU, ...) when no
      coordinator is given.
    heartbeat_timeout: seconds after which a silent process counts as dead.
    initialization_timeout: seconds to wait for every process to join.

  Returns:
    True when this is a multi-process run (now initialised), False for a
    single process (nothing done).
  """
  if _state["initialized"]:
    return True
  coordinator = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
  if num_processes is None and os.environ.get("JAX_NUM_PROCESSES"):
    num_processes = int(os.environ["JAX_NUM_PROCESSES"])
  if process_id is None and os.environ.get("JAX_PROCESS_ID"):
    process_id = int(os.environ["JAX_PROCESS_ID"])
  if coordinator is None and not auto:
    return False
  if coordinator is not None and (num_processes is None or
                                  process_id is None):
    raise ValueError(
        f"a multi-process run at {coordinator} needs the number of processes"
        " and this process's id: pass --num-processes N --process-id I (or "
        "set JAX_NUM_PROCESSES and JAX_PROCESS_ID).")
  if num_processes is not None and process_id is not None and not (
      0 <= process_id < num_processes):
    raise ValueError(f"process id {process_id} is not in "
                     f"0..{num_processes - 1}.")
  # CPU devices of different processes exchange data through gloo (the
  # default has no cross-process collectives); accelerators use their own.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator, num_processes, process_id,
      heartbeat_timeout_seconds=heartbeat_timeout,
      initialization_timeout=initialization_timeout)
  _state["initialized"] = True
  log(f"joined: {jax.process_count()} processes, "
      f"{jax.device_count()} devices ({jax.local_device_count()} here)")
  return True


def add_arguments(parser) -> None:
  """--coordinator, --num-processes, --process-id, --distributed."""
  g = parser.add_argument_group(
      "multi-process runs (one process per host; see iqa_jax.distributed)")
  g.add_argument("--coordinator", metavar="HOST:PORT",
                 help="process 0's address (default $JAX_COORDINATOR_ADDRESS"
                 "); every process runs the same command")
  g.add_argument("--num-processes", type=int, metavar="N",
                 help="processes in the run (default $JAX_NUM_PROCESSES)")
  g.add_argument("--process-id", type=int, metavar="I",
                 help="this process, 0..N-1; 0 writes the results (default "
                 "$JAX_PROCESS_ID)")
  g.add_argument("--distributed", action="store_true",
                 help="let JAX detect the cluster (SLURM, Open MPI, TPU pod "
                 "slices) instead of --coordinator")


def from_args(args) -> bool:
  """`initialize` with the options of `add_arguments`."""
  return initialize(getattr(args, "coordinator", None),
                    num_processes=getattr(args, "num_processes", None),
                    process_id=getattr(args, "process_id", None),
                    auto=getattr(args, "distributed", False))


def is_main() -> bool:
  """True in process 0 (the one that writes files), and in single runs."""
  return not _state["initialized"] or jax.process_index() == 0


def prefix() -> str:
  """"[process I/N] " in a multi-process run, "" otherwise."""
  if not _state["initialized"]:
    return ""
  return f"[process {jax.process_index()}/{jax.process_count()}] "


def log(message: str, *, file=None) -> None:
  """Prints `message` prefixed with the process that speaks."""
  print(prefix() + message, file=file or sys.stderr, flush=True)


@contextlib.contextmanager
def guard():
  """In a multi-process run, an exception (often: another process died and
  a collective failed) is reported in one line naming this process, and the
  process exits with status 1 at once instead of waiting at shutdown for
  processes that are gone. Single runs: exceptions pass through."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    if not _state["initialized"]:
      raise
    text = str(e).splitlines()[0][:400] if str(e) else type(e).__name__
    hint = (" (another process stopped: see its log)"
            if any(w in str(e) for w in ("Connection closed", "heartbeat",
                                         "unhealthy", "Gloo", "barrier",
                                         "Barrier"))
            else "")
    log(f"error: {type(e).__name__}: {text}{hint}")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)  # pylint: disable=protected-access

"""One process of the two-process tests (tests/test_multiprocess.py).

  python tests/multiprocess_worker.py TASK OUT [--coordinator H:P
      --num-processes N --process-id I]

TASK "regressor": trains distill360's patch regressor (`regression.fit`) for
a fixed number of steps on seeded data, validation included, with orbax
checkpoints, and (process 0) writes its parameters and predictions to OUT
(.npz). TASK "die": joins, then process 1 exits at once while process 0
goes on to a collective, which must fail within the heartbeat timeout.
"""

import argparse
import os
import time

from iqa_jax import distributed


def main():
  p = argparse.ArgumentParser()
  p.add_argument("task", choices=("regressor", "die"))
  p.add_argument("out")
  distributed.add_arguments(p)
  args = p.parse_args()
  task, out = args.task, args.out
  distributed.initialize(args.coordinator, num_processes=args.num_processes,
                         process_id=args.process_id, heartbeat_timeout=10,
                         initialization_timeout=60)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from iqa_jax import parallel, regression  # pylint: disable=g-import-not-at-top
  if task == "regressor":
    rng = np.random.default_rng(0)
    score = rng.uniform(size=60)
    x = (rng.normal(size=(60, 12, 16)) + 3 * score[:, None, None]).reshape(
        -1, 16).astype(np.float32)
    y = np.repeat(score, 12)
    image = np.repeat(np.arange(60), 12)
    val = (x[:96], image[:96], score[:8])
    cfg = regression.TrainConfig(batch_size=64, max_epochs=4, max_steps=30,
                                 patience=0, weight_decay=0.0,
                                 learning_rate=1e-3)
    res = regression.fit(x[96:], y[96:], val=val, groups=image[96:],
                         config=cfg, checkpoint_dir=out + ".ckpt")
    pred = regression.predict(res, x)
    leaves = [np.asarray(v) for v in jax.tree.leaves(res.params)]
    if distributed.is_main():
      np.savez(out, pred=pred, *leaves)
    distributed.log(f"trained {res.steps} steps on {jax.device_count()} "
                    "devices")
  elif task == "die":
    mesh = parallel.data_mesh()
    f = jax.jit(lambda a: a.sum())
    with distributed.guard():
      a = parallel.put_rows(lambda lo, hi: np.arange(lo, hi, dtype=np.float32),
                            8, mesh)
      print(distributed.prefix() + "sum", float(f(a)), flush=True)
      if jax.process_index() == 1:
        os._exit(3)  # pylint: disable=protected-access
      time.sleep(2)
      for _ in range(100):     # collectives with a dead peer
        a = parallel.put_rows(
            lambda lo, hi: np.arange(lo, hi, dtype=np.float32), 8, mesh)
        float(f(a))
        time.sleep(0.5)
      print("no error", flush=True)


if __name__ == "__main__":
  main()

"""Run (or resume) the training of a run directory in this process; used as a subprocess.

    python tests/train/driver.py RUN_DIR [--pause-after STEP]

With ``--pause-after``, prints ``paused <step>`` once that step is fully written and then
sleeps, waiting to be killed with SIGKILL by the test.
"""

import argparse
import sys
import time

from routerlab.config import from_dict
from routerlab.rundir import RunDir
from routerlab.train import LMRunConfig, train


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--pause-after", type=int)
    args = parser.parse_args()
    run = RunDir.open(args.run_dir)
    cfg = from_dict(LMRunConfig, run.config)

    def on_step(step: int) -> None:
        if step == args.pause_after:
            print(f"paused {step}", flush=True)
            time.sleep(600)

    summary = train(cfg, run, resume=True, on_step=on_step)
    run.write_json("summary.json", summary)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

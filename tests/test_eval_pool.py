"""The --jobs workers keep to their share of the cores: torch's and the BLAS pools' threads are limited in each."""

import json
import os
import subprocess
import sys

from conftest import REPO

CHILD = """
import json, os, sys
from eval.pool import _worker_init
_worker_init(os.getppid(), int(sys.argv[1]))
import numpy, torch
from threadpoolctl import threadpool_info
print(json.dumps({"torch": torch.get_num_threads(), "pools": [p["num_threads"] for p in threadpool_info()]}))
"""


def test_a_worker_of_a_two_job_pool_on_two_cores_runs_one_thread_per_pool():
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # nothing set beforehand
    out = subprocess.run([sys.executable, "-c", CHILD, "1"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    limits = json.loads(out.stdout.strip().splitlines()[-1])
    assert limits["torch"] == 1 and limits["pools"] and set(limits["pools"]) == {1}

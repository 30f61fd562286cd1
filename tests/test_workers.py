"""The test workers share the machine's cores out (tests/conftest.py): each pytest-xdist worker, and
what it starts, keeps to cores of its own, so ONNX Runtime's thread pools never fight over one."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PROCESS_CORES, worker_cores


def test_the_cores_are_shared_out_whole_and_never_twice():
    assert [worker_cores(n, 2, [0, 1]) for n in range(2)] == [[0], [1]]
    assert [worker_cores(n, 2, [0, 1, 2, 3]) for n in range(2)] == [[0, 2], [1, 3]]
    assert [worker_cores(n, 3, [4, 5, 6, 7]) for n in range(3)] == [[4, 7], [5], [6]]
    assert [worker_cores(n, 4, [0, 1]) for n in range(4)] == [[0], [1], [0], [1]]  # more workers than cores


@pytest.mark.skipif(not os.environ.get("PYTEST_XDIST_WORKER"), reason="only a pytest-xdist worker is pinned")
def test_a_worker_and_what_it_starts_keep_to_its_share_of_the_cores():
    n, workers = int(os.environ["PYTEST_XDIST_WORKER"][2:]), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    share = set(worker_cores(n, workers, PROCESS_CORES))
    assert os.sched_getaffinity(0) == share
    child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str(sorted(share))

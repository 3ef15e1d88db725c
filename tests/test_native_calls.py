"""PESQ's C code, which holds the GIL for a whole piece, runs in a child process where the app asks for it
(eval.native_calls), with the values of the call made here."""

from __future__ import annotations

import os

import numpy as np
import pytest
from pesq import NoUtterancesError, pesq

from eval import native_calls
from eval.metrics import pesq_wb


def _speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    envelope = np.abs(np.sin(np.arange(n) * 2.5 / rate))
    return (0.3 * rng.standard_normal(n) * envelope).astype(np.float32)


def test_a_call_runs_here_unless_asked_and_in_one_child_inside_the_block():
    assert native_calls.call(os.getpid) == os.getpid()
    with native_calls.in_child_process():
        child = native_calls.call(os.getpid)
        assert child != os.getpid() and native_calls.call(os.getpid) == child  # one child, kept
    assert native_calls.call(os.getpid) == os.getpid()


def test_pesq_in_the_child_gives_the_values_of_pesq_here_and_its_errors():
    ref = _speechlike(4.0)
    deg = ref + 0.05 * np.random.default_rng(1).standard_normal(len(ref)).astype(np.float32)
    here = pesq_wb(ref, deg, 16000)
    with native_calls.in_child_process():
        assert pesq_wb(ref, deg, 16000) == here
        with pytest.raises(NoUtterancesError):  # raised in the child, by the C code
            native_calls.call(pesq, 16000, np.zeros(16000, np.float32), np.zeros(16000, np.float32), "wb")

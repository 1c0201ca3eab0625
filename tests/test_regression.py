"""The studies reproduce, exactly, what they computed before networks became named layers and
projections (fixtures recorded at commit b36ccd6 by ``tests/regression_cases.py``).

Training runs on cpp_standalone, evaluation on the batched runtime path; both are
deterministic for a given seed, so final weights and accuracy curves must be equal, not close.
"""
import numpy as np
import pytest

from regression_cases import CASES, FIXTURE_DIR, run_case

pytestmark = pytest.mark.standalone


#: The forgetting cases compile several binaries each (over a minute apiece on 2 cores): they run
#: with `make test-slow`, which CI runs too; the other cases run in every `make test`.
SLOW_CASES = ("forgetting_single", "forgetting_two_layer")


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c for c in CASES])
def test_study_reproduces_its_pre_refactor_outputs_exactly(case, real_data):
    path = FIXTURE_DIR / f"{case}.npz"
    if not path.exists():
        pytest.fail(f"fixture {path} is missing: record it with `python tests/regression_cases.py {case}`")
    expected = np.load(path)
    got = run_case(case)
    assert sorted(got) == sorted(expected.files)
    for key in expected.files:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{case}: {key} changed")

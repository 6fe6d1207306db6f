"""The einc package under test is the build's (tests/python/run.py puts BUILD/python first
on PYTHONPATH); a test session that found another one says so rather than testing it."""
import os

import einc


def pytest_report_header(config):
    return f"einc {einc.__version__} from {os.path.dirname(einc.__file__)}"


def pytest_configure(config):
    want = os.environ.get("EINC_TEST_PACKAGE")
    if want and not os.path.realpath(einc.__file__).startswith(os.path.realpath(want)):
        raise RuntimeError(f"testing {einc.__file__}, not the package built in {want}")

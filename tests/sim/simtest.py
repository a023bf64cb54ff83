"""simtest.py - what every simulator's test file shares: where the
vendor-authored samples are, and a main() that runs the file's tests and
prints the "N passed, N failed" line ctest and CI read."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def vendor_samples(vendor):
    """The directory of ../shared/vendor-samples/<vendor>, or None."""
    cands = [os.environ.get("BATON_VENDOR_SAMPLES", ""),
             os.path.join(HERE, "..", "..", "..", "shared", "vendor-samples"),
             "/work/shared/vendor-samples"]
    for c in cands:
        if c and os.path.isdir(os.path.join(c, vendor)):
            return os.path.join(c, vendor)
    return None


def run_module(module_name, samples):
    """Runs the tests of a module; returns the process's exit code (non-
    zero when samples are missing, a test fails, or none ran)."""
    if not samples:
        print("vendor samples not found (set BATON_VENDOR_SAMPLES)",
              file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules[module_name])
    r = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(r.failures) + len(r.errors)
    passed = r.testsRun - failed - len(r.skipped)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and r.testsRun > 0 else 1

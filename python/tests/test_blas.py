"""The warning `import qdm` gives when OpenBLAS runs its generic kernels on
a CPU that supports better ones (OpenBLAS before 0.3.25 takes CPUs it does
not know, such as Sapphire Rapids, for a "Prescott"). What OpenBLAS picks
unaided is read in a fresh interpreter that loads it directly, without qdm;
what the CPU supports, from /proc/cpuinfo."""
import os
import subprocess
import sys
import unittest

RAW = ("import ctypes; l = ctypes.CDLL('libopenblas.so.0'); "
       "l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())")


def run(code, **env):
    e = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    e.update(env)
    return subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=e,
                          capture_output=True, text=True)


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


@unittest.skipUnless(os.path.exists("/proc/cpuinfo"), "needs /proc/cpuinfo")
class TestBlas(unittest.TestCase):
    def test_warns_exactly_when_the_kernels_are_generic(self):
        raw = run(RAW).stdout.strip()
        flags = cpu_flags()
        better = raw == "Prescott" and {"avx2", "fma"} <= flags
        r = run("import qdm")
        if better:
            self.assertNotEqual(r.returncode, 0, "no warning on generic kernels")
            self.assertIn("OPENBLAS_CORETYPE=", r.stderr)
            want = "SkylakeX" if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= flags else "Haswell"
            self.assertIn(f"OPENBLAS_CORETYPE={want}", r.stderr)
        else:
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_no_warning_with_the_variable_set(self):
        r = run("import qdm; print(qdm.blas_core())", OPENBLAS_CORETYPE="Prescott")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "Prescott")


if __name__ == "__main__":
    unittest.main()

"""Packaging glue that pyproject.toml cannot say: the version comes from the
CMake project, and the package carries libqdm.so from the CMake build (the
file named by QDM_LIBRARY, else build/libqdm.so of this source tree), so
`python3 -m pip install ./python` after the C build gives an importable qdm.
The wheel holds a platform library but no CPython extension: tag py3-none-<platform>."""
import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(qdm VERSION ([0-9.]+)", f.read()).group(1)


def library():
    path = os.environ.get("QDM_LIBRARY") or os.path.join(ROOT, "build", "libqdm.so")
    if not os.path.isfile(path):
        raise SystemExit(f"qdm: {path} not found: build the C library first "
                         "(cmake -S . -B build && cmake --build build), or set QDM_LIBRARY to a libqdm.so")
    return os.path.realpath(path)


class BuildPy(build_py):
    def run(self):
        super().run()
        dst = os.path.join(self.build_lib, "qdm", "libqdm.so")
        shutil.copyfile(library(), dst)
        os.chmod(dst, 0o755)


cmds = {"build_py": BuildPy}
try:
    from wheel.bdist_wheel import bdist_wheel

    class BdistWheel(bdist_wheel):
        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            return "py3", "none", super().get_tag()[2]

    cmds["bdist_wheel"] = BdistWheel
except ImportError:
    pass

setup(version=version(), cmdclass=cmds)

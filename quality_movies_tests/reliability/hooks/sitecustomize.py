"""Test-only start-up hook of the reliability suite's subprocesses (found through PYTHONPATH).

With QUALITY_MOVIES_TEST_KILL_BEFORE=``module:Class.method`` set, the process SIGKILLs itself the first
time that method is called, as a power cut or ``kill -9`` would stop it at that point. It writes the
marker file QUALITY_MOVIES_TEST_KILL_MARKER first, so the test knows the kill happened there. With
QUALITY_MOVIES_TEST_FAIL_WITH=``ExceptionName`` as well (a built-in exception, e.g.
ConnectionResetError), every call raises that exception instead, as a dropped connection would.
Nothing of this lives in the product's code.
"""

import builtins
import importlib.abc
import importlib.util
import os
import signal
import sys

TARGET = os.environ.get("QUALITY_MOVIES_TEST_KILL_BEFORE", "")
FAIL_WITH = os.environ.get("QUALITY_MOVIES_TEST_FAIL_WITH", "")


def _patch(module) -> None:
    owner_name, _, method = TARGET.partition(":")[2].rpartition(".")
    owner = getattr(module, owner_name) if owner_name else module

    def killed(*args, **kwargs):
        marker = os.environ.get("QUALITY_MOVIES_TEST_KILL_MARKER")
        if marker:
            with open(marker, "w") as f:
                f.write(f"{os.getpid()} {TARGET}\n")
        if FAIL_WITH:
            raise getattr(builtins, FAIL_WITH)("injected by the reliability suite")
        os.kill(os.getpid(), signal.SIGKILL)

    getattr(owner, method)  # fails loudly if the target does not exist
    setattr(owner, method, killed)


class _KillAfterImport(importlib.abc.MetaPathFinder):
    """Patches the target module right after it is first imported."""

    def __init__(self, module_name: str):
        self.module_name = module_name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module_name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        exec_module = spec.loader.exec_module

        def exec_then_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_then_patch
        return spec


if TARGET:
    sys.meta_path.insert(0, _KillAfterImport(TARGET.partition(":")[0]))

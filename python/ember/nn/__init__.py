"""ember.nn: neural-network building blocks (``ember.nn.functional`` is ``ember.functional``)."""
import sys as _sys

from .. import functional  # noqa: F401

# `import ember.nn.functional as F` looks the submodule up by name.
_sys.modules[__name__ + ".functional"] = functional

# Layers, Parameter, init and utils (torch.nn's layout: modules/, parameter.py, init.py, utils/).
from .parameter import Buffer, Parameter  # noqa: E402
from .modules import *  # noqa: E402,F401,F403
from .modules import __all__ as _modules_all  # noqa: E402
from . import init, utils  # noqa: E402

__all__ = ["functional", "init", "utils", "Parameter", "Buffer"] + list(_modules_all)

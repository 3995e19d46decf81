"""Backend settings: ember.backends.cpu (instruction-set path) and ember.backends.cuda."""
from . import cpu, cuda  # noqa: F401

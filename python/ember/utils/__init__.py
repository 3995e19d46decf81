"""ember.utils: data loading (ember.utils.data), mirroring torch.utils."""
from . import data

__all__ = ["data"]

"""ember.utils.data: datasets, samplers, default_collate and DataLoader (like torch.utils.data)."""
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler)
from .collate import default_collate
from .dataloader import DataLoader

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "Sampler",
           "SequentialSampler", "RandomSampler", "BatchSampler", "SubsetRandomSampler", "default_collate",
           "DataLoader"]

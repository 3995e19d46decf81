"""Data loading: datasets, samplers, default_collate and DataLoader (ordering, seeding,
drop_last, background workers)."""
import collections
import threading
import time

import numpy as np
import pytest

import ember
from ember.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                              SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, default_collate,
                              random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(3, i, dtype=np.float32), "y": i * i, "name": f"s{i}"}


def test_default_collate_stacks_tensors_arrays_and_numbers():
    batch = default_collate([(ember.tensor([1.0, 2.0]), np.array([1, 2]), 3, 0.5, "a", True),
                             (ember.tensor([3.0, 4.0]), np.array([3, 4]), 4, 1.5, "b", False)])
    assert isinstance(batch, list) and len(batch) == 6
    np.testing.assert_array_equal(batch[0].numpy(), [[1, 2], [3, 4]])
    assert isinstance(batch[1], ember.Tensor) and batch[1].shape == (2, 2)
    assert batch[2].dtype == ember.int64 and batch[2].tolist() == [3, 4]
    assert batch[3].dtype == ember.float64 and batch[3].tolist() == [0.5, 1.5]
    assert batch[4] == ["a", "b"]
    assert batch[5].dtype == ember.bool


def test_default_collate_recurses_into_dicts_and_namedtuples():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([{"p": Point(1, ember.ones(2)), "l": [1, 2]}, {"p": Point(2, ember.zeros(2)), "l": [3, 4]}])
    assert isinstance(batch["p"], Point)
    assert batch["p"].x.tolist() == [1, 2]
    np.testing.assert_array_equal(batch["p"].y.numpy(), [[1, 1], [0, 0]])
    assert [t.tolist() for t in batch["l"]] == [[1, 3], [2, 4]]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])


def test_tensor_dataset_and_loader_batches_in_order():
    x = ember.arange(10, dtype=ember.float32).reshape(10, 1)
    y = ember.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 1)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(x, ember.arange(3))


def test_drop_last_and_len():
    ds = Squares(10)
    loader = DataLoader(ds, batch_size=3, drop_last=True)
    assert len(loader) == 3
    assert [b["y"].tolist() for b in loader] == [[0, 1, 4], [9, 16, 25], [36, 49, 64]]
    assert len(DataLoader(ds, batch_size=3)) == 4
    assert list(DataLoader(ds, batch_size=3))[-1]["name"] == ["s9"]


def test_shuffle_is_deterministic_under_seed_and_generator():
    ds = Squares(20)

    def order(**kw):
        return [i for b in DataLoader(ds, batch_size=5, shuffle=True, **kw) for i in b["x"][:, 0].tolist()]

    ember.manual_seed(3)
    a = order()
    ember.manual_seed(3)
    b = order()
    assert a == b and sorted(a) == list(range(20)) and a != list(range(20))
    g1, g2 = ember.Generator().manual_seed(7), ember.Generator().manual_seed(7)
    assert order(generator=g1) == order(generator=g2)


def test_num_workers_preserves_batch_order_and_calls_worker_init():
    class Slow(Squares):
        def __getitem__(self, i):
            time.sleep(0.002 * ((7 * i) % 5))  # later items often finish first
            return super().__getitem__(i)

    ds = Slow(40)
    seen = []
    lock = threading.Lock()

    def init(worker_id):
        with lock:
            seen.append(worker_id)

    serial = [b["y"].tolist() for b in DataLoader(ds, batch_size=3)]
    threaded = [b["y"].tolist() for b in DataLoader(ds, batch_size=3, num_workers=4, worker_init_fn=init,
                                                    pin_memory=True)]
    assert threaded == serial
    assert sorted(seen) == list(range(len(seen))) and 1 <= len(seen) <= 4


def test_worker_exceptions_propagate():
    class Bad(Squares):
        def __getitem__(self, i):
            if i == 5:
                raise KeyError("bad sample")
            return super().__getitem__(i)

    with pytest.raises(KeyError, match="bad sample"):
        list(DataLoader(Bad(10), batch_size=2, num_workers=2))


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = ember.Generator().manual_seed(0)
    perm = list(RandomSampler(range(10), generator=g))
    assert sorted(perm) == list(range(10))
    draws = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(draws) == 50 and set(draws) <= {0, 1, 2}
    assert len(list(RandomSampler(range(4), num_samples=10, generator=g))) == 10
    assert sorted(SubsetRandomSampler([5, 7, 9], generator=g)) == [5, 7, 9]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(3), num_samples=0)


def test_custom_sampler_batch_sampler_and_collate_fn():
    ds = Squares(6)
    loader = DataLoader(ds, sampler=[5, 4, 3, 2, 1, 0], batch_size=2, collate_fn=lambda b: [s["y"] for s in b])
    assert list(loader) == [[25, 16], [9, 4], [1, 0]]
    loader = DataLoader(ds, batch_sampler=[[0, 2], [4]])
    assert [b["y"].tolist() for b in loader] == [[0, 4], [16]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    assert [s["y"] for s in DataLoader(ds, batch_size=None)][:3] == [0, 1, 4]


def test_random_split_lengths_fractions_and_generator():
    ds = Squares(10)
    a, b = random_split(ds, [3, 7], generator=ember.Generator().manual_seed(1))
    assert len(a) == 3 and len(b) == 7
    assert sorted(a.indices + b.indices) == list(range(10))
    c, d = random_split(ds, [3, 7], generator=ember.Generator().manual_seed(1))
    assert c.indices == a.indices
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=ember.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(Squares(11), [0.5, 0.5])
    assert [len(p) for p in parts] == [6, 5]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])


def test_subset_and_concat_dataset():
    ds = ConcatDataset([Squares(3), Squares(2)])
    assert len(ds) == 5
    assert [ds[i]["y"] for i in range(5)] == [0, 1, 4, 0, 1]
    assert ds[-1]["y"] == 1
    with pytest.raises(IndexError):
        ds[5]
    sub = Subset(Squares(10), [9, 2])
    assert len(sub) == 2 and sub[0]["y"] == 81


def test_iterable_dataset_batches():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)

"""DataLoader: batches from a dataset via a sampler and collate_fn; with num_workers > 0 the
batches are fetched by background threads (prefetching, order preserved).

Deliberate difference from torch: workers are threads, not processes. ember's kernels release
the GIL, and threads need no pickling of the dataset; an IterableDataset is always read in the
main thread (torch would give each worker process its own copy of the stream).
"""
from __future__ import annotations

import collections
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

from .collate import default_collate
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader"]


class DataLoader:
    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device=""):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = 2 if prefetch_factor is None else prefetch_factor
        self.pin_memory = pin_memory  # accepted; ember's CPU tensors need no pinning yet
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        else:
            if sampler is not None and shuffle:
                raise ValueError("sampler option is mutually exclusive with shuffle")
            if batch_sampler is not None:
                if batch_size != 1 or shuffle or sampler is not None or drop_last:
                    raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                     "sampler, and drop_last")
                batch_size = None
                drop_last = False
            elif batch_size is None and drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                                 "drop_last")
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if (batch_size is not None or batch_sampler is not None) else (lambda x: x)
        self.collate_fn = collate_fn

    # ---- iteration ---------------------------------------------------------------------
    def _index_stream(self):
        """Yields what one fetch needs: a list of indices (auto-batching) or a single index."""
        if self.batch_sampler is not None:
            return iter(self.batch_sampler)
        return iter(self.sampler)

    def _fetch(self, item):
        if self.batch_sampler is not None:
            return self.collate_fn([self.dataset[i] for i in item])
        return self.collate_fn(self.dataset[item])

    def _iter_iterable(self):
        it = iter(self.dataset)
        if self.batch_size is None:
            for sample in it:
                yield self.collate_fn(sample)
            return
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)

    def _iter_threads(self):
        counter = itertools.count()
        lock = threading.Lock()

        def init():
            with lock:
                worker_id = next(counter)
            if self.worker_init_fn is not None:
                self.worker_init_fn(worker_id)

        pending = collections.deque()
        stream = self._index_stream()
        depth = self.num_workers * self.prefetch_factor
        with ThreadPoolExecutor(max_workers=self.num_workers, initializer=init,
                                thread_name_prefix="ember-dataloader") as pool:
            try:
                for item in itertools.islice(stream, depth):
                    pending.append(pool.submit(self._fetch, item))
                while pending:
                    future = pending.popleft()
                    for item in itertools.islice(stream, 1):
                        pending.append(pool.submit(self._fetch, item))
                    yield future.result(timeout=self.timeout or None)
            finally:
                for f in pending:
                    f.cancel()

    def __iter__(self):
        if self._iterable:
            return self._iter_iterable()
        if self.num_workers > 0:
            return self._iter_threads()
        return (self._fetch(item) for item in self._index_stream())

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

"""Reverse-mode automatic differentiation (micrograd's idea, grown up).

Every differentiable op is a ``Function``: ``forward(ctx, ...)`` computes with grad mode off, and
``backward(ctx, *grads)`` returns one gradient per forward argument. ``Function.apply`` records
the call as a node whose edges point at the nodes (or leaf tensors) that produced its inputs.
``backward()`` walks the nodes in reverse topological order, accumulating gradients with
``+=``; backward formulas are written with Tensor ops, so with ``create_graph=True`` they are
themselves recorded and higher-order gradients work.
"""
from __future__ import annotations

import functools
import threading
import traceback
import warnings

from . import _C
from .tensor import Tensor

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "detect_anomaly", "set_detect_anomaly", "gradcheck", "gradgradcheck"]


# ---- grad mode -----------------------------------------------------------------------------
class _State(threading.local):
    enabled = True
    anomaly = False


_state = _State()


def is_grad_enabled() -> bool:
    return _state.enabled


class _GradModeContext:
    """Base for no_grad / enable_grad / set_grad_enabled: a context manager and a decorator."""

    _target = True

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self._target

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        if isinstance(self, set_grad_enabled):
            _state.enabled = self._prev  # undo the eager switch done by __init__ (torch does the same)
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(target):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    _target = False


class enable_grad(_GradModeContext):
    _target = True


class set_grad_enabled(_GradModeContext):
    def __init__(self, mode: bool):
        self._target = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._target  # like torch: takes effect immediately, even without `with`

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False


class inference_mode(no_grad):
    def __init__(self, mode=True):
        self._target = not mode


# ---- anomaly detection ---------------------------------------------------------------------
class detect_anomaly:
    """Context manager: name the op whose backward produced NaN/Inf and where it was created."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = _state.anomaly
        _state.anomaly = self.check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __exit__(self, *exc):
        _state.anomaly = self._prev
        return False


def set_detect_anomaly(mode: bool):
    _state.anomaly = bool(mode)


# ---- Function / graph nodes ---------------------------------------------------------------
class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        # The node class torch shows in grad_fn: MulBackward for Mul.
        cls._backward_name = attrs.get("_backward_name", name.lstrip("_") + "Backward0")


class Function(metaclass=_FunctionMeta):
    """Base class for differentiable ops; subclass with static forward/backward, call ``apply``.

    The instance is both ``ctx`` and the graph node (``tensor.grad_fn``).
    """

    _materialize_grads = True
    _saved = ()
    _saved_versions = ()
    _freed = False
    _trace = None
    _pre_hooks = None
    _retained = None

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    # -- ctx API --
    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._saved_versions = tuple(t._c.version if t is not None else 0 for t in tensors)

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors after "
                "they have already been freed). Saved intermediate values of the graph are freed when you call "
                ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
                "graph a second time or if you need to access saved tensors after calling backward.")
        for t, v in zip(self._saved, self._saved_versions):
            if t is not None and t._c.version != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [ember.{t.dtype.name} {list(t.shape)}], which is output of {self.name()}, is at "
                    f"version {t._c.version}; expected version {v} instead.")
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_diff = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool):
        self._materialize_grads = value

    def mark_dirty(self, *tensors):
        pass

    def name(self):
        return type(self)._backward_name

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    @property
    def next_functions(self):
        return tuple((e[0] if e is not None and not isinstance(e[0], Tensor) else None, e[1] if e else 0)
                     for e in self._next)

    def register_hook(self, fn):
        # Called as fn(grad_inputs, grad_outputs) after the node's backward.
        self.__dict__.setdefault("_post_hooks", []).append(fn)

    # -- recording --
    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = cls.__new__(cls)
        needs = None
        if _state.enabled:
            for i, a in enumerate(args):
                if type(a) is Tensor or isinstance(a, Tensor):
                    if a._requires_grad:
                        if needs is None:
                            needs = [False] * len(args)
                        needs[i] = True
        if needs is None:
            ctx.needs_input_grad = (False,) * len(args)
            prev = _state.enabled
            _state.enabled = False
            try:
                return cls.forward(ctx, *args, **kwargs)
            finally:
                _state.enabled = prev
        ctx.needs_input_grad = tuple(needs)
        _state.enabled = False
        try:
            out = cls.forward(ctx, *args, **kwargs)
        finally:
            _state.enabled = True
        ctx._next = tuple((a.grad_fn, a._output_nr) if (n and a.grad_fn is not None) else
                          ((a, 0) if n else None) for a, n in zip(args, needs))
        non_diff = ctx.__dict__.get("_non_diff")
        if type(out) is tuple:
            meta = []
            for i, o in enumerate(out):
                if isinstance(o, Tensor) and (non_diff is None or id(o) not in non_diff) \
                        and o.dtype.is_floating_point:
                    o.grad_fn = ctx
                    o._output_nr = i
                    o._requires_grad = True
                    meta.append(o)
                else:
                    meta.append(o if isinstance(o, Tensor) else None)
            ctx._out_meta = tuple((o._c.shape, o._c.dtype, o._c.device_type, o._c.device_index)
                                  if o is not None else None for o in meta)
        else:
            out.grad_fn = ctx
            out._output_nr = 0
            out._requires_grad = True
            ctx._out_meta = ((out._c.shape, out._c.dtype, out._c.device_type, out._c.device_index),)
        if _state.anomaly:
            ctx._trace = "".join(traceback.format_stack()[:-1])
        return out


class _Leaf:
    """Marker for the edge kind 'accumulate into this leaf tensor's .grad'."""


# ---- the engine --------------------------------------------------------------------------
def _zeros_for(meta):
    from . import creation
    shape, dtype_code, dev_type, dev_index = meta
    from ._dtype import from_code
    from ._device import from_codes
    return creation.zeros(shape, dtype=from_code(dtype_code), device=from_codes(dev_type, dev_index))


def _check_grad_shape(node, nr, g, shape):
    if g._c.shape != shape:
        raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {nr} - got "
                           f"{list(g._c.shape)} but expected shape compatible with {list(shape)}")


def _run_backward(roots, root_grads, retain_graph, create_graph, inputs=None, allow_unused=False):
    """Propagates root_grads from roots; accumulates into leaves' .grad, or returns grads of `inputs`."""
    capture = None
    if inputs is not None:
        capture = {}
        for i, t in enumerate(inputs):
            key = (id(t.grad_fn), t._output_nr) if t.grad_fn is not None else id(t)
            capture.setdefault(key, []).append(i)
        results = [None] * len(inputs)

    # Dependency counts over the part of the graph reachable from the roots.
    deps = {}
    nodes = {}
    stack = []
    for r in roots:
        fn = r.grad_fn
        if fn is not None and id(fn) not in nodes:
            nodes[id(fn)] = fn
            stack.append(fn)
    while stack:
        fn = stack.pop()
        for e in fn._next:
            if e is None:
                continue
            nxt = e[0]
            if isinstance(nxt, Tensor):
                continue
            k = id(nxt)
            deps[k] = deps.get(k, 0) + 1
            if k not in nodes:
                nodes[k] = nxt
                stack.append(nxt)

    leaf_grads = {}  # id(leaf) -> [leaf, summed grad]: hooks and .grad see the total, once
    buffers = {}  # id(node) -> list of grads per output
    ready = []
    prev_mode = _state.enabled
    _state.enabled = create_graph
    try:
        for r, g in zip(roots, root_grads):
            if r.grad_fn is None:
                _buffer_leaf(leaf_grads, r, g)
                continue
            fn = r.grad_fn
            buf = buffers.get(id(fn))
            if buf is None:
                buf = buffers[id(fn)] = [None] * len(fn._out_meta)
            nr = r._output_nr
            buf[nr] = g if buf[nr] is None else buf[nr] + g
        for r in roots:
            fn = r.grad_fn
            if fn is not None and deps.get(id(fn), 0) == 0 and fn not in ready:
                ready.append(fn)
        while ready:
            fn = ready.pop()
            grads = buffers.pop(id(fn), None) or [None] * len(fn._out_meta)
            # Hooks and retain_grad of the node's output tensors.
            if fn._pre_hooks:
                for nr, hooks in fn._pre_hooks.items():
                    for h in hooks:
                        if grads[nr] is not None:
                            new = h(grads[nr])
                            if new is not None:
                                grads[nr] = new
            if fn._retained:
                for nr, ref in fn._retained.items():
                    t = ref()
                    if t is not None and grads[nr] is not None:
                        g = grads[nr] if create_graph else grads[nr].detach()
                        t.grad = g if t.grad is None else t.grad + g
            if capture is not None:
                for nr in range(len(grads)):
                    idxs = capture.get((id(fn), nr))
                    if idxs and grads[nr] is not None:
                        for i in idxs:
                            results[i] = grads[nr] if results[i] is None else results[i] + grads[nr]
            if fn._materialize_grads:
                for nr, g in enumerate(grads):
                    if g is None and fn._out_meta[nr] is not None:
                        grads[nr] = _zeros_for(fn._out_meta[nr])
            in_grads = fn.backward(fn, *grads)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,) if not isinstance(in_grads, list) else tuple(in_grads)
            nxt_edges = fn._next
            if len(in_grads) != len(nxt_edges):
                if len(in_grads) > len(nxt_edges) and all(g is None for g in in_grads[len(nxt_edges):]):
                    in_grads = in_grads[:len(nxt_edges)]
                else:
                    raise RuntimeError(f"function {fn.name()} returned an incorrect number of gradients "
                                       f"(expected {len(nxt_edges)}, got {len(in_grads)})")
            if _state.anomaly or fn.__dict__.get("_post_hooks"):
                _after_node(fn, in_grads, grads)
            if not retain_graph:
                fn._saved = ()
                fn._freed = True
            for e, g in zip(nxt_edges, in_grads):
                if e is None:
                    continue
                nxt, nr = e
                if isinstance(nxt, Tensor):
                    if g is not None:
                        if g._c.shape != nxt._c.shape:
                            _check_grad_shape(fn, nr, g, nxt._c.shape)
                        _buffer_leaf(leaf_grads, nxt, g)
                    continue
                k = id(nxt)
                if g is not None:
                    meta = nxt._out_meta[nr]
                    if meta is not None and g._c.shape != meta[0]:
                        _check_grad_shape(fn, nr, g, meta[0])
                    buf = buffers.get(k)
                    if buf is None:
                        buf = buffers[k] = [None] * len(nxt._out_meta)
                    buf[nr] = g if buf[nr] is None else buf[nr] + g
                d = deps[k] - 1
                deps[k] = d
                if d == 0:
                    ready.append(nxt)
        for t, g in leaf_grads.values():
            _accumulate_leaf(t, g, create_graph, capture, results if capture else None)
    finally:
        _state.enabled = prev_mode
    if capture is not None:
        for i, r in enumerate(results):
            if r is None and not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
        return tuple(results)
    return None


def _after_node(fn, in_grads, out_grads):
    for h in fn.__dict__.get("_post_hooks", ()):
        h(in_grads, tuple(out_grads))
    if _state.anomaly:
        import numpy as np
        for i, g in enumerate(in_grads):
            if g is not None and g.dtype.is_floating_point:
                a = g.detach().cpu().numpy()
                if not np.all(np.isfinite(a)):
                    where = f"\nThe op was created at:\n{fn._trace}" if fn._trace else ""
                    raise RuntimeError(f"Function '{fn.name()}' returned nan values in its {i}th output." + where)


def _buffer_leaf(leaf_grads, t, g):
    e = leaf_grads.get(id(t))
    if e is None:
        leaf_grads[id(t)] = [t, g]
    else:
        e[1] = e[1] + g


def _accumulate_leaf(t, g, create_graph, capture, results):
    if t._hooks:
        for h in t._hooks:
            new = h(g)
            if new is not None:
                g = new
    if capture is not None:
        idxs = capture.get(id(t))
        if idxs:
            for i in idxs:
                results[i] = g if results[i] is None else results[i] + g
        return
    if not t._requires_grad:
        return
    if g.dtype != t.dtype:
        g = g.to(t.dtype)
    if t.grad is None:
        if not create_graph:
            # .grad must own its memory: g may be the caller's gradient, a tensor another edge also
            # received, or a saved forward tensor. (Stealing it when provably unshared, as torch
            # does with use counts, would save this copy; not done yet.)
            g = Tensor._wrap(g._c.clone())
        t.grad = g
    elif create_graph:
        t.grad = t.grad + g
    else:
        from ._functions import elementwise
        elementwise.add_(t.grad, g)


def _make_grads(outputs, grad_outputs):
    from . import creation
    grads = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            if o.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = creation.ones_like(o)
        elif not isinstance(g, Tensor):
            g = creation.tensor(g, dtype=o.dtype, device=o.device)
        elif g.shape != o.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output has a shape of {list(g.shape)} and output has a "
                               f"shape of {list(o.shape)}.")
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    tensors = tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    for t in tensors:
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(tensors, grad_tensors)
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        res = _run_backward(tensors, grads, retain_graph, create_graph, inputs=inputs, allow_unused=True)
        for t, g in zip(inputs, res):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    _run_backward(tensors, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         is_grads_batched=False, materialize_grads=False):
    """Returns the gradients of outputs with respect to inputs, without touching .grad."""
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (index {i}) does not require grad")
    for o in outputs:
        if not o.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    res = _run_backward(outputs, _make_grads(outputs, grad_outputs), retain_graph, create_graph,
                        inputs=inputs, allow_unused=allow_unused)
    if materialize_grads:
        from . import creation
        res = tuple(creation.zeros_like(t) if g is None else g for g, t in zip(res, inputs))
    return res


# ---- Tensor methods that belong to autograd -----------------------------------------------
def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph, inputs)


def _register_hook(self, hook):
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self.grad_fn is None:
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        lst = self._hooks
    else:
        fn = self.grad_fn
        if fn._pre_hooks is None:
            fn._pre_hooks = {}
        lst = fn._pre_hooks.setdefault(self._output_nr, [])
        lst.append(hook)
    return _RemovableHandle(lst, hook)


def _retain_grad(self):
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self.grad_fn is None or self._retains_grad:
        return
    import weakref
    fn = self.grad_fn
    if fn._retained is None:
        fn._retained = {}
    fn._retained[self._output_nr] = weakref.ref(self)
    self._retains_grad = True


class _RemovableHandle:
    def __init__(self, lst, item):
        self._lst, self._item = lst, item

    def remove(self):
        if self._item in self._lst:
            self._lst.remove(self._item)


Tensor.backward = _tensor_backward
Tensor.register_hook = _register_hook
Tensor.retain_grad = _retain_grad
Tensor.retains_grad = property(lambda self: self._retains_grad)


# ---- copies that autograd must see (used by tensor.py) -------------------------------------
class ToCopy(Function):
    _backward_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, dtype, device):
        ctx.src = (x.dtype, x.device)
        return Tensor._wrap(x._c.to(dtype.code, *device._code))

    @staticmethod
    def backward(ctx, g):
        dtype, device = ctx.src
        return g.to(dtype=dtype, device=device), None, None


class Clone(Function):
    _backward_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, x):
        return Tensor._wrap(x._c.clone())

    @staticmethod
    def backward(ctx, g):
        return g


def to_copy(x, dtype, device):
    if not dtype.is_floating_point and x.requires_grad and _state.enabled:
        with no_grad():
            return ToCopy.apply(x, dtype, device)
    return ToCopy.apply(x, dtype, device)


def clone(x):
    return Clone.apply(x)


def contiguous(x):
    return Clone.apply(x)


from ._gradcheck import gradcheck, gradgradcheck  # noqa: E402

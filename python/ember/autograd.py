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
           "is_grad_enabled", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "gradcheck",
           "gradgradcheck"]


# ---- grad mode -----------------------------------------------------------------------------
class _State(threading.local):
    enabled = True  # grad mode is per thread, as in torch


_state = _State()
_anomaly = False  # anomaly mode is process-wide, as in torch (and a plain global is cheaper to read)


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
        global _anomaly
        self._prev = _anomaly
        _anomaly = self.check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self._prev
        return False


def set_detect_anomaly(mode: bool):
    global _anomaly
    _anomaly = bool(mode)


def is_anomaly_enabled() -> bool:
    return _anomaly


# ---- Function / graph nodes ---------------------------------------------------------------
class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        # The node class torch shows in grad_fn: MulBackward for Mul.
        cls._backward_name = attrs.get("_backward_name", name.lstrip("_") + "Backward0")


# An edge of the graph is None (the input needs no gradient), (node, output_nr) or
# (leaf tensor, _LEAF): a negative number marks "accumulate into this leaf's .grad".
_LEAF = -1
_new = object.__new__
# One C++ call each for what apply records per op (csrc/bindings/bind_autograd.cpp): the
# arguments' requires-grad flags and edges, and the marking of a single output.
_C.autograd_set_tensor_type(Tensor)
_input_edges = _C.autograd_input_edges
_mark_output = _C.autograd_mark_output
_versions = _C.autograd_versions
_first_modified = _C.autograd_first_modified
_propagate = _C.autograd_propagate
_accumulate_leaves = _C.autograd_accumulate_leaves
_NoneType = type(None)


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
    _post_hooks = None
    _non_diff = None

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    # -- ctx API --
    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._saved_versions = _versions(tensors)

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors after "
                "they have already been freed). Saved intermediate values of the graph are freed when you call "
                ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
                "graph a second time or if you need to access saved tensors after calling backward.")
        i = _first_modified(self._saved, self._saved_versions)
        if i >= 0:
            t, v = self._saved[i], self._saved_versions[i]
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
        return tuple((None, 0) if e is None or e[1] == _LEAF else e for e in self._next)

    def register_hook(self, fn):
        # Called as fn(grad_inputs, grad_outputs) after the node's backward.
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(fn)

    # -- recording --
    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = _new(cls)
        state = _state
        if state.enabled:
            recorded = _input_edges(args)
            if recorded is not None:
                # The edges are taken before forward runs: they point at what produced the inputs
                # the op reads, even if forward rebinds an input's grad_fn.
                ctx.needs_input_grad, ctx._next = recorded
                state.enabled = False
                try:
                    out = cls.forward(ctx, *args, **kwargs)
                finally:
                    state.enabled = True
                ctx._out_meta = _mark_outputs(ctx, out) if type(out) is tuple else _mark_output(out, ctx)
                if _anomaly:
                    ctx._trace = "".join(traceback.format_stack()[:-1])
                return out
            ctx.needs_input_grad = (False,) * len(args)
            state.enabled = False
            try:
                return cls.forward(ctx, *args, **kwargs)
            finally:
                state.enabled = True
        ctx.needs_input_grad = (False,) * len(args)
        return cls.forward(ctx, *args, **kwargs)


def _mark_outputs(ctx, outs):
    """Makes the differentiable tensors among a tuple of outputs into outputs of ctx; returns the
    metadata autograd keeps of each output (None for a non-tensor)."""
    non_diff = ctx._non_diff
    meta = []
    for i, o in enumerate(outs):
        if isinstance(o, Tensor):
            if (non_diff is None or id(o) not in non_diff) and o.dtype.is_floating_point:
                o.grad_fn = ctx
                o._output_nr = i
                o._requires_grad = True
            meta.append(o._c.meta)
        else:
            meta.append(None)
    return tuple(meta)


# ---- the engine --------------------------------------------------------------------------
def _zeros_for(meta):
    from . import creation
    shape, dtype_code, dev_type, dev_index = meta
    from ._dtype import from_code
    from ._device import from_codes
    return creation.zeros(shape, dtype=from_code(dtype_code), device=from_codes(dev_type, dev_index))


def _materialize(fn, grads):
    """Zeros for the outputs of fn that got no gradient (torch's materialize_grads)."""
    for nr, meta in enumerate(fn._out_meta):
        if grads[nr] is None and meta is not None:
            grads[nr] = _zeros_for(meta)


def _check_grad_shape(node, in_grads, g, shape):
    """Raises torch's error for a gradient `g` (one of in_grads) whose shape is not `shape`."""
    index = next(i for i, x in enumerate(in_grads) if x is g)
    raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {index} - got "
                       f"{list(g._c.shape)} but expected shape compatible with {list(shape)}")


def _run_backward(roots, root_grads, retain_graph, create_graph, inputs=None, allow_unused=False):
    """Propagates root_grads from roots; accumulates into leaves' .grad, or returns grads of `inputs`.

    One loop serves every case; hooks, retain_grad, inputs= (capture) and anomaly mode each cost
    a cheap test per node when unused."""
    capture = results = None
    if inputs is not None:
        capture = {}
        for i, t in enumerate(inputs):
            key = (id(t.grad_fn), t._output_nr) if t.grad_fn is not None else id(t)
            capture.setdefault(key, []).append(i)
        results = [None] * len(inputs)

    buffers = {}  # node -> list of the gradients of its outputs, summed
    leaf_grads = {}  # leaf -> its summed gradient: hooks and .grad see the total, once
    root_fns = []
    for r, g in zip(roots, root_grads):
        fn = r.grad_fn
        if fn is None:
            _add_to(leaf_grads, r, g)
            continue
        buf = buffers.get(fn)
        if buf is None:
            buf = buffers[fn] = [None] * len(fn._out_meta)
            root_fns.append(fn)
        nr = r._output_nr
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    deps = _C.autograd_dependencies(root_fns)  # {node: edges into it}, over what the roots reach
    ready = [fn for fn in root_fns if fn not in deps]
    anomaly = _anomaly
    prev_mode = _state.enabled
    _state.enabled = create_graph
    try:
        while ready:
            fn = ready.pop()
            grads = buffers.pop(fn, None)
            if grads is None:
                grads = [None] * len(fn._out_meta)
            if fn._pre_hooks or fn._retained:
                _run_output_hooks(fn, grads, create_graph)
            if capture is not None:
                for nr in range(len(grads)):
                    idxs = capture.get((id(fn), nr))
                    if idxs and grads[nr] is not None:
                        for i in idxs:
                            results[i] = grads[nr] if results[i] is None else results[i] + grads[nr]
            if fn._materialize_grads and _NoneType in map(type, grads):
                _materialize(fn, grads)
            in_grads = fn.backward(fn, *grads)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,) if not isinstance(in_grads, list) else tuple(in_grads)
            edges = fn._next
            if len(in_grads) != len(edges):
                in_grads = _trim_grads(fn, in_grads, len(edges))
            if anomaly or fn._post_hooks:
                _after_node(fn, in_grads, grads)
            if not retain_graph:
                fn._saved = ()
                fn._freed = True
            bad = _propagate(edges, in_grads, buffers, leaf_grads, deps, ready)
            if bad >= 0:
                nxt, nr = edges[bad]
                _check_grad_shape(fn, in_grads, in_grads[bad], nxt._c.shape if nr < 0 else nxt._out_meta[nr][0])
        # Drop the loop's references, so that the reference counts read when the leaves get their
        # gradients say whether anything else holds one.
        grads = in_grads = g = None
        items = list(leaf_grads.items())
        leaf_grads = None
        _accumulate_leaves(items, capture is not None or create_graph,
                           lambda t, g: _accumulate_leaf(t, g, create_graph, capture, results), _give_copy)
    finally:
        _state.enabled = prev_mode
    if capture is not None:
        for i, r in enumerate(results):
            if r is None and not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
        return tuple(results)
    return None


def _give_copy(t, g):
    """t.grad = a copy of g that t owns (g is held elsewhere or shares its memory)."""
    t.grad = g.to(t.dtype) if g._c.dtype != t._c.dtype else Tensor._wrap(g._c.clone())


def _add_to(grads, key, g):
    grads[key] = g if key not in grads else grads[key] + g


def _trim_grads(fn, in_grads, n):
    if len(in_grads) > n and all(g is None for g in in_grads[n:]):
        return in_grads[:n]
    raise RuntimeError(f"function {fn.name()} returned an incorrect number of gradients "
                       f"(expected {n}, got {len(in_grads)})")


def _run_output_hooks(fn, grads, create_graph):
    """Tensor hooks and retain_grad of the node's outputs, before its backward runs."""
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


def _after_node(fn, in_grads, out_grads):
    for h in fn._post_hooks or ():
        h(in_grads, tuple(out_grads))
    if _anomaly:
        import numpy as np
        for i, g in enumerate(in_grads):
            if g is not None and g.dtype.is_floating_point:
                a = g.detach().cpu().numpy()
                if not np.all(np.isfinite(a)):
                    where = f"\nThe op was created at:\n{fn._trace}" if fn._trace else ""
                    raise RuntimeError(f"Function '{fn.name()}' returned nan values in its {i}th output." + where)


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
            # received, or one a hook kept.
            g = Tensor._wrap(g._c.clone())
        t.grad = g
    elif create_graph:
        t.grad = t.grad + g
    else:
        _C.binary(_ADD, t.grad._c, g._c, t.grad._c)  # grad mode is off: a plain in-place add


_ADD = 0  # BinaryOp::Add


def _make_grads(outputs, grad_outputs):
    grads = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            c = o._c
            if c.numel != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            shape, dtype_code, dev_type, dev_index = c.meta
            g = Tensor._wrap(_C.full(shape, 1, dtype_code, dev_type, dev_index))
        elif not isinstance(g, Tensor):
            from . import creation
            g = creation.tensor(g, dtype=o.dtype, device=o.device)
        elif g._c.shape != o._c.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output has a shape of {list(g.shape)} and output has a "
                               f"shape of {list(o.shape)}.")
        grads.append(g)
    return grads


def _check_requires_grad(tensors):
    for t in tensors:
        if not t._requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    tensors = tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    _check_requires_grad(tensors)
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
        if not t._requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (index {i}) does not require grad")
    _check_requires_grad(outputs)
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
    if inputs is not None:
        return backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph, inputs)
    roots = (self,)
    _check_requires_grad(roots)
    _run_backward(roots, _make_grads(roots, (gradient,)), create_graph if retain_graph is None else retain_graph,
                  create_graph)


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

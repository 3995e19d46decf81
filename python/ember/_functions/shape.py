"""Views and shape ops (reshape, view, permute, transpose, expand, squeeze, ...), sharing storage
wherever torch does, and their gradients."""
from __future__ import annotations

import builtins
import math

from .. import _C
from ..autograd import Function, _state
from ..tensor import Size, Tensor

_wrap = Tensor._wrap


def _view_of(x, c):
    t = _wrap(c)
    t._base = x if x._base is None else x._base
    return t


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = tuple(shape[0])
    return tuple(builtins.int(s) for s in shape)


def infer_size(shape, numel):
    """Resolves a single -1 in `shape` and checks the element count."""
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"only one dimension can be inferred, got shape {list(shape)}")
    for s in shape:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    if neg:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if math.prod(shape) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _view_strides(old_shape, old_strides, new_shape):
    """Strides that let `new_shape` view a tensor of old geometry without copying, or None
    (torch's computeStride: split and merge dims only inside contiguous chunks)."""
    if math.prod(old_shape) == 0:
        strides = [1] * len(new_shape)
        for i in range(len(new_shape) - 2, -1, -1):
            strides[i] = strides[i + 1] * builtins.max(new_shape[i + 1], 1)
        return tuple(strides)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = old_strides[-1] if old_strides else 1
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and
                             old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = old_strides[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


class View(Function):
    _backward_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, x, shape, strides):
        ctx.in_shape = x._c.shape
        return _view_of(x, x._c.as_strided(shape, strides, x._c.offset))

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape), None, None


class Reshape(Function):
    """reshape of a tensor that cannot be viewed: a copy."""
    _backward_name = "ReshapeAliasBackward0"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x._c.shape
        c = x._c.contiguous()
        return _wrap(c.as_strided(shape, _contig_strides(shape), 0))

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape), None


def _contig_strides(shape):
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * builtins.max(shape[i + 1], 1)
    return tuple(strides)


def _as_view(x, shape, strides):
    if _state.enabled and x._requires_grad:
        return View.apply(x, shape, strides)
    return _view_of(x, x._c.as_strided(shape, strides, x._c.offset))


def view(x, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, Size, builtins.int)):
        raise TypeError(f"view(dtype) reinterpretation is not supported by ember; got {shape[0]!r}")
    shape = infer_size(_shape_arg(shape), x._c.numel)
    strides = _view_strides(x._c.shape, x._c.strides, shape)
    if strides is None:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one dimension "
                           "spans across two contiguous subspaces). Use .reshape(...) instead. (view "
                           f"{list(x._c.shape)} with strides {list(x._c.strides)} as {list(shape)})")
    return _as_view(x, shape, strides)


def reshape(x, *shape):
    shape = infer_size(_shape_arg(shape), x._c.numel)
    if shape == x._c.shape:
        return _as_view(x, shape, x._c.strides)
    strides = _view_strides(x._c.shape, x._c.strides, shape)
    if strides is not None:
        return _as_view(x, shape, strides)
    if _state.enabled and x._requires_grad:
        return Reshape.apply(x, shape)
    c = x._c.contiguous()
    return _wrap(c.as_strided(shape, _contig_strides(shape), 0))


def view_as(x, other):
    return view(x, other.shape)


def reshape_as(x, other):
    return reshape(x, other.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        shape, strides = x._c.shape, x._c.strides
        return _view_of(x, x._c.as_strided(tuple(shape[d] for d in dims), tuple(strides[d] for d in dims),
                                           x._c.offset))

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return permute(g, inv), None


def _wrap_dim(d, n):
    m = builtins.max(n, 1)
    if not isinstance(d, builtins.int):
        raise TypeError(f"dim must be an int, got {type(d).__name__}")
    if d < -m or d >= m:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-m}, {m - 1}], but got {d})")
    return d % m


def permute(x, *dims):
    dims = _shape_arg(dims)
    n = x._c.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the length "
                           f"of the desired ordering of dimensions i.e. input.dim() = {n} is not equal to "
                           f"len(dims) = {len(dims)}")
    dims = tuple(_wrap_dim(d, n) for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError(f"permute(): duplicate dims are not allowed (got {list(dims)})")
    if _state.enabled and x._requires_grad:
        return Permute.apply(x, dims)
    shape, strides = x._c.shape, x._c.strides
    return _view_of(x, x._c.as_strided(tuple(shape[d] for d in dims), tuple(strides[d] for d in dims), x._c.offset))


def transpose(x, dim0, dim1):
    n = x._c.ndim
    if n == 0:
        return x
    d0, d1 = _wrap_dim(dim0, n), _wrap_dim(dim1, n)
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(x, dims)


swapaxes = swapdims = transpose


def t(x):
    if x._c.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x._c.ndim}D")
    return transpose(x, 0, 1) if x._c.ndim == 2 else x


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape, strides):
        ctx.in_shape = x._c.shape
        return _view_of(x, x._c.as_strided(shape, strides, x._c.offset))

    @staticmethod
    def backward(ctx, g):
        from .elementwise import sum_to
        return sum_to(g, ctx.in_shape), None, None


def expand(x, *sizes):
    sizes = _shape_arg(sizes)
    shape, strides = x._c.shape, x._c.strides
    n, m = len(sizes), len(shape)
    if n < m:
        raise RuntimeError(f"expand: the number of sizes provided ({n}) must be greater or equal to the number of "
                           f"dimensions in the tensor ({m})")
    out_shape, out_strides = [], []
    for i, s in enumerate(sizes):
        j = i - (n - m)
        if j < 0:
            if s < 0:
                raise RuntimeError(f"expand: the expanded size of the tensor ({s}) isn't allowed in a leading, "
                                   "non-existing dimension")
            out_shape.append(s)
            out_strides.append(0)
            continue
        cur = shape[j]
        if s == -1:
            s = cur
        if cur == s:
            out_shape.append(s)
            out_strides.append(strides[j])
        elif cur == 1:
            out_shape.append(s)
            out_strides.append(0)
        else:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}")
    out_shape, out_strides = tuple(out_shape), tuple(out_strides)
    if out_shape == shape:
        return x
    if _state.enabled and x._requires_grad:
        return Expand.apply(x, out_shape, out_strides)
    return _view_of(x, x._c.as_strided(out_shape, out_strides, x._c.offset))


def expand_as(x, other):
    return expand(x, other.shape)


def unsqueeze(x, dim):
    n = x._c.ndim
    if not (-n - 1 <= dim <= n):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n - 1}, {n}], but got {dim})")
    d = dim % (n + 1)
    shape = list(x._c.shape)
    strides = list(x._c.strides)
    new_stride = strides[d] * shape[d] if d < n else 1
    shape.insert(d, 1)
    strides.insert(d, new_stride)
    return _as_view(x, tuple(shape), tuple(strides))


def squeeze(x, dim=None):
    shape, strides = x._c.shape, x._c.strides
    n = len(shape)
    if dim is None:
        keep = [i for i in range(n) if shape[i] != 1]
    else:
        dims = (dim,) if isinstance(dim, builtins.int) else tuple(dim)
        drop = {_wrap_dim(d, n) for d in dims}
        keep = [i for i in range(n) if not (i in drop and shape[i] == 1)]
    if len(keep) == n:
        return _as_view(x, shape, strides)
    return _as_view(x, tuple(shape[i] for i in keep), tuple(strides[i] for i in keep))


def flatten(x, start_dim=0, end_dim=-1):
    n = x._c.ndim
    if n == 0:
        return reshape(x, (1,))
    s, e = _wrap_dim(start_dim, n), _wrap_dim(end_dim, n)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x._c.shape
    new = shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:]
    return reshape(x, new)


def unflatten(x, dim, sizes):
    n = x._c.ndim
    d = _wrap_dim(dim, n)
    shape = x._c.shape
    sizes = tuple(sizes)
    sizes = infer_size(sizes, shape[d])
    return reshape(x, shape[:d] + sizes + shape[d + 1:])


def ravel(x):
    return reshape(x, (-1,))


# ---- strided views: narrow, select, split, chunk, unbind, movedim, diagonal, unfold, slicing ----
# A view is described by geom(shape, strides, offset) -> (shape, strides, offset), so that the same
# geometry can be applied to the gradient buffer (which is contiguous, unlike the input).
_view_classes = {}


class _StridedView(Function):
    _backward_name = "AsStridedBackward0"

    @staticmethod
    def forward(ctx, x, geom):
        ctx.in_shape, ctx.geom = x._c.shape, geom
        return _view_of(x, x._c.as_strided(*geom(x._c.shape, x._c.strides, x._c.offset)))

    @staticmethod
    def backward(ctx, g):
        return _StridedViewBackward.apply(g, ctx.in_shape, ctx.geom), None


class _StridedViewBackward(Function):
    """Scatters g into zeros of the input's shape through the view (views must not overlap)."""
    _backward_name = "AsStridedScatterBackward0"

    @staticmethod
    def forward(ctx, g, in_shape, geom):
        ctx.geom = geom
        z = _C.full(list(in_shape), 0, g._c.dtype, g._c.device_type, g._c.device_index)
        z.as_strided(*geom(z.shape, z.strides, z.offset)).copy_(g._c)
        return _wrap(z)

    @staticmethod
    def backward(ctx, gg):
        return strided_view(gg, ctx.geom), None, None


def _view_class(name):
    cls = _view_classes.get(name)
    if cls is None:
        cls = _view_classes[name] = type(name, (_StridedView,), {"_backward_name": name + "Backward0"})
    return cls


def strided_view(x, geom, name="AsStrided"):
    """The view of x given by geom, recorded for autograd when x requires grad."""
    if _state.enabled and x._requires_grad:
        return _view_class(name).apply(x, geom)
    return _view_of(x, x._c.as_strided(*geom(x._c.shape, x._c.strides, x._c.offset)))


def _narrow_geom(d, start, length):
    def geom(shape, strides, offset):
        return (shape[:d] + (length,) + shape[d + 1:], strides, offset + start * strides[d])
    return geom


def _int_arg(v, name):
    if isinstance(v, Tensor):
        v = v.item()
    if isinstance(v, builtins.bool) or not isinstance(v, builtins.int):
        try:
            return v.__index__()
        except AttributeError:
            raise TypeError(f"{name} must be an int, got {type(v).__name__}") from None
    return v


def narrow(input, dim, start, length):
    n = input._c.ndim
    if n == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, n)
    start, length = _int_arg(start, "start"), _int_arg(length, "length")
    size = input._c.shape[d]
    if start < -size or start > size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    if start < 0:
        start += size
    if length < 0:
        raise RuntimeError(f"narrow(): length must be non-negative, but got length={length}")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return strided_view(input, _narrow_geom(d, start, length), "Narrow")


def select(input, dim, index):
    n = input._c.ndim
    if n == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, n)
    index = _int_arg(index, "index")
    size = input._c.shape[d]
    if index < -size or index >= size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input._c.shape)} at "
                         f"dimension {d}")
    index %= size

    def geom(shape, strides, offset):
        return shape[:d] + shape[d + 1:], strides[:d] + strides[d + 1:], offset + index * strides[d]
    return strided_view(input, geom, "Select")


def split(tensor, split_size_or_sections, dim=0):
    n = tensor._c.ndim
    d = _wrap_dim(dim, n)
    size = tensor._c.shape[d] if n else 0
    if isinstance(split_size_or_sections, (builtins.int,)) and not isinstance(split_size_or_sections, builtins.bool):
        step = split_size_or_sections
        if step < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        if step == 0 and size != 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        if n == 0:
            raise RuntimeError("split expects at least a 1-dimensional tensor")
        sizes = [0] if size == 0 else [step] * (size // step) + ([size % step] if size % step else [])
    else:
        sizes = [_int_arg(s, "split_sizes") for s in split_size_or_sections]
        if builtins.sum(sizes) != size or builtins.any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size at "
                               f"dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    name = "SplitWithSizes" if not isinstance(split_size_or_sections, builtins.int) else "Split"
    for s in sizes:
        out.append(strided_view(tensor, _narrow_geom(d, start, s), name))
        start += s
    return tuple(out)


def split_with_sizes(tensor, split_sizes, dim=0):
    return split(tensor, list(split_sizes), dim)


def chunk(input, chunks, dim=0):
    if not isinstance(chunks, builtins.int) or chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = input._c.ndim
    if n == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    d = _wrap_dim(dim, n)
    size = input._c.shape[d]
    step = -(-size // chunks) if size else 0
    if step == 0:
        # torch: a zero-size dim gives `chunks` empty pieces... only when size is 0
        return tuple(narrow(input, d, 0, 0) for _ in range(chunks))
    return split(input, step, d)


def tensor_split(input, indices_or_sections, dim=0):
    n = input._c.ndim
    d = _wrap_dim(dim, n)
    size = input._c.shape[d]
    if isinstance(indices_or_sections, builtins.int):
        k = indices_or_sections
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        q, r = divmod(size, k)
        sizes = [q + 1] * r + [q] * (k - r)
    else:
        bounds = [builtins.min(builtins.max(i + size if i < 0 else i, 0), size) for i in indices_or_sections]
        sizes, prev = [], 0
        for b in bounds:
            b = builtins.max(b, prev)
            sizes.append(b - prev)
            prev = b
        sizes.append(size - prev)
    out, start = [], 0
    for s in sizes:
        out.append(strided_view(input, _narrow_geom(d, start, s), "Slice"))
        start += s
    return tuple(out)


def unbind(input, dim=0):
    n = input._c.ndim
    if n == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = _wrap_dim(dim, n)
    return tuple(select(input, d, i) for i in range(input._c.shape[d]))


def movedim(input, source, destination):
    n = input._c.ndim
    src = [source] if isinstance(source, builtins.int) else list(source)
    dst = [destination] if isinstance(destination, builtins.int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the same "
                           f"number of dims as destination ({dst} dims)")
    src = [_wrap_dim(s, n) for s in src]
    dst = [_wrap_dim(s, n) for s in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    order = [-1] * n
    for s, t_ in zip(src, dst):
        order[t_] = s
    rest = iter(i for i in range(n) if i not in src)
    order = [o if o != -1 else next(rest) for o in order]
    return permute(input, order)


moveaxis = movedim


def diagonal(input, offset=0, dim1=0, dim2=1):
    n = input._c.ndim
    d1, d2 = _wrap_dim(dim1, n), _wrap_dim(dim2, n)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")

    def geom(shape, strides, off):
        if offset >= 0:
            length = builtins.max(builtins.min(shape[d1], shape[d2] - offset), 0)
            start = off + (offset * strides[d2] if length else 0)
        else:
            length = builtins.max(builtins.min(shape[d1] + offset, shape[d2]), 0)
            start = off + (-offset * strides[d1] if length else 0)
        keep = [i for i in range(len(shape)) if i not in (d1, d2)]
        return (tuple(shape[i] for i in keep) + (length,), tuple(strides[i] for i in keep) + (strides[d1] + strides[d2],),
                start)
    return strided_view(input, geom, "Diagonal")


class _Unfold(Function):
    _backward_name = "UnfoldBackward0"

    @staticmethod
    def forward(ctx, x, d, size, step):
        ctx.args = (x._c.shape, d, size, step)
        return _view_of(x, x._c.as_strided(*_unfold_geom(d, size, step)(x._c.shape, x._c.strides, x._c.offset)))

    @staticmethod
    def backward(ctx, g):
        in_shape, d, size, step = ctx.args
        # Windows overlap when step < size: add each window position's gradient separately.
        gi = None
        n = (in_shape[d] - size) // step + 1
        from .elementwise import add
        for k in range(size):
            part = select(g, -1, k)  # [..., n, ...] along d
            geom = (lambda k: lambda shape, strides, off: (shape[:d] + (n,) + shape[d + 1:],
                                                           strides[:d] + (strides[d] * step,) + strides[d + 1:],
                                                           off + k * strides[d]))(k)
            term = _StridedViewBackward.apply(part, in_shape, geom)
            gi = term if gi is None else add(gi, term)
        return gi, None, None, None


def _unfold_geom(d, size, step):
    def geom(shape, strides, offset):
        n = (shape[d] - size) // step + 1 if shape else 1
        if not shape:
            return (size,), (1,), offset
        return shape[:d] + (n,) + shape[d + 1:] + (size,), strides[:d] + (strides[d] * step,) + strides[d + 1:] + \
            (strides[d],), offset
    return geom


def unfold(input, dimension, size, step):
    n = input._c.ndim
    d = _wrap_dim(dimension, n)
    dim_size = input._c.shape[d] if n else 1
    if size > dim_size:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {dim_size} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if _state.enabled and input._requires_grad and n:
        return _Unfold.apply(input, d, size, step)
    return _view_of(input, input._c.as_strided(*_unfold_geom(d, size, step)(input._c.shape, input._c.strides,
                                                                             input._c.offset)))

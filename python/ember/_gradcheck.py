"""Finite-difference gradient checks (torch.autograd.gradcheck / gradgradcheck semantics):
central differences in float64, compared with the analytical vector-Jacobian products."""
from __future__ import annotations

import numpy as np

__all__ = ["gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _differentiable_outputs(out):
    from .tensor import Tensor
    return tuple(o for o in _as_tuple(out) if isinstance(o, Tensor) and o.requires_grad)


def _numerical_jacobian(fn, inputs, idx, eps):
    """J[i][j] = d out_i / d input_j (flattened), via central differences."""
    from . import autograd
    x = inputs[idx]
    flat = x.detach().contiguous()
    base = flat.numpy().reshape(-1).copy()
    cols = []
    # Evaluated with grad mode on: gradgradcheck's function itself calls autograd.grad.
    outs0 = [o.detach().numpy().reshape(-1).copy() for o in _as_tuple(fn(*inputs))
             if hasattr(o, "numpy") and o.dtype.is_floating_point]
    for j in range(base.size):
        vals = []
        for sign in (1, -1):
            pert = base.copy()
            pert[j] += sign * eps
            from . import creation
            xp = creation.tensor(pert.reshape(x.shape), dtype=x.dtype, requires_grad=x.requires_grad)
            args = list(inputs)
            args[idx] = xp
            o = [t.detach().numpy().reshape(-1).astype(np.float64) for t in _as_tuple(fn(*args))
                 if hasattr(t, "numpy") and t.dtype.is_floating_point]
            vals.append(o)
        cols.append([(p - m) / (2 * eps) for p, m in zip(*vals)])
    # cols[j][k] is d out_k / d x_j (vector over out_k elements)
    return [np.stack([c[k] for c in cols], axis=1) if cols else np.zeros((outs0[k].size, 0))
            for k in range(len(outs0))]


def _analytical_jacobian(fn, inputs, idx_list):
    from . import autograd, creation
    outs = _differentiable_outputs(fn(*inputs))
    jac = {}
    for k, o in enumerate(outs):
        n_out = o.numel()
        for i in idx_list:
            jac[(k, i)] = np.zeros((n_out, inputs[i].numel()))
        for r in range(n_out):
            go = np.zeros(n_out)
            go[r] = 1.0
            g = creation.tensor(go.reshape(o.shape), dtype=o.dtype)
            grads = autograd.grad(o, [inputs[i] for i in idx_list], g, retain_graph=True, allow_unused=True)
            for i, gi in zip(idx_list, grads):
                if gi is not None:
                    jac[(k, i)][r] = gi.detach().contiguous().numpy().reshape(-1)
    return outs, jac


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, fast_mode=False, **_ignored):
    """Checks analytical gradients of `func` against central differences. Inputs that require
    grad should be float64."""
    from .tensor import Tensor
    inputs = _as_tuple(inputs)
    idx_list = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not idx_list:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    for i in idx_list:
        if inputs[i].dtype.name != "float64":
            import warnings
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating point. "
                          "This check will likely fail if all the inputs are not of double precision floating "
                          "point.", stacklevel=2)
    outs, analytical = _analytical_jacobian(func, inputs, idx_list)
    for i in idx_list:
        numerical = _numerical_jacobian(func, inputs, i, eps)
        k_out = 0
        all_outs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor) and o.dtype.is_floating_point]
        for k, o in enumerate(all_outs):
            if not o.requires_grad:
                continue
            a = analytical[(k_out, i)]
            n = numerical[k]
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                msg = (f"Jacobian mismatch for output {k} with respect to input {i},\n"
                       f"numerical:{n}\nanalytical:{a}\n")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
            k_out += 1
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception=True, **_ignored):
    """Checks second derivatives: gradcheck of the function (inputs, grad_outputs) -> grads."""
    from . import autograd, creation
    from .tensor import Tensor
    inputs = _as_tuple(inputs)
    outs = _differentiable_outputs(func(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(creation.tensor(rng.standard_normal(o.shape), dtype=o.dtype, requires_grad=True)
                             for o in outs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_grads(*args):
        ins, gos = args[:n_in], args[n_in:]
        o = _differentiable_outputs(func(*ins))
        gs = autograd.grad(o, [ins[i] for i in diff_idx], gos, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else creation.zeros_like(ins[i]) for g, i in zip(gs, diff_idx))

    return gradcheck(first_grads, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)

"""Differentiable tensor ops: each module pairs autograd Functions with the public functions."""

"""CUDA backend switches (mirroring torch.backends.cuda)."""


class _MatmulSettings:
    """allow_tf32: use TF32 tensor cores for float32 matmul (False by default, as in torch)."""

    def __init__(self):
        self.allow_tf32 = False


matmul = _MatmulSettings()

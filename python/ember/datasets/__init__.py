"""ember.datasets: seeded 2-D toy sets, scikit-learn's 8x8 digits, and MNIST / FashionMNIST / CIFAR-10
readers for a local folder (with an optional MD5-checked download)."""
from .synthetic import circles, moons, spirals, xor
from .digits import digits
from .vision import CIFAR10, MNIST, FashionMNIST

__all__ = ["xor", "spirals", "moons", "circles", "digits", "MNIST", "FashionMNIST", "CIFAR10"]

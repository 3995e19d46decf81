"""XOR: a 2-layer network learns a function no linear classifier can.

Trained with plain tensors and autograd (the hidden layer is written out with broadcasting),
so it runs on the smallest ember install. Prints the loss and the four outputs.
"""
import argparse

import ember


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="fewer steps (used by the tests)")
    args = parser.parse_args()
    steps = 600 if args.quick else args.steps

    ember.manual_seed(0)
    x = ember.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = ember.tensor([0.0, 1.0, 1.0, 0.0])
    hidden = 8
    w1 = (ember.randn(2, hidden) * 0.8).requires_grad_()
    b1 = ember.zeros(hidden, requires_grad=True)
    w2 = (ember.randn(hidden) * 0.8).requires_grad_()
    b2 = ember.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    lr = 0.5

    for step in range(steps + 1):
        h = ((x.unsqueeze(2) * w1).sum(1) + b1).tanh()       # (4, hidden)
        out = ((h * w2).sum(1) + b2).sigmoid()               # (4,)
        loss = ((out - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with ember.no_grad():
            for p in params:
                p -= lr * p.grad
        if step % (steps // 4) == 0:
            print(f"step {step:5d}  loss {loss.item():.5f}")

    preds = out.detach().tolist()
    print("outputs:", " ".join(f"{p:.3f}" for p in preds))
    correct = all((p > 0.5) == (t > 0.5) for p, t in zip(preds, y.tolist()))
    print(f"final loss {loss.item():.5f}; all four on the right side of 0.5: {correct}")


if __name__ == "__main__":
    main()

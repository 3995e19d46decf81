// Elementwise regression losses fused into one call each way (mse_loss), built from the
// device-dispatched elementwise and reduction ops, so that every device that has those has these.
#pragma once
#include "core/tensor.h"
#include "ops/softmax.h"  // Reduction

namespace ember {

// loss = reduce((x - y)^2); x and y broadcast (the caller warns about mismatched sizes).
Tensor mse_loss(const Tensor& x, const Tensor& y, Reduction reduction);
// d loss / dx = (x - y) * (2 / N if mean else 2) * grad, of the broadcast shape of x and y;
// d loss / dy is its negation.
Tensor mse_loss_backward(const Tensor& grad, const Tensor& x, const Tensor& y, Reduction reduction);

}  // namespace ember

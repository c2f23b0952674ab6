//! Small layer functions the spaces share: pooling, channel padding for weight-sharing twins,
//! and cutting a weight-sharing candidate's inputs to the width it really reads.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;
use burn::tensor::Tensor;

/// 2×2 max pooling, stride 2.
pub(crate) fn max_pool_2x2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false)
}

/// Global average pooling: `[batch, c, h, w]` → `[batch, c]`.
pub(crate) fn global_avg_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

/// Zero-pads the channels of `[batch, c, h, w]` to `n`.
pub(crate) fn pad_channels<B: Backend>(x: Tensor<B, 4>, n: usize) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    if c == n {
        return x;
    }
    let device = x.device();
    Tensor::cat(vec![x, Tensor::zeros([b, n - c, h, w], &device)], 1)
}

/// `conv` reading only its first `c_in` input channels. A weight-sharing candidate reads the
/// previous layer's widest, zero-padded output; its weights on the padded channels only ever
/// saw zeros, so the discretized network drops them.
pub(crate) fn first_inputs<B: Backend>(mut conv: Conv2d<B>, c_in: usize) -> Conv2d<B> {
    let [co, _, kh, kw] = conv.weight.dims();
    conv.weight = Param::from_tensor(
        conv.weight
            .val()
            .slice([0..co, 0..c_in, 0..kh, 0..kw])
            .detach(),
    );
    conv
}

//! [`conv2d`]: Burn's 2-D convolution, with a hand-written backward pass on the CPU backend.
//!
//! Burn 0.21's Flex backend has fast forward convolution kernels (a direct depthwise loop, a
//! 1 × 1 fast path, tiled im2col + gemm), but its backward pass is Burn's generic default: the
//! input gradient as a transposed convolution and, for grouped convolutions, the weight gradient
//! as one convolution **per group**, each sliced out and assigned back into the full gradient.
//! On a depthwise convolution that is one small convolution and one full-tensor copy per
//! channel. Measured at MobileNetV3's sizes, a depthwise backward cost 5–14 times its forward
//! and a pointwise one 40–60 times (docs/benchmarks.md), and the search spent most of its time
//! there.
//!
//! On `Autodiff<Flex>` (the CPU default) [`conv2d`] records its own autodiff operation instead:
//! * the forward pass is Flex's own convolution;
//! * the input gradient is a *forward* convolution of the output gradient (dilated by the
//!   stride) with the spatially flipped, group-transposed kernel, so it runs on Flex's fast
//!   forward kernels;
//! * the weight gradient is a direct per-channel loop for depthwise convolutions and im2col +
//!   one gemm per batch element and group otherwise, split over the batch across threads.
//!
//! On every other backend (wgpu, CUDA, an inference backend) and for other element types it is
//! exactly `burn::tensor::module::conv2d`. Tests compare both backward passes on many shapes.

use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::{backend::Backend, module, ops::ConvOptions, Tensor};

/// A 2-D convolution, `burn::tensor::module::conv2d`'s signature and result.
///
/// On `Autodiff<Flex>` with `f32` tensors its backward pass is this crate's (see the
/// [module documentation](self)); elsewhere it is Burn's. The bias is added as a broadcast sum,
/// so its gradient is the usual reduction.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    #[cfg(feature = "fast-conv")]
    let (x, weight, bias) = match flex::conv2d(x, weight, bias, options.clone()) {
        Ok(y) => return y,
        Err(inputs) => inputs,
    };
    module::conv2d(x, weight, bias, options)
}

/// `conv.forward(x)` for a plain Burn `Conv2d`, through [`conv2d`], so that its backward pass
/// is this crate's on the CPU: the same values as `Conv2d::forward`.
///
/// Symmetric padding (`Valid`, or `Explicit` with equal opposite sides) goes through
/// [`conv2d`]; `Same` and asymmetric padding go to `Conv2d::forward`.
pub fn conv2d_forward<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return conv.forward(x),
    };
    let options = ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups);
    conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// Whether [`conv2d`] on backend `B` runs this crate's backward pass (`Autodiff<Flex>` with the
/// `fast-conv` feature, the default) rather than Burn's.
pub fn has_fast_backward<B: Backend>() -> bool {
    #[cfg(feature = "fast-conv")]
    return flex::applies::<B>();
    #[cfg(not(feature = "fast-conv"))]
    false
}

#[cfg(feature = "fast-conv")]
mod flex {
    use std::any::{Any, TypeId};
    use std::borrow::Cow;

    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::{Flex, FlexTensor};
    use burn::backend::Autodiff;
    use burn::tensor::ops::{ConvOptions, ModuleOps};
    use burn::tensor::{
        backend::Backend, DType, Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive,
    };
    use rayon::prelude::*;

    type Ad = Autodiff<Flex, NoCheckpointing>;
    type Inputs<B> = (Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 1>>);

    /// Moves a tensor of backend `B` to backend `T` when they are the same type.
    fn cast<B: Backend, T: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<T, D> {
        let boxed: Box<dyn Any> = Box::new(t.into_primitive());
        match boxed.downcast::<TensorPrimitive<T>>() {
            Ok(p) => Tensor::from_primitive(*p),
            Err(_) => unreachable!("cast is only called when B and T are the same type"),
        }
    }

    pub(super) fn applies<B: Backend>() -> bool {
        TypeId::of::<B>() == TypeId::of::<Ad>()
    }

    /// The convolution on `Autodiff<Flex>` with this module's backward, or the inputs back.
    pub(super) fn conv2d<B: Backend>(
        x: Tensor<B, 4>,
        weight: Tensor<B, 4>,
        bias: Option<Tensor<B, 1>>,
        options: ConvOptions<2>,
    ) -> Result<Tensor<B, 4>, Inputs<B>> {
        let f32s = x.dtype() == DType::F32 && weight.dtype() == DType::F32;
        if !applies::<B>() || !f32s {
            return Err((x, weight, bias));
        }
        let (x, weight) = (cast::<B, Ad, 4>(x), cast::<B, Ad, 4>(weight));
        let y = conv2d_autodiff(
            x.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            options,
        );
        let mut y = Tensor::<Ad, 4>::from_primitive(TensorPrimitive::Float(y));
        if let Some(b) = bias {
            let c = b.dims()[0];
            y = y + cast::<B, Ad, 1>(b).reshape([1, c, 1, 1]);
        }
        Ok(cast::<Ad, B, 4>(y))
    }

    /// The autodiff operation: Flex's forward, this module's backward.
    #[derive(Debug)]
    struct Conv2dBackward;

    impl Backward<Flex, 2> for Conv2dBackward {
        type State = (FlexTensor, FlexTensor, ConvOptions<2>);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_w] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            // Both gradients read the output gradient's values (`values`): lay them out in row
            // order once, not once per gradient.
            let grad = if grad.is_contiguous() {
                grad
            } else {
                grad.to_contiguous()
            };
            let (x, w, options) = ops.state;
            if let Some(node) = node_w {
                grads.register::<Flex>(node.id, weight_grad(&x, &w, &grad, &options));
            }
            if let Some(node) = node_x {
                grads.register::<Flex>(node.id, input_grad(&x, &w, grad, &options));
            }
        }
    }

    fn conv2d_autodiff(
        x: <Ad as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive,
        w: <Ad as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive,
        options: ConvOptions<2>,
    ) -> <Ad as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive {
        match Conv2dBackward
            .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = Flex::conv2d(
                    x.primitive.clone(),
                    w.primitive.clone(),
                    None,
                    options.clone(),
                );
                prep.finish((x.primitive, w.primitive, options), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::conv2d(x.primitive, w.primitive, None, options))
            }
        }
    }

    /// A tensor's `f32` values in row-major order, borrowed when they already are.
    fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
        match t.is_contiguous().then(|| t.as_slice::<f32>()).flatten() {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(
                t.clone()
                    .into_data()
                    .into_vec::<f32>()
                    .expect("an f32 tensor"),
            ),
        }
    }

    fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, Shape::new(shape)))
    }

    fn dims4(t: &FlexTensor) -> [usize; 4] {
        t.shape().dims::<4>()
    }

    /// `dL/dx`: a stride-1 forward convolution of the output gradient, dilated by the stride,
    /// with the flipped kernel whose in and out channels are swapped within each group.
    fn input_grad(
        x: &FlexTensor,
        w: &FlexTensor,
        grad: FlexTensor,
        o: &ConvOptions<2>,
    ) -> FlexTensor {
        let [n, ci, h, wd] = dims4(x);
        let [co, cig, kh, kw] = dims4(w);
        let [_, _, ho, wo] = dims4(&grad);
        let g = o.groups;
        let cog = co / g;
        let reach = [o.dilation[0] * (kh - 1), o.dilation[1] * (kw - 1)];
        if o.padding[0] > reach[0] || o.padding[1] > reach[1] {
            // The output then starts inside the padding; Burn's transposed convolution handles
            // that rare case.
            return Flex::conv2d_x_backward(x.clone(), w.clone(), grad, o.clone());
        }
        let pad = [reach[0] - o.padding[0], reach[1] - o.padding[1]];
        // Rows the stride-1 convolution must see to give back `h` rows: `h + 2 p − reach`,
        // the dilated gradient's `(ho − 1)·s + 1` plus the rows the stride skipped at the end.
        let lh = h + 2 * o.padding[0] - reach[0];
        let lw = wd + 2 * o.padding[1] - reach[1];
        let grad = if o.stride == [1, 1] && (lh, lw) == (ho, wo) {
            grad
        } else {
            let src = values(&grad);
            let mut dil = vec![0f32; n * co * lh * lw];
            dil.par_chunks_mut(lh * lw)
                .zip(src.par_chunks(ho * wo))
                .for_each(|(d, s)| {
                    for r in 0..ho {
                        let dr = r * o.stride[0];
                        for c in 0..wo {
                            d[dr * lw + c * o.stride[1]] = s[r * wo + c];
                        }
                    }
                });
            tensor(dil, [n, co, lh, lw])
        };
        let wv = values(w);
        let mut flipped = vec![0f32; ci * cog * kh * kw];
        for gi in 0..g {
            for a in 0..cog {
                for b in 0..cig {
                    let src = ((gi * cog + a) * cig + b) * kh * kw;
                    let dst = ((gi * cig + b) * cog + a) * kh * kw;
                    for i in 0..kh {
                        for j in 0..kw {
                            flipped[dst + i * kw + j] = wv[src + (kh - 1 - i) * kw + (kw - 1 - j)];
                        }
                    }
                }
            }
        }
        let flipped = tensor(flipped, [ci, cog, kh, kw]);
        let opts = ConvOptions::new([1, 1], pad, o.dilation, g);
        Flex::conv2d(grad, flipped, None, opts)
    }

    /// `dL/dW[c_out, c_in, i, j] = Σ_{n, y, x} x[n, c, y·s + i·d − p, x·s + j·d − p] · g[n, c_out, y, x]`.
    fn weight_grad(
        x: &FlexTensor,
        w: &FlexTensor,
        grad: &FlexTensor,
        o: &ConvOptions<2>,
    ) -> FlexTensor {
        let [n, ci, h, wd] = dims4(x);
        let [co, cig, kh, kw] = dims4(w);
        let [_, _, ho, wo] = dims4(grad);
        let geo = Geometry {
            h,
            w: wd,
            ho,
            wo,
            kh,
            kw,
            o: o.clone(),
        };
        let (xv, gv) = (values(x), values(grad));
        let dw = if cig == 1 && co == ci {
            // Depthwise: each channel's kernel sees only its own plane; channels in parallel.
            let mut dw = vec![0f32; co * kh * kw];
            dw.par_chunks_mut(kh * kw).enumerate().for_each(|(c, out)| {
                let mut padded = Vec::new();
                for b in 0..n {
                    let plane = (b * ci + c) * h * wd;
                    let (x, g) = (
                        &xv[plane..plane + h * wd],
                        &gv[(b * co + c) * ho * wo..][..ho * wo],
                    );
                    if o.dilation == [1, 1] {
                        geo.plane_taps_lanes(x, g, out, &mut padded);
                    } else {
                        geo.plane_taps(x, g, out);
                    }
                }
            });
            dw
        } else {
            im2col_weight_grad(&xv, &gv, n, [ci, co, cig], o.groups, &geo)
        };
        tensor(dw, [co, cig, kh, kw])
    }

    /// The spatial geometry of one convolution.
    struct Geometry {
        h: usize,
        w: usize,
        ho: usize,
        wo: usize,
        kh: usize,
        kw: usize,
        o: ConvOptions<2>,
    }

    impl Geometry {
        /// The output positions `0..len` whose input `pos·s + tap·d − p` lies in `0..size`.
        fn valid(
            len: usize,
            size: usize,
            tap: usize,
            s: usize,
            d: usize,
            p: usize,
        ) -> (usize, usize) {
            let off = (tap * d) as isize - p as isize;
            let (s, size) = (s as isize, size as isize);
            // first y with y·s + off ≥ 0, last with y·s + off ≤ size − 1
            let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
            let hi = if size - 1 - off < 0 {
                -1
            } else {
                (size - 1 - off) / s
            };
            let hi = hi.min(len as isize - 1);
            if hi < lo {
                (0, 0)
            } else {
                (lo as usize, hi as usize + 1)
            }
        }

        /// Adds `Σ_{y, x} x[y·s + i·d − p, x·s + j·d − p] · g[y, x]` to `out[i·kw + j]` for
        /// one input plane and one output-gradient plane.
        fn plane_taps(&self, x: &[f32], g: &[f32], out: &mut [f32]) {
            let o = &self.o;
            for i in 0..self.kh {
                let (y0, y1) =
                    Self::valid(self.ho, self.h, i, o.stride[0], o.dilation[0], o.padding[0]);
                for j in 0..self.kw {
                    let (x0, x1) =
                        Self::valid(self.wo, self.w, j, o.stride[1], o.dilation[1], o.padding[1]);
                    if x0 >= x1 {
                        continue;
                    }
                    let mut acc = 0f32;
                    for y in y0..y1 {
                        let iy = y * o.stride[0] + i * o.dilation[0] - o.padding[0];
                        let ix0 = x0 * o.stride[1] + j * o.dilation[1] - o.padding[1];
                        let grow = &g[y * self.wo + x0..y * self.wo + x1];
                        let xrow = &x[iy * self.w..(iy + 1) * self.w];
                        acc += if o.stride[1] == 1 {
                            dot(&xrow[ix0..ix0 + grow.len()], grow)
                        } else {
                            grow.iter()
                                .enumerate()
                                .map(|(k, gv)| xrow[ix0 + k * o.stride[1]] * gv)
                                .sum::<f32>()
                        };
                    }
                    out[i * self.kw + j] += acc;
                }
            }
        }

        /// [`plane_taps`](Self::plane_taps) for an undilated kernel, vectorized over eight
        /// horizontal taps at a time: for each gradient value `g[y, x]`, the taps `j..j + 8`
        /// read eight adjacent inputs `x·s + j..`, one vector multiply-add. `padded` is scratch
        /// space for the zero-padded plane, wide enough that the lanes past the kernel (whose
        /// sums are dropped) stay inside it.
        fn plane_taps_lanes(&self, x: &[f32], g: &[f32], out: &mut [f32], padded: &mut Vec<f32>) {
            const L: usize = 8;
            let o = &self.o;
            let (s, p) = (o.stride, o.padding);
            let chunks = self.kw.div_ceil(L);
            let hp = self.h + 2 * p[0];
            let wp = (self.w + 2 * p[1]).max((self.wo - 1) * s[1] + chunks * L);
            padded.clear();
            padded.resize(hp * wp, 0.0);
            for r in 0..self.h {
                let dst = (r + p[0]) * wp + p[1];
                padded[dst..dst + self.w].copy_from_slice(&x[r * self.w..(r + 1) * self.w]);
            }
            for i in 0..self.kh {
                for jc in 0..chunks {
                    let mut acc = [0f32; L];
                    for y in 0..self.ho {
                        let row = &padded[(y * s[0] + i) * wp..(y * s[0] + i + 1) * wp];
                        for (xo, &gv) in g[y * self.wo..(y + 1) * self.wo].iter().enumerate() {
                            let at = xo * s[1] + jc * L;
                            let win: &[f32; L] = row[at..at + L].try_into().expect("8 lanes");
                            for l in 0..L {
                                acc[l] += win[l] * gv;
                            }
                        }
                    }
                    let taps = (self.kw - jc * L).min(L);
                    for l in 0..taps {
                        out[i * self.kw + jc * L + l] += acc[l];
                    }
                }
            }
        }

        /// im2col of one batch element's group: `cols[(c·kh + i)·kw + j][y·wo + x]`.
        fn im2col(&self, x: &[f32], channels: std::ops::Range<usize>, cols: &mut [f32]) {
            let o = &self.o;
            let (hw, howo) = (self.h * self.w, self.ho * self.wo);
            cols.fill(0.0);
            for (ck, c) in channels.enumerate() {
                let plane = &x[c * hw..(c + 1) * hw];
                for i in 0..self.kh {
                    let (y0, y1) =
                        Self::valid(self.ho, self.h, i, o.stride[0], o.dilation[0], o.padding[0]);
                    for j in 0..self.kw {
                        let (x0, x1) = Self::valid(
                            self.wo,
                            self.w,
                            j,
                            o.stride[1],
                            o.dilation[1],
                            o.padding[1],
                        );
                        let row = ((ck * self.kh + i) * self.kw + j) * howo;
                        for y in y0..y1 {
                            let iy = y * o.stride[0] + i * o.dilation[0] - o.padding[0];
                            let dst = &mut cols[row + y * self.wo..row + (y + 1) * self.wo];
                            for xo in x0..x1 {
                                let ix = xo * o.stride[1] + j * o.dilation[1] - o.padding[1];
                                dst[xo] = plane[iy * self.w + ix];
                            }
                        }
                    }
                }
            }
        }
    }

    /// A dot product with eight partial sums, so that it vectorizes.
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..8 {
                lanes[l] += x[l] * y[l];
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
        lanes.iter().sum::<f32>() + tail
    }

    /// The weight gradient of a dense or grouped convolution: per batch element and group,
    /// `dW_g += G_g · cols_gᵀ` (one gemm), with the batch split across threads.
    fn im2col_weight_grad(
        x: &[f32],
        g: &[f32],
        n: usize,
        [ci, co, cig]: [usize; 3],
        groups: usize,
        geo: &Geometry,
    ) -> Vec<f32> {
        let cog = co / groups;
        let kk = geo.kh * geo.kw;
        let (hw, howo) = (geo.h * geo.w, geo.ho * geo.wo);
        let o = &geo.o;
        // A 1 × 1 kernel at stride 1 without padding reads the input plane as it is.
        let direct = kk == 1 && o.stride == [1, 1] && o.padding == [0, 0];
        let threads = rayon::current_num_threads().clamp(1, n);
        let chunk = n.div_ceil(threads);
        let partial: Vec<Vec<f32>> = (0..n)
            .collect::<Vec<_>>()
            .par_chunks(chunk)
            .map(|batch| {
                let mut dw = vec![0f32; co * cig * kk];
                let mut cols = vec![0f32; if direct { 0 } else { cig * kk * howo }];
                for &b in batch {
                    let xb = &x[b * ci * hw..(b + 1) * ci * hw];
                    for gi in 0..groups {
                        let rhs: &[f32] = if direct {
                            &xb[gi * cig * hw..(gi + 1) * cig * hw]
                        } else {
                            geo.im2col(xb, gi * cig..(gi + 1) * cig, &mut cols);
                            &cols
                        };
                        let lhs = &g[(b * co + gi * cog) * howo..(b * co + (gi + 1) * cog) * howo];
                        let dst = &mut dw[gi * cog * cig * kk..(gi + 1) * cog * cig * kk];
                        // dst [cog × cig·kk] += lhs [cog × howo] · rhsᵀ [howo × cig·kk]
                        // SAFETY: every pointer covers its matrix: dst is cog·(cig·kk) values
                        // row-major, lhs cog·howo row-major, rhs (cig·kk)·howo row-major read
                        // transposed (row stride 1, column stride howo).
                        unsafe {
                            gemm::gemm(
                                cog,
                                cig * kk,
                                howo,
                                dst.as_mut_ptr(),
                                1,
                                (cig * kk) as isize,
                                true,
                                lhs.as_ptr(),
                                1,
                                howo as isize,
                                rhs.as_ptr(),
                                howo as isize,
                                1,
                                1.0,
                                1.0,
                                false,
                                false,
                                false,
                                gemm::Parallelism::None,
                            );
                        }
                    }
                }
                dw
            })
            .collect();
        let mut dw = vec![0f32; co * cig * kk];
        for p in partial {
            for (d, v) in dw.iter_mut().zip(p) {
                *d += v;
            }
        }
        dw
    }
}

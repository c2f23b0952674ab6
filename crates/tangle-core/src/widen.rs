//! Widening a module by channel copies (Net2Wider; Chen et al., 2016), as DrNAS's progressive
//! search widens its partial-channel edges between stages (K = 6 → 4: every edge operation
//! grows from C/6 to C/4 channels).
//!
//! [`widen_module`] takes a trained module and a freshly built wider twin with the same
//! structure, and gives the twin the trained values: a tensor of the same shape is copied, a
//! tensor that grew along some dimensions keeps its old entries and fills every new slot with a
//! copy of a randomly chosen old slot. Within one call, all tensors that grow a dimension of
//! the same size to the same size use the same choice of slots, so that a depthwise conv's new
//! output channel, the pointwise conv reading it and the batch norm after it copy the same old
//! channel. Parameters keep the trained module's ids (batch-norm running statistics, which no
//! optimizer tracks, keep the wider module's: Burn's `RunningState` keeps its own id when
//! mapped), and the returned [`Widening`] records
//! which slots were copied per parameter: an optimizer's per-parameter state (momentum, Adam's
//! moments) is widened the same way, as DrNAS's `configure_optimizer` does.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{CoreError, Result};

/// The slot copies applied to each widened parameter: per grown dimension, the old index each
/// new slot copies (new slots are appended after the old ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Widening {
    copies: HashMap<ParamId, Vec<(usize, Vec<usize>)>>,
}

impl Widening {
    /// Number of widened parameters.
    pub fn len(&self) -> usize {
        self.copies.len()
    }

    /// Whether nothing was widened.
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty()
    }

    /// Whether the parameter `id` was widened.
    pub fn contains(&self, id: ParamId) -> bool {
        self.copies.contains_key(&id)
    }

    /// The copies of parameter `id`: `(dimension, old index of every new slot)`.
    pub fn copies(&self, id: ParamId) -> Option<&[(usize, Vec<usize>)]> {
        self.copies.get(&id).map(Vec::as_slice)
    }

    /// `tensor` (shaped as parameter `id` was before) widened as parameter `id` was; unchanged
    /// when `id` was not widened. Use it on optimizer state tensors.
    pub fn apply<B: Backend, const D: usize>(
        &self,
        id: ParamId,
        tensor: Tensor<B, D>,
    ) -> Tensor<B, D> {
        match self.copies.get(&id) {
            Some(copies) => grow(tensor, copies),
            None => tensor,
        }
    }
}

fn grow<B: Backend, const D: usize>(
    mut t: Tensor<B, D>,
    copies: &[(usize, Vec<usize>)],
) -> Tensor<B, D> {
    for (dim, index) in copies {
        let device = t.device();
        let idx = Tensor::<B, 1, Int>::from_data(
            TensorData::new(index.iter().map(|&i| i as i64).collect(), [index.len()]),
            &device,
        );
        let extra = t.clone().select(*dim, idx);
        t = Tensor::cat(vec![t, extra], *dim);
    }
    t
}

/// SplitMix64 (Steele et al., 2014): the slot draws, without a dependency on `rand`.
struct SplitMix64(u64);

impl SplitMix64 {
    /// A draw in `0..n` (`n > 0`; the modulo bias is below 2⁻⁴⁰ for the widths here).
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// The trained values, flattened, with their shapes and ids, in visit order.
struct Collect<B: Backend> {
    values: Vec<(ParamId, Vec<usize>, Tensor<B, 1>)>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val();
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        self.values.push((param.id, shape, t.reshape([n])));
    }
}

struct Transplant<B: Backend> {
    old: std::vec::IntoIter<(ParamId, Vec<usize>, Tensor<B, 1>)>,
    slots: HashMap<(usize, usize), Vec<usize>>,
    rng: SplitMix64,
    widening: Widening,
    error: Option<CoreError>,
    position: usize,
}

impl<B: Backend> ModuleMapper<B> for Transplant<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let position = self.position;
        self.position += 1;
        if self.error.is_some() {
            return param;
        }
        let new_shape = param.val().dims();
        let Some((id, shape, flat)) = self.old.next() else {
            self.error = Some(CoreError::Config(format!(
                "widening: the wider module has more parameters than the trained one (parameter \
                 {position}, shape {new_shape:?})"
            )));
            return param;
        };
        if shape.len() != D || shape.iter().zip(&new_shape).any(|(o, n)| n < o) {
            self.error = Some(CoreError::Config(format!(
                "widening: parameter {position} has shape {shape:?} in the trained module and \
                 {new_shape:?} in the wider one; a widened tensor keeps its rank and no dimension \
                 shrinks"
            )));
            return param;
        }
        let mut copies = Vec::new();
        for (dim, (&o, &n)) in shape.iter().zip(&new_shape).enumerate() {
            if n > o {
                let rng = &mut self.rng;
                let index = self
                    .slots
                    .entry((o, n))
                    .or_insert_with(|| (0..n - o).map(|_| rng.below(o)).collect())
                    .clone();
                copies.push((dim, index));
            }
        }
        let old: Tensor<B, D> = flat.reshape(<[usize; D]>::try_from(shape).expect("rank checked"));
        // Detached: the widened value is a new leaf, not a function of the trained one.
        let value = grow(old, &copies).detach();
        if !copies.is_empty() {
            self.widening.copies.insert(id, copies);
        }
        let require_grad = param.is_require_grad();
        let value = if require_grad {
            value.require_grad()
        } else {
            value
        };
        Param::initialized(id, value)
    }
}

/// `wider` (a freshly built module of the same structure as `trained`, some dimensions
/// larger) with `trained`'s values: same-shaped tensors copied, grown ones widened by copies of
/// random old slots drawn from `seed`; parameters keep `trained`'s ids (running statistics keep
/// `wider`'s). Errors, naming the
/// parameter's position and shapes, when the two modules do not match.
pub fn widen_module<B: Backend, M: Module<B>>(
    trained: &M,
    wider: M,
    seed: u64,
) -> Result<(M, Widening)> {
    // Batch-norm running statistics may hold an update not yet folded into the value a visitor
    // reads: recording a clone synchronizes the shared state.
    let _ = trained.clone().into_record();
    let mut collect = Collect { values: Vec::new() };
    trained.visit(&mut collect);
    let count = collect.values.len();
    let mut t = Transplant {
        old: collect.values.into_iter(),
        slots: HashMap::new(),
        rng: SplitMix64(seed),
        widening: Widening::default(),
        error: None,
        position: 0,
    };
    let out = wider.map(&mut t);
    if let Some(e) = t.error {
        return Err(e);
    }
    if t.position != count {
        return Err(CoreError::Config(format!(
            "widening: the trained module has {count} parameters, the wider one {}",
            t.position
        )));
    }
    Ok((out, t.widening))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[derive(Module, Debug)]
    struct Pair<B: Backend> {
        a: Param<Tensor<B, 2>>,
        b: Param<Tensor<B, 1>>,
        c: Param<Tensor<B, 1>>,
    }

    fn pair(rows: usize, a: Vec<f32>, b: Vec<f32>, c: Vec<f32>) -> Pair<Flex> {
        let d = Default::default();
        Pair {
            a: Param::from_tensor(Tensor::from_data(TensorData::new(a, [rows, 3]), &d)),
            b: Param::from_tensor(Tensor::from_data(TensorData::new(b, [rows]), &d)),
            c: Param::from_tensor(Tensor::from_data(TensorData::new(c, [3]), &d)),
        }
    }

    fn host<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    /// Rows 2 → 5 of `a` ([2, 3]) and `b` ([2]) copy the same old rows; the unchanged `c` is
    /// copied; ids are the trained module's; `apply` widens a state tensor the same way.
    #[test]
    fn new_slots_copy_the_same_old_slots_across_tensors() {
        let trained = pair(
            2,
            vec![1., 2., 3., 4., 5., 6.],
            vec![10., 20.],
            vec![7., 8., 9.],
        );
        let wider = pair(5, vec![0.; 15], vec![0.; 5], vec![0.; 3]);
        let (w, widening) = widen_module(&trained, wider, 11).unwrap();
        assert_eq!(
            (w.a.id, w.b.id, w.c.id),
            (trained.a.id, trained.b.id, trained.c.id)
        );
        assert_eq!(widening.len(), 2);
        let rows = widening.copies(trained.a.id).unwrap()[0].1.clone();
        assert_eq!(widening.copies(trained.b.id).unwrap(), &[(0, rows.clone())]);
        assert_eq!(rows.len(), 3);
        let (a, b) = (host(w.a.val()), host(w.b.val()));
        assert_eq!(&a[..6], &[1., 2., 3., 4., 5., 6.]);
        assert_eq!(&b[..2], &[10., 20.]);
        for (k, &r) in rows.iter().enumerate() {
            assert!(r < 2);
            assert_eq!(&a[6 + 3 * k..9 + 3 * k], &a[3 * r..3 * r + 3]);
            assert_eq!(b[2 + k], b[r]);
        }
        assert_eq!(host(w.c.val()), vec![7., 8., 9.]);
        let state = Tensor::<Flex, 1>::from_data(
            TensorData::new(vec![-1f32, -2.], [2]),
            &Default::default(),
        );
        let grown = host(widening.apply(trained.b.id, state));
        assert_eq!(
            grown[2..],
            rows.iter().map(|&r| [-1., -2.][r]).collect::<Vec<f32>>()[..]
        );
        // A narrower twin is an error naming the shapes.
        let narrow = pair(1, vec![0.; 3], vec![0.; 1], vec![0.; 3]);
        let err = widen_module(&trained, narrow, 0).unwrap_err().to_string();
        assert!(err.contains("[2, 3]") && err.contains("[1, 3]"), "{err}");
    }
}

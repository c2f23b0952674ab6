//! AutoFormer's 2-D relative position encoding.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Distribution, Int, Tensor, TensorData};

use crate::error::CoreError;

/// AutoFormer's `RelativePosition2D_super` (its supernet and TangleNAS's use one for the keys
/// and one for the values of every attention layer): two tables of `2m + 2` rows of head width,
/// one for the vertical and one for the horizontal distance between two patches of a square
/// grid, clipped to `±m`. The encoding of query token `i` and key token `j` is
/// `table_v[dv(i, j)] + table_h[dh(i, j)]`; row 0 of both tables serves every pair that
/// involves the cls token (token 0), rows `1 ..= 2m + 1` the distances `−m ..= m`.
///
/// The head width is fixed (AutoFormer's 64), so every head-count and embedding candidate uses
/// the whole tables — they are entangled by sharing: one pair of tables per layer for every
/// candidate, as in the reference.
#[derive(Module, Debug)]
pub struct RelativePosition2d<B: Backend> {
    /// Vertical-distance table, `[2m + 2, head_dim]`.
    pub table_v: Param<Tensor<B, 2>>,
    /// Horizontal-distance table, `[2m + 2, head_dim]`.
    pub table_h: Param<Tensor<B, 2>>,
    #[module(skip)]
    max_distance: usize,
}

/// Configuration of a [`RelativePosition2d`]:
/// `RelativePosition2dConfig::new(head_dim, max_distance).init(&device)`.
#[derive(Config, Debug, PartialEq)]
pub struct RelativePosition2dConfig {
    /// Width of one head (a table row).
    pub head_dim: usize,
    /// Largest vertical or horizontal distance with its own row; farther ones are clamped.
    pub max_distance: usize,
}

impl RelativePosition2dConfig {
    /// Builds the two tables, `N(0, 0.02²)`. Errors when either size is 0.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<RelativePosition2d<B>> {
        let (head_dim, max_distance) = (self.head_dim, self.max_distance);
        if head_dim == 0 || max_distance == 0 {
            return Err(CoreError::Config(format!(
                "relative position: head_dim {head_dim} and max_distance {max_distance} must \
                 both be at least 1"
            )));
        }
        // Drawn now, not lazily at first use as Burn's initializers do: a clone taken before
        // the first forward (an extracted subnet) must hold the same values.
        let table = || {
            Param::from_tensor(Tensor::random(
                [2 * max_distance + 2, head_dim],
                Distribution::Normal(0.0, 0.02),
                device,
            ))
        };
        Ok(RelativePosition2d {
            table_v: table(),
            table_h: table(),
            max_distance,
        })
    }
}

impl<B: Backend> RelativePosition2d<B> {
    /// The clipping distance `m`.
    pub fn max_distance(&self) -> usize {
        self.max_distance
    }

    /// The encodings of every (query, key) pair of `tokens = 1 + side²` tokens (cls first, then
    /// the patches row by row): `[tokens, tokens, head_dim]`.
    pub fn embeddings(&self, tokens: usize) -> crate::Result<Tensor<B, 3>> {
        Ok(self.gather(&RowIndex::new(
            tokens,
            self.max_distance,
            &self.table_v.device(),
        )?))
    }

    /// The encodings at table rows computed once for a token count and clipping distance
    /// (shared by a layer's key and value tables).
    pub(crate) fn gather(&self, rows: &RowIndex<B>) -> Tensor<B, 3> {
        let (t, d) = (rows.tokens, self.table_v.dims()[1]);
        let e = self.table_v.val().select(0, rows.v.clone())
            + self.table_h.val().select(0, rows.h.clone());
        e.reshape([t, t, d])
    }
}

/// The table rows of every (query, key) pair of `tokens` tokens, as index tensors on a device.
pub(crate) struct RowIndex<B: Backend> {
    /// Rows of the vertical table, `tokens²` long.
    v: Tensor<B, 1, Int>,
    /// Rows of the horizontal table.
    h: Tensor<B, 1, Int>,
    /// Token count.
    tokens: usize,
    /// The clipping distance the rows were computed for.
    pub(crate) max_distance: usize,
}

impl<B: Backend> RowIndex<B> {
    /// Rows for `tokens` tokens clipped to `±max_distance`; see [`distance_rows`].
    pub(crate) fn new(
        tokens: usize,
        max_distance: usize,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let (v, h) = distance_rows(tokens, max_distance)?;
        let index = |rows: Vec<i64>| {
            Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [tokens * tokens]), device)
        };
        Ok(RowIndex {
            v: index(v),
            h: index(h),
            tokens,
            max_distance,
        })
    }
}

/// The table rows of every (query, key) pair: `(vertical, horizontal)`, each `tokens²` long,
/// row-major over (query, key). Errors unless `tokens − 1` is a square.
pub fn distance_rows(tokens: usize, max_distance: usize) -> crate::Result<(Vec<i64>, Vec<i64>)> {
    let patches = tokens.saturating_sub(1);
    let side = (patches as f64).sqrt().round() as usize;
    if tokens == 0 || side * side != patches {
        return Err(CoreError::Config(format!(
            "2-D relative positions need a cls token and a square grid of patches, got {tokens} \
             tokens"
        )));
    }
    let m = max_distance as i64;
    let row = |d: i64| d.clamp(-m, m) + m + 1;
    let (mut v, mut h) = (vec![0i64; tokens * tokens], vec![0i64; tokens * tokens]);
    for i in 1..tokens {
        for j in 1..tokens {
            let (p, q) = ((i - 1) as i64, (j - 1) as i64);
            let s = side as i64;
            v[i * tokens + j] = row(q / s - p / s);
            h[i * tokens + j] = row(q % s - p % s);
        }
    }
    Ok((v, h))
}

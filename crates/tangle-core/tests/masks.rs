//! Superposition masks against their literal definitions.
mod common;
use common::*;

use tangle_core::mask::{kernel_mask, prefix_mask};

#[test]
fn prefix_mask_is_reverse_cumulative_sum() {
    let m = prefix_mask(w::<B>(&[0.2, 0.3, 0.5], &dev()), &[2, 4, 6], 6);
    assert_close(&m, &w::<B>(&[1.0, 1.0, 0.8, 0.8, 0.5, 0.5], &dev()), 1e-6);
}

#[test]
fn prefix_mask_handles_unsorted_and_repeated_sizes() {
    // m[t] = Σ_{i: t < s_i} w_i, written out by hand.
    let sizes = [5, 2, 5, 3];
    let ws = [0.1f32, 0.2, 0.3, 0.4];
    let m = prefix_mask(w::<B>(&ws, &dev()), &sizes, 7);
    let want: Vec<f32> = (0..7)
        .map(|t| {
            sizes
                .iter()
                .zip(&ws)
                .filter(|(s, _)| t < **s)
                .map(|(_, w)| *w)
                .sum()
        })
        .collect();
    assert_eq!(want[0], 1.0);
    assert_close(&m, &w::<B>(&want, &dev()), 1e-6);
}

#[test]
fn kernel_mask_is_sum_of_padded_centred_kernels() {
    let ks = [1, 3, 5];
    let ws = [0.5f32, 0.25, 0.25];
    let m = kernel_mask(w::<B>(&ws, &dev()), &ks, 5);
    let mut want = vec![0f32; 25];
    for (k, wk) in ks.iter().zip(&ws) {
        let o = (5 - k) / 2;
        for y in o..o + k {
            for x in o..o + k {
                want[y * 5 + x] += wk;
            }
        }
    }
    assert_eq!(want[12], 1.0);
    assert_eq!(want[0], 0.25);
    assert_close(&m, &floats::<B, 2>(&want, [5, 5], &dev()), 1e-6);
}

#[test]
fn row_valued_prefix_mask_sums_covering_rows() {
    use tangle_core::mask::prefix_mask_rows;
    // out[t] = Σ_{i: t < sizes[i]} rows[i], written out by hand.
    let sizes = [3, 1, 3];
    let rows = [[1.0f32, 2.0], [10.0, 20.0], [100.0, 200.0]];
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let m = prefix_mask_rows(floats::<B, 2>(&flat, [3, 2], &dev()), &sizes, 4);
    let want = [111.0, 222.0, 101.0, 202.0, 101.0, 202.0, 0.0, 0.0];
    assert_close(&m, &floats::<B, 2>(&want, [4, 2], &dev()), 0.0);
}

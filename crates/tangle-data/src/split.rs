//! Train / validation split of a training set (DARTS-style: the first part trains the weights,
//! the rest trains the architecture).

use crate::error::DataError;

/// Indices of the two halves of a bi-level search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Indices used for weight steps.
    pub train: Vec<usize>,
    /// Indices used for architecture steps.
    pub valid: Vec<usize>,
}

/// Splits `n` examples: the first `⌊n · train_portion⌋` train the weights, the rest the
/// architecture (the paper uses 0.5 and 0.8). Both sides must be non-empty.
pub fn train_valid_split(n: usize, train_portion: f64) -> Result<Split, DataError> {
    if !(train_portion > 0.0 && train_portion < 1.0) {
        return Err(DataError::Split(format!(
            "train portion {train_portion} is not in (0, 1)"
        )));
    }
    let cut = ((n as f64) * train_portion).floor() as usize;
    if cut == 0 || cut == n {
        return Err(DataError::Split(format!(
            "{n} examples with train portion {train_portion} leave one side empty"
        )));
    }
    Ok(Split {
        train: (0..cut).collect(),
        valid: (cut..n).collect(),
    })
}

/// Errors unless `batch` examples fit both sides of `split`.
pub(crate) fn check_batch(split: &Split, batch: usize, what: &str) -> Result<(), DataError> {
    if batch == 0 || batch > split.train.len().min(split.valid.len()) {
        return Err(DataError::Split(format!(
            "batch {batch} does not fit {} training / {} validation {what}",
            split.train.len(),
            split.valid.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_by_portion() {
        let s = train_valid_split(10, 0.8).unwrap();
        assert_eq!(s.train, (0..8).collect::<Vec<_>>());
        assert_eq!(s.valid, vec![8, 9]);
        let s = train_valid_split(7, 0.5).unwrap();
        assert_eq!((s.train.len(), s.valid.len()), (3, 4));
        assert!(train_valid_split(10, 1.0).is_err());
        assert!(train_valid_split(10, 0.0).is_err());
        assert!(train_valid_split(1, 0.5).is_err());
        assert!(train_valid_split(10, f64::NAN).is_err());
    }
}

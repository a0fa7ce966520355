//! The one way to allocate a buffer whose size comes from a model or an input: fallibly, so a
//! size the machine (or the process's memory limit) cannot hold becomes [`Error::OutOfMemory`]
//! (a Python `MemoryError`), never an abort.
//!
//! `Vec::with_capacity`, `vec![x; n]`, `resize` and `to_vec` abort the whole process when the
//! allocator fails, and overcommit hides the failure until a memory limit (a container's
//! `RLIMIT_AS`) is set. Every allocation sized by a model's declared shapes, a caller's array
//! or a model's output goes through a function here instead, after the sizes it depends on were
//! checked against the model. The rule is enforced by a test that reads the source
//! (`source_checks/allocations.rs`): every infallible form elsewhere in `src/` needs a
//! `// alloc:` comment saying what bounds it. See `SECURITY.md`.

use crate::core::error::{Error, Result};

/// An empty vector with room for `capacity` elements; `what` names the buffer in the error.
pub fn try_with_capacity<T>(capacity: usize, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut vec = Vec::new();
    try_reserve(&mut vec, capacity, what)?;
    Ok(vec)
}

/// Makes room for `additional` more elements in `vec`.
pub fn try_reserve<T>(
    vec: &mut Vec<T>,
    additional: usize,
    what: impl FnOnce() -> String,
) -> Result<()> {
    vec.try_reserve_exact(additional)
        .map_err(|_| Error::OutOfMemory {
            what: what(),
            bytes: vec
                .len()
                .checked_add(additional)
                .and_then(|len| len.checked_mul(std::mem::size_of::<T>())),
        })
}

/// `len` copies of `value` (the fallible `vec![value; len]`).
pub fn try_filled<T: Clone>(len: usize, value: T, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut vec = try_with_capacity(len, what)?;
    // alloc: within the capacity just reserved, so this never allocates.
    vec.resize(len, value);
    Ok(vec)
}

/// A copy of `items` (the fallible `to_vec`).
pub fn try_copy<T: Clone>(items: &[T], what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut vec = try_with_capacity(items.len(), what)?;
    vec.extend_from_slice(items);
    Ok(vec)
}

/// The items of an iterator that knows its length (the fallible `collect`).
pub fn try_collect<T>(
    items: impl ExactSizeIterator<Item = T>,
    what: impl FnOnce() -> String,
) -> Result<Vec<T>> {
    let mut vec = try_with_capacity(items.len(), what)?;
    vec.extend(items);
    Ok(vec)
}

/// The size in bytes of `elements` elements of `element_size` bytes; `None` on overflow.
pub fn byte_size(elements: usize, element_size: usize) -> Option<usize> {
    elements
        .checked_mul(element_size)
        .filter(|&bytes| isize::try_from(bytes).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_no_allocator_can_give_is_an_error_naming_the_buffer() {
        let error =
            try_with_capacity::<u64>(usize::MAX / 16, || "output \"y\"".to_owned()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "not enough memory for output \"y\" ({} bytes)",
                (usize::MAX / 16) * 8
            )
        );
        let error = try_filled(usize::MAX, 0u32, || "the zeros".to_owned()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "not enough memory for the zeros (more bytes than the address space holds)"
        );
        assert!(matches!(
            try_collect(0..usize::MAX, || "a range".to_owned()),
            Err(Error::OutOfMemory { bytes: None, .. })
        ));
    }

    #[test]
    fn sizes_that_fit_are_allocated_and_filled() {
        assert_eq!(try_filled(3, 7u8, String::new).unwrap(), vec![7, 7, 7]);
        assert_eq!(
            try_copy(&[1.5f32, 2.5], String::new).unwrap(),
            vec![1.5, 2.5]
        );
        assert_eq!(
            try_collect([1, 2, 3].into_iter(), String::new).unwrap(),
            vec![1, 2, 3]
        );
        let mut grown = vec![1u16];
        try_reserve(&mut grown, 10, String::new).unwrap();
        assert!(grown.capacity() >= 11);
        assert_eq!(byte_size(3, 4), Some(12));
        assert_eq!(byte_size(usize::MAX / 2, 4), None);
        assert_eq!(byte_size(usize::MAX / 4 + 1, 2), None);
    }
}

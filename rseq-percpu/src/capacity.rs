//! The size arithmetic of the per-CPU rings: a requested capacity becomes a power of two
//! whose cell array fits in one allocation, or a typed [`CapacityError`].
//!
//! Every step is checked: rounding up to a power of two (`checked_next_power_of_two`),
//! and the byte size of the cells (`Layout::array`, which refuses a size above
//! `isize::MAX`). The largest capacity that passes is [`max_capacity`] for the cell type,
//! which each ring exposes as its `MAX_CAPACITY`.

use core::alloc::Layout;

/// Why a per-CPU ring could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityError {
    /// The capacity, rounded up to a power of two, would need more than `isize::MAX`
    /// bytes of cells per ring.
    #[error("ring capacity {requested} is above the maximum of {max} items")]
    TooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity of this ring type.
        max: usize,
    },
    /// The allocator could not provide the cells of one ring.
    #[error("could not allocate {bytes} bytes for the cells of a ring of {capacity} items")]
    Alloc {
        /// The rounded capacity.
        capacity: usize,
        /// The bytes of one ring's cells.
        bytes: usize,
    },
}

/// The largest power-of-two capacity whose array of `T` fits `Layout::array::<T>`
/// (at most `isize::MAX` bytes; the largest power of two for a zero-sized `T`).
pub(crate) const fn max_capacity<T>() -> usize {
    let size = core::mem::size_of::<T>();
    // A zero-sized `T` has no byte bound (`checked_div` by 0). An array of `T` has a size that is a multiple of its alignment, so the only bound
    // is `capacity * size <= isize::MAX`.
    let fits = match (isize::MAX as usize).checked_div(size) {
        Some(fits) => fits,
        None => usize::MAX,
    };
    1 << fits.ilog2()
}

/// `requested` (at least 1) rounded up to a power of two, and the layout of that many
/// cells of `T`, or why there is none.
pub(crate) fn ring_layout<T>(requested: usize) -> Result<(usize, Layout), CapacityError> {
    let too_large = CapacityError::TooLarge {
        requested,
        max: max_capacity::<T>(),
    };
    let capacity = requested
        .max(1)
        .checked_next_power_of_two()
        .ok_or(too_large.clone())?;
    if capacity > max_capacity::<T>() {
        return Err(too_large);
    }
    let layout = Layout::array::<T>(capacity).map_err(|_| too_large)?;
    Ok((capacity, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxima_fit_and_one_more_does_not() {
        assert_eq!(max_capacity::<u64>(), 1 << 59);
        assert_eq!(max_capacity::<[u8; 3]>(), 1 << 61);
        assert_eq!(max_capacity::<()>(), 1 << (usize::BITS - 1));
        assert!(ring_layout::<u64>(max_capacity::<u64>()).is_ok());
        assert!(ring_layout::<[u8; 3]>(max_capacity::<[u8; 3]>()).is_ok());
        assert!(ring_layout::<()>(max_capacity::<()>()).is_ok());
        for requested in [max_capacity::<u64>() + 1, usize::MAX] {
            assert!(matches!(
                ring_layout::<u64>(requested),
                Err(CapacityError::TooLarge { .. })
            ));
        }
        assert!(ring_layout::<()>(usize::MAX).is_err());
    }

    #[test]
    fn small_capacities_round_up() {
        assert_eq!(ring_layout::<u64>(0).unwrap().0, 1);
        assert_eq!(ring_layout::<u64>(1).unwrap().0, 1);
        assert_eq!(
            ring_layout::<u64>(5).unwrap(),
            (8, Layout::array::<u64>(8).unwrap())
        );
    }
}

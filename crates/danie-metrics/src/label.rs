//! Integer label values: the element types a label map may have.

/// An integer element of a label map (`u8` … `i64`).
pub trait LabelValue: Copy + Send + Sync + 'static {
    /// The label as `u32`, or `None` when it is negative or does not fit (never a requested label).
    fn label(self) -> Option<u32>;
}

macro_rules! impl_label_value {
    ($($t:ty),*) => {$(
        impl LabelValue for $t {
            #[inline]
            fn label(self) -> Option<u32> {
                u32::try_from(self).ok()
            }
        }
    )*};
}

impl_label_value!(u8, u16, u32, u64, usize, i8, i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_and_oversized_values_are_no_label() {
        assert_eq!(5u8.label(), Some(5));
        assert_eq!((-1i16).label(), None);
        assert_eq!((1u64 << 40).label(), None);
        assert_eq!(70000i32.label(), Some(70000));
    }
}

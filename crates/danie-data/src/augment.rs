//! augment (in progress)

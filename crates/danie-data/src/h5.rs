//! h5 (in progress)

//! datasets (in progress)

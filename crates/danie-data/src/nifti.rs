//! nifti (in progress)

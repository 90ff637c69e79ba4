//! preprocess (in progress)

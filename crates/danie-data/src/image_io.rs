//! image_io (in progress)

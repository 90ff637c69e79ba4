//! danie-train

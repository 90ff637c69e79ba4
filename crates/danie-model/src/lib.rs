//! danie-model

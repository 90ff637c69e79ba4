//! danie-metrics

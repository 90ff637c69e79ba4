//! Errors of model construction, input checks and weight loading.

/// What can go wrong building, running or loading the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An invalid or unreadable model configuration.
    #[error("{0}")]
    Config(String),
    /// An input tensor the network cannot take (wrong rank, channels, size or dtype).
    #[error("bad model input: {0}")]
    Input(String),
    /// A weight file that cannot be read or does not fit the model.
    #[error("{0}")]
    Weights(String),
    /// An error raised by libtorch.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

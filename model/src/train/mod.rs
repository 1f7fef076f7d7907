//! Training: AdamW, the learning-rate schedule, and the step loop.

mod optim;
mod round;
mod schedule;
mod trainer;

pub use optim::{AdamW, AdamWConfig};
pub use round::{inner_round, window_batches, RoundEnd};
pub use schedule::LrSchedule;
pub use trainer::{eval_loss, global_norm, StepStats, TrainConfig, Trainer};

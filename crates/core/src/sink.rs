use std::future::Future;

use crate::deadline::Deadline;
use crate::error::Retryable;
use crate::stage::Stage;
use crate::staged::StagedBatch;

/// What a sink did with a batch. Every record is counted once; anything not written must be an error
/// instead, so the trigger re-delivers the batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub written: usize,
    /// Permanently malformed records stored in a dead-letter destination.
    pub dead_lettered: usize,
    /// Records the configuration says to drop (e.g. tombstones), counted so nothing vanishes unseen.
    pub skipped: usize,
}

impl Delivery {
    pub fn accounted(&self) -> usize {
        self.written + self.dead_lettered + self.skipped
    }
}

/// What a scheduled run consumed and durably wrote (all of it, or the run is an error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Records fetched: written, dead-lettered or filtered out.
    pub records: usize,
    pub bytes: usize,
    pub dead_lettered: usize,
    /// Records the transform stage's filter left out.
    pub filtered: usize,
    /// Partitions another run was draining (the scheduled mode's runs overlapped): left to it.
    pub held_elsewhere: usize,
}

pub trait Sink: Send + Sync {
    type Error: std::error::Error + Retryable + Send + Sync + 'static;

    /// Where the records go, for logs and the invocation result. Never holds a secret.
    fn target(&self) -> String;

    /// Whether the sink writes records the transform stage rejected to its dead letters; if not, a rejected
    /// record fails the invocation.
    fn dead_letters_rejected(&self) -> bool {
        false
    }

    /// Durably writes the whole batch or fails. Retries must end before `deadline`'s cut-off.
    fn write(
        &self,
        batch: &StagedBatch<'_>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Delivery, Self::Error>> + Send;

    /// A timer event: the sink's own timer-driven mode (to-cos's scheduled dump fetches and writes records
    /// itself), or `None` for a sink that has none — the function then refuses timer events.
    /// The transform stage runs over what the mode fetches, as over trigger batches.
    fn run_scheduled(
        &self,
        _stage: &Stage,
        _deadline: Deadline,
    ) -> impl Future<Output = Option<Result<Drained, Self::Error>>> + Send {
        async { None }
    }
}

/// A borrowed sink is a sink: tests and tools drive one they keep.
impl<S: Sink> Sink for &S {
    type Error = S::Error;

    fn target(&self) -> String {
        (**self).target()
    }

    fn dead_letters_rejected(&self) -> bool {
        (**self).dead_letters_rejected()
    }

    fn write(
        &self,
        batch: &StagedBatch<'_>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Delivery, Self::Error>> + Send {
        (**self).write(batch, deadline)
    }

    fn run_scheduled(
        &self,
        stage: &Stage,
        deadline: Deadline,
    ) -> impl Future<Output = Option<Result<Drained, Self::Error>>> + Send {
        (**self).run_scheduled(stage, deadline)
    }
}

/// Splits `items`, in order, into groups of at most `max_size` by `size_of` (bulk requests, produce
/// requests); an item larger than `max_size` goes alone and the target decides.
pub fn split_by_size<T>(
    items: impl IntoIterator<Item = T>,
    max_size: usize,
    size_of: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let mut groups = Vec::new();
    let (mut current, mut size) = (Vec::new(), 0);
    for item in items {
        let len = size_of(&item);
        if !current.is_empty() && size + len > max_size {
            groups.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_order_and_size_and_oversized_items_go_alone() {
        let sizes = [10, 10, 10, 50, 5];
        assert_eq!(
            split_by_size(sizes, 25, |&n| n),
            vec![vec![10, 10], vec![10], vec![50], vec![5]]
        );
        assert!(split_by_size(Vec::<usize>::new(), 25, |&n| n).is_empty());
    }
}

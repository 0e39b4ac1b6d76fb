//! Taking and letting go of the leases of [`crate::lease`] in the bucket: the scheduled mode fences each
//! object's first offset, the trigger mode a partition while an invocation writes it.

use std::sync::atomic::{AtomicU64, Ordering};

use ckafka_dump_core::Deadline;
use tokio::time::Instant;

use crate::error::CosError;
use crate::lease::{Fenced, Lease, MARGIN_MS, MAX_ATTEMPTS};
use crate::naming::{lease_key, probe_key};
use crate::store::Created;
use crate::writer::Objects;

/// Whether the store can fence overlapping runs. Found once per process when it can; a store that cannot (a
/// warning each time) is asked again on the next run, in case its bucket changed.
pub async fn store_fences(objects: &Objects, run: &str, deadline: Deadline) -> Result<bool, CosError> {
    if objects.fencing.initialized() {
        return Ok(true);
    }
    match check_fencing(objects, run, deadline).await {
        Ok(()) => {
            let _ = objects.fencing.set(());
            Ok(true)
        }
        Err(e @ CosError::NoFencing { .. }) => {
            tracing::warn!(error = %e, "overlapping runs of a partition cannot be fenced");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Leases fence overlapping runs only if the store refuses to create a key that exists. A bucket with
/// versioning (COS then ignores `x-cos-forbid-overwrite`) or an S3-compatible store without conditional
/// writes would answer every create with success: found by creating one key twice.
async fn check_fencing(objects: &Objects, run: &str, deadline: Deadline) -> Result<(), CosError> {
    let config = &objects.config;
    let key = probe_key(&config.prefix, &config.instance, run);
    let body = run.as_bytes().to_vec();
    let first = objects.create_bookkeeping(&key, body.clone(), deadline).await?;
    let second = objects.create_bookkeeping(&key, body, deadline).await?;
    if let Err(e) = objects.delete_bookkeeping(&key, deadline).await {
        tracing::warn!(key, error = %e, "could not remove the fencing check's object");
    }
    match (first, second) {
        (Created::Created, Created::Exists) => Ok(()),
        _ => Err(CosError::NoFencing {
            store: objects.store.describe(),
        }),
    }
}

/// A run's name in the leases it holds: the process and when the run began.
pub fn run_id(now_ms: i64) -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{now_ms}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

/// A lease this run holds.
#[derive(Debug)]
pub struct Held {
    key: String,
}

/// The leases of one partition, as one run takes them.
pub struct Fence<'a> {
    pub objects: &'a Objects,
    /// The folder of the leases under `.ckafka-dump/`: the dump's instance, or `restore` for a restore job.
    pub scope: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub deadline: Deadline,
    pub clock: fn() -> i64,
    pub run: &'a str,
}

impl Fence<'_> {
    pub fn key(&self, fenced: Fenced, attempt: u32) -> String {
        lease_key(
            &self.objects.config.prefix,
            self.scope,
            self.topic,
            self.partition,
            fenced,
            attempt,
        )
    }

    /// Takes the lease of `fenced`: `None` when a run that has not expired holds it. Leases of runs that died
    /// holding it are passed over (the next attempt number) and removed.
    pub async fn take(&self, fenced: Fenced) -> Result<Option<Held>, CosError> {
        let mut attempt = 1;
        for _ in 0..2 * MAX_ATTEMPTS {
            if attempt > MAX_ATTEMPTS {
                break;
            }
            let key = self.key(fenced, attempt);
            let lease = Lease {
                topic: self.topic.to_owned(),
                partition: self.partition,
                offset: match fenced {
                    Fenced::Offset(offset) => Some(offset),
                    Fenced::Partition => None,
                },
                attempt,
                holder: self.run.to_owned(),
                expires_ms: self.expires_ms(),
            };
            match self
                .objects
                .create_bookkeeping(&key, lease.to_json(), self.deadline)
                .await?
            {
                Created::Created => {
                    for expired in 1..attempt {
                        self.release(Held {
                            key: self.key(fenced, expired),
                        })
                        .await;
                    }
                    return Ok(Some(Held { key }));
                }
                Created::Exists => match self.objects.read_bookkeeping(&key, self.deadline).await? {
                    // Let go between the two requests: try the same attempt again.
                    None => continue,
                    Some(body) if Lease::parse(&key, &body)?.holds_at((self.clock)()) => return Ok(None),
                    Some(_) => attempt += 1,
                },
            }
        }
        Err(CosError::Lease {
            key: self.key(fenced, attempt),
            reason: format!("more than {MAX_ATTEMPTS} runs died holding this lease"),
            retryable: false,
        })
    }

    /// This run's deadline plus the margin, in epoch milliseconds.
    fn expires_ms(&self) -> i64 {
        let to_end = self.deadline.end().saturating_duration_since(Instant::now());
        (self.clock)() + to_end.as_millis() as i64 + MARGIN_MS
    }

    /// Lets a lease go; a failure only delays the partition's next run until the lease expires.
    pub async fn release(&self, held: Held) {
        if let Err(e) = self.objects.delete_bookkeeping(&held.key, self.deadline).await {
            tracing::warn!(key = held.key, error = %e, "could not let a partition lease go; it expires by itself");
        }
    }
}

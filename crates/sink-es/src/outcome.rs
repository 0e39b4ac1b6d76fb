//! What became of each document, and what to do next: which items to send again, which to dead-letter,
//! which fail the invocation. Pure decisions, unit-tested without a server; `lib.rs` only executes them.

use ckafka_dump_core::{Failure, Unwritten};

use crate::request::BulkItem;
use crate::response::{ItemOutcome, TOO_LARGE};

/// Records a bulk request's answer (or its failure as a whole) for the items it carried; returns the
/// items to send again.
pub fn record_answer(
    outcomes: &mut [ItemOutcome],
    chunk: Vec<usize>,
    answer: Result<Vec<ItemOutcome>, Failure>,
) -> Vec<usize> {
    let mut again = Vec::new();
    let alone = chunk.len() == 1;
    match answer {
        Ok(answers) => {
            for (i, outcome) in chunk.into_iter().zip(answers) {
                let outcome = match outcome {
                    ItemOutcome::TooLarge(failure) if alone => ItemOutcome::BadDocument {
                        error_type: TOO_LARGE.to_owned(),
                        reason: format!("the request with this document alone is too large: {}", failure.reason),
                    },
                    other => other,
                };
                if is_retryable(&outcome) || matches!(outcome, ItemOutcome::TooLarge(_)) {
                    again.push(i);
                }
                outcomes[i] = outcome;
            }
        }
        Err(failure) => {
            for i in chunk {
                if failure.retryable {
                    again.push(i);
                }
                outcomes[i] = ItemOutcome::Failed(failure.clone());
            }
        }
    }
    again
}

pub fn is_retryable(outcome: &ItemOutcome) -> bool {
    matches!(outcome, ItemOutcome::Failed(f) if f.retryable)
}

/// A record that cannot be indexed (its document refused as malformed, or rejected before sending), to be
/// dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDocument {
    /// Index of the record in the batch.
    pub record: usize,
    /// The index it was meant for (empty when no name could be made).
    pub target_index: String,
    pub error_type: String,
    pub reason: String,
}

/// The final outcomes of a round of items, sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sorted {
    pub written: usize,
    pub unwritten: Vec<Unwritten>,
    pub bad_documents: Vec<BadDocument>,
}

pub fn sort(items: &[BulkItem], outcomes: Vec<ItemOutcome>) -> Sorted {
    let mut sorted = Sorted::default();
    for (item, outcome) in items.iter().zip(outcomes) {
        match outcome {
            ItemOutcome::Written => sorted.written += 1,
            ItemOutcome::Failed(failure) | ItemOutcome::TooLarge(failure) => sorted.unwritten.push(Unwritten {
                record: item.record,
                failure,
            }),
            ItemOutcome::BadDocument { error_type, reason } => sorted.bad_documents.push(BadDocument {
                record: item.record,
                target_index: item.index.clone(),
                error_type,
                reason,
            }),
        }
    }
    sorted
}

/// Bad documents that cannot be dead-lettered fail, permanently: sending them again changes nothing.
pub fn refuse(bad: Vec<BadDocument>, why: &'static str) -> impl Iterator<Item = Unwritten> {
    bad.into_iter().map(move |b| Unwritten {
        record: b.record,
        failure: Failure::new(format!("{}: {} ({why})", b.error_type, b.reason), false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_refused_as_too_large_is_sent_again_unless_it_held_one_document() {
        let too_large = || ItemOutcome::TooLarge(Failure::new("HTTP 413", false));
        let mut outcomes = vec![ItemOutcome::Written; 3];
        let again = record_answer(&mut outcomes, vec![0, 1], Ok(vec![too_large(), too_large()]));
        assert_eq!(again, [0, 1], "two documents: smaller requests may pass");
        let again = record_answer(&mut outcomes, vec![2], Ok(vec![too_large()]));
        assert!(again.is_empty());
        assert!(
            matches!(&outcomes[2], ItemOutcome::BadDocument { error_type, .. } if error_type == TOO_LARGE),
            "{:?}",
            outcomes[2]
        );
    }

    fn items(n: usize) -> Vec<BulkItem> {
        (0..n)
            .map(|i| BulkItem {
                record: i * 10,
                index: format!("i{i}"),
                lines: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn only_retryable_items_are_sent_again() {
        let mut outcomes = vec![ItemOutcome::Failed(Failure::new("not sent", true)); 4];
        let answer = Ok(vec![
            ItemOutcome::Written,
            ItemOutcome::Failed(Failure::new("429", true)),
            ItemOutcome::Failed(Failure::new("403", false)),
        ]);
        assert_eq!(record_answer(&mut outcomes, vec![0, 1, 2], answer), [1]);
        assert_eq!(outcomes[0], ItemOutcome::Written);
        let down = Err(Failure::new("node down", true));
        assert_eq!(record_answer(&mut outcomes, vec![3], down), [3]);
        let refused = Err(Failure::new("401", false));
        assert!(record_answer(&mut outcomes, vec![3], refused).is_empty());
        assert!(!is_retryable(&outcomes[3]));
    }

    #[test]
    fn outcomes_sort_into_written_unwritten_and_bad_documents() {
        let items = items(3);
        let sorted = sort(
            &items,
            vec![
                ItemOutcome::Written,
                ItemOutcome::BadDocument {
                    error_type: "mapper_parsing_exception".into(),
                    reason: "n".into(),
                },
                ItemOutcome::Failed(Failure::new("503", true)),
            ],
        );
        assert_eq!(sorted.written, 1);
        assert_eq!(sorted.unwritten[0].record, 20);
        assert_eq!(
            (
                sorted.bad_documents[0].record,
                sorted.bad_documents[0].target_index.as_str()
            ),
            (10, "i1")
        );
        let refused: Vec<Unwritten> = refuse(sorted.bad_documents, "no dead-letter index").collect();
        assert_eq!(refused[0].record, 10);
        assert!(!refused[0].failure.retryable);
        assert_eq!(
            refused[0].failure.reason,
            "mapper_parsing_exception: n (no dead-letter index)"
        );
    }
}

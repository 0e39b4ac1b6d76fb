//! The offsets of one partition already written to a target, as sorted, disjoint, inclusive ranges.
//!
//! A high-water mark ("everything below N is written") loses records when batches arrive out of order — a
//! redriven batch, a reset trigger, overlapping invocations finishing in another order — because a record
//! below the mark is taken as written although no delivery wrote it. The ranges remember exactly which spans
//! were written, so a delivery writes what no earlier one did, whatever the batch boundaries and order.
//!
//! A written span covers the offsets between its batch's first and last record, gaps included: offsets a
//! compacted topic or transaction markers left empty are never delivered, so ranges of consecutive batches
//! merge into one. Stored as text, `"0-99,250-260"`.

use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetRanges {
    /// Sorted by start; disjoint and not adjacent (adjacent ranges are merged).
    ranges: Vec<(i64, i64)>,
}

impl OffsetRanges {
    /// Everything below `next_offset`: what a high-water mark of earlier versions said was written.
    pub fn below(next_offset: i64) -> Self {
        let mut ranges = OffsetRanges::default();
        if next_offset > 0 {
            ranges.insert(0, next_offset - 1);
        }
        ranges
    }

    /// Parses the stored text; `None` when it is not a list of `first-last` ranges.
    pub fn parse(text: &str) -> Option<Self> {
        let mut ranges = OffsetRanges::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (first, last) = part.split_once('-')?;
            let (first, last) = (first.parse().ok()?, last.parse().ok()?);
            if first < 0 || last < first {
                return None;
            }
            ranges.insert(first, last);
        }
        Some(ranges)
    }

    pub fn contains(&self, offset: i64) -> bool {
        let i = self.ranges.partition_point(|&(_, last)| last < offset);
        self.ranges.get(i).is_some_and(|&(first, _)| first <= offset)
    }

    /// Marks `first..=last` written, merging it with the ranges it touches.
    pub fn insert(&mut self, first: i64, last: i64) {
        debug_assert!(first <= last);
        // The ranges that overlap or touch the new one are replaced by their union.
        let start = self.ranges.partition_point(|&(_, l)| l.saturating_add(1) < first);
        let end = self.ranges.partition_point(|&(f, _)| f <= last.saturating_add(1));
        let (mut first, mut last) = (first, last);
        if start < end {
            first = first.min(self.ranges[start].0);
            last = last.max(self.ranges[end - 1].1);
        }
        self.ranges.splice(start..end, [(first, last)]);
    }

    /// The offset after the highest written one (0 when none is).
    pub fn next_offset(&self) -> i64 {
        self.ranges.last().map_or(0, |&(_, last)| last.saturating_add(1))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, sorted: `(first, last)` inclusive.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ranges.iter().copied()
    }
}

impl fmt::Display for OffsetRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (first, last)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}-{last}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(spans: &[(i64, i64)]) -> OffsetRanges {
        let mut ranges = OffsetRanges::default();
        for &(first, last) in spans {
            ranges.insert(first, last);
        }
        ranges
    }

    #[test]
    fn a_batch_below_a_later_one_is_not_taken_as_written() {
        let ranges = written(&[(20, 29)]);
        assert!((10..20).all(|o| !ranges.contains(o)));
        assert!((20..30).all(|o| ranges.contains(o)));
        assert!(!ranges.contains(30));
        assert_eq!(ranges.next_offset(), 30);
    }

    #[test]
    fn ranges_merge_when_they_touch_or_overlap_in_any_order() {
        assert_eq!(written(&[(20, 29), (10, 19)]).to_string(), "10-29");
        assert_eq!(written(&[(10, 20), (15, 25)]).to_string(), "10-25");
        assert_eq!(written(&[(0, 9), (20, 29), (40, 49)]).to_string(), "0-9,20-29,40-49");
        assert_eq!(written(&[(0, 9), (40, 49), (20, 29), (5, 45)]).to_string(), "0-49");
        assert_eq!(written(&[(5, 5), (3, 3), (4, 4)]).to_string(), "3-5");
        assert_eq!(written(&[(0, 100), (10, 20)]).to_string(), "0-100");
    }

    #[test]
    fn the_stored_text_reads_back_and_bad_text_is_refused() {
        let ranges = written(&[(0, 9), (20, 29)]);
        assert_eq!(OffsetRanges::parse(&ranges.to_string()), Some(ranges));
        assert_eq!(OffsetRanges::parse(""), Some(OffsetRanges::default()));
        assert_eq!(OffsetRanges::parse("5-3"), None);
        assert_eq!(OffsetRanges::parse("a-b"), None);
        assert_eq!(OffsetRanges::parse("-1-3"), None);
    }

    #[test]
    fn a_high_water_mark_means_everything_below_it() {
        assert_eq!(OffsetRanges::below(0), OffsetRanges::default());
        assert_eq!(OffsetRanges::below(10).to_string(), "0-9");
    }
}

//! Waits whose timeout expired: a poll loop that gave up and let the ROM go
//! on (an EDID read over GMBUS that never completed, an AUX transfer that
//! never finished). Such a run returns, so nothing stalls; the harm shows
//! later (a mode missing from the list, a step that fails). These facts are
//! gathered while the guest runs, because the bounded record has long
//! forgotten the loop by the time a later step fails.
//!
//! When a branch changes direction after a long streak with a device read in
//! it ([`LongStreakEnd`]), the loop is walked as it was just before: if the
//! branch is the loop's counter or deadline branch ([`Walk::timeout`]), the
//! wait expired; if it is the branch that decides on the value read, the
//! condition came true. A site is walked once; later ends at a known site
//! only count. Both tables are bounded.
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::collections::HashMap;

use serde::Serialize;

use super::record::{FlowRecord, LongStreakEnd, ReadRecord, ReadSource};
use super::walk::{self, Code, DataBranch, Timeout};
use crate::trace::CsIp;

/// Distinct branch sites classified at most; later sites are counted in
/// [`ExpiryLog::unexamined`].
pub const SITES: usize = 256;
/// Distinct expired waits kept.
pub const WAITS: usize = 32;
/// Reads (most recent first, made during the streak) walked per site.
const READS_WALKED: usize = 4;

/// A poll loop whose counter or deadline ran out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiredWait {
    /// The register read in the loop (its last value is the one the ROM
    /// gave up on).
    pub read: ReadRecord,
    /// The branch that decides on the value read (its `last_taken` is the
    /// direction that keeps waiting).
    pub branch: DataBranch,
    /// The counter or deadline branch that ran out.
    pub timeout: Timeout,
    /// The loop's CS:IP range.
    pub range: Option<(CsIp, u16)>,
    /// Times it expired in all.
    pub times: u64,
    /// Times since [`ExpiryLog::take_new`] last reported it.
    pub new: u64,
}

/// What a branch site turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Site {
    /// The timeout branch of the expired wait at this index.
    Expiry(usize),
    /// Something else (a poll that succeeded, a counted loop).
    Other,
}

/// The expired waits of a session.
#[derive(Clone, Debug, Default)]
pub struct ExpiryLog {
    sites: HashMap<CsIp, Site>,
    waits: Vec<ExpiredWait>,
    /// Long streak ends not examined because [`SITES`] sites were known.
    pub unexamined: u64,
    /// Expired waits not kept because [`WAITS`] were kept.
    pub unkept: u64,
}

impl ExpiryLog {
    /// Account for a long streak that ended; `record` is the record now
    /// (the branch already gone the other way), `code` the guest's code.
    pub fn note(&mut self, code: &dyn Code, record: &FlowRecord, end: &LongStreakEnd) {
        match self.sites.get(&end.at) {
            Some(Site::Expiry(i)) => {
                let i = *i;
                if let Some(w) = self.waits.get_mut(i) {
                    w.times = w.times.saturating_add(1);
                    w.new = w.new.saturating_add(1);
                    // The value it gave up on this time.
                    if let Some(r) = record
                        .reads_at(w.read.at)
                        .find(|r| r.source == w.read.source)
                    {
                        w.read = *r;
                    }
                }
                return;
            }
            Some(Site::Other) => return,
            None => {}
        }
        if self.sites.len() >= SITES {
            self.unexamined = self.unexamined.saturating_add(1);
            return;
        }
        let site = match classify(code, record, end) {
            Some(w) if self.waits.len() < WAITS => {
                self.waits.push(w);
                Site::Expiry(self.waits.len() - 1)
            }
            Some(_) => {
                self.unkept = self.unkept.saturating_add(1);
                Site::Other
            }
            None => Site::Other,
        };
        self.sites.insert(end.at, site);
    }

    /// Every expired wait, in the order first seen.
    #[must_use]
    pub fn waits(&self) -> &[ExpiredWait] {
        &self.waits
    }

    /// The waits that expired since the last call, with `new` holding how
    /// often; resets `new`.
    pub fn take_new(&mut self) -> Vec<ExpiredWait> {
        let out: Vec<ExpiredWait> = self.waits.iter().filter(|w| w.new > 0).cloned().collect();
        for w in &mut self.waits {
            w.new = 0;
        }
        out
    }
}

/// Walk the loop as it ran before `end`: an expired wait when `end`'s branch
/// is the timeout of a poll on a value read during the streak.
#[must_use]
pub fn classify(code: &dyn Code, record: &FlowRecord, end: &LongStreakEnd) -> Option<ExpiredWait> {
    let before = record.before(end);
    before
        .reads()
        .into_iter()
        .filter(|r| r.seq > end.since && !matches!(r.source, ReadSource::Timer(_)))
        .take(READS_WALKED)
        .find_map(|r| {
            let w = walk::walk(code, &before, &r);
            let timeout = w.timeout.filter(|t| t.at == end.at)?;
            let branch = w.branch?;
            // The way the deciding branch goes when the condition holds must
            // leave the loop: a branch that goes back into it (an inner
            // poll that succeeded, inside a loop over data) is not a wait.
            let met = if branch.last_taken {
                branch.fallthrough
            } else {
                branch.target
            };
            if let Some((start, end)) = w.range {
                if met.cs == start.cs && (start.ip..end).contains(&met.ip) {
                    return None;
                }
            }
            Some(ExpiredWait {
                read: r,
                branch,
                timeout,
                range: w.range,
                times: 1,
                new: 1,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_table_is_bounded_and_counts_what_it_could_not_examine() {
        let record = FlowRecord::default();
        let no_code = |_: u64, _: &mut [u8]| false;
        let mut log = ExpiryLog::default();
        for ip in 0..(SITES as u16 + 44) {
            let end = LongStreakEnd {
                at: CsIp::new(0xC000, ip),
                was_taken: true,
                streak: 100,
                since: 0,
            };
            log.note(&no_code, &record, &end);
            // A known site again costs a lookup only.
            log.note(&no_code, &record, &end);
        }
        assert_eq!(log.sites.len(), SITES);
        assert_eq!(log.unexamined, 44 * 2);
        assert!(log.waits().is_empty());
        assert!(log.take_new().is_empty());
    }
}

//! Work orders: their kinds, priorities, and the status machine.
//!
//! | from | to |
//! | --- | --- |
//! | New | Scheduled (a technician and a day are set), Cancelled |
//! | Scheduled | EnRoute, Scheduled (moved to another technician or day), New (unscheduled), Cancelled |
//! | EnRoute | OnSite, Scheduled (turned back), Cancelled |
//! | OnSite | Done, NeedsRevisit |
//! | NeedsRevisit | Scheduled (the revisit), Cancelled |
//! | Done, Cancelled | nothing: final |
//!
//! So a job is closed only from the site (Done or NeedsRevisit), a job on
//! site cannot be cancelled (it ends as done or needs a revisit), and
//! every step is stamped ([`Step`]): the history is the list of steps, in
//! time order, each one allowed from the one before.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    Installation,
    Repair,
    Removal,
    SiteSurvey,
    TowerWork,
}

impl JobKind {
    pub const ALL: [JobKind; 5] =
        [JobKind::Installation, JobKind::Repair, JobKind::Removal, JobKind::SiteSurvey, JobKind::TowerWork];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Installation => "installation",
            JobKind::Repair => "repair",
            JobKind::Removal => "removal",
            JobKind::SiteSurvey => "site-survey",
            JobKind::TowerWork => "tower-work",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    New,
    Scheduled,
    EnRoute,
    OnSite,
    Done,
    NeedsRevisit,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::New,
        Status::Scheduled,
        Status::EnRoute,
        Status::OnSite,
        Status::Done,
        Status::NeedsRevisit,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Scheduled => "scheduled",
            Status::EnRoute => "en-route",
            Status::OnSite => "on-site",
            Status::Done => "done",
            Status::NeedsRevisit => "needs-revisit",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Nothing follows it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Done | Status::Cancelled)
    }

    /// Still to be worked (counts on the board).
    pub fn is_open(self) -> bool {
        !self.is_final()
    }

    /// Whether a job may go from `self` to `to` (the module's table).
    pub fn allows(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (New, Scheduled | Cancelled)
                | (Scheduled, EnRoute | Scheduled | New | Cancelled)
                | (EnRoute, OnSite | Scheduled | Cancelled)
                | (OnSite, Done | NeedsRevisit)
                | (NeedsRevisit, Scheduled | Cancelled)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of a job's history: the status it entered, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub status: Status,
    pub at_ms: i64,
    pub by: String,
}

/// A requested change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub to: Status,
    pub at_ms: i64,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("a {from} job cannot become {to}")]
    NotAllowed { from: Status, to: Status },
    #[error("the change is dated before the job's last step")]
    BeforeLast,
}

/// The history after `t`, or why it is refused (a refused change leaves the
/// history as it was). A job without steps is New.
pub fn advance(history: &[Step], t: &Transition) -> Result<Vec<Step>, StatusError> {
    let (from, last_ms) = history.last().map_or((Status::New, i64::MIN), |s| (s.status, s.at_ms));
    if !from.allows(t.to) {
        return Err(StatusError::NotAllowed { from, to: t.to });
    }
    if t.at_ms < last_ms {
        return Err(StatusError::BeforeLast);
    }
    let mut h = history.to_vec();
    h.push(Step { status: t.to, at_ms: t.at_ms, by: t.by.clone() });
    Ok(h)
}

/// The time a job first entered `status`, if it did.
pub fn first(history: &[Step], status: Status) -> Option<i64> {
    history.iter().find(|s| s.status == status).map(|s| s.at_ms)
}

/// The time a job last entered `status`, if it did.
pub fn last(history: &[Step], status: Status) -> Option<i64> {
    history.iter().rev().find(|s| s.status == status).map(|s| s.at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(to: Status, at_ms: i64) -> Transition {
        Transition { to, at_ms, by: "tech".into() }
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn a_day_in_the_field() {
        let mut h = Vec::new();
        for (s, at) in [(Status::Scheduled, 1), (Status::EnRoute, 2), (Status::OnSite, 3), (Status::Done, 4)] {
            h = advance(&h, &t(s, at)).unwrap();
        }
        assert_eq!(first(&h, Status::OnSite), Some(3));
        assert_eq!(
            advance(&h, &t(Status::Scheduled, 5)),
            Err(StatusError::NotAllowed { from: Status::Done, to: Status::Scheduled })
        );
        let on_site = &h[..3];
        assert!(advance(on_site, &t(Status::Cancelled, 9)).is_err(), "a job on site ends done or needs a revisit");
        assert_eq!(advance(on_site, &t(Status::Done, 2)), Err(StatusError::BeforeLast));
        assert_eq!(
            StatusError::NotAllowed { from: Status::OnSite, to: Status::Cancelled }.to_string(),
            "a on-site job cannot become cancelled"
        );
    }

    proptest! {
        /// Any sequence of requested changes: what `advance` accepts forms
        /// a history whose every step the table allows from the one
        /// before, in time order; nothing follows a final status; a
        /// refused change leaves the history unchanged.
        #[test]
        fn histories_follow_the_table(reqs in proptest::collection::vec((0usize..7, -5i64..20), 0..40)) {
            let mut h: Vec<Step> = Vec::new();
            for (s, dt) in reqs {
                let to = Status::ALL[s];
                let at = h.last().map_or(0, |l| l.at_ms) + dt;
                match advance(&h, &t(to, at)) {
                    Ok(next) => {
                        prop_assert_eq!(next.len(), h.len() + 1);
                        prop_assert_eq!(&next[..h.len()], &h[..]);
                        h = next;
                    }
                    Err(_) => {
                        let from = h.last().map_or(Status::New, |l| l.status);
                        prop_assert!(!from.allows(to) || dt < 0);
                    }
                }
            }
            let mut prev = Status::New;
            let mut prev_at = i64::MIN;
            for step in &h {
                prop_assert!(prev.allows(step.status), "{} -> {}", prev, step.status);
                prop_assert!(!prev.is_final());
                prop_assert!(step.at_ms >= prev_at);
                prev = step.status;
                prev_at = step.at_ms;
            }
        }
    }
}

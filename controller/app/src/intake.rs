//! Email intake over IMAP: reads the support mailbox, hands each mail to
//! `mast_store::tickets::email::ingest`, and marks what was stored as
//! processed on the server (a crash in between repeats nothing: Message-IDs
//! are remembered).

use crate::mail::{ImapConfig, MailError};
use mast_store::db::Db;
use mast_store::tickets::Desk;
use mast_store::tickets::email::{Outcome, ingest};
use tracing::{info, warn};

/// Reads the mailbox once: ingests every new mail, then marks them
/// processed on the server. Returns the outcomes.
pub async fn poll_once(db: &Db, desk: &Desk, cfg: &ImapConfig) -> Result<Vec<Outcome>, MailError> {
    let fetched = crate::mail::imap::fetch_new(cfg).await?;
    let mut outcomes = Vec::with_capacity(fetched.len());
    let mut done = Vec::with_capacity(fetched.len());
    for f in &fetched {
        let outcome = if f.truncated {
            Outcome::Rejected("too large".into())
        } else {
            match ingest(db, desk, &f.raw).await {
                Ok(o) => o,
                Err(e) => {
                    // Left unprocessed on the server: retried next poll.
                    warn!(uid = f.uid, error = %e, "email intake: database error");
                    continue;
                }
            }
        };
        if let Outcome::Rejected(why) = &outcome {
            warn!(uid = f.uid, why, "email intake: mail not turned into a ticket");
        }
        done.push(f.uid);
        outcomes.push(outcome);
    }
    crate::mail::imap::mark_processed(cfg, &done).await?;
    if !outcomes.is_empty() {
        info!(mails = outcomes.len(), "email intake");
    }
    Ok(outcomes)
}

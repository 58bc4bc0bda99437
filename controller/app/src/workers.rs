//! The controller's background work, started once by [`start`] on the
//! [`App`]'s shutdown signal: each worker runs a pass every interval and
//! stops between passes at shutdown (a pass in progress always finishes).
//! Long jobs run here, apart from ingest, so a slow invoice run never delays
//! monitoring. Each runs once per installation: a pass runs only on the
//! controller holding the worker's lease ([`crate::lease`]; all of them on
//! a single controller).
//!
//! | worker (lease) | every | what |
//! |---|---|---|
//! | outbox (`outbox`) | `mail.notify_interval_secs` | deliver due notifications (one message at a time) |
//! | outages (`outages`) | 2 s tick | correlator → incidents, tickets, notices ([`crate::outages`]) |
//! | SLA (`sla`) | `support.sla_check_secs` | escalations and KPI stamps |
//! | intake (`mail-intake`) | `mail.imap.poll_secs` | support mail → tickets (with `[mail.imap]`) |
//! | maintenance notices (`maintenance-notices`) | 60 s | advance notices to affected customers |
//! | invoice mail (`invoice-mail`) | `mail.notify_interval_secs` | new invoices mailed with their PDF |
//! | billing schedule (`billing`) | `billing.check_secs` | invoice run, autopay, dunning for today (with `billing.auto_run`) |
//! | rollups (`rollups`) | `monitoring.rollup_interval_secs` | chart rollups and retention |
//! | rollouts (`rollouts`) | 2 s | fleet upgrade stages ([`crate::rollouts`]) |
//! | incident escalation (`incident-escalation`) | 20 s | unacknowledged incidents to the escalation group |
//! | alert rules (`alert-rules`) | `alerts.rules_every_secs` | signal, loss and backlog rules |
//! | stock (`stock`) | `stock.reconcile_secs` | inventory vs the network: automatic installs, the admins' daily summary ([`crate::stock`]) |

use crate::context::App;
use crate::lease::{Leases, name};
use crate::outages::{OutageFeed, OutageSettings};
use crate::shutdown::{Shutdown, every};
use mast_store::db::now_ms;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// [`every`], each pass only while this controller holds `lease`.
async fn every_held<F, Fut>(
    shutdown: &Shutdown,
    leases: Arc<Leases>,
    lease: &'static str,
    interval: Duration,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    every(shutdown, interval, || {
        let held = leases.held(lease);
        let fut = held.then(&mut pass);
        async move {
            if let Some(f) = fut {
                f.await
            }
        }
    })
    .await
}

/// Starts every worker; returns the outage feed ingest reports to.
pub fn start(app: &App) -> OutageFeed {
    let s = &app.settings;
    let stop = &app.shutdown;
    let leases = &app.leases;

    let (db, t, sd, waiting) = (app.db.clone(), app.transports.clone(), stop.clone(), app.waiting.clone());
    let interval = s.notify.every;
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::OUTBOX, interval, || async {
            if let Err(e) = crate::notify::deliver_due(&db, &t, &sd).await {
                warn!(error = %e, "notification worker: database error");
            }
            if let Err(e) = waiting.refresh(&db, t.channels()).await {
                warn!(error = %e, "notification worker: counting waiting messages failed");
            }
        })
        .await
    });

    let (db, desk, policy, sd) = (app.db.clone(), app.desk(), s.support.sla.clone(), stop.clone());
    let interval = s.support.sla_check_every;
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::SLA, interval, || async {
            if let Err(e) = mast_store::tickets::escalation::check(&db, &desk, &policy, now_ms()).await {
                warn!(error = %e, "SLA check failed");
            }
        })
        .await
    });

    if let Some(imap) = s.support.imap.clone() {
        let (db, desk, sd) = (app.db.clone(), app.desk(), stop.clone());
        let interval = Duration::from_secs(imap.poll_secs.max(1));
        let l = leases.clone();
        stop.spawn(async move {
            every_held(&sd, l, name::INTAKE, interval, || async {
                if let Err(e) = crate::intake::poll_once(&db, &desk, &imap).await {
                    warn!(error = %e, "email intake: cannot read the mailbox");
                }
            })
            .await
        });
    }

    let (db, channels, tz, sd) = (app.db.clone(), app.channels(), s.tz.clone(), stop.clone());
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::MAINTENANCE_NOTICES, Duration::from_secs(60), || async {
            if let Err(e) = mast_store::monitoring::windows::send_notices(&db, channels, &tz, now_ms()).await {
                warn!(error = %e, "maintenance notices failed");
            }
        })
        .await
    });

    let (db, alerts, tz, sd) = (app.db.clone(), app.alert_settings(), s.tz.clone(), stop.clone());
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::ROLLOUTS, Duration::from_secs(2), || async {
            if let Err(e) = crate::rollouts::tick(&db, &tz, &alerts).await {
                warn!(error = %e, "rollout step failed; retrying");
            }
        })
        .await
    });

    let (db, alerts, sd) = (app.db.clone(), app.alert_settings(), stop.clone());
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::INCIDENT_ESCALATION, Duration::from_secs(20), || async {
            if let Err(e) = crate::alerts::escalate(&db, &alerts, now_ms()).await {
                warn!(error = %e, "incident escalation check failed");
            }
        })
        .await
    });

    let (db, alerts, sd) = (app.db.clone(), app.alert_settings(), stop.clone());
    let rules_every = app.settings.alerts.rules_every;
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::ALERT_RULES, rules_every, || async {
            if let Err(e) = crate::alerts::evaluate_rules(&db, &alerts, now_ms()).await {
                warn!(error = %e, "alert rule evaluation failed");
            }
        })
        .await
    });

    let (db, channels, sd) = (app.db.clone(), app.channels(), stop.clone());
    let interval = s.notify.every;
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::INVOICE_MAIL, interval, || async {
            if let Err(e) = crate::billing::documents::queue_new_invoices(&db, channels).await {
                warn!(error = %e, "invoice emails: database error");
            }
        })
        .await
    });

    if s.billing.auto_run {
        let schedule = crate::billing::scheduler::Schedule {
            tz: s.tz.clone(),
            invoice_runs: true,
            dunning: s.billing.dunning.clone(),
            provider: app.payments.clone(),
            channels: app.channels(),
            shutdown: stop.clone(),
        };
        let (db, sd) = (app.db.clone(), stop.clone());
        let interval = s.billing.check_every;
        let l = leases.clone();
        stop.spawn(async move {
            every_held(&sd, l, name::BILLING, interval, || crate::billing::scheduler::pass(&db, &schedule)).await
        });
    }

    let (db, keep, sd) = (app.db.clone(), s.monitoring.retention, stop.clone());
    let interval = s.monitoring.rollup_every;
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::ROLLUPS, interval, || async {
            match mast_store::rollup::run_once(&db, now_ms(), keep).await {
                Ok(r) => {
                    if r.raw_deleted > 0 {
                        info!(deleted = r.raw_deleted, "raw samples past retention deleted");
                    }
                    let p = &r.partitions;
                    if !p.created.is_empty() || !p.dropped.is_empty() {
                        info!(created = ?p.created, dropped = ?p.dropped, moved = p.moved, "sample partitions");
                    }
                }
                Err(e) => warn!(error = %e, "rollup pass failed; retrying next time"),
            }
        })
        .await
    });

    let (db, stock, tz, channels, sd) = (app.db.clone(), s.stock.clone(), s.tz.clone(), app.channels(), stop.clone());
    let url = s.http.public_url.clone().unwrap_or_else(|| format!("http://{}", s.http.listen));
    let l = leases.clone();
    stop.spawn(async move {
        every_held(&sd, l, name::STOCK, stock.reconcile_every, || async {
            if let Err(e) = crate::stock::pass(&db, &stock, &tz, channels, &url, now_ms()).await {
                warn!(error = %e, "stock reconciliation failed; retrying next time");
            }
        })
        .await
    });

    crate::outages::spawn(
        app.db.clone(),
        OutageSettings {
            correlator: s.monitoring.correlator.clone(),
            channels: app.channels(),
            tz: s.tz.clone(),
            alerts: app.alert_settings(),
            network_changed: app.network.clone(),
            ..Default::default()
        },
        stop,
        app.leases.clone(),
    )
}

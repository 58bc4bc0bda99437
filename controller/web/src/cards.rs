//! Saving a card through the payment provider's hosted page (Stripe
//! Checkout in setup mode): from the portal ("Save a card": a redirect to
//! the hosted page and back), and from staff as an emailed link ("Send a
//! card link"). The return page and the provider's signed
//! `checkout.session.completed` webhook both save the method; saving is
//! idempotent, so whichever comes first wins and the other changes nothing.
//! No card number ever reaches Mast.

use super::billing::CASHIERS;
use super::portal::Customer;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::notify::{self, Channel};
use crate::ui::{self, html};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::autopay;
use mast_store::StoreError;
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// Who may send a card link (the people who record payments).
pub const SENDERS: &[crate::staff::Role] = CASHIERS;

fn provider(st: &AppState) -> Result<&dyn mast_app::billing::provider::PaymentProvider, ApiError> {
    st.payments.as_deref().ok_or_else(|| ApiError::bad_request("card payments are not set up (stripe.secret_key)"))
}

fn base(st: &AppState) -> String {
    st.web.public_url.trim_end_matches('/').to_string()
}

/// A provider or input problem as a 400 with its reason; the rest as is.
fn refused(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid { reason, .. } => ApiError::bad_request(&reason),
        StoreError::Conflict(m) => ApiError::bad_request(&m),
        e => e.into(),
    }
}

/// `POST /portal/card`: opens a session on the hosted page and links to it.
/// (A link, not a redirect: the pages' CSP `form-action 'self'` rightly
/// stops a form from landing on another origin.)
pub async fn portal_start(c: Customer, State(st): State<AppState>) -> PageResult {
    let p = provider(&st)?;
    let b = base(&st);
    let url = autopay::start_card_setup(&st.db, p, c.id, &format!("{b}/portal/card/done"), &format!("{b}/portal"))
        .await
        .map_err(refused)?;
    let name = mast_store::customers::get(&st.db, c.id).await?.map(|x| x.name).unwrap_or_default();
    let body = html! {
        h1 { "Save a card" }
        p { "Your card is entered on our payment provider's secure page; we never see its number." }
        p { a.button #continue-to-provider href=(url) { "Continue to the secure card page" } }
        p { a href="/portal" { "Cancel" } }
    };
    Ok(ui::portal_layout(&name, &c.csrf, "Save a card", body).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Done {
    pub session_id: String,
}

/// `GET /portal/card/done?session_id=`: back from the hosted page.
pub async fn portal_done(c: Customer, State(st): State<AppState>, Query(q): Query<Done>) -> PageResult {
    let p = provider(&st)?;
    let (_, label) = autopay::finish_card_setup(&st.db, p, q.session_id.trim(), Some(c.id)).await.map_err(refused)?;
    let name = mast_store::customers::get(&st.db, c.id).await?.map(|x| x.name).unwrap_or_default();
    let body = html! {
        h1 { "Card saved" }
        p #card-saved { "Your " strong { (label) } " is saved. You can turn on autopay on your home page." }
        p { a href="/portal" { "Back to your account" } }
    };
    Ok(ui::portal_layout(&name, &c.csrf, "Card saved", body).into_response())
}

/// `POST /customers/{id}/card-link`: emails the customer a link to the
/// hosted page (it expires with the provider's session, 24 hours).
pub async fn send_link(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let p = provider(&st)?;
    let customer =
        mast_store::customers::get(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such customer"))?;
    let Some(email) = customer.email.clone() else {
        return Err(ApiError::bad_request("the customer has no email address"));
    };
    if !st.channels().has(Channel::Email) {
        return Err(ApiError::bad_request("outgoing email is not set up"));
    }
    let b = base(&st);
    let url = autopay::start_card_setup(&st.db, p, id, &format!("{b}/card/saved"), &format!("{b}/card/cancelled"))
        .await
        .map_err(refused)?;
    let m = notify::Message {
        dedup: format!("card-link:{id}:{}", crate::db::now_ms()),
        channel: Channel::Email,
        recipient: email,
        subject: "Save a card for your internet service".into(),
        body: format!(
            "Hello {},\n\nplease save the card you want to pay with on this secure page of our payment provider \
             (the link works for 24 hours):\n\n{url}\n\nWe never see or store your card number.\n",
            customer.name
        ),
        // The body holds a working link: erased once sent.
        headers: [(notify::SECRET_HEADER.to_string(), "1".to_string())].into_iter().collect(),
        customer_id: Some(id),
        ticket_id: None,
    };
    let mut tx = st.db.begin().await?;
    notify::enqueue(&mut tx, &m).await?;
    tx.commit().await.map_err(StoreError::from)?;
    audit::record(&st.db, &c.actor(), "billing.card-link", &format!("customer {id}"), "sent").await?;
    Ok(Redirect::to(&format!("/customers/{id}?card-link=sent")).into_response())
}

/// `GET /card/saved?session_id=`: where the emailed link's page returns.
pub async fn public_saved(State(st): State<AppState>, Query(q): Query<Done>) -> PageResult {
    let p = provider(&st)?;
    let (_, label) = autopay::finish_card_setup(&st.db, p, q.session_id.trim(), None).await.map_err(refused)?;
    let body = html! {
        h1 { "Thank you" }
        p #card-saved { "Your " strong { (label) } " is saved for your internet service." }
    };
    Ok(ui::portal_bare_layout("Card saved", body).into_response())
}

/// `GET /card/cancelled`.
pub async fn public_cancelled() -> Response {
    let body = html! {
        h1 { "No card saved" }
        p { "Nothing was saved. Use the link in the email again to try once more." }
    };
    ui::portal_bare_layout("No card saved", body).into_response()
}

/// A verified `checkout.session.completed` webhook for a setup session:
/// saves the card (the return page may have done it already).
pub async fn apply_setup_webhook(st: &AppState, session_id: &str) -> Result<(), StoreError> {
    let Some(p) = st.payments.as_deref() else { return Ok(()) };
    autopay::finish_card_setup(&st.db, p, session_id, None).await.map(|_| ())
}

//! The real Stripe client (`mast_controller::billing::stripe`) against the
//! local Stripe-compatible server (`mast_tests::stripe_server`), and
//! webhooks signed by that server verified by `verify_webhook`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use mast_controller::billing::provider::{
    ChargeOutcome, ChargeRequest, CustomerRef, DEFAULT_WEBHOOK_TOLERANCE_SECS, METADATA_CUSTOMER_ID,
    METADATA_INVOICE_ID, PaymentMethodKind, PaymentProvider, ProviderCustomerId, ProviderError, WebhookError,
    WebhookEvent, WebhookEventKind, verify_webhook,
};
use mast_controller::billing::stripe::{STRIPE_API_VERSION, StripeClient};
use mast_tests::stripe_server::StripeServer;
use tokio::sync::mpsc;

fn client(server: &StripeServer) -> StripeClient {
    StripeClient::new(server.api_key.clone(), Some(&server.base_url))
        .unwrap()
        .with_retries(2, Duration::from_millis(10))
}

fn customer(id: u64) -> CustomerRef {
    CustomerRef { id, name: format!("Customer {id}"), email: Some(format!("c{id}@example.net")), provider_id: None }
}

fn charge_request(customer: &ProviderCustomerId, pm: &str, key: &str) -> ChargeRequest {
    ChargeRequest {
        customer: customer.clone(),
        payment_method: pm.to_owned(),
        amount_minor: 4_999,
        currency: "USD".into(),
        idempotency_key: key.to_owned(),
        description: "Mast invoice INV-7".into(),
        invoice_id: "INV-7".into(),
        customer_id: 42,
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn create_customer_attach_visa_and_charge() {
    let server = StripeServer::start().await;
    let stripe: Arc<dyn PaymentProvider> = Arc::new(client(&server));
    assert_eq!(stripe.name(), "stripe");

    let cus = stripe.ensure_customer(&customer(42)).await.unwrap();
    assert!(cus.as_str().starts_with("cus_"), "{cus}");
    let stored = server.customer(cus.as_str()).unwrap();
    assert_eq!(stored["name"], "Customer 42");
    assert_eq!(stored["email"], "c42@example.net");
    assert_eq!(stored["metadata"][METADATA_CUSTOMER_ID], "42");
    // The same data again (no stored id yet): Stripe's idempotency returns
    // the same customer instead of a duplicate.
    assert_eq!(stripe.ensure_customer(&customer(42)).await.unwrap(), cus);
    // With the stored id: updated in place.
    let renamed = CustomerRef { name: "Renamed".into(), email: None, provider_id: Some(cus.clone()), ..customer(42) };
    assert_eq!(stripe.ensure_customer(&renamed).await.unwrap(), cus);
    let stored = server.customer(cus.as_str()).unwrap();
    assert_eq!((stored["name"].as_str(), stored["email"].as_str()), (Some("Renamed"), None));
    // A stored id Stripe no longer knows: a new customer.
    let gone = CustomerRef { provider_id: Some(ProviderCustomerId::new("cus_deleted")), ..customer(43) };
    let replacement = stripe.ensure_customer(&gone).await.unwrap();
    assert!(replacement != cus && server.customer(replacement.as_str()).is_some());

    let pm = stripe.attach_payment_method(&cus, "pm_card_visa").await.unwrap();
    assert_ne!(pm.id, "pm_card_visa", "attaching a test id creates a new payment method");
    assert_eq!(pm.kind, PaymentMethodKind::Card);
    assert_eq!((pm.brand.as_deref(), pm.last4.as_deref()), (Some("visa"), Some("4242")));
    assert!(pm.exp.is_some_and(|e| e.month == 12));
    assert!(pm.to_string().starts_with("visa •••• 4242 (12/"), "{pm}");
    let stored = server.customer(cus.as_str()).unwrap();
    assert_eq!(stored["invoice_settings"]["default_payment_method"], pm.id.as_str());
    assert_eq!(server.payment_method(&pm.id).unwrap()["customer"], cus.as_str());

    let outcome = stripe.charge(&charge_request(&cus, &pm.id, "mast-inv-7-try-1")).await.unwrap();
    let ChargeOutcome::Succeeded { provider_payment_id } = outcome else { panic!("{outcome:?}") };
    assert!(provider_payment_id.starts_with("pi_"));
    let charges = server.charges();
    assert_eq!(charges.len(), 1);
    let c = &charges[0];
    assert_eq!((c.amount, c.currency.as_str(), c.status.as_str()), (4_999, "usd", "succeeded"));
    assert_eq!((c.customer.as_deref(), c.payment_method.as_str()), (Some(cus.as_str()), pm.id.as_str()));
    assert_eq!(c.idempotency_key.as_deref(), Some("mast-inv-7-try-1"));
    assert_eq!(c.description.as_deref(), Some("Mast invoice INV-7"));
    assert_eq!(c.metadata[METADATA_INVOICE_ID], "INV-7");
    assert_eq!(c.metadata[METADATA_CUSTOMER_ID], "42");
    assert_eq!(
        stripe.retrieve_payment(&provider_payment_id).await.unwrap(),
        ChargeOutcome::Succeeded { provider_payment_id: provider_payment_id.clone() }
    );

    // A second card replaces the default.
    let mc = stripe.attach_payment_method(&cus, "pm_card_mastercard").await.unwrap();
    assert_eq!((mc.brand.as_deref(), mc.last4.as_deref()), (Some("mastercard"), Some("4444")));
    assert_eq!(server.customer(cus.as_str()).unwrap()["invoice_settings"]["default_payment_method"], mc.id.as_str());
}

#[tokio::test]
async fn the_client_speaks_stripes_wire_format() {
    let server = StripeServer::start().await;
    let stripe = client(&server);
    let cus = stripe.ensure_customer(&customer(7)).await.unwrap();
    let pm = stripe.attach_payment_method(&cus, "pm_card_visa").await.unwrap();
    stripe.charge(&charge_request(&cus, &pm.id, "k-1")).await.unwrap();
    let requests = server.requests();
    let paths: Vec<_> = requests.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "POST /v1/customers".to_string(),
            format!("POST /v1/payment_methods/{}/attach", "pm_card_visa"),
            format!("POST /v1/customers/{cus}"),
            "POST /v1/payment_intents".to_string(),
        ]
    );
    for r in &requests {
        assert_eq!(r.stripe_version.as_deref(), Some(STRIPE_API_VERSION), "{r:?}");
        assert_eq!(r.status, 200, "{r:?}");
    }
    let param = |i: usize, key: &str| {
        requests[i].params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{key}"))
    };
    assert_eq!(param(0, "metadata[mast_customer_id]"), "7");
    assert!(requests[0].idempotency_key.as_deref().is_some_and(|k| k.starts_with("mast-customer-7-")));
    assert_eq!(param(1, "customer"), cus.as_str());
    assert_eq!(param(2, "invoice_settings[default_payment_method]"), pm.id);
    for (key, value) in [
        ("amount", "4999"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("off_session", "true"),
        ("automatic_payment_methods[enabled]", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
        ("metadata[mast_invoice_id]", "INV-7"),
        ("metadata[mast_customer_id]", "42"),
    ] {
        assert_eq!(param(3, key), value, "{key}");
    }
    assert_eq!(requests[3].idempotency_key.as_deref(), Some("k-1"));
}

#[tokio::test]
async fn declined_cards_are_outcomes_not_errors() {
    let server = StripeServer::start().await;
    let stripe = client(&server);
    let cus = stripe.ensure_customer(&customer(1)).await.unwrap();

    let declined = |outcome: ChargeOutcome| match outcome {
        ChargeOutcome::Declined { provider_payment_id, code, decline_code, message } => {
            assert!(provider_payment_id.as_deref().is_some_and(|id| id.starts_with("pi_")));
            (code, decline_code, message)
        }
        other => panic!("{other:?}"),
    };
    let out = stripe.charge(&charge_request(&cus, "pm_card_chargeDeclined", "d-1")).await.unwrap();
    assert_eq!(
        declined(out),
        ("card_declined".into(), Some("generic_decline".into()), "Your card was declined.".into())
    );
    let out = stripe.charge(&charge_request(&cus, "pm_card_chargeDeclinedInsufficientFunds", "d-2")).await.unwrap();
    assert_eq!(declined(out).1.as_deref(), Some("insufficient_funds"));
    let out = stripe.charge(&charge_request(&cus, "pm_card_chargeDeclinedExpiredCard", "d-3")).await.unwrap();
    assert_eq!(declined(out).0, "expired_card");
    let out = stripe.charge(&charge_request(&cus, "pm_card_authenticationRequired", "d-4")).await.unwrap();
    assert_eq!(declined(out).0, "authentication_required");

    // Attach succeeds, the charge fails later (e.g. the card was cancelled).
    let pm = stripe.attach_payment_method(&cus, "pm_card_chargeCustomerFail").await.unwrap();
    let out = stripe.charge(&charge_request(&cus, &pm.id, "d-5")).await.unwrap();
    let (code, _, _) = declined(out.clone());
    assert_eq!(code, "card_declined");
    let ChargeOutcome::Declined { provider_payment_id: Some(pi), .. } = out else { panic!() };
    assert!(matches!(stripe.retrieve_payment(&pi).await.unwrap(), ChargeOutcome::Declined { .. }));

    // Cards that are declined on attach: an error for the "add a card" form.
    let err = stripe.attach_payment_method(&cus, "pm_card_chargeDeclined").await.unwrap_err();
    let ProviderError::Http { status: 402, error_type, code, decline_code, .. } = &err else { panic!("{err}") };
    assert_eq!((error_type.as_str(), code.as_deref()), ("card_error", Some("card_declined")));
    assert_eq!(decline_code.as_deref(), Some("generic_decline"));
    assert!(!err.is_retryable());

    let statuses: Vec<_> = server.charges().into_iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec!["requires_payment_method"; 5]);
}

#[tokio::test]
async fn the_same_idempotency_key_charges_once() {
    let server = StripeServer::start().await;
    let stripe = client(&server);
    let cus = stripe.ensure_customer(&customer(2)).await.unwrap();
    let pm = stripe.attach_payment_method(&cus, "pm_card_visa").await.unwrap();
    let request = charge_request(&cus, &pm.id, "mast-inv-9-try-1");

    let first = stripe.charge(&request).await.unwrap();
    let again = stripe.charge(&request).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(server.charges().len(), 1);
    let last = server.requests().pop().unwrap();
    assert!(last.replayed && last.status == 200, "{last:?}");

    // A decline is replayed too, not charged again.
    let declined = charge_request(&cus, "pm_card_chargeDeclined", "mast-inv-9-try-2");
    let d1 = stripe.charge(&declined).await.unwrap();
    assert_eq!(stripe.charge(&declined).await.unwrap(), d1);
    assert_eq!(server.charges().len(), 2);

    // The same key for a different charge is refused.
    let other = ChargeRequest { amount_minor: 0, ..request.clone() };
    assert!(matches!(stripe.charge(&other).await, Err(ProviderError::InvalidRequest(_))));
    let other = ChargeRequest { amount_minor: 5_000, ..request.clone() };
    let err = stripe.charge(&other).await.unwrap_err();
    let ProviderError::Http { status: 400, error_type, .. } = &err else { panic!("{err}") };
    assert_eq!(error_type, "idempotency_error");
    assert!(!err.is_retryable());

    // A 500 before execution, retried by the client with the same key: one charge.
    server.fail_next_requests(1);
    let retried = charge_request(&cus, &pm.id, "mast-inv-10-try-1");
    assert!(matches!(stripe.charge(&retried).await.unwrap(), ChargeOutcome::Succeeded { .. }));
    assert_eq!(server.charges().len(), 3);
    let tail: Vec<_> = server.requests().iter().rev().take(2).map(|r| (r.status, r.idempotency_key.clone())).collect();
    assert_eq!(tail, [(200, Some("mast-inv-10-try-1".into())), (500, Some("mast-inv-10-try-1".into()))]);
}

#[tokio::test]
async fn a_wrong_api_key_is_http_401() {
    let server = StripeServer::start().await;
    let wrong = StripeClient::new("sk_test_wrongwrongwrong1234", Some(&server.base_url)).unwrap();
    let err = wrong.ensure_customer(&customer(3)).await.unwrap_err();
    let ProviderError::Http { status: 401, error_type, .. } = &err else { panic!("{err}") };
    assert_eq!(error_type, "invalid_request_error");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("sk_test_wrongwrongwrong1234"), "{err}");
    assert!(err.to_string().contains("Invalid API Key provided"), "{err}");
    assert!(!format!("{wrong:?}").contains("wrongwrong"));
    assert!(server.charges().is_empty() && server.customer("x").is_none());
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retryable() {
    let server = StripeServer::start().await;
    let no_retry = StripeClient::new(server.api_key.clone(), Some(&server.base_url))
        .unwrap()
        .with_retries(0, Duration::from_millis(1));
    server.fail_next_requests(1);
    let err = no_retry.ensure_customer(&customer(4)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Http { status: 500, .. }), "{err}");
    assert!(err.is_retryable());
    // The retry (same data, so same idempotency key) works.
    let cus = no_retry.ensure_customer(&customer(4)).await.unwrap();

    // More failures than the client retries: a retryable error after 3 tries.
    let stripe = client(&server);
    let before = server.requests().len();
    server.fail_next_requests(3);
    let err = stripe.charge(&charge_request(&cus, "pm_card_visa", "r-1")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Http { status: 500, .. }) && err.is_retryable(), "{err}");
    assert_eq!(server.requests().len() - before, 3);
    assert!(server.charges().is_empty());
    assert!(matches!(
        stripe.charge(&charge_request(&cus, "pm_card_visa", "r-1")).await.unwrap(),
        ChargeOutcome::Succeeded { .. }
    ));

    server.rate_limit_next_requests(1);
    let err = stripe.charge(&charge_request(&cus, "pm_card_visa", "r-2")).await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }) && err.is_retryable(), "{err}");

    // Nothing listening: a network error, retryable.
    let dead = StripeClient::new("sk_test_x", Some("http://127.0.0.1:1")).unwrap().with_retries(1, Duration::ZERO);
    let err = dead.ensure_customer(&customer(5)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Network(_)) && err.is_retryable(), "{err}");
}

/// A webhook endpoint as the controller would run it: verifies the raw
/// body, answers 400 on a bad signature, forwards good events.
struct Receiver {
    url: String,
    events: mpsc::UnboundedReceiver<WebhookEvent>,
    rejected: mpsc::UnboundedReceiver<WebhookError>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct ReceiverState {
    secret: String,
    events: mpsc::UnboundedSender<WebhookEvent>,
    rejected: mpsc::UnboundedSender<WebhookError>,
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    match verify_webhook(&body, signature, &s.secret, now(), DEFAULT_WEBHOOK_TOLERANCE_SECS) {
        Ok(event) => {
            let _ = s.events.send(event);
            StatusCode::OK
        }
        Err(e) => {
            let _ = s.rejected.send(e);
            StatusCode::BAD_REQUEST
        }
    }
}

async fn receiver(secret: &str) -> Receiver {
    let (events_tx, events) = mpsc::unbounded_channel();
    let (rejected_tx, rejected) = mpsc::unbounded_channel();
    let state = ReceiverState { secret: secret.to_owned(), events: events_tx, rejected: rejected_tx };
    let app = axum::Router::new().route("/webhooks/stripe", axum::routing::post(receive)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, events, rejected, _task: task }
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("timed out").expect("channel open")
}

#[tokio::test]
async fn ach_processing_settles_through_a_signed_webhook() {
    let server = StripeServer::start().await;
    let mut rx = receiver(&server.webhook_secret).await;
    server.set_webhook_url(Some(rx.url.clone()));
    let stripe = client(&server);
    let cus = stripe.ensure_customer(&customer(42)).await.unwrap();
    let bank = stripe.attach_payment_method(&cus, "pm_usBankAccount").await.unwrap();
    assert_eq!(bank.kind, PaymentMethodKind::UsBankAccount);
    assert_eq!(
        (bank.brand.as_deref(), bank.last4.as_deref(), bank.exp),
        (Some("STRIPE TEST BANK"), Some("6789"), None)
    );

    let outcome = stripe.charge(&charge_request(&cus, &bank.id, "ach-1")).await.unwrap();
    let ChargeOutcome::Processing { provider_payment_id: pi } = outcome else { panic!("{outcome:?}") };
    assert_eq!(
        stripe.retrieve_payment(&pi).await.unwrap(),
        ChargeOutcome::Processing { provider_payment_id: pi.clone() }
    );
    assert_eq!(next(&mut rx.events).await.kind, WebhookEventKind::Other("payment_intent.created".into()));
    assert_eq!(next(&mut rx.events).await.kind, WebhookEventKind::Other("payment_intent.processing".into()));

    // Days later the debit clears.
    let sent = server.complete_processing(&pi);
    let event = next(&mut rx.events).await;
    assert_eq!(event.id, sent["id"].as_str().unwrap());
    assert_eq!(event.kind.invoice_id(), Some("INV-7"));
    let WebhookEventKind::PaymentSucceeded { payment_intent_id, amount, currency, metadata } = event.kind else {
        panic!("{event:?}")
    };
    assert_eq!((payment_intent_id.as_str(), amount, currency.as_str()), (pi.as_str(), 4_999, "usd"));
    assert_eq!(metadata[METADATA_CUSTOMER_ID], "42");
    assert_eq!(stripe.retrieve_payment(&pi).await.unwrap(), ChargeOutcome::Succeeded { provider_payment_id: pi });
    assert_eq!(server.charges()[0].status, "succeeded");
    let deliveries = server.wait_for_deliveries(3).await;
    assert!(deliveries.iter().all(|d| d.result == Ok(200)), "{deliveries:?}");

    // A returned debit.
    let outcome = stripe.charge(&charge_request(&cus, &bank.id, "ach-2")).await.unwrap();
    let ChargeOutcome::Processing { provider_payment_id: pi } = outcome else { panic!("{outcome:?}") };
    server.fail_processing(&pi, "insufficient_funds", "The account has insufficient funds (R01).");
    let failed = loop {
        let event = next(&mut rx.events).await;
        if let WebhookEventKind::PaymentFailed { .. } = event.kind {
            break event.kind;
        }
    };
    let WebhookEventKind::PaymentFailed { payment_intent_id, code, .. } = failed else { unreachable!() };
    assert_eq!((payment_intent_id, code.as_deref()), (pi, Some("insufficient_funds")));
    assert!(rx.rejected.try_recv().is_err(), "no webhook was rejected");
}

#[tokio::test]
async fn webhooks_sent_by_hand_and_tampered_ones() {
    let server = StripeServer::start().await;
    let mut rx = receiver(&server.webhook_secret).await;
    let stripe = client(&server);
    let cus = stripe.ensure_customer(&customer(8)).await.unwrap();
    let out = stripe.charge(&charge_request(&cus, "pm_card_chargeDeclinedInsufficientFunds", "w-1")).await.unwrap();
    let ChargeOutcome::Declined { provider_payment_id: Some(pi), .. } = out else { panic!("{out:?}") };
    // No URL set: events are kept, not sent.
    assert!(server.webhook_deliveries().is_empty());
    let failed = server.events().into_iter().find(|e| e["type"] == "payment_intent.payment_failed").unwrap();

    assert_eq!(server.send_webhook(&rx.url, &failed).await, Ok(200));
    let event = next(&mut rx.events).await;
    assert_eq!(
        event.kind,
        WebhookEventKind::PaymentFailed {
            payment_intent_id: pi,
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            message: Some("Your card has insufficient funds.".into()),
            metadata: [(METADATA_CUSTOMER_ID.into(), "42".into()), (METADATA_INVOICE_ID.into(), "INV-7".into())].into(),
        }
    );

    // Altered body, old timestamp, wrong secret: all refused with 400.
    let body = serde_json::to_vec(&failed).unwrap();
    let signature = server.sign(&body, now());
    let tampered = String::from_utf8(body.clone()).unwrap().replace("4999", "1").into_bytes();
    assert_eq!(server.post_webhook_raw(&rx.url, tampered, &signature).await, Ok(400));
    assert_eq!(next(&mut rx.rejected).await, WebhookError::SignatureMismatch);
    let old = server.sign(&body, now() - 3_600);
    assert_eq!(server.post_webhook_raw(&rx.url, body.clone(), &old).await, Ok(400));
    assert!(matches!(next(&mut rx.rejected).await, WebhookError::TooOld { .. }));
    assert_eq!(server.post_webhook_raw(&rx.url, body.clone(), "").await, Ok(400));
    assert_eq!(next(&mut rx.rejected).await, WebhookError::MissingHeader);
    assert_eq!(server.post_webhook_raw(&rx.url, body, &signature).await, Ok(200));
    assert_eq!(next(&mut rx.events).await.id, failed["id"].as_str().unwrap());
}

#[tokio::test]
async fn the_local_server_refuses_what_stripe_refuses() {
    let server = StripeServer::start().await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: &'static str| {
        http.post(format!("{}{path}", server.base_url))
            .bearer_auth(&server.api_key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let error = |resp: reqwest::Response| async move {
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        (status, body["error"]["type"].as_str().unwrap().to_owned(), body["error"]["code"].as_str().map(str::to_owned))
    };
    let r = post("/v1/customers", "nmae=typo").await.unwrap();
    assert_eq!(error(r).await, (400, "invalid_request_error".into(), Some("parameter_unknown".into())));
    let r = post("/v1/charges", "amount=1").await.unwrap();
    assert_eq!(error(r).await, (404, "invalid_request_error".into(), None));
    let cus = post("/v1/customers", "name=A").await.unwrap().json::<serde_json::Value>().await.unwrap();
    let body = format!("amount=500&currency=usd&customer={}&payment_method=pm_card_visa&confirm=true", cus["id"]);
    let body: &'static str = Box::leak(body.replace('"', "").into_boxed_str());
    // confirm without allow_redirects=never or return_url: refused like Stripe.
    let r = post("/v1/payment_intents", body).await.unwrap();
    assert_eq!(error(r).await.0, 400);
    let r = post("/v1/payment_intents", "amount=10&currency=usd").await.unwrap();
    assert_eq!(error(r).await, (400, "invalid_request_error".into(), Some("amount_too_small".into())));
    let r = http.get(format!("{}/v1/customers/{}", server.base_url, cus["id"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(error(r).await.0, 401);
    assert!(server.charges().is_empty());
}

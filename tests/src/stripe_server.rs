//! A local, in-process stand-in for the part of Stripe's API that Mast's
//! `StripeClient` calls, with Stripe's request and response shapes, so the
//! real client is exercised end to end without reaching Stripe.
//!
//! Endpoints: `POST /v1/customers`, `GET|POST /v1/customers/{id}`,
//! `GET /v1/payment_methods/{id}`, `POST /v1/payment_methods/{id}/attach`,
//! `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`,
//! `POST /v1/refunds`, `GET /v1/refunds/{id}`, `POST /v1/checkout/sessions`
//! (setup mode), `GET /v1/checkout/sessions/{id}` (with
//! `expand[]=setup_intent`), `GET /v1/setup_intents/{id}`, and the hosted
//! Checkout page at `/checkout/{id}` (a form choosing one of Stripe's test
//! cards; submitting it completes the session, sends
//! `checkout.session.completed` and redirects to the success URL). Anything else
//! is Stripe's 404 "Unrecognized request URL".
//!
//! Like Stripe: form-encoded bodies with bracket keys (`metadata[k]`),
//! unknown parameters refused (`parameter_unknown`), bearer key checked (401
//! with Stripe's error shape), `Idempotency-Key` replays the first answer
//! (`Idempotent-Replayed: true`, no second charge) and refuses the same key
//! with other parameters (`idempotency_error`), confirming without
//! `automatic_payment_methods[allow_redirects]=never` / `return_url` is
//! refused, and Stripe's test payment methods behave as documented:
//!
//! | id | attach | charge |
//! | --- | --- | --- |
//! | `pm_card_visa`, `pm_card_visa_debit`, `pm_card_mastercard`, `pm_card_amex` | ok | succeeded |
//! | `pm_card_chargeDeclined` | 402 | 402 `card_declined` / `generic_decline` |
//! | `pm_card_chargeDeclinedInsufficientFunds` | 402 | 402 `card_declined` / `insufficient_funds` |
//! | `pm_card_chargeDeclinedExpiredCard` | 402 | 402 `expired_card` |
//! | `pm_card_chargeCustomerFail` | ok | 402 `card_declined` / `generic_decline` |
//! | `pm_card_authenticationRequired` | ok | off-session: 402 `authentication_required` |
//! | `pm_usBankAccount` | ok | `processing`, settled later by [`StripeServer::complete_processing`] / [`StripeServer::fail_processing`] |
//!
//! Attaching a test id (like Stripe) creates a new `pm_...` with the same
//! behaviour; test ids can also be charged directly.
//!
//! Test knobs: [`StripeServer::fail_next_requests`] (HTTP 500),
//! [`StripeServer::rate_limit_next_requests`] (429), recorded
//! [`StripeServer::charges`] and [`StripeServer::requests`], and webhooks:
//! each payment intent change makes a Stripe event ([`StripeServer::events`]),
//! delivered signed to [`StripeServer::set_webhook_url`] in order, or sent by
//! hand with [`StripeServer::send_webhook`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

/// The API version the server answers with when the request pins none.
pub const API_VERSION: &str = "2024-06-20";

/// One payment intent confirmation, as the test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCharge {
    pub payment_intent_id: String,
    pub customer: Option<String>,
    pub payment_method: String,
    pub amount: i64,
    pub currency: String,
    /// `succeeded`, `processing`, `requires_payment_method` (declined),
    /// `requires_action`; updated when a processing payment settles.
    pub status: String,
    pub idempotency_key: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// One HTTP request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The decoded form (POST) or query (GET) parameters.
    pub params: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub status: u16,
    pub replayed: bool,
}

/// One webhook POST made by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    /// The receiver's HTTP status, or the transport error.
    pub result: Result<u16, String>,
}

/// A running local Stripe. Stops when dropped.
pub struct StripeServer {
    /// `http://127.0.0.1:PORT` (pass to `StripeClient::new`).
    pub base_url: String,
    /// The only secret key accepted (`sk_test_...`).
    pub api_key: String,
    /// The endpoint secret webhooks are signed with (`whsec_...`).
    pub webhook_secret: String,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for StripeServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for StripeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeServer").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

struct Shared {
    api_key: String,
    webhook_secret: String,
    http: reqwest::Client,
    inner: Mutex<Inner>,
    deliveries_tx: mpsc::UnboundedSender<Value>,
}

#[derive(Default)]
struct Inner {
    customers: HashMap<String, Value>,
    payment_methods: HashMap<String, StoredPm>,
    payment_intents: HashMap<String, Value>,
    /// Refund id -> refund object.
    refunds: HashMap<String, Value>,
    /// Checkout Session id -> session object (setup mode).
    checkout_sessions: HashMap<String, Value>,
    /// SetupIntent id -> setup intent object.
    setup_intents: HashMap<String, Value>,
    /// `http://127.0.0.1:port` (hosted pages' URLs).
    base_url: String,
    /// Idempotency-Key -> (request fingerprint, saved answer).
    idempotency: HashMap<String, (String, Reply)>,
    charges: Vec<RecordedCharge>,
    requests: Vec<RecordedRequest>,
    events: Vec<Value>,
    deliveries: Vec<WebhookDelivery>,
    webhook_url: Option<String>,
    /// Statuses to answer the next requests with (500, 429).
    faults: VecDeque<u16>,
}

#[derive(Clone)]
struct StoredPm {
    object: Value,
    behavior: Behavior,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behavior {
    Succeed,
    Decline { code: &'static str, decline_code: &'static str, message: &'static str, on_attach: bool },
    AuthenticationRequired,
    Processing,
}

#[derive(Clone, Copy)]
enum TestKind {
    Card { brand: &'static str, last4: &'static str, funding: &'static str },
    UsBankAccount { bank_name: &'static str, last4: &'static str, routing: &'static str },
}

const GENERIC_DECLINE: &str = "Your card was declined.";

/// Stripe's documented test payment methods.
const TEST_METHODS: &[(&str, TestKind, Behavior)] = &[
    ("pm_card_visa", card("visa", "4242", "credit"), Behavior::Succeed),
    ("pm_card_visa_debit", card("visa", "5556", "debit"), Behavior::Succeed),
    ("pm_card_mastercard", card("mastercard", "4444", "credit"), Behavior::Succeed),
    ("pm_card_amex", card("amex", "8431", "credit"), Behavior::Succeed),
    (
        "pm_card_chargeDeclined",
        card("visa", "0002", "credit"),
        decline("card_declined", "generic_decline", GENERIC_DECLINE, true),
    ),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        card("visa", "9995", "credit"),
        decline("card_declined", "insufficient_funds", "Your card has insufficient funds.", true),
    ),
    (
        "pm_card_chargeDeclinedExpiredCard",
        card("visa", "0069", "credit"),
        decline("expired_card", "expired_card", "Your card has expired.", true),
    ),
    (
        "pm_card_chargeCustomerFail",
        card("visa", "0341", "credit"),
        decline("card_declined", "generic_decline", GENERIC_DECLINE, false),
    ),
    ("pm_card_authenticationRequired", card("visa", "3184", "credit"), Behavior::AuthenticationRequired),
    (
        "pm_usBankAccount",
        TestKind::UsBankAccount { bank_name: "STRIPE TEST BANK", last4: "6789", routing: "110000000" },
        Behavior::Processing,
    ),
];

const fn card(brand: &'static str, last4: &'static str, funding: &'static str) -> TestKind {
    TestKind::Card { brand, last4, funding }
}

const fn decline(code: &'static str, decline_code: &'static str, message: &'static str, on_attach: bool) -> Behavior {
    Behavior::Decline { code, decline_code, message, on_attach }
}

/// A saved (or not saved) answer.
#[derive(Debug, Clone)]
struct Reply {
    status: StatusCode,
    body: Value,
    /// Saved for idempotent replay: Stripe saves results of requests that
    /// started executing (successes, declines), not parameter errors.
    save: bool,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body, save: true }
    }
}

type Params = Vec<(String, String)>;

impl StripeServer {
    /// Starts a server on `127.0.0.1:0` with a fresh random key and secret.
    pub async fn start() -> StripeServer {
        let api_key = format!("sk_test_local{}", random_string(24));
        let webhook_secret = format!("whsec_{}", random_string(32));
        let (deliveries_tx, deliveries_rx) = mpsc::unbounded_channel();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .build()
            .expect("webhook HTTP client");
        let shared = Arc::new(Shared {
            api_key: api_key.clone(),
            webhook_secret: webhook_secret.clone(),
            http,
            inner: Mutex::new(Inner::default()),
            deliveries_tx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind local Stripe server");
        let addr = listener.local_addr().expect("local Stripe address");
        shared.lock().base_url = format!("http://{addr}");
        let app = Router::new()
            .route("/checkout/{id}", axum::routing::get(hosted_page).post(hosted_submit))
            .fallback(handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("local Stripe server");
        });
        let deliverer = tokio::spawn(deliver_loop(shared.clone(), deliveries_rx));
        StripeServer {
            base_url: format!("http://{addr}"),
            api_key,
            webhook_secret,
            shared,
            tasks: vec![server, deliverer],
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    /// The next `n` authenticated requests answer HTTP 500 `api_error`
    /// (nothing executed, nothing saved for idempotency).
    pub fn fail_next_requests(&self, n: usize) {
        self.inner().faults.extend(std::iter::repeat_n(500, n));
    }

    /// The next `n` authenticated requests answer HTTP 429 `rate_limit_error`.
    pub fn rate_limit_next_requests(&self, n: usize) {
        self.inner().faults.extend(std::iter::repeat_n(429, n));
    }

    /// Every payment intent confirmation, in order.
    pub fn charges(&self) -> Vec<RecordedCharge> {
        self.inner().charges.clone()
    }

    /// Every request answered, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner().requests.clone()
    }

    pub fn customer(&self, id: &str) -> Option<Value> {
        self.inner().customers.get(id).cloned()
    }

    pub fn payment_method(&self, id: &str) -> Option<Value> {
        self.inner().payment_methods.get(id).map(|pm| pm.object.clone())
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.inner().payment_intents.get(id).cloned()
    }

    /// What a browser's Stripe.js / SetupIntent flow would hand back: a new,
    /// unattached payment method behaving like the test id `test_id`.
    pub fn create_payment_method(&self, test_id: &str) -> String {
        let (kind, behavior) = test_method(test_id).unwrap_or_else(|| panic!("unknown Stripe test method {test_id}"));
        let pm = new_payment_method(kind, behavior, None);
        let id = pm.object["id"].as_str().unwrap().to_owned();
        self.inner().payment_methods.insert(id.clone(), pm);
        id
    }

    /// Every event generated so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.inner().events.clone()
    }

    /// Where events are POSTed as they happen (`None`: kept, not sent).
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.inner().webhook_url = url;
    }

    /// Webhook deliveries made so far (automatic and by hand).
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.inner().deliveries.clone()
    }

    /// Waits (up to 10 s) until at least `n` webhook deliveries were made.
    pub async fn wait_for_deliveries(&self, n: usize) -> Vec<WebhookDelivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let deliveries = self.webhook_deliveries();
            if deliveries.len() >= n {
                return deliveries;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {} of {n} webhook deliveries", deliveries.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Settles a `processing` (ACH) payment as paid: the payment intent
    /// becomes `succeeded` and a `payment_intent.succeeded` event is made
    /// (and delivered if a webhook URL is set). Returns the event.
    pub fn complete_processing(&self, payment_intent_id: &str) -> Value {
        self.settle(payment_intent_id, None)
    }

    /// Settles a `processing` payment as failed (e.g. an ACH return:
    /// `insufficient_funds`, "R01"): `payment_intent.payment_failed`.
    pub fn fail_processing(&self, payment_intent_id: &str, code: &str, message: &str) -> Value {
        self.settle(payment_intent_id, Some((code, message)))
    }

    fn settle(&self, id: &str, failure: Option<(&str, &str)>) -> Value {
        let mut inner = self.inner();
        let pi = inner.payment_intents.get_mut(id).unwrap_or_else(|| panic!("no payment intent {id}"));
        assert_eq!(pi["status"], "processing", "{id} is not processing");
        let event_type = match failure {
            None => {
                pi["status"] = json!("succeeded");
                pi["amount_received"] = pi["amount"].clone();
                "payment_intent.succeeded"
            }
            Some((code, message)) => {
                pi["status"] = json!("requires_payment_method");
                pi["last_payment_error"] = json!({
                    "type": "invalid_request_error", "code": code, "message": message,
                    "payment_method": pi["payment_method"],
                });
                "payment_intent.payment_failed"
            }
        };
        let pi = pi.clone();
        if let Some(charge) = inner.charges.iter_mut().rev().find(|c| c.payment_intent_id == id) {
            charge.status = pi["status"].as_str().unwrap_or_default().to_owned();
        }
        let event = make_event(event_type, &pi, None, None);
        inner.events.push(event.clone());
        drop(inner);
        let _ = self.shared.deliveries_tx.send(event.clone());
        event
    }

    /// The `Stripe-Signature` header for `payload` at unix time `t`, signed
    /// with this server's webhook secret (an implementation independent of
    /// the controller's).
    pub fn sign(&self, payload: &[u8], t: i64) -> String {
        sign(&self.webhook_secret, payload, t)
    }

    /// POSTs `event` to `url` the way Stripe does (pretty JSON body,
    /// `Stripe-Signature` for now), records the delivery, and returns the
    /// receiver's status.
    pub async fn send_webhook(&self, url: &str, event: &Value) -> Result<u16, String> {
        deliver(&self.shared, url, event).await
    }

    /// POSTs raw bytes with the given signature header (for tampering and
    /// replay tests). Not recorded.
    pub async fn post_webhook_raw(&self, url: &str, body: Vec<u8>, signature: &str) -> Result<u16, String> {
        post_webhook(&self.shared.http, url, body, signature).await
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

// ---------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------

fn sign(secret: &str, payload: &[u8], t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(payload);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_webhook(http: &reqwest::Client, url: &str, body: Vec<u8>, signature: &str) -> Result<u16, String> {
    let resp = http
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}

async fn deliver(shared: &Shared, url: &str, event: &Value) -> Result<u16, String> {
    let body = serde_json::to_vec_pretty(event).expect("event JSON");
    let signature = sign(&shared.webhook_secret, &body, now());
    let result = post_webhook(&shared.http, url, body, &signature).await;
    shared.lock().deliveries.push(WebhookDelivery {
        event_id: event["id"].as_str().unwrap_or_default().to_owned(),
        event_type: event["type"].as_str().unwrap_or_default().to_owned(),
        url: url.to_owned(),
        result: result.clone(),
    });
    result
}

/// Sends events one at a time, in the order they happened, to the URL set
/// at sending time.
async fn deliver_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Value>) {
    while let Some(event) = rx.recv().await {
        let url = shared.lock().webhook_url.clone();
        if let Some(url) = url {
            let _ = deliver(&shared, &url, &event).await;
        }
    }
}

fn make_event(event_type: &str, object: &Value, request_id: Option<&str>, idempotency_key: Option<&str>) -> Value {
    json!({
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": request_id, "idempotency_key": idempotency_key },
        "type": event_type,
    })
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = new_id("req");
    let idempotency_key = if method == Method::POST { header("idempotency-key") } else { None };
    let stripe_version = header("stripe-version");
    let raw = if method == Method::GET { uri.query().unwrap_or("").as_bytes() } else { &body[..] };
    let params: Params = form_urlencoded::parse(raw).into_owned().collect();

    let mut inner = shared.lock();
    let mut events = Vec::new();
    let mut replayed = false;
    let reply = 'reply: {
        if let Some(reply) = check_auth(&shared.api_key, header("authorization").as_deref()) {
            break 'reply reply;
        }
        if let Some(status) = inner.faults.pop_front() {
            break 'reply match status {
                429 => error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    Some("rate_limit"),
                    "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
                    None,
                ),
                _ => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    None,
                    "An unknown error occurred (injected by the local Stripe server).",
                    None,
                ),
            }
            .unsaved();
        }
        let fingerprint = format!("{method} {} {params:?}", uri.path());
        if let Some(key) = &idempotency_key {
            if key.len() > 255 {
                break 'reply invalid("Idempotency-Key must be at most 255 characters long.", None);
            }
            if let Some((saved_fingerprint, saved)) = inner.idempotency.get(key) {
                if *saved_fingerprint != fingerprint {
                    break 'reply error(
                        StatusCode::BAD_REQUEST,
                        "idempotency_error",
                        None,
                        &format!(
                            "Keys for idempotent requests can only be used with the same parameters they were first \
                             used with. Try using a key other than '{key}' if you meant to execute a different request."
                        ),
                        None,
                    )
                    .unsaved();
                }
                replayed = true;
                break 'reply saved.clone();
            }
        }
        let ctx = Ctx { request_id: &request_id, idempotency_key: idempotency_key.as_deref() };
        let reply = route(&mut inner, &method, uri.path(), &params, &ctx, &mut events);
        if let Some(key) = &idempotency_key
            && reply.save
        {
            inner.idempotency.insert(key.clone(), (fingerprint, reply.clone()));
        }
        reply
    };
    inner.requests.push(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        params,
        idempotency_key: idempotency_key.clone(),
        stripe_version: stripe_version.clone(),
        status: reply.status.as_u16(),
        replayed,
    });
    inner.events.extend(events.iter().cloned());
    drop(inner);
    for event in events {
        let _ = shared.deliveries_tx.send(event);
    }

    let mut response = (reply.status, serde_json::to_string_pretty(&reply.body).expect("JSON")).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("request-id", HeaderValue::from_str(&request_id).expect("ascii id"));
    let version = stripe_version.as_deref().unwrap_or(API_VERSION);
    if let Ok(v) = HeaderValue::from_str(version) {
        h.insert("stripe-version", v);
    }
    if let Some(key) = idempotency_key.as_deref().and_then(|k| HeaderValue::from_str(k).ok()) {
        h.insert("idempotency-key", key);
    }
    if replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if reply.status == StatusCode::UNAUTHORIZED {
        h.insert("www-authenticate", HeaderValue::from_static("Bearer realm=\"Stripe\""));
    }
    response
}

fn check_auth(api_key: &str, authorization: Option<&str>) -> Option<Reply> {
    let Some(given) = authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim).filter(|k| !k.is_empty())
    else {
        return Some(
            error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using \
                 Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication \
                 for details, or we can help at https://support.stripe.com/.",
                None,
            )
            .unsaved(),
        );
    };
    if given == api_key {
        return None;
    }
    let masked = if given.len() > 12 && given.is_ascii() {
        format!("{}{}{}", &given[..8], "*".repeat(given.len() - 12), &given[given.len() - 4..])
    } else {
        "*".repeat(given.chars().count())
    };
    Some(
        error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("api_key_invalid"),
            &format!("Invalid API Key provided: {masked}"),
            None,
        )
        .unsaved(),
    )
}

struct Ctx<'a> {
    request_id: &'a str,
    idempotency_key: Option<&'a str>,
}

fn route(inner: &mut Inner, method: &Method, path: &str, p: &Params, ctx: &Ctx, events: &mut Vec<Value>) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "customers"]) => create_customer(inner, p),
        ("GET", ["v1", "customers", id]) => get_object(&inner.customers, id, "customer", p),
        ("POST", ["v1", "customers", id]) => update_customer(inner, id, p),
        ("GET", ["v1", "payment_methods", id]) => {
            let pms: HashMap<String, Value> =
                inner.payment_methods.iter().map(|(k, v)| (k.clone(), v.object.clone())).collect();
            get_object(&pms, id, "PaymentMethod", p)
        }
        ("POST", ["v1", "payment_methods", id, "attach"]) => attach_payment_method(inner, id, p),
        ("POST", ["v1", "payment_intents"]) => create_payment_intent(inner, p, ctx, events),
        ("GET", ["v1", "payment_intents", id]) => get_object(&inner.payment_intents, id, "payment_intent", p),
        ("POST", ["v1", "refunds"]) => create_refund(inner, p, events),
        ("POST", ["v1", "checkout", "sessions"]) => create_checkout_session(inner, p),
        ("GET", ["v1", "checkout", "sessions", id]) => get_checkout_session(inner, id, p),
        ("GET", ["v1", "setup_intents", id]) => get_object(&inner.setup_intents, id, "setup_intent", p),
        ("GET", ["v1", "refunds", id]) => get_object(&inner.refunds, id, "refund", p),
        _ => Err(error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            None,
            &format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at \
                 https://support.stripe.com/."
            ),
            None,
        )
        .unsaved()),
    };
    result.unwrap_or_else(|reply| reply)
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

fn get_object(map: &HashMap<String, Value>, id: &str, what: &str, p: &Params) -> Result<Reply, Reply> {
    check_params(p, &[], &["expand["])?;
    match map.get(id) {
        Some(object) => Ok(Reply::ok(object.clone())),
        None => Err(missing(what, id, "id")),
    }
}

const CUSTOMER_PARAMS: &[&str] = &["name", "email", "description", "phone"];

fn create_customer(inner: &mut Inner, p: &Params) -> Result<Reply, Reply> {
    check_params(p, CUSTOMER_PARAMS, &["metadata[", "expand["])?;
    let id = new_id("cus");
    let mut customer = json!({
        "id": id, "object": "customer", "address": null, "balance": 0, "created": now(), "currency": null,
        "default_source": null, "delinquent": false, "description": null, "discount": null, "email": null,
        "invoice_prefix": random_string(8).to_uppercase(),
        "invoice_settings": {
            "custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null,
        },
        "livemode": false, "metadata": {}, "name": null, "next_invoice_sequence": 1, "phone": null,
        "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null,
    });
    apply_customer_fields(&mut customer, p)?;
    inner.customers.insert(id, customer.clone());
    Ok(Reply::ok(customer))
}

fn update_customer(inner: &mut Inner, id: &str, p: &Params) -> Result<Reply, Reply> {
    check_params(p, CUSTOMER_PARAMS, &["metadata[", "expand[", "invoice_settings[default_payment_method]"])?;
    let Some(mut customer) = inner.customers.get(id).cloned() else {
        return Err(missing("customer", id, "id"));
    };
    if let Some(pm) = param(p, "invoice_settings[default_payment_method]") {
        if pm.is_empty() {
            customer["invoice_settings"]["default_payment_method"] = Value::Null;
        } else {
            let attached = inner.payment_methods.get(pm).is_some_and(|stored| stored.object["customer"] == id);
            if !attached {
                return Err(invalid(
                    &format!(
                        "The customer does not have a payment method with the ID {pm}. The payment method must be \
                         attached to the customer."
                    ),
                    Some("invoice_settings[default_payment_method]"),
                ));
            }
            customer["invoice_settings"]["default_payment_method"] = json!(pm);
        }
    }
    apply_customer_fields(&mut customer, p)?;
    inner.customers.insert(id.to_owned(), customer.clone());
    Ok(Reply::ok(customer))
}

fn apply_customer_fields(customer: &mut Value, p: &Params) -> Result<(), Reply> {
    for field in CUSTOMER_PARAMS {
        if let Some(value) = param(p, field) {
            // Stripe: an empty string unsets a field.
            customer[*field] = if value.is_empty() { Value::Null } else { json!(value) };
        }
    }
    if let Some(email) = param(p, "email")
        && !email.is_empty()
        && (!email.contains('@') || email.len() > 512)
    {
        return Err(invalid(&format!("Invalid email address: {email}"), Some("email")).with_code("email_invalid"));
    }
    merge_metadata(&mut customer["metadata"], p)
}

fn attach_payment_method(inner: &mut Inner, pm_id: &str, p: &Params) -> Result<Reply, Reply> {
    check_params(p, &["customer"], &["expand["])?;
    let Some(customer) = param(p, "customer").filter(|c| !c.is_empty()) else {
        return Err(invalid("Missing required param: customer.", Some("customer")).with_code("parameter_missing"));
    };
    if !inner.customers.contains_key(customer) {
        return Err(missing("customer", customer, "customer"));
    }
    if let Some((kind, behavior)) = test_method(pm_id) {
        if let Behavior::Decline { code, decline_code, message, on_attach: true } = behavior {
            let mut reply = error(StatusCode::PAYMENT_REQUIRED, "card_error", Some(code), message, None);
            reply.body["error"]["decline_code"] = json!(decline_code);
            return Err(Reply { save: true, ..reply });
        }
        let pm = new_payment_method(kind, behavior, Some(customer));
        let object = pm.object.clone();
        inner.payment_methods.insert(object["id"].as_str().unwrap().to_owned(), pm);
        return Ok(Reply::ok(object));
    }
    let Some(stored) = inner.payment_methods.get_mut(pm_id) else {
        return Err(missing("PaymentMethod", pm_id, "payment_method"));
    };
    match stored.object["customer"].as_str() {
        None => stored.object["customer"] = json!(customer),
        Some(c) if c == customer => {}
        Some(_) => {
            return Err(invalid(
                "The payment method you provided has already been attached to a customer.",
                Some("payment_method"),
            ));
        }
    }
    Ok(Reply::ok(stored.object.clone()))
}

const PI_PARAMS: &[&str] = &[
    "amount",
    "currency",
    "customer",
    "payment_method",
    "confirm",
    "off_session",
    "description",
    "return_url",
    "receipt_email",
    "statement_descriptor_suffix",
    "automatic_payment_methods[enabled]",
    "automatic_payment_methods[allow_redirects]",
];

/// `POST /v1/refunds` (payment_intent, amount, metadata): a succeeded
/// payment intent can be refunded up to its amount in total.
fn create_refund(inner: &mut Inner, p: &Params, events: &mut Vec<Value>) -> Result<Reply, Reply> {
    check_params(p, &["payment_intent", "amount", "reason"], &["metadata["])?;
    let Some(pi_id) = param(p, "payment_intent") else {
        return Err(
            invalid("Missing required param: payment_intent.", Some("payment_intent")).with_code("parameter_missing")
        );
    };
    let Some(pi) = inner.payment_intents.get(pi_id).cloned() else {
        return Err(missing("payment_intent", pi_id, "payment_intent"));
    };
    if pi["status"] != "succeeded" {
        return Err(invalid(
            &format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
            Some("payment_intent"),
        ));
    }
    let total = pi["amount"].as_i64().unwrap_or(0);
    let refunded: i64 = inner
        .refunds
        .values()
        .filter(|r| r["payment_intent"] == pi_id)
        .map(|r| r["amount"].as_i64().unwrap_or(0))
        .sum();
    let amount = match param(p, "amount") {
        None => total - refunded,
        Some(a) => a.parse::<i64>().map_err(|_| {
            invalid(&format!("Invalid integer: {a}"), Some("amount")).with_code("parameter_invalid_integer")
        })?,
    };
    if amount <= 0 || refunded + amount > total {
        return Err(invalid(
            &format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({})", total - refunded),
            Some("amount"),
        )
        .with_code("amount_too_large"));
    }
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p)?;
    let id = new_id("re");
    let refund = json!({
        "id": id,
        "object": "refund",
        "amount": amount,
        "currency": pi["currency"],
        "payment_intent": pi_id,
        "status": "succeeded",
        "metadata": metadata,
        "created": now(),
    });
    inner.refunds.insert(id, refund.clone());
    events.push(make_event("refund.created", &refund, None, None));
    Ok(Reply::ok(refund))
}

impl StripeServer {
    /// Every refund made, in no particular order.
    pub fn refunds(&self) -> Vec<Value> {
        self.inner().refunds.values().cloned().collect()
    }
}

/// `POST /v1/checkout/sessions`: setup mode only (what Mast calls).
fn create_checkout_session(inner: &mut Inner, p: &Params) -> Result<Reply, Reply> {
    check_params(
        p,
        &["mode", "customer", "success_url", "cancel_url", "client_reference_id", "currency"],
        &["metadata[", "payment_method_types[", "setup_intent_data[", "expand["],
    )?;
    if param(p, "mode") != Some("setup") {
        return Err(invalid("This local server supports mode=setup only.", Some("mode")));
    }
    let Some(customer) = param(p, "customer").filter(|c| !c.is_empty()) else {
        return Err(invalid("Missing required param: customer.", Some("customer")).with_code("parameter_missing"));
    };
    if !inner.customers.contains_key(customer) {
        return Err(missing("customer", customer, "customer"));
    }
    let Some(success_url) = param(p, "success_url") else {
        return Err(invalid("Missing required param: success_url.", Some("success_url")).with_code("parameter_missing"));
    };
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p)?;
    let id = format!("cs_test_{}", random_string(24));
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "mode": "setup",
        "status": "open",
        "customer": customer,
        "client_reference_id": param(p, "client_reference_id"),
        "success_url": success_url,
        "cancel_url": param(p, "cancel_url"),
        "metadata": metadata,
        "setup_intent": null,
        "url": format!("{}/checkout/{id}", inner.base_url),
        "created": now(),
        "expires_at": now() + 86_400,
    });
    inner.checkout_sessions.insert(id, session.clone());
    Ok(Reply::ok(session))
}

fn get_checkout_session(inner: &Inner, id: &str, p: &Params) -> Result<Reply, Reply> {
    let Some(mut s) = inner.checkout_sessions.get(id).cloned() else {
        return Err(missing("checkout.session", id, "session"));
    };
    let expand = p.iter().any(|(k, v)| k.starts_with("expand[") && v == "setup_intent");
    if expand && let Some(seti) = s["setup_intent"].as_str().and_then(|i| inner.setup_intents.get(i)) {
        s["setup_intent"] = seti.clone();
    }
    Ok(Reply::ok(s))
}

impl StripeServer {
    /// Every Checkout Session created, in no particular order.
    pub fn checkout_sessions(&self) -> Vec<Value> {
        self.inner().checkout_sessions.values().cloned().collect()
    }
}

/// `GET /checkout/{id}`: the hosted page, a form choosing a test card.
async fn hosted_page(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let inner = shared.lock();
    let Some(s) = inner.checkout_sessions.get(&id) else {
        return (StatusCode::NOT_FOUND, "no such checkout session").into_response();
    };
    if s["status"] != "open" {
        return (StatusCode::GONE, "this checkout session is no longer open").into_response();
    }
    let options: String = TEST_METHODS
        .iter()
        .filter(|(_, kind, _)| matches!(kind, TestKind::Card { .. }))
        .map(|(id, kind, _)| match kind {
            TestKind::Card { brand, last4, .. } => format!("<option value=\"{id}\">{brand} ending {last4}</option>"),
            TestKind::UsBankAccount { .. } => String::new(),
        })
        .collect();
    let html = format!(
        "<!DOCTYPE html><html><head><title>Save a card (local Stripe)</title></head><body>\
         <h1>Save a card</h1><form method=\"post\" action=\"/checkout/{id}\">\
         <label for=\"card\">Card</label> <select id=\"card\" name=\"card\">{options}</select>\
         <button id=\"submit\" type=\"submit\">Save card</button></form></body></html>"
    );
    ([("content-type", "text/html; charset=utf-8")], html).into_response()
}

/// `POST /checkout/{id}`: completes the session with the chosen test card.
async fn hosted_submit(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let form: Params = form_urlencoded::parse(&body).into_owned().collect();
    let card = param(&form, "card").unwrap_or("pm_card_visa").to_owned();
    let mut inner = shared.lock();
    let Some(session) = inner.checkout_sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such checkout session").into_response();
    };
    if session["status"] != "open" {
        return (StatusCode::GONE, "this checkout session is no longer open").into_response();
    }
    let Some((kind, behavior)) = test_method(&card) else {
        return (StatusCode::BAD_REQUEST, "unknown test card").into_response();
    };
    if matches!(behavior, Behavior::Decline { on_attach: true, .. }) {
        return (StatusCode::PAYMENT_REQUIRED, "Your card was declined.").into_response();
    }
    let customer = session["customer"].as_str().unwrap_or_default().to_owned();
    let pm = new_payment_method(kind, behavior, Some(&customer));
    let pm_id = pm.object["id"].as_str().unwrap_or_default().to_owned();
    inner.payment_methods.insert(pm_id.clone(), pm);
    let seti_id = new_id("seti");
    let seti = json!({
        "id": seti_id, "object": "setup_intent", "status": "succeeded", "customer": customer,
        "payment_method": pm_id, "usage": "off_session", "metadata": session["metadata"].clone(), "created": now(),
    });
    inner.setup_intents.insert(seti_id.clone(), seti);
    let mut done = session.clone();
    done["status"] = json!("complete");
    done["setup_intent"] = json!(seti_id);
    inner.checkout_sessions.insert(id.clone(), done.clone());
    let event = make_event("checkout.session.completed", &done, None, None);
    inner.events.push(event.clone());
    drop(inner);
    let _ = shared.deliveries_tx.send(event);
    let to = session["success_url"].as_str().unwrap_or("/").replace("{CHECKOUT_SESSION_ID}", &id);
    (StatusCode::SEE_OTHER, [("location", to)]).into_response()
}

fn create_payment_intent(inner: &mut Inner, p: &Params, ctx: &Ctx, events: &mut Vec<Value>) -> Result<Reply, Reply> {
    check_params(p, PI_PARAMS, &["metadata[", "payment_method_types[", "expand["])?;
    let Some(amount) = param(p, "amount") else {
        return Err(invalid("Missing required param: amount.", Some("amount")).with_code("parameter_missing"));
    };
    let Ok(amount) = amount.parse::<i64>() else {
        return Err(
            invalid(&format!("Invalid integer: {amount}"), Some("amount")).with_code("parameter_invalid_integer")
        );
    };
    let Some(currency) = param(p, "currency") else {
        return Err(invalid("Missing required param: currency.", Some("currency")).with_code("parameter_missing"));
    };
    if !["usd", "cad", "eur", "gbp", "aud", "mxn"].contains(&currency) {
        return Err(invalid(&format!("Invalid currency: {currency}."), Some("currency")));
    }
    if amount < 50 {
        return Err(invalid("Amount must be at least $0.50 usd", Some("amount")).with_code("amount_too_small"));
    }
    if amount > 99_999_999 {
        return Err(invalid("Amount must be no more than $999,999.99", Some("amount")).with_code("amount_too_large"));
    }
    let customer = param(p, "customer").filter(|c| !c.is_empty());
    if let Some(c) = customer
        && !inner.customers.contains_key(c)
    {
        return Err(missing("customer", c, "customer"));
    }
    let confirm = bool_param(p, "confirm")?.unwrap_or(false);
    let off_session = bool_param(p, "off_session")?.unwrap_or(false);
    if off_session && !confirm {
        return Err(invalid("You can only pass `off_session` when `confirm` is `true`.", Some("off_session")));
    }
    let types: Vec<&str> =
        p.iter().filter(|(k, _)| k.starts_with("payment_method_types[")).map(|(_, v)| v.as_str()).collect();
    let apm_enabled = bool_param(p, "automatic_payment_methods[enabled]")?;
    if apm_enabled.is_some() && !types.is_empty() {
        return Err(invalid(
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
            Some("automatic_payment_methods"),
        ));
    }
    let allow_redirects = param(p, "automatic_payment_methods[allow_redirects]");
    if let Some(v) = allow_redirects
        && v != "always"
        && v != "never"
    {
        return Err(invalid(
            &format!("Invalid automatic_payment_methods[allow_redirects]: must be one of always or never ({v})"),
            Some("automatic_payment_methods[allow_redirects]"),
        ));
    }

    // Resolve the payment method (a test id makes a fresh one, like Stripe).
    let pm = match param(p, "payment_method").filter(|v| !v.is_empty()) {
        None => None,
        Some(id) => match test_method(id) {
            Some((kind, behavior)) => {
                let pm = new_payment_method(kind, behavior, None);
                inner.payment_methods.insert(pm.object["id"].as_str().unwrap().to_owned(), pm.clone());
                Some(pm)
            }
            None => {
                let Some(stored) = inner.payment_methods.get(id) else {
                    return Err(missing("PaymentMethod", id, "payment_method"));
                };
                match (stored.object["customer"].as_str(), customer) {
                    (Some(owner), Some(c)) if owner != c => {
                        return Err(invalid(
                            &format!("The PaymentMethod {id} does not belong to the Customer {c}."),
                            Some("payment_method"),
                        ));
                    }
                    (Some(_), None) => {
                        return Err(invalid(
                            &format!("The PaymentMethod {id} is attached to a Customer; pass `customer` as well."),
                            Some("payment_method"),
                        ));
                    }
                    _ => Some(stored.clone()),
                }
            }
        },
    };
    let pm_type = pm.as_ref().and_then(|pm| pm.object["type"].as_str()).unwrap_or("card").to_owned();
    if confirm {
        if pm.is_none() {
            return Err(invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm it, pass \
                 `payment_method`.",
                Some("payment_method"),
            )
            .with_code("payment_intent_unexpected_state"));
        }
        let redirects_excluded = allow_redirects == Some("never") || !types.is_empty();
        if !redirects_excluded && param(p, "return_url").is_none() {
            return Err(invalid(
                "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some \
                 of these payment methods might redirect your customer off of your page, you must provide a \
                 `return_url`. If you don't want to accept redirect-based payment methods, set \
                 `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to \
                 `never` when creating Setup Intents and Payment Intents.",
                None,
            ));
        }
        if !types.is_empty() && !types.contains(&pm_type.as_str()) {
            return Err(invalid(
                &format!("The PaymentMethod provided ({pm_type}) is not allowed for this PaymentIntent."),
                Some("payment_method"),
            ));
        }
        if pm_type == "us_bank_account" && currency != "usd" {
            return Err(invalid("us_bank_account payments must be in usd.", Some("currency")));
        }
    }

    let id = new_id("pi");
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p)?;
    let pm_types = if types.is_empty() { vec![pm_type.clone()] } else { types.iter().map(|t| t.to_string()).collect() };
    let mut pi = json!({
        "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_details": { "tip": {} }, "amount_received": 0, "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": if apm_enabled == Some(true) {
            json!({ "allow_redirects": allow_redirects.unwrap_or("always"), "enabled": true })
        } else { Value::Null },
        "canceled_at": null, "cancellation_reason": null, "capture_method": "automatic",
        "client_secret": format!("{id}_secret_{}", random_string(24)), "confirmation_method": "automatic",
        "created": now(), "currency": currency, "customer": customer,
        "description": param(p, "description").filter(|d| !d.is_empty()), "invoice": null,
        "last_payment_error": null, "latest_charge": null, "livemode": false, "metadata": metadata,
        "next_action": null, "on_behalf_of": null,
        "payment_method": pm.as_ref().map(|pm| pm.object["id"].clone()),
        "payment_method_configuration_details": null, "payment_method_options": {},
        "payment_method_types": pm_types, "processing": null, "receipt_email": param(p, "receipt_email"),
        "review": null, "setup_future_usage": null, "shipping": null, "source": null,
        "statement_descriptor": null, "statement_descriptor_suffix": param(p, "statement_descriptor_suffix"),
        "status": if pm.is_some() { "requires_confirmation" } else { "requires_payment_method" },
        "transfer_data": null, "transfer_group": null,
    });
    let event = |kind: &str, pi: &Value| make_event(kind, pi, Some(ctx.request_id), ctx.idempotency_key);
    events.push(event("payment_intent.created", &pi));
    let Some(pm) = pm.filter(|_| confirm) else {
        inner.payment_intents.insert(id, pi.clone());
        return Ok(Reply::ok(pi));
    };

    let charge_id = new_id("ch");
    pi["latest_charge"] = json!(charge_id);
    let declined = |pi: &mut Value, code: &str, decline_code: &str, message: &str| {
        let error = json!({
            "type": "card_error", "code": code, "decline_code": decline_code, "message": message,
            "charge": charge_id, "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
            "payment_method": pm.object,
        });
        pi["status"] = json!("requires_payment_method");
        pi["last_payment_error"] = error.clone();
        let mut body = json!({ "error": error });
        body["error"]["payment_intent"] = pi.clone();
        body["error"]["request_log_url"] =
            json!(format!("https://dashboard.stripe.com/test/logs/{}?t={}", ctx.request_id, now()));
        Reply { status: StatusCode::PAYMENT_REQUIRED, body, save: true }
    };
    let reply = match pm.behavior {
        Behavior::Succeed => {
            pi["status"] = json!("succeeded");
            pi["amount_received"] = json!(amount);
            Reply::ok(pi.clone())
        }
        Behavior::Processing => {
            pi["status"] = json!("processing");
            Reply::ok(pi.clone())
        }
        Behavior::Decline { code, decline_code, message, .. } => declined(&mut pi, code, decline_code, message),
        Behavior::AuthenticationRequired if off_session => declined(
            &mut pi,
            "authentication_required",
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        ),
        Behavior::AuthenticationRequired => {
            pi["status"] = json!("requires_action");
            pi["next_action"] = json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {} });
            Reply::ok(pi.clone())
        }
    };
    match pi["status"].as_str() {
        Some("succeeded") => events.push(event("payment_intent.succeeded", &pi)),
        Some("processing") => events.push(event("payment_intent.processing", &pi)),
        Some("requires_payment_method") => events.push(event("payment_intent.payment_failed", &pi)),
        Some("requires_action") => events.push(event("payment_intent.requires_action", &pi)),
        _ => {}
    }
    inner.charges.push(RecordedCharge {
        payment_intent_id: id.clone(),
        customer: customer.map(str::to_owned),
        payment_method: pm.object["id"].as_str().unwrap_or_default().to_owned(),
        amount,
        currency: currency.to_owned(),
        status: pi["status"].as_str().unwrap_or_default().to_owned(),
        idempotency_key: ctx.idempotency_key.map(str::to_owned),
        description: param(p, "description").map(str::to_owned),
        metadata: serde_json::from_value(pi["metadata"].clone()).unwrap_or_default(),
    });
    inner.payment_intents.insert(id, pi);
    Ok(reply)
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn test_method(id: &str) -> Option<(TestKind, Behavior)> {
    TEST_METHODS.iter().find(|(test_id, ..)| *test_id == id).map(|(_, kind, behavior)| (*kind, *behavior))
}

fn new_payment_method(kind: TestKind, behavior: Behavior, customer: Option<&str>) -> StoredPm {
    let id = new_id("pm");
    let billing_details = json!({
        "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
        "email": null, "name": null, "phone": null,
    });
    let object = match kind {
        TestKind::Card { brand, last4, funding } => json!({
            "id": id, "object": "payment_method", "allow_redisplay": "unspecified", "billing_details": billing_details,
            "card": {
                "brand": brand,
                "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass" },
                "country": "US", "display_brand": brand, "exp_month": 12, "exp_year": current_year() + 3,
                "fingerprint": random_string(16), "funding": funding, "generated_from": null, "last4": last4,
                "networks": { "available": [brand], "preferred": null },
                "three_d_secure_usage": { "supported": true }, "wallet": null,
            },
            "created": now(), "customer": customer, "livemode": false, "metadata": {}, "type": "card",
        }),
        TestKind::UsBankAccount { bank_name, last4, routing } => json!({
            "id": id, "object": "payment_method", "allow_redisplay": "unspecified", "billing_details": billing_details,
            "created": now(), "customer": customer, "livemode": false, "metadata": {}, "type": "us_bank_account",
            "us_bank_account": {
                "account_holder_type": "individual", "account_type": "checking", "bank_name": bank_name,
                "financial_connections_account": null, "fingerprint": random_string(16), "last4": last4,
                "networks": { "preferred": "ach", "supported": ["ach"] }, "routing_number": routing,
                "status_details": {},
            },
        }),
    };
    StoredPm { object, behavior }
}

fn param<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn bool_param(p: &Params, key: &str) -> Result<Option<bool>, Reply> {
    match param(p, key) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => {
            Err(invalid(&format!("Invalid boolean: {other}"), Some(key)).with_code("parameter_invalid_boolean"))
        }
    }
}

/// Refuses parameters Stripe would not know (a client typo is an error at
/// Stripe too, not a silently dropped field).
fn check_params(p: &Params, names: &[&str], prefixes: &[&str]) -> Result<(), Reply> {
    for (key, _) in p {
        if !names.contains(&key.as_str()) && !prefixes.iter().any(|prefix| key.starts_with(prefix)) {
            return Err(
                invalid(&format!("Received unknown parameter: {key}"), Some(key)).with_code("parameter_unknown")
            );
        }
    }
    Ok(())
}

/// `metadata[k]=v` sets, `metadata[k]=` deletes (Stripe's rules and limits).
fn merge_metadata(metadata: &mut Value, p: &Params) -> Result<(), Reply> {
    for (key, value) in p {
        let Some(name) = key.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')) else {
            continue;
        };
        if name.is_empty() || name.len() > 40 || name.contains(['[', ']']) {
            return Err(invalid(&format!("Invalid metadata key: {name:?} (1 to 40 characters)."), Some(key)));
        }
        if value.chars().count() > 500 {
            return Err(invalid(&format!("Metadata values can have up to 500 characters ({name})."), Some(key)));
        }
        let map = metadata.as_object_mut().expect("metadata is an object");
        if value.is_empty() {
            map.remove(name);
        } else {
            map.insert(name.to_owned(), json!(value));
        }
        if map.len() > 50 {
            return Err(invalid("Metadata can have up to 50 keys.", Some("metadata")));
        }
    }
    Ok(())
}

fn error(status: StatusCode, error_type: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Reply {
    let mut error = json!({ "type": error_type, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    Reply { status, body: json!({ "error": error }), save: false }
}

/// A 400 parameter error (never saved for idempotency, as at Stripe).
fn invalid(message: &str, param: Option<&str>) -> Reply {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", None, message, param)
}

/// A missing object: 404 when named in the path, 400 when named by a
/// parameter (as at Stripe).
fn missing(what: &str, id: &str, param: &str) -> Reply {
    let status = if param == "id" { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
    error(status, "invalid_request_error", Some("resource_missing"), &format!("No such {what}: '{id}'"), Some(param))
}

impl Reply {
    fn unsaved(self) -> Self {
        Self { save: false, ..self }
    }

    fn with_code(mut self, code: &str) -> Self {
        self.body["error"]["code"] = json!(code);
        self
    }
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_string(24))
}

fn random_string(len: usize) -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn current_year() -> i64 {
    1970 + now() / 31_556_952
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_stripe() {
        // HMAC-SHA256("whsec_test_secret", "1492774577." + payload), from `openssl dgst -sha256 -hmac`.
        assert_eq!(
            sign("whsec_test_secret", br#"{"id":"evt_test_webhook","object":"event"}"#, 1492774577),
            "t=1492774577,v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a"
        );
    }

    #[test]
    fn bracket_params_and_metadata_rules() {
        let p: Params =
            form_urlencoded::parse(b"name=A&metadata%5Bk%5D=v&metadata[gone]=&metadata[x]=1").into_owned().collect();
        check_params(&p, &["name"], &["metadata["]).unwrap();
        let err = check_params(&p, &[], &["metadata["]).unwrap_err();
        assert_eq!(err.body["error"]["code"], "parameter_unknown");
        assert_eq!(err.body["error"]["param"], "name");
        let mut metadata = json!({ "gone": "old" });
        merge_metadata(&mut metadata, &p).unwrap();
        assert_eq!(metadata, json!({ "k": "v", "x": "1" }));
        let long: Params = vec![("metadata[k]".into(), "v".repeat(501))];
        assert_eq!(merge_metadata(&mut json!({}), &long).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn keys_are_checked_and_masked() {
        assert!(check_auth("sk_test_right", Some("Bearer sk_test_right")).is_none());
        let missing = check_auth("sk_test_right", None).unwrap();
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        let wrong = check_auth("sk_test_right", Some("Bearer sk_test_wrongwrong1234")).unwrap();
        let message = wrong.body["error"]["message"].as_str().unwrap();
        assert_eq!(message, "Invalid API Key provided: sk_test_**********1234");
    }
}

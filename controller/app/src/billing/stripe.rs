//! Stripe implementation of [`PaymentProvider`] over Stripe's HTTP API
//! (form-encoded requests, JSON answers, bearer auth, pinned
//! `Stripe-Version`).
//!
//! Calls: `POST /v1/customers` and `POST /v1/customers/{id}` (create /
//! update, default payment method), `POST /v1/payment_methods/{id}/attach`,
//! `POST /v1/payment_intents` (confirm off-session, `Idempotency-Key`) and
//! `GET /v1/payment_intents/{id}`.
//!
//! Transient failures (network, 5xx, 409, or Stripe's `Stripe-Should-Retry:
//! true`) are retried here with exponential backoff and the same
//! idempotency key, up to [`StripeClient::with_retries`] times (2 by
//! default), like Stripe's own libraries; what is still failing is returned
//! as a retryable [`ProviderError`].
//!
//! The API key is only ever held in a sensitive header value and never
//! printed: `Debug` shows its kind (`sk_live`, `sk_test`, `rk_live`, ...)
//! only. Nothing here logs; errors carry Stripe's messages, which never
//! contain card numbers.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use super::provider::{
    CardExpiry, ChargeOutcome, ChargeRequest, CustomerRef, METADATA_CUSTOMER_ID, METADATA_INVOICE_ID,
    PaymentMethodInfo, PaymentMethodKind, PaymentProvider, ProviderCustomerId, ProviderError, ProviderFuture,
    RefundRequest, SetupRequest, SetupResult, SetupSession,
};

/// Stripe's API root.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";
/// The API version every request pins (`Stripe-Version`), so an account
/// upgrade in the dashboard cannot change the shapes parsed here.
pub const STRIPE_API_VERSION: &str = "2024-06-20";
/// Connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout (per attempt).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read (Stripe's objects are a few KiB).
const MAX_BODY: usize = 1 << 20;
/// Longest single backoff sleep.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Stripe client. Cheap to share (`Arc<dyn PaymentProvider>`); holds one
/// connection pool.
pub struct StripeClient {
    http: reqwest::Client,
    base_url: Url,
    auth: HeaderValue,
    key_kind: &'static str,
    max_retries: u32,
    backoff: Duration,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &format_args!("{}_[redacted]", self.key_kind))
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl StripeClient {
    /// A client for `api_key` (`sk_...` secret or `rk_...` restricted key)
    /// against `base_url` (default [`STRIPE_API_BASE`]). Plain `http://` is
    /// accepted for loopback hosts only (local test servers), so a key is
    /// never sent in clear over a network.
    pub fn new(api_key: impl Into<String>, base_url: Option<&str>) -> Result<Self, ProviderError> {
        let api_key = api_key.into();
        let key_kind = key_kind(&api_key)?;
        let base = base_url.unwrap_or(STRIPE_API_BASE).trim_end_matches('/');
        let base_url = Url::parse(base).map_err(|e| ProviderError::Config(format!("Stripe base URL {base:?}: {e}")))?;
        let loopback = match base_url.host_str() {
            Some(host) if host.eq_ignore_ascii_case("localhost") => true,
            Some(host) => {
                host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
            None => false,
        };
        match base_url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(ProviderError::Config(format!(
                    "Stripe base URL {base:?} must be https:// (http:// only on loopback)"
                )));
            }
        }
        if base_url.query().is_some() || base_url.fragment().is_some() || !base_url.username().is_empty() {
            return Err(ProviderError::Config(format!("Stripe base URL {base:?} must be a plain origin/path")));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .map_err(|_| ProviderError::Config("Stripe API key has characters not allowed in a header".into()))?;
        auth.set_sensitive(true);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Mast/", env!("CARGO_PKG_VERSION"), " (mast-controller autopay)"));
        if loopback {
            // A local server must not be reached through an HTTP(S)_PROXY.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| ProviderError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { http, base_url, auth, key_kind, max_retries: 2, backoff: Duration::from_millis(500) })
    }

    /// Retries per call for transient failures (0 disables) and the first
    /// backoff (doubled each retry, capped at 5 s, with jitter).
    pub fn with_retries(mut self, max_retries: u32, first_backoff: Duration) -> Self {
        self.max_retries = max_retries;
        self.backoff = first_backoff;
        self
    }

    /// `test` or `live`, from the key prefix.
    pub fn mode(&self) -> &'static str {
        if self.key_kind.ends_with("_live") { "live" } else { "test" }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base_url.clone();
        let joined = format!("{}{path}", self.base_url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    /// One API call with retries. `Ok` is a 2xx JSON body; `Err` is either
    /// a network failure or Stripe's error answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, Failure> {
        let body = if params.is_empty() {
            String::new()
        } else {
            form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
        };
        let mut attempt = 0;
        loop {
            let result = self.send_once(method.clone(), path, &body, idempotency_key).await;
            let retry = match &result {
                Ok(_) | Err(Failure::Invalid(_)) => false,
                Err(Failure::Network(_)) => true,
                Err(Failure::Api(api)) => api.should_retry.unwrap_or(api.status == 409 || api.status >= 500),
            };
            if !retry || attempt >= self.max_retries {
                return result;
            }
            let retry_after = match &result {
                Err(Failure::Api(api)) => api.retry_after,
                _ => None,
            };
            tokio::time::sleep(self.backoff_for(attempt, retry_after)).await;
            attempt += 1;
        }
    }

    fn backoff_for(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.backoff.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
        // Jitter in [75%, 100%] so many controllers do not retry in step.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let jitter = 0.75 + 0.25 * f64::from(nanos.subsec_nanos() % 1000) / 1000.0;
        let delay = exp.mul_f64(jitter);
        retry_after.map_or(delay, |ra| delay.max(ra.min(MAX_BACKOFF)))
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Failure> {
        let is_get = method == Method::GET;
        let mut url = self.url(path);
        let mut req = if is_get {
            if !body.is_empty() {
                url.set_query(Some(body));
            }
            self.http.request(method, url)
        } else {
            self.http
                .request(method, url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.to_owned())
        };
        req = req.header(AUTHORIZATION, self.auth.clone()).header("Stripe-Version", STRIPE_API_VERSION);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let mut resp = req.send().await.map_err(|e| Failure::Network(describe(&e)))?;
        let status = resp.status();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let should_retry = header("stripe-should-retry").map(|v| v == "true");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
        let request_id = header("request-id");
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY {
                        return Err(Failure::Invalid(format!("HTTP {status}: response body over {MAX_BODY} bytes")));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(Failure::Network(describe(&e))),
            }
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| Failure::Invalid(format!("HTTP {status}: body is not JSON: {e}")));
        }
        let error = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(envelope) => envelope.error,
            Err(_) => StripeError {
                error_type: if status.is_server_error() { "api_error" } else { "invalid_request_error" }.into(),
                message: format!("HTTP {status} without a Stripe error body: {}", snippet(&bytes)),
                ..StripeError::default()
            },
        };
        Err(Failure::Api(ApiFailure { status: status.as_u16(), error, should_retry, retry_after, request_id }))
    }

    async fn create_customer(&self, c: &CustomerRef, replacing: Option<&str>) -> Result<ProviderCustomerId, Failure> {
        let mut params = customer_params(c);
        params.push((format!("metadata[{METADATA_CUSTOMER_ID}]"), c.id.to_string()));
        // The same customer data within Stripe's 24 h key window returns the
        // same Stripe customer instead of a duplicate.
        let mut key = format!("mast-customer-{}-{:016x}", c.id, fnv1a(&params));
        if let Some(old) = replacing {
            key.push_str("-replaces-");
            key.push_str(old);
        }
        let v = self.call(Method::POST, "/v1/customers", &params, Some(&key)).await?;
        Ok(ProviderCustomerId(str_field(&v, "id").map_err(Failure::Invalid)?))
    }

    async fn ensure_customer_impl(&self, c: &CustomerRef) -> Result<ProviderCustomerId, ProviderError> {
        let Some(existing) = &c.provider_id else {
            return self.create_customer(c, None).await.map_err(Failure::into_error);
        };
        let path = format!("/v1/customers/{}", path_id(existing.as_str(), "customer")?);
        let mut params = customer_params(c);
        params.push((format!("metadata[{METADATA_CUSTOMER_ID}]"), c.id.to_string()));
        match self.call(Method::POST, &path, &params, None).await {
            Ok(v) => Ok(ProviderCustomerId(str_field(&v, "id").map_err(ProviderError::InvalidResponse)?)),
            // Deleted in the dashboard: make a new one (the caller stores it).
            Err(Failure::Api(api)) if api.status == 404 => {
                self.create_customer(c, Some(existing.as_str())).await.map_err(Failure::into_error)
            }
            Err(f) => Err(f.into_error()),
        }
    }

    async fn attach_impl(&self, customer: &ProviderCustomerId, pm: &str) -> Result<PaymentMethodInfo, ProviderError> {
        let cus = path_id(customer.as_str(), "customer")?;
        let pm = path_id(pm, "payment method")?;
        let params = [("customer".to_owned(), cus.to_owned())];
        let path = format!("/v1/payment_methods/{pm}/attach");
        let v = self.call(Method::POST, &path, &params, None).await.map_err(Failure::into_error)?;
        let info = parse_payment_method(&v).map_err(ProviderError::InvalidResponse)?;
        let params = [("invoice_settings[default_payment_method]".to_owned(), info.id.clone())];
        self.call(Method::POST, &format!("/v1/customers/{cus}"), &params, None).await.map_err(Failure::into_error)?;
        Ok(info)
    }

    async fn charge_impl(&self, r: &ChargeRequest) -> Result<ChargeOutcome, ProviderError> {
        if r.amount_minor <= 0 {
            return Err(ProviderError::InvalidRequest(format!("amount {} must be positive", r.amount_minor)));
        }
        if r.currency.len() != 3 || !r.currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ProviderError::InvalidRequest(format!("currency {:?} is not an ISO code", r.currency)));
        }
        if r.idempotency_key.is_empty()
            || r.idempotency_key.len() > 255
            || r.idempotency_key.chars().any(char::is_control)
        {
            return Err(ProviderError::InvalidRequest("idempotency key must be 1..=255 printable characters".into()));
        }
        let params: Vec<(String, String)> = [
            ("amount", r.amount_minor.to_string()),
            // Stripe wants lowercase (`usd`); Mast's codes are uppercase.
            ("currency", r.currency.to_ascii_lowercase()),
            ("customer", path_id(r.customer.as_str(), "customer")?.to_owned()),
            ("payment_method", path_id(&r.payment_method, "payment method")?.to_owned()),
            ("confirm", "true".into()),
            ("off_session", "true".into()),
            // Off-session: no redirect-based methods, so no return_url needed.
            ("automatic_payment_methods[enabled]", "true".into()),
            ("automatic_payment_methods[allow_redirects]", "never".into()),
            ("description", r.description.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain([
            (format!("metadata[{METADATA_INVOICE_ID}]"), r.invoice_id.clone()),
            (format!("metadata[{METADATA_CUSTOMER_ID}]"), r.customer_id.to_string()),
        ])
        .collect();
        match self.call(Method::POST, "/v1/payment_intents", &params, Some(&r.idempotency_key)).await {
            Ok(pi) => payment_intent_outcome(&pi),
            Err(Failure::Api(api)) if api.error.error_type == "card_error" => Ok(declined_from_error(api.error)),
            Err(f) => Err(f.into_error()),
        }
    }

    async fn refund_impl(&self, r: &RefundRequest) -> Result<String, ProviderError> {
        if r.amount_minor <= 0 {
            return Err(ProviderError::InvalidRequest(format!("amount {} must be positive", r.amount_minor)));
        }
        if r.idempotency_key.is_empty()
            || r.idempotency_key.len() > 255
            || r.idempotency_key.chars().any(char::is_control)
        {
            return Err(ProviderError::InvalidRequest("idempotency key must be 1..=255 printable characters".into()));
        }
        let params = [
            ("payment_intent".to_owned(), path_id(&r.provider_payment_id, "payment intent")?.to_owned()),
            ("amount".to_owned(), r.amount_minor.to_string()),
            (format!("metadata[{METADATA_CUSTOMER_ID}]"), r.customer_id.to_string()),
        ];
        let v = self
            .call(Method::POST, "/v1/refunds", &params, Some(&r.idempotency_key))
            .await
            .map_err(Failure::into_error)?;
        match v.get("status").and_then(Value::as_str) {
            Some("failed") | Some("canceled") => Err(ProviderError::InvalidResponse(format!(
                "the refund {} was {}",
                str_field(&v, "id").unwrap_or_default(),
                v["status"].as_str().unwrap_or_default()
            ))),
            _ => str_field(&v, "id").map_err(ProviderError::InvalidResponse),
        }
    }

    async fn start_setup_impl(&self, r: &SetupRequest) -> Result<SetupSession, ProviderError> {
        for (what, url) in [("success", &r.success_url), ("cancel", &r.cancel_url)] {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.chars().any(char::is_control) {
                return Err(ProviderError::InvalidRequest(format!("{what} URL {url:?} is not an http(s) URL")));
            }
        }
        let params = [
            ("mode".to_owned(), "setup".to_owned()),
            ("customer".to_owned(), path_id(r.customer.as_str(), "customer")?.to_owned()),
            ("payment_method_types[0]".to_owned(), "card".to_owned()),
            ("success_url".to_owned(), r.success_url.clone()),
            ("cancel_url".to_owned(), r.cancel_url.clone()),
            ("client_reference_id".to_owned(), r.customer_id.to_string()),
            (format!("metadata[{METADATA_CUSTOMER_ID}]"), r.customer_id.to_string()),
            (format!("setup_intent_data[metadata][{METADATA_CUSTOMER_ID}]"), r.customer_id.to_string()),
        ];
        let v = self.call(Method::POST, "/v1/checkout/sessions", &params, None).await.map_err(Failure::into_error)?;
        Ok(SetupSession {
            id: str_field(&v, "id").map_err(ProviderError::InvalidResponse)?,
            url: str_field(&v, "url").map_err(ProviderError::InvalidResponse)?,
        })
    }

    async fn setup_result_impl(&self, id: &str) -> Result<Option<SetupResult>, ProviderError> {
        let path = format!("/v1/checkout/sessions/{}", path_id(id, "checkout session")?);
        let params = [("expand[]".to_owned(), "setup_intent".to_owned())];
        let s = self.call(Method::GET, &path, &params, None).await.map_err(Failure::into_error)?;
        if s.get("status").and_then(Value::as_str) != Some("complete") {
            return Ok(None);
        }
        let customer_id = s
            .get("metadata")
            .and_then(|m| m.get(METADATA_CUSTOMER_ID))
            .and_then(Value::as_str)
            .and_then(|c| c.parse().ok());
        // Expanded: the setup intent object; not expanded: its id.
        let intent = match s.get("setup_intent") {
            Some(Value::String(seti)) => {
                let path = format!("/v1/setup_intents/{}", path_id(seti, "setup intent")?);
                self.call(Method::GET, &path, &[], None).await.map_err(Failure::into_error)?
            }
            Some(v @ Value::Object(_)) => v.clone(),
            _ => return Err(ProviderError::InvalidResponse(format!("checkout session {id} has no setup intent"))),
        };
        let pm = match intent.get("payment_method") {
            Some(Value::String(pm)) => pm.clone(),
            Some(v @ Value::Object(_)) => str_field(v, "id").map_err(ProviderError::InvalidResponse)?,
            _ => return Ok(None),
        };
        Ok(Some(SetupResult { payment_method_id: pm, customer_id }))
    }

    async fn retrieve_impl(&self, id: &str) -> Result<ChargeOutcome, ProviderError> {
        let path = format!("/v1/payment_intents/{}", path_id(id, "payment intent")?);
        let pi = self.call(Method::GET, &path, &[], None).await.map_err(Failure::into_error)?;
        payment_intent_outcome(&pi)
    }
}

impl PaymentProvider for StripeClient {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn ensure_customer<'a>(&'a self, customer: &'a CustomerRef) -> ProviderFuture<'a, ProviderCustomerId> {
        Box::pin(self.ensure_customer_impl(customer))
    }

    fn attach_payment_method<'a>(
        &'a self,
        customer: &'a ProviderCustomerId,
        payment_method_id: &'a str,
    ) -> ProviderFuture<'a, PaymentMethodInfo> {
        Box::pin(self.attach_impl(customer, payment_method_id))
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(self.charge_impl(request))
    }

    fn retrieve_payment<'a>(&'a self, provider_payment_id: &'a str) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(self.retrieve_impl(provider_payment_id))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, String> {
        Box::pin(self.refund_impl(request))
    }

    fn start_setup<'a>(&'a self, request: &'a SetupRequest) -> ProviderFuture<'a, SetupSession> {
        Box::pin(self.start_setup_impl(request))
    }

    fn setup_result<'a>(&'a self, session_id: &'a str) -> ProviderFuture<'a, Option<SetupResult>> {
        Box::pin(self.setup_result_impl(session_id))
    }
}

// ---------------------------------------------------------------------------
// Wire types and mapping
// ---------------------------------------------------------------------------

enum Failure {
    Network(String),
    Api(ApiFailure),
    Invalid(String),
}

struct ApiFailure {
    status: u16,
    error: StripeError,
    should_retry: Option<bool>,
    retry_after: Option<Duration>,
    request_id: Option<String>,
}

impl Failure {
    fn into_error(self) -> ProviderError {
        match self {
            Failure::Network(e) => ProviderError::Network(e),
            Failure::Invalid(e) => ProviderError::InvalidResponse(e),
            Failure::Api(api) if api.status == StatusCode::TOO_MANY_REQUESTS.as_u16() => {
                ProviderError::RateLimited { retry_after: api.retry_after }
            }
            Failure::Api(api) => {
                let mut message = api.error.message;
                if let Some(param) = api.error.param.filter(|p| !p.is_empty()) {
                    message.push_str(&format!(" (param {param})"));
                }
                if let Some(id) = api.request_id {
                    message.push_str(&format!(" [{id}]"));
                }
                ProviderError::Http {
                    status: api.status,
                    error_type: api.error.error_type,
                    code: api.error.code,
                    decline_code: api.error.decline_code,
                    message,
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: StripeError,
}

/// Stripe's `error` object.
#[derive(Deserialize, Default)]
struct StripeError {
    #[serde(rename = "type", default)]
    error_type: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    payment_intent: Option<Value>,
}

fn declined_from_error(e: StripeError) -> ChargeOutcome {
    let provider_payment_id = e.payment_intent.as_ref().and_then(|pi| pi.get("id")).and_then(Value::as_str);
    ChargeOutcome::Declined {
        provider_payment_id: provider_payment_id.map(str::to_owned),
        code: e.code.unwrap_or_else(|| "card_declined".into()),
        decline_code: e.decline_code,
        message: if e.message.is_empty() { "The payment was declined.".into() } else { e.message },
    }
}

fn payment_intent_outcome(pi: &Value) -> Result<ChargeOutcome, ProviderError> {
    let id = str_field(pi, "id").map_err(ProviderError::InvalidResponse)?;
    let status = str_field(pi, "status").map_err(ProviderError::InvalidResponse)?;
    let last_error = pi.get("last_payment_error").filter(|e| !e.is_null());
    let error_str = |key: &str| last_error.and_then(|e| e.get(key)).and_then(Value::as_str).map(str::to_owned);
    match status.as_str() {
        "succeeded" => Ok(ChargeOutcome::Succeeded { provider_payment_id: id }),
        "processing" => Ok(ChargeOutcome::Processing { provider_payment_id: id }),
        "requires_payment_method" | "requires_action" | "canceled" => {
            let fallback_code = match status.as_str() {
                "requires_action" => "authentication_required",
                "canceled" => "canceled",
                _ => "payment_failed",
            };
            let fallback_message = match status.as_str() {
                "requires_action" => "The payment needs the customer to authenticate it.",
                "canceled" => "The payment was canceled.",
                _ => "The payment failed; another payment method is needed.",
            };
            Ok(ChargeOutcome::Declined {
                provider_payment_id: Some(id),
                code: error_str("code").unwrap_or_else(|| fallback_code.into()),
                decline_code: error_str("decline_code"),
                message: error_str("message").unwrap_or_else(|| fallback_message.into()),
            })
        }
        other => Err(ProviderError::InvalidResponse(format!("payment intent {id} has unexpected status {other:?}"))),
    }
}

fn parse_payment_method(v: &Value) -> Result<PaymentMethodInfo, String> {
    let id = str_field(v, "id")?;
    let kind = str_field(v, "type")?;
    let details = v.get(&kind);
    let s = |key: &str| details.and_then(|d| d.get(key)).and_then(Value::as_str).map(str::to_owned);
    let n = |key: &str| details.and_then(|d| d.get(key)).and_then(Value::as_u64);
    Ok(match kind.as_str() {
        "card" => {
            let exp = match (n("exp_month"), n("exp_year")) {
                (Some(m @ 1..=12), Some(y)) => u16::try_from(y).ok().map(|year| CardExpiry { month: m as u8, year }),
                _ => None,
            };
            PaymentMethodInfo { id, kind: PaymentMethodKind::Card, brand: s("brand"), last4: s("last4"), exp }
        }
        "us_bank_account" => PaymentMethodInfo {
            id,
            kind: PaymentMethodKind::UsBankAccount,
            brand: s("bank_name"),
            last4: s("last4"),
            exp: None,
        },
        _ => PaymentMethodInfo { id, kind: PaymentMethodKind::Other(kind), brand: None, last4: s("last4"), exp: None },
    })
}

fn customer_params(c: &CustomerRef) -> Vec<(String, String)> {
    // An empty value clears the field at Stripe.
    vec![("name".into(), c.name.clone()), ("email".into(), c.email.clone().unwrap_or_default())]
}

fn str_field(v: &Value, key: &str) -> Result<String, String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("no string {key:?} in Stripe's answer"))
}

/// Stripe ids are `[A-Za-z0-9_]`; anything else would change the URL path.
fn path_id<'a>(id: &'a str, what: &str) -> Result<&'a str, ProviderError> {
    if !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(id)
    } else {
        Err(ProviderError::InvalidRequest(format!("{what} id {id:?} is not a Stripe id")))
    }
}

fn key_kind(key: &str) -> Result<&'static str, ProviderError> {
    const KINDS: [&str; 4] = ["sk_live", "sk_test", "rk_live", "rk_test"];
    if key.is_empty() {
        return Err(ProviderError::Config("Stripe API key is empty".into()));
    }
    if key.starts_with("pk_") {
        return Err(ProviderError::Config(
            "a publishable key (pk_...) was given; autopay needs a secret (sk_...) or restricted (rk_...) key".into(),
        ));
    }
    if key.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(ProviderError::Config("Stripe API key has whitespace or non-ASCII characters".into()));
    }
    KINDS.into_iter().find(|k| key.starts_with(&format!("{k}_"))).ok_or_else(|| {
        ProviderError::Config("Stripe API key must start with sk_live_, sk_test_, rk_live_ or rk_test_".into())
    })
}

fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The source chain has the useful part (refused, reset, TLS); the URL
    // carries ids only, never the key.
    let mut msg = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if text.is_empty() { "(empty)".into() } else { text }
}

/// FNV-1a over the params: a stable (cross-version) fingerprint for keys.
fn fnv1a(params: &[(String, String)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in params {
        for b in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_never_shows_the_key() {
        let c = StripeClient::new("sk_test_51Hsecretsecretsecret", None).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("sk_test_[redacted]") && dbg.contains("https://api.stripe.com"), "{dbg}");
        assert_eq!(c.mode(), "test");
        assert_eq!(StripeClient::new("rk_live_abc", None).unwrap().mode(), "live");
    }

    #[test]
    fn bad_configuration_is_refused_without_echoing_the_key() {
        for key in ["", "pk_test_abc", "sk_test_a b", "whsec_abc", "sk_test_é"] {
            let e = StripeClient::new(key, None).unwrap_err();
            assert!(matches!(e, ProviderError::Config(_)), "{key}: {e}");
            if key.len() > 3 {
                assert!(!e.to_string().contains(key), "{e}");
            }
        }
        for url in ["http://api.stripe.com", "ftp://x", "not a url", "http://10.0.0.1:80", "https://u:p@h/"] {
            assert!(matches!(StripeClient::new("sk_test_x", Some(url)), Err(ProviderError::Config(_))), "{url}");
        }
        for url in ["http://127.0.0.1:1234", "http://localhost:9/", "http://[::1]:5", "https://stripe.example/api/"] {
            StripeClient::new("sk_test_x", Some(url)).unwrap();
        }
        let c = StripeClient::new("sk_test_x", Some("https://stripe.example/api/")).unwrap();
        assert_eq!(c.url("/v1/customers").as_str(), "https://stripe.example/api/v1/customers");
        let c = StripeClient::new("sk_test_x", None).unwrap();
        assert_eq!(c.url("/v1/customers").as_str(), "https://api.stripe.com/v1/customers");
    }

    #[test]
    fn ids_are_checked_before_they_reach_a_path() {
        assert!(path_id("cus_Abc123", "customer").is_ok());
        for bad in ["", "../v1/charges", "cus_1/attach", "pm 1", "pm_1?x=1"] {
            assert!(matches!(path_id(bad, "x"), Err(ProviderError::InvalidRequest(_))), "{bad}");
        }
    }

    #[test]
    fn payment_intent_statuses_map_to_outcomes() {
        let pi = |status: &str, err: Value| json!({"id": "pi_1", "status": status, "last_payment_error": err});
        assert_eq!(
            payment_intent_outcome(&pi("succeeded", Value::Null)).unwrap(),
            ChargeOutcome::Succeeded { provider_payment_id: "pi_1".into() }
        );
        assert_eq!(
            payment_intent_outcome(&pi("processing", Value::Null)).unwrap(),
            ChargeOutcome::Processing { provider_payment_id: "pi_1".into() }
        );
        let err = json!({"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                         "message": "Your card has insufficient funds."});
        assert_eq!(
            payment_intent_outcome(&pi("requires_payment_method", err)).unwrap(),
            ChargeOutcome::Declined {
                provider_payment_id: Some("pi_1".into()),
                code: "card_declined".into(),
                decline_code: Some("insufficient_funds".into()),
                message: "Your card has insufficient funds.".into(),
            }
        );
        let ChargeOutcome::Declined { code, .. } = payment_intent_outcome(&pi("requires_action", Value::Null)).unwrap()
        else {
            panic!()
        };
        assert_eq!(code, "authentication_required");
        assert!(matches!(
            payment_intent_outcome(&pi("requires_capture", Value::Null)),
            Err(ProviderError::InvalidResponse(_))
        ));
        assert!(matches!(payment_intent_outcome(&json!({"id": "pi_1"})), Err(ProviderError::InvalidResponse(_))));
    }

    #[test]
    fn card_errors_become_declines() {
        let body = json!({"error": {"type": "card_error", "code": "expired_card", "decline_code": "expired_card",
                          "message": "Your card has expired.", "payment_intent": {"id": "pi_9", "status": "requires_payment_method"}}});
        let e: ErrorEnvelope = serde_json::from_value(body).unwrap();
        assert_eq!(
            declined_from_error(e.error),
            ChargeOutcome::Declined {
                provider_payment_id: Some("pi_9".into()),
                code: "expired_card".into(),
                decline_code: Some("expired_card".into()),
                message: "Your card has expired.".into(),
            }
        );
    }

    #[test]
    fn payment_methods_parse() {
        let card = json!({"id": "pm_1", "object": "payment_method", "type": "card",
                          "card": {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2031}});
        assert_eq!(
            parse_payment_method(&card).unwrap(),
            PaymentMethodInfo {
                id: "pm_1".into(),
                kind: PaymentMethodKind::Card,
                brand: Some("visa".into()),
                last4: Some("4242".into()),
                exp: Some(CardExpiry { month: 8, year: 2031 }),
            }
        );
        let bank = json!({"id": "pm_2", "type": "us_bank_account",
                          "us_bank_account": {"bank_name": "STRIPE TEST BANK", "last4": "6789"}});
        let info = parse_payment_method(&bank).unwrap();
        assert_eq!(
            (info.kind, info.brand.as_deref(), info.exp),
            (PaymentMethodKind::UsBankAccount, Some("STRIPE TEST BANK"), None)
        );
        let other = json!({"id": "pm_3", "type": "sepa_debit", "sepa_debit": {"last4": "3000"}});
        assert_eq!(parse_payment_method(&other).unwrap().kind, PaymentMethodKind::Other("sepa_debit".into()));
        assert!(parse_payment_method(&json!({"type": "card"})).is_err());
    }

    #[test]
    fn errors_keep_stripe_details() {
        let api = |status, t: &str| {
            Failure::Api(ApiFailure {
                status,
                error: StripeError {
                    error_type: t.into(),
                    code: Some("resource_missing".into()),
                    message: "No such customer: 'cus_x'".into(),
                    param: Some("customer".into()),
                    ..StripeError::default()
                },
                should_retry: None,
                retry_after: Some(Duration::from_secs(3)),
                request_id: Some("req_1".into()),
            })
        };
        let e = api(404, "invalid_request_error").into_error();
        assert_eq!(
            e.to_string(),
            "payment provider answered HTTP 404 (invalid_request_error, resource_missing): \
             No such customer: 'cus_x' (param customer) [req_1]"
        );
        assert!(!e.is_retryable());
        assert_eq!(
            api(429, "rate_limit_error").into_error(),
            ProviderError::RateLimited { retry_after: Some(Duration::from_secs(3)) }
        );
        assert!(api(503, "api_error").into_error().is_retryable());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = StripeClient::new("sk_test_x", None).unwrap().with_retries(5, Duration::from_millis(400));
        let d0 = c.backoff_for(0, None);
        assert!(d0 >= Duration::from_millis(300) && d0 <= Duration::from_millis(400), "{d0:?}");
        let d2 = c.backoff_for(2, None);
        assert!(d2 >= Duration::from_millis(1200) && d2 <= Duration::from_millis(1600), "{d2:?}");
        assert!(c.backoff_for(30, None) <= MAX_BACKOFF);
        assert_eq!(c.backoff_for(0, Some(Duration::from_secs(4))), Duration::from_secs(4));
        assert_eq!(c.backoff_for(0, Some(Duration::from_secs(600))), MAX_BACKOFF);
    }

    #[test]
    fn customer_key_depends_on_the_data() {
        let a = vec![("name".to_owned(), "Ann".to_owned())];
        let b = vec![("name".to_owned(), "Anne".to_owned())];
        assert_ne!(fnv1a(&a), fnv1a(&b));
        assert_eq!(fnv1a(&a), fnv1a(&a.clone()));
    }
}

//! HTTP: staff pages (server-rendered, every asset served from the binary),
//! the JSON API under `/api/v1`, and Prometheus `/metrics`.
//!
//! Access control is one table, [`ROUTES`]: the router is built from it, so a
//! route cannot exist without a stated policy, and each route's policy is
//! enforced by the same middleware ([`authorize`]). Pages authenticate with a
//! session cookie (and a CSRF token on every state change); the API only with
//! bearer tokens (so it needs no CSRF defence).
//!
//! Invariants: every response carries the security headers; a missing or bad
//! credential is a 401 (API) or a redirect to the login page, a wrong role a
//! 403, never a 500; internal errors are logged and answered without details.

// The stores and services under their domain names, for this crate's own paths.
use mast_app::metrics;
use mast_store::{audit, auth, db, fleet, monitoring, outbox as notify, portal as portal_accounts, staff};

pub mod admin;
pub mod alerts;
pub mod api;
pub mod assets;
pub mod availability;
pub mod billing;
pub mod cards;
pub mod catalog;
pub mod client;
pub mod customers;
pub mod dispatch;
pub mod dunning;
pub mod error;
pub mod import;
pub mod incidents;
pub mod invoices;
pub mod links;
pub mod login;
pub mod maintenance;
pub mod network;
pub mod outbox;
pub mod pages;
pub mod payments;
pub mod portal;
pub mod rollouts;
pub mod runs;
pub mod server;
pub mod service;
pub mod settings;
pub mod stock;
pub mod support;
pub use mast_ops_core::throttle;
pub mod tickets;
pub mod ui;

use crate::metrics::Metrics;
use crate::staff::Role;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
pub use error::ApiError;
use mast_app::App;
use std::sync::{Arc, Mutex};

/// What every handler gets: the [`App`] context (database, settings,
/// transports, payments, metrics; reached through `Deref`) and what only the
/// web layer keeps.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub web: Arc<WebState>,
}

/// The web layer's own state.
pub struct WebState {
    /// Staff logins.
    pub throttle: Mutex<throttle::Throttle>,
    /// Portal sign-ins and sign-in links: their own bucket, so a flood of
    /// customer attempts never slows the staff (and the reverse).
    pub portal_throttle: Mutex<throttle::Throttle>,
    /// Sign-in link requests: every request counts (a few per address and
    /// per client, then a growing delay).
    pub link_throttle: Mutex<throttle::Throttle>,
    /// The controller CA's fingerprint (shown for agent enrollment).
    pub ca_fingerprint: String,
    /// The QUIC port agents connect to.
    pub quic_port: u16,
    /// Base URL for links in emails (magic links, invoices).
    pub public_url: String,
}

impl AppState {
    /// The state for a controller whose web UI is reachable at `http` and
    /// whose agents connect to `quic_port`.
    pub fn new(app: App, http: std::net::SocketAddr, quic_port: u16) -> AppState {
        let public_url = app.settings.http.public_url.clone().unwrap_or_else(|| format!("http://{http}"));
        let web = WebState {
            throttle: Mutex::new(throttle::Throttle::new(Default::default())),
            portal_throttle: Mutex::new(throttle::Throttle::new(Default::default())),
            link_throttle: Mutex::new(throttle::Throttle::new(throttle::Limits {
                free_pair: 3,
                free_ip: 10,
                free_account: 5,
                base_delay_ms: 60_000,
                max_account_delay_ms: 15 * 60_000,
                ..Default::default()
            })),
            ca_fingerprint: app.pki.ca_fingerprint(),
            quic_port,
            public_url,
        };
        AppState { app, web: Arc::new(web) }
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

/// The billing part of a customer's portal home page (balance, invoices,
/// payments, autopay); empty until billing has data for them.
pub async fn billing_portal_section(st: &AppState, c: &portal::Customer) -> Result<ui::Markup, ApiError> {
    billing::portal_section(st, c).await
}

/// Who is calling, set by [`authorize`] for every non-public route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Email of a staff member, or `token:<name>` for an API token.
    pub name: String,
    pub role: Role,
    pub user_id: Option<i64>,
    /// The session's CSRF token (pages only).
    pub csrf: Option<String>,
    pub ip: Option<String>,
    /// The request path (pages mark the current navigation entry with it).
    pub path: String,
    /// Messages waiting for an unconfigured channel (pages show a banner).
    pub waiting: notify::Waiting,
}

impl Caller {
    pub fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor { name: self.name.clone(), ip: self.ip.clone() }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "not logged in"))
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    Public,
    Roles(&'static [Role]),
    /// A customer signed in to the portal (pages only).
    Customer,
}

pub const EVERYONE: &[Role] = Role::ALL;
pub const ADMIN: &[Role] = &[Role::Admin];

/// Kind of caller a route serves: pages use cookies, the API bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Page,
    Api,
}

pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub kind: Kind,
    pub access: Access,
    pub handler: fn() -> MethodRouter<AppState>,
}

macro_rules! routes {
    ($($m:ident $path:literal $kind:ident $access:expr => $h:expr;)*) => {
        /// Every route, its kind and who may call it: the single source of
        /// the router and of the route x role test.
        pub const ROUTES: &[RouteSpec] = &[$(RouteSpec {
            method: Method::$m,
            path: $path,
            kind: Kind::$kind,
            access: $access,
            handler: || $h,
        }),*];
    };
}

routes! {
    GET "/api/v1/health" Api Access::Public => get(api::health);
    GET "/api/v1/openapi.json" Api Access::Public => get(api::openapi);
    GET "/metrics" Api Access::Public => get(api::metrics);
    GET "/api/v1/sites" Api Access::Roles(EVERYONE) => get(api::sites);
    POST "/api/v1/sites" Api Access::Roles(ADMIN) => post(api::add_site);
    GET "/api/v1/agents" Api Access::Roles(EVERYONE) => get(api::agents);
    POST "/api/v1/agents" Api Access::Roles(ADMIN) => post(api::add_agent);
    POST "/api/v1/agents/{id}/revoke" Api Access::Roles(ADMIN) => post(api::revoke_agent);
    GET "/api/v1/agents/{id}/delivery" Api Access::Roles(EVERYONE) => get(api::delivery);
    GET "/api/v1/rollouts/{id}" Api Access::Roles(EVERYONE) => get(rollouts::api_status);
    GET "/api/v1/devices" Api Access::Roles(EVERYONE) => get(api::devices);
    GET "/api/v1/devices/{id}" Api Access::Roles(EVERYONE) => get(api::device);
    GET "/api/v1/devices/{id}/series" Api Access::Roles(EVERYONE) => get(api::series);
    GET "/api/v1/devices/{id}/links" Api Access::Roles(EVERYONE) => get(links::api_device);
    GET "/api/v1/links/weak" Api Access::Roles(EVERYONE) => get(links::api_weak);
    GET "/api/v1/sites/{id}/inventory" Api Access::Roles(EVERYONE) => get(api::site_inventory);
    GET "/api/v1/sites/{id}/probing" Api Access::Roles(EVERYONE) => get(api::probing);
    POST "/api/v1/sites/{id}/probing" Api Access::Roles(ADMIN) => post(api::set_probing);
    GET "/api/v1/inventory" Api Access::Roles(EVERYONE) => get(api::inventory_search);
    GET "/api/v1/customers" Api Access::Roles(EVERYONE) => get(customers::api_list);
    POST "/api/v1/customers" Api Access::Roles(customers::EDITORS) => post(customers::api_create);
    GET "/api/v1/customers/{id}" Api Access::Roles(EVERYONE) => get(customers::api_get);
    POST "/api/v1/customers/{id}" Api Access::Roles(customers::EDITORS) => post(customers::api_update);
    POST "/api/v1/customers/{id}/cpes" Api Access::Roles(customers::EDITORS) => post(customers::api_link);
    GET "/api/v1/availability" Api Access::Roles(EVERYONE) => get(availability::api);
    GET "/api/v1/incidents" Api Access::Roles(EVERYONE) => get(incidents::api_list);
    GET "/api/v1/incidents/{id}" Api Access::Roles(EVERYONE) => get(incidents::api_get);
    GET "/api/v1/maintenance" Api Access::Roles(EVERYONE) => get(maintenance::api_list);
    POST "/api/v1/maintenance" Api Access::Roles(maintenance::PLANNERS) => post(maintenance::api_create);
    POST "/api/v1/maintenance/{id}/cancel" Api Access::Roles(maintenance::PLANNERS) => post(maintenance::api_cancel);
    POST "/api/v1/billing/stripe/webhook" Api Access::Public => post(billing::stripe_webhook);
    GET "/api/v1/tickets" Api Access::Roles(EVERYONE) => get(tickets::api_list);
    POST "/api/v1/tickets" Api Access::Roles(tickets::AGENTS) => post(tickets::api_create);
    GET "/api/v1/tickets/{id}" Api Access::Roles(EVERYONE) => get(tickets::api_get);
    POST "/api/v1/tickets/{id}/actions" Api Access::Roles(tickets::AGENTS) => post(tickets::api_act);
    GET "/api/v1/users" Api Access::Roles(ADMIN) => get(api::users);
    GET "/api/v1/audit" Api Access::Roles(ADMIN) => get(api::audit);
    GET "/login" Page Access::Public => get(login::login_form);
    POST "/login" Page Access::Public => post(login::login);
    GET "/assets/{*file}" Page Access::Public => get(assets::serve);
    POST "/logout" Page Access::Roles(EVERYONE) => post(login::logout);
    GET "/" Page Access::Roles(EVERYONE) => get(network::dashboard);
    GET "/sites" Page Access::Roles(EVERYONE) => get(network::sites);
    GET "/sites/map" Page Access::Roles(EVERYONE) => get(network::sites_map);
    GET "/sites/map.json" Page Access::Roles(EVERYONE) => get(network::sites_map_json);
    GET "/sites/new" Page Access::Roles(ADMIN) => get(network::site_form::new_site);
    POST "/sites" Page Access::Roles(ADMIN) => post(network::site_form::create_site);
    GET "/sites/{id}" Page Access::Roles(EVERYONE) => get(network::site);
    GET "/sites/{id}/edit" Page Access::Roles(ADMIN) => get(network::site_form::edit_site);
    POST "/sites/{id}" Page Access::Roles(ADMIN) => post(network::site_form::save_site);
    POST "/sites/{id}/delete" Page Access::Roles(ADMIN) => post(network::site_form::delete_site);
    GET "/sites/{id}/inventory" Page Access::Roles(EVERYONE) => get(network::site_inventory);
    GET "/sites/{id}/uplinks" Page Access::Roles(network::device_form::EDITORS) => get(network::uplinks::edit);
    POST "/sites/{id}/uplinks" Page Access::Roles(network::device_form::EDITORS) => post(network::uplinks::save);
    GET "/sites/{id}/contacts" Page Access::Roles(ADMIN) => get(alerts::contacts);
    POST "/sites/{id}/contacts" Page Access::Roles(ADMIN) => post(alerts::add_contact);
    POST "/sites/{id}/contacts/{contact}/delete" Page Access::Roles(ADMIN) => post(alerts::delete_contact);
    GET "/alerts/rules" Page Access::Roles(EVERYONE) => get(alerts::alerts);
    POST "/alerts/rules" Page Access::Roles(ADMIN) => post(alerts::add_rule);
    POST "/alerts/rules/{id}/enable" Page Access::Roles(ADMIN) => post(alerts::enable_rule);
    POST "/alerts/rules/{id}/disable" Page Access::Roles(ADMIN) => post(alerts::disable_rule);
    POST "/alerts/rules/{id}/delete" Page Access::Roles(ADMIN) => post(alerts::delete_rule);
    GET "/devices" Page Access::Roles(EVERYONE) => get(network::devices);
    GET "/devices/{id}" Page Access::Roles(EVERYONE) => get(network::device);
    GET "/devices/{id}/edit" Page Access::Roles(network::device_form::EDITORS) => get(network::device_form::edit);
    POST "/devices/{id}/edit" Page Access::Roles(network::device_form::EDITORS) => post(network::device_form::save);
    POST "/devices/{id}/retire" Page Access::Roles(network::device_form::EDITORS) => post(network::device_form::retire);
    POST "/devices/{id}/restore" Page Access::Roles(network::device_form::EDITORS) => post(network::device_form::restore);
    GET "/devices/{id}/chart.svg" Page Access::Roles(EVERYONE) => get(network::chart);
    GET "/devices/{id}/signal.svg" Page Access::Roles(EVERYONE) => get(network::signal_chart);
    GET "/devices/{id}/series.json" Page Access::Roles(EVERYONE) => get(network::series_json);
    GET "/devices/{id}/signal.json" Page Access::Roles(EVERYONE) => get(network::signal_json);
    GET "/devices/{id}/link.json" Page Access::Roles(EVERYONE) => get(links::link_json);
    GET "/network/links" Page Access::Roles(EVERYONE) => get(links::weak_page);
    GET "/live/dashboard" Page Access::Roles(EVERYONE) => get(network::dashboard_live);
    GET "/live/sites/{id}/devices" Page Access::Roles(EVERYONE) => get(network::site_devices_live);
    GET "/live/incidents" Page Access::Roles(EVERYONE) => get(incidents::list_live);
    GET "/customers" Page Access::Roles(EVERYONE) => get(customers::list_page);
    POST "/customers" Page Access::Roles(customers::EDITORS) => post(customers::create_page);
    GET "/customers/{id}" Page Access::Roles(EVERYONE) => get(customers::page);
    POST "/customers/{id}" Page Access::Roles(customers::EDITORS) => post(customers::update_page);
    POST "/customers/{id}/cpes" Page Access::Roles(customers::EDITORS) => post(customers::link_page);
    GET "/incidents" Page Access::Roles(EVERYONE) => get(incidents::list_page);
    GET "/incidents/{id}" Page Access::Roles(EVERYONE) => get(incidents::page);
    POST "/incidents/{id}/ack" Page Access::Roles(incidents::RESPONDERS) => post(incidents::acknowledge);
    POST "/incidents/{id}/notes" Page Access::Roles(incidents::RESPONDERS) => post(incidents::add_note);
    POST "/incidents/{id}/update" Page Access::Roles(incidents::RESPONDERS) => post(incidents::send_update);
    POST "/incidents/{id}/close" Page Access::Roles(incidents::RESPONDERS) => post(incidents::close);
    GET "/maintenance" Page Access::Roles(EVERYONE) => get(maintenance::page);
    POST "/maintenance" Page Access::Roles(maintenance::PLANNERS) => post(maintenance::create_page);
    POST "/maintenance/{id}/cancel" Page Access::Roles(maintenance::PLANNERS) => post(maintenance::cancel_page);
    GET "/alerts" Page Access::Roles(EVERYONE) => get(incidents::alerts_page);
    GET "/reports/availability" Page Access::Roles(EVERYONE) => get(availability::page_get);
    GET "/reports/availability.csv" Page Access::Roles(EVERYONE) => get(availability::csv);
    GET "/settings" Page Access::Roles(ADMIN) => get(settings::page_get);
    POST "/settings" Page Access::Roles(ADMIN) => post(settings::save);
    POST "/settings/logo" Page Access::Roles(ADMIN) => post(settings::upload_logo);
    POST "/settings/logo/delete" Page Access::Roles(ADMIN) => post(settings::delete_logo);
    GET "/brand/logo" Page Access::Public => get(settings::logo);
    POST "/settings/restart" Page Access::Roles(ADMIN) => post(settings::restart);
    POST "/settings/mail-test" Page Access::Roles(ADMIN) => post(settings::mail_test);
    GET "/outbox" Page Access::Roles(outbox::READERS) => get(outbox::page);
    GET "/tickets" Page Access::Roles(EVERYONE) => get(tickets::list_page);
    POST "/tickets" Page Access::Roles(tickets::AGENTS) => post(tickets::create_page);
    GET "/tickets/{id}" Page Access::Roles(EVERYONE) => get(tickets::page);
    POST "/tickets/{id}/act" Page Access::Roles(tickets::AGENTS) => post(tickets::act_page);
    POST "/tickets/{id}/assign" Page Access::Roles(tickets::AGENTS) => post(tickets::assign_page);
    POST "/tickets/{id}/group" Page Access::Roles(tickets::AGENTS) => post(tickets::group_page);
    GET "/canned" Page Access::Roles(tickets::AGENTS) => get(support::canned_page);
    POST "/canned" Page Access::Roles(tickets::AGENTS) => post(support::save_canned);
    POST "/canned/{id}/delete" Page Access::Roles(tickets::AGENTS) => post(support::delete_canned);
    GET "/groups" Page Access::Roles(ADMIN) => get(support::groups_page);
    POST "/groups" Page Access::Roles(ADMIN) => post(support::create_group);
    POST "/groups/{id}/members" Page Access::Roles(ADMIN) => post(support::add_member);
    POST "/groups/{id}/members/{user}/remove" Page Access::Roles(ADMIN) => post(support::remove_member);
    GET "/portal/login" Page Access::Public => get(portal::login_form);
    POST "/portal/login" Page Access::Public => post(portal::login);
    POST "/portal/magic" Page Access::Public => post(portal::request_link);
    GET "/portal/magic/{token}" Page Access::Public => get(portal::confirm_link);
    POST "/portal/magic/{token}" Page Access::Public => post(portal::use_link);
    POST "/portal/logout" Page Access::Customer => post(portal::logout);
    GET "/portal" Page Access::Customer => get(portal::home);
    GET "/portal/password" Page Access::Customer => get(portal::password_form);
    POST "/portal/password" Page Access::Customer => post(portal::set_password);
    GET "/portal/tickets/new" Page Access::Customer => get(portal::new_ticket_form);
    POST "/portal/tickets" Page Access::Customer => post(portal::create_ticket);
    POST "/portal/plan-request" Page Access::Customer => post(portal::request_plan);
    GET "/portal/tickets/{id}" Page Access::Customer => get(portal::ticket);
    POST "/portal/tickets/{id}/reply" Page Access::Customer => post(portal::reply);
    POST "/customers/{id}/payments" Page Access::Roles(billing::CASHIERS) => post(billing::record_payment);
    GET "/customers/{id}/service" Page Access::Roles(billing::BILLING_READERS) => get(service::show);
    POST "/customers/{id}/service/account" Page Access::Roles(billing::CASHIERS) => post(service::open_account);
    GET "/customers/{id}/service/account/change" Page Access::Roles(billing::CASHIERS) => get(service::account_change_form);
    POST "/customers/{id}/service/account/change" Page Access::Roles(billing::CASHIERS) => post(service::account_change);
    POST "/customers/{id}/service/subscribe" Page Access::Roles(billing::CASHIERS) => post(service::subscribe);
    POST "/customers/{id}/service/hold" Page Access::Roles(billing::CASHIERS) => post(service::hold);
    POST "/customers/{id}/service/charge" Page Access::Roles(billing::CASHIERS) => post(service::charge);
    POST "/customers/{id}/service/discount" Page Access::Roles(billing::CASHIERS) => post(service::discount);
    POST "/customers/{id}/service/{sub}/cancel" Page Access::Roles(billing::CASHIERS) => post(service::cancel);
    GET "/customers/{id}/service/{sub}/change" Page Access::Roles(billing::CASHIERS) => get(service::change_form);
    POST "/customers/{id}/service/{sub}/change" Page Access::Roles(billing::CASHIERS) => post(service::change);
    GET "/billing/runs" Page Access::Roles(runs::RUNNERS) => get(runs::runs);
    POST "/billing/runs" Page Access::Roles(runs::RUNNERS) => post(runs::run);
    GET "/billing/runs/{id}" Page Access::Roles(runs::RUNNERS) => get(runs::show_run);
    GET "/billing/runs/{id}/status" Page Access::Roles(runs::RUNNERS) => get(runs::run_status);
    GET "/billing/bank" Page Access::Roles(runs::RUNNERS) => get(runs::bank);
    POST "/billing/bank" Page Access::Roles(runs::RUNNERS) => post(runs::import_bank);
    GET "/import" Page Access::Roles(import::IMPORTERS) => get(import::page_get);
    POST "/import" Page Access::Roles(import::IMPORTERS) => post(import::upload).layer(axum::extract::DefaultBodyLimit::max(import::MAX_IMPORT_UPLOAD));
    POST "/import/run" Page Access::Roles(import::IMPORTERS) => post(import::run);
    GET "/export/customers.csv" Page Access::Roles(import::IMPORTERS) => get(import::export_customers);
    GET "/export/services.csv" Page Access::Roles(import::IMPORTERS) => get(import::export_services);
    GET "/export/devices.csv" Page Access::Roles(import::IMPORTERS) => get(import::export_devices);
    GET "/billing/plans" Page Access::Roles(catalog::READERS) => get(catalog::plans);
    POST "/billing/plans" Page Access::Roles(catalog::EDITORS) => post(catalog::add_plan);
    GET "/billing/plans/{id}" Page Access::Roles(catalog::READERS) => get(catalog::plan);
    POST "/billing/plans/{id}" Page Access::Roles(catalog::EDITORS) => post(catalog::save_plan);
    POST "/billing/plans/{id}/archive" Page Access::Roles(catalog::EDITORS) => post(catalog::archive_plan);
    POST "/billing/plans/{id}/restore" Page Access::Roles(catalog::EDITORS) => post(catalog::restore_plan);
    POST "/billing/plans/{id}/delete" Page Access::Roles(catalog::EDITORS) => post(catalog::delete_plan);
    GET "/billing/taxes" Page Access::Roles(catalog::READERS) => get(catalog::taxes);
    POST "/billing/taxes" Page Access::Roles(catalog::EDITORS) => post(catalog::add_tax);
    GET "/billing/taxes/{id}" Page Access::Roles(catalog::READERS) => get(catalog::tax);
    POST "/billing/taxes/{id}" Page Access::Roles(catalog::EDITORS) => post(catalog::save_tax);
    POST "/billing/taxes/{id}/delete" Page Access::Roles(catalog::EDITORS) => post(catalog::delete_tax);
    GET "/billing/reports" Page Access::Roles(billing::CASHIERS) => get(billing::reports_page);
    GET "/invoices/{id}" Page Access::Roles(billing::BILLING_READERS) => get(invoices::show);
    POST "/invoices/{id}/credit" Page Access::Roles(billing::CASHIERS) => post(invoices::credit);
    POST "/invoices/{id}/void" Page Access::Roles(billing::CASHIERS) => post(invoices::void);
    POST "/invoices/{id}/write-off" Page Access::Roles(billing::CASHIERS) => post(invoices::write_off);
    GET "/billing/invoices" Page Access::Roles(invoices::READERS) => get(invoices::list);
    GET "/credit-notes/{id}" Page Access::Roles(invoices::READERS) => get(invoices::credit_note);
    GET "/credit-notes/{id}/pdf" Page Access::Roles(invoices::READERS) => get(invoices::credit_note_pdf);
    GET "/portal/credit-notes/{id}/pdf" Page Access::Customer => get(invoices::portal_credit_note_pdf);
    GET "/billing/dunning" Page Access::Roles(dunning::DESK) => get(dunning::show);
    POST "/billing/dunning/{id}/postpone" Page Access::Roles(dunning::DESK) => post(dunning::postpone);
    POST "/billing/dunning/customers/{id}/reactivate" Page Access::Roles(dunning::DESK) => post(dunning::reactivate);
    POST "/billing/dunning/fees/{id}/waive" Page Access::Roles(dunning::DESK) => post(dunning::waive);
    GET "/billing/payments" Page Access::Roles(billing::BILLING_READERS) => get(payments::list);
    GET "/payments/{id}" Page Access::Roles(billing::BILLING_READERS) => get(payments::show);
    POST "/payments/{id}/refund" Page Access::Roles(billing::CASHIERS) => post(payments::refund);
    GET "/portal/invoices/{id}" Page Access::Customer => get(billing::portal_invoice);
    GET "/invoices/{id}/pdf" Page Access::Roles(billing::BILLING_READERS) => get(billing::staff_pdf);
    GET "/portal/invoices/{id}/pdf" Page Access::Customer => get(billing::portal_pdf);
    POST "/portal/pay" Page Access::Customer => post(billing::portal_pay);
    POST "/portal/card" Page Access::Customer => post(cards::portal_start);
    GET "/portal/card/done" Page Access::Customer => get(cards::portal_done);
    POST "/customers/{id}/card-link" Page Access::Roles(cards::SENDERS) => post(cards::send_link);
    GET "/card/saved" Page Access::Public => get(cards::public_saved);
    GET "/card/cancelled" Page Access::Public => get(cards::public_cancelled);
    POST "/portal/autopay" Page Access::Customer => post(billing::portal_autopay);
    POST "/customers/{id}/portal" Page Access::Roles(customers::EDITORS) => post(customers::portal_invite);
    GET "/agents" Page Access::Roles(EVERYONE) => get(network::agents);
    POST "/agents" Page Access::Roles(ADMIN) => post(network::enroll_agent);
    GET "/agents/{id}" Page Access::Roles(EVERYONE) => get(network::agent);
    POST "/agents/{id}/revoke" Page Access::Roles(ADMIN) => post(network::revoke_agent);
    GET "/fleet/rollouts" Page Access::Roles(EVERYONE) => get(rollouts::rollouts_page);
    POST "/fleet/rollouts" Page Access::Roles(ADMIN) => post(rollouts::start);
    GET "/fleet/rollouts/{id}" Page Access::Roles(EVERYONE) => get(rollouts::show);
    GET "/fleet/rollouts/{id}/status" Page Access::Roles(EVERYONE) => get(rollouts::status);
    POST "/fleet/rollouts/{id}/pause" Page Access::Roles(ADMIN) => post(rollouts::pause);
    POST "/fleet/rollouts/{id}/resume" Page Access::Roles(ADMIN) => post(rollouts::resume);
    POST "/fleet/rollouts/{id}/abort" Page Access::Roles(ADMIN) => post(rollouts::abort);
    GET "/stock" Page Access::Roles(EVERYONE) => get(stock::overview);
    GET "/stock/units/{id}" Page Access::Roles(EVERYONE) => get(stock::unit_page);
    GET "/stock/movements" Page Access::Roles(EVERYONE) => get(stock::movements_page);
    GET "/stock/movements.csv" Page Access::Roles(EVERYONE) => get(stock::transfer::export_movements);
    GET "/stock/export.csv" Page Access::Roles(EVERYONE) => get(stock::transfer::export_stock);
    GET "/stock/move" Page Access::Roles(stock::KEEPERS) => get(stock::moves::move_get);
    POST "/stock/move" Page Access::Roles(stock::KEEPERS) => post(stock::moves::move_post);
    GET "/stock/receive" Page Access::Roles(stock::KEEPERS) => get(stock::moves::receive_get);
    POST "/stock/receive" Page Access::Roles(stock::KEEPERS) => post(stock::moves::receive_post);
    GET "/stock/models" Page Access::Roles(EVERYONE) => get(stock::catalog::models_get);
    POST "/stock/models" Page Access::Roles(stock::MANAGERS) => post(stock::catalog::models_post);
    GET "/stock/models/{id}" Page Access::Roles(EVERYONE) => get(stock::catalog::model_get);
    POST "/stock/models/{id}" Page Access::Roles(stock::MANAGERS) => post(stock::catalog::model_post);
    GET "/stock/locations" Page Access::Roles(EVERYONE) => get(stock::catalog::locations_get);
    POST "/stock/locations" Page Access::Roles(stock::MANAGERS) => post(stock::catalog::locations_post);
    GET "/stock/locations/{id}" Page Access::Roles(EVERYONE) => get(stock::catalog::location_get);
    POST "/stock/locations/{id}/delete" Page Access::Roles(stock::MANAGERS) => post(stock::catalog::location_delete);
    GET "/stock/reconcile" Page Access::Roles(EVERYONE) => get(stock::reconcile::page_get);
    POST "/stock/reconcile/run" Page Access::Roles(stock::KEEPERS) => post(stock::reconcile::run);
    POST "/stock/reconcile/ignore" Page Access::Roles(stock::KEEPERS) => post(stock::reconcile::ignore);
    GET "/stock/needs" Page Access::Roles(EVERYONE) => get(stock::orders::needs_page);
    GET "/stock/needs.csv" Page Access::Roles(EVERYONE) => get(stock::orders::needs_csv);
    GET "/stock/orders" Page Access::Roles(EVERYONE) => get(stock::orders::orders_get);
    POST "/stock/orders" Page Access::Roles(stock::MANAGERS) => post(stock::orders::orders_post);
    GET "/stock/orders/{id}" Page Access::Roles(EVERYONE) => get(stock::orders::order_get);
    POST "/stock/orders/{id}/act" Page Access::Roles(stock::MANAGERS) => post(stock::orders::order_act);
    GET "/stock/import" Page Access::Roles(stock::MANAGERS) => get(stock::transfer::page_get);
    POST "/stock/import" Page Access::Roles(stock::MANAGERS) => post(stock::transfer::upload).layer(axum::extract::DefaultBodyLimit::max(stock::transfer::MAX_UPLOAD));
    GET "/api/v1/stock/models" Api Access::Roles(EVERYONE) => get(stock::api::models_list);
    POST "/api/v1/stock/models" Api Access::Roles(stock::MANAGERS) => post(stock::api::models_add);
    GET "/api/v1/stock/locations" Api Access::Roles(EVERYONE) => get(stock::api::locations_list);
    POST "/api/v1/stock/locations" Api Access::Roles(stock::MANAGERS) => post(stock::api::locations_add);
    GET "/api/v1/stock/units" Api Access::Roles(EVERYONE) => get(stock::api::units);
    GET "/api/v1/stock/units/{id}" Api Access::Roles(EVERYONE) => get(stock::api::unit);
    GET "/api/v1/stock/movements" Api Access::Roles(EVERYONE) => get(stock::api::movements);
    POST "/api/v1/stock/movements" Api Access::Roles(stock::KEEPERS) => post(stock::api::record);
    GET "/api/v1/stock/reconcile" Api Access::Roles(EVERYONE) => get(stock::api::reconcile_report);
    GET "/dispatch" Page Access::Roles(EVERYONE) => get(dispatch::board);
    GET "/dispatch/week" Page Access::Roles(EVERYONE) => get(dispatch::week);
    GET "/dispatch/map.json" Page Access::Roles(EVERYONE) => get(dispatch::map_json);
    POST "/dispatch/plan" Page Access::Roles(dispatch::DISPATCHERS) => post(dispatch::plan);
    POST "/dispatch/move" Page Access::Roles(dispatch::DISPATCHERS) => post(dispatch::move_job);
    GET "/dispatch/jobs" Page Access::Roles(EVERYONE) => get(dispatch::jobs::list);
    GET "/dispatch/jobs/new" Page Access::Roles(dispatch::DISPATCHERS) => get(dispatch::jobs::new_form);
    POST "/dispatch/jobs" Page Access::Roles(dispatch::DISPATCHERS) => post(dispatch::jobs::create);
    GET "/dispatch/jobs/{id}" Page Access::Roles(EVERYONE) => get(dispatch::jobs::show);
    GET "/dispatch/jobs/{id}/edit" Page Access::Roles(dispatch::DISPATCHERS) => get(dispatch::jobs::edit_form);
    POST "/dispatch/jobs/{id}" Page Access::Roles(dispatch::DISPATCHERS) => post(dispatch::jobs::update);
    POST "/dispatch/jobs/{id}/status" Page Access::Roles(dispatch::FIELD_AND_DESK) => post(dispatch::jobs::status);
    POST "/dispatch/jobs/{id}/parts" Page Access::Roles(dispatch::DISPATCHERS) => post(dispatch::jobs::reserve);
    GET "/dispatch/jobs/{id}/photos/{pid}" Page Access::Roles(EVERYONE) => get(dispatch::jobs::photo);
    GET "/dispatch/jobs/{id}/signature" Page Access::Roles(EVERYONE) => get(dispatch::jobs::signature);
    GET "/dispatch/technicians" Page Access::Roles(EVERYONE) => get(dispatch::people::technicians);
    POST "/dispatch/technicians" Page Access::Roles(ADMIN) => post(dispatch::people::add_technician);
    GET "/dispatch/technicians/{id}" Page Access::Roles(EVERYONE) => get(dispatch::people::technician);
    POST "/dispatch/technicians/{id}" Page Access::Roles(ADMIN) => post(dispatch::people::save_technician);
    POST "/dispatch/technicians/{id}/days-off" Page Access::Roles(dispatch::DISPATCHERS) => post(dispatch::people::days_off);
    GET "/dispatch/zones" Page Access::Roles(EVERYONE) => get(dispatch::people::zones);
    POST "/dispatch/zones" Page Access::Roles(ADMIN) => post(dispatch::people::add_zone);
    GET "/dispatch/zones/{id}" Page Access::Roles(EVERYONE) => get(dispatch::people::zone);
    POST "/dispatch/zones/{id}" Page Access::Roles(ADMIN) => post(dispatch::people::save_zone);
    POST "/dispatch/zones/{id}/delete" Page Access::Roles(ADMIN) => post(dispatch::people::delete_zone);
    GET "/dispatch/checklists" Page Access::Roles(EVERYONE) => get(dispatch::people::checklists);
    POST "/dispatch/checklists" Page Access::Roles(ADMIN) => post(dispatch::people::save_checklist);
    GET "/dispatch/reports" Page Access::Roles(EVERYONE) => get(dispatch::reports::page);
    GET "/api/v1/dispatch/jobs" Api Access::Roles(EVERYONE) => get(dispatch::api::jobs);
    POST "/api/v1/dispatch/jobs" Api Access::Roles(dispatch::DISPATCHERS) => post(dispatch::api::create);
    GET "/api/v1/dispatch/outcomes" Api Access::Roles(EVERYONE) => get(dispatch::api::outcomes);
    GET "/tech" Page Access::Roles(dispatch::FIELD) => get(dispatch::tech::today);
    GET "/tech/jobs/{id}" Page Access::Roles(dispatch::FIELD) => get(dispatch::tech::job);
    POST "/tech/jobs/{id}/op" Page Access::Roles(dispatch::FIELD) => post(dispatch::tech::op);
    POST "/tech/sync" Page Access::Roles(dispatch::FIELD) => post(dispatch::tech::sync);
    GET "/tech/sw.js" Page Access::Roles(dispatch::FIELD) => get(dispatch::tech::service_worker);
    GET "/search" Page Access::Roles(EVERYONE) => get(network::search);
    GET "/users" Page Access::Roles(ADMIN) => get(admin::users);
    POST "/users" Page Access::Roles(ADMIN) => post(admin::add_user);
    POST "/users/{id}" Page Access::Roles(ADMIN) => post(admin::change_user);
    GET "/tokens" Page Access::Roles(ADMIN) => get(admin::tokens);
    POST "/tokens" Page Access::Roles(ADMIN) => post(admin::create_token);
    POST "/tokens/{id}/revoke" Page Access::Roles(ADMIN) => post(admin::revoke_token);
    GET "/audit" Page Access::Roles(ADMIN) => get(admin::audit);
    GET "/audit.csv" Page Access::Roles(ADMIN) => get(admin::audit_csv);
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for spec in ROUTES {
        let mut guarded = (spec.handler)()
            .route_layer(axum::middleware::from_fn_with_state((state.clone(), spec.kind, spec.access), authorize));
        if spec.kind == Kind::Page {
            // Outermost: errors of the handler and of `authorize` alike.
            guarded = guarded.route_layer(axum::middleware::from_fn(error::html_errors));
        }
        r = r.route(spec.path, guarded);
    }
    let csp = content_security_policy(state.settings.monitoring.map_tile_origin.as_deref());
    r.fallback(not_found).layer(axum::middleware::map_response_with_state(csp, security_headers)).with_state(state)
}

/// The pages' Content-Security-Policy: everything from the controller
/// itself, plus map tile images from `tile_origin` (checked by the
/// configuration to be a bare `scheme://host[:port]`).
pub fn content_security_policy(tile_origin: Option<&str>) -> HeaderValue {
    let img = match tile_origin {
        Some(o) => format!("img-src 'self' data: {o}"),
        None => "img-src 'self' data:".to_string(),
    };
    let csp = format!(
        "default-src 'self'; {img}; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
    })
}

pub const SESSION_COOKIE: &str = "mast_session";

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_string))
        .next()
}

/// The client's address as the throttle and the audit log see it (see
/// [`client::Client`]: forwarding headers only from trusted proxies).
pub fn client_ip(st: &AppState, req: &Request) -> Option<String> {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    peer.map(|_| client::Client::from_parts(peer, req.headers(), &st.settings.http.trusted_proxies).ip.to_string())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Same-origin check for a state-changing browser request.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER)).and_then(|h| h.to_str().ok());
    match (origin, host) {
        (None, _) => true, // old browsers / curl: the CSRF token still decides
        (Some(o), Some(h)) => o.split("://").nth(1).and_then(|rest| rest.split('/').next()) == Some(h),
        (Some(_), None) => false,
    }
}

/// Enforces a route's policy; sets [`Caller`] for the handler.
pub async fn authorize(
    State((st, kind, access)): State<(AppState, Kind, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let roles = match access {
        Access::Public => return next.run(req).await,
        Access::Customer => return portal::authorize(st, req, next).await,
        Access::Roles(roles) => roles,
    };
    let ip = client_ip(&st, &req);
    let path = req.uri().path().to_string();
    let caller = match kind {
        Kind::Api => {
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .unwrap_or("");
            let found = if token.is_empty() { Ok(None) } else { crate::auth::token_caller(&st.db, token).await };
            match found {
                Ok(Some((name, role))) => Caller {
                    name: format!("token:{name}"),
                    role,
                    user_id: None,
                    csrf: None,
                    ip,
                    path,
                    waiting: Default::default(),
                },
                Ok(None) => {
                    Metrics::inc(&st.metrics.http_unauthorized);
                    let msg = if token.is_empty() { "missing bearer token" } else { "invalid or revoked token" };
                    return ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg).into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        Kind::Page => {
            let session = match cookie(req.headers(), SESSION_COOKIE) {
                Some(c) => crate::staff::session(&st.db, &c, st.settings.http.sessions).await,
                None => Ok(None),
            };
            match session {
                Ok(Some(s)) => Caller {
                    name: s.user.email,
                    role: s.user.role,
                    user_id: Some(s.user.id),
                    csrf: Some(s.csrf),
                    ip,
                    path,
                    waiting: st.waiting.get(),
                },
                // htmx (a polled fragment) would swap the login page into
                // the page: tell it to go there instead.
                Ok(None) if req.headers().contains_key("hx-request") => {
                    return (StatusCode::UNAUTHORIZED, [("hx-redirect", "/login")]).into_response();
                }
                Ok(None) => return Redirect::to("/login").into_response(),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    if !roles.contains(&caller.role) {
        return match kind {
            Kind::Api => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("role {} may not do this", caller.role.as_str()),
            )
            .into_response(),
            Kind::Page => (
                StatusCode::FORBIDDEN,
                pages::page(
                    &caller,
                    "Not allowed",
                    maud::html! { h2 { "Not allowed" } p { "Your role does not give access to this page." } },
                ),
            )
                .into_response(),
        };
    }
    if kind == Kind::Page && req.method() != Method::GET && req.method() != Method::HEAD {
        // CSRF: same origin, and the session's token in the form.
        if !same_origin(req.headers()) {
            return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
        }
        let (parts, body) = req.into_parts();
        // File uploads (the logo) come as multipart; every other form is
        // URL-encoded and small.
        let multipart = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        let limit = match (multipart, parts.uri.path()) {
            // The import page takes a whole ISP's exports.
            (true, "/import") => import::MAX_IMPORT_UPLOAD,
            (true, _) => MAX_UPLOAD,
            (false, _) => 256 * 1024,
        };
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
        };
        let sent = if multipart {
            multipart_field(&parts.headers, &bytes, "csrf").await
        } else {
            form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned())
        };
        let expected = caller.csrf.as_deref().unwrap_or("");
        if !sent.is_some_and(|s| !expected.is_empty() && constant_time_eq(s.as_bytes(), expected.as_bytes())) {
            return (StatusCode::FORBIDDEN, "missing or wrong CSRF token: reload the page and try again")
                .into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Largest multipart form (a logo upload and its fields).
pub const MAX_UPLOAD: usize = 1024 * 1024;

/// The text of field `name` of a multipart form, if it has one.
async fn multipart_field(headers: &HeaderMap, body: &axum::body::Bytes, name: &str) -> Option<String> {
    use axum::extract::FromRequest;
    let ct = headers.get(header::CONTENT_TYPE)?.clone();
    let req = Request::builder().header(header::CONTENT_TYPE, ct).body(Body::from(body.clone())).ok()?;
    let mut form = axum::extract::Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

async fn security_headers(State(csp): State<HeaderValue>, mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with the latter browsers send `Origin: null`
    // on same-origin form posts, which the CSRF origin check must refuse.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Unknown paths: JSON under `/api/`, an HTML page for browsers elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/metrics" {
        ApiError::not_found("no such route").into_response()
    } else {
        (StatusCode::NOT_FOUND, pages::not_found_page()).into_response()
    }
}

pub use mast_text_core::when::{ago, fmt_utc};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_built_only_by_the_template_engine() {
        // Escaping by construction: no HTML assembled with `format!` or
        // `push_str`, and `PreEscaped` only with its `SAFETY-HTML` reason on
        // the line before (constant markup in `ui/`).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir.clone(), dir.join("ui"), dir.join("network")];
        let mut bad = Vec::new();
        while let Some(d) = files.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.extension().is_none_or(|x| x != "rs") || p.ends_with("tests.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                let lines: Vec<&str> = code.lines().collect();
                for (i, l) in lines.iter().enumerate() {
                    let t = l.trim_start();
                    if t.starts_with("//") {
                        continue;
                    }
                    let html_literal = ["format!(\"<", "format!(r#\"<", "push_str(\"<", "push_str(&format!(\"<"]
                        .iter()
                        .any(|p| t.contains(p));
                    if html_literal {
                        bad.push(format!("{}:{}: HTML built by hand", p.display(), i + 1));
                    }
                    if t.contains(concat!("PreEscaped", "(")) && !(i > 0 && lines[i - 1].contains("SAFETY-HTML:")) {
                        bad.push(format!("{}:{}: PreEscaped without a SAFETY-HTML reason", p.display(), i + 1));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    #[test]
    fn every_route_path_is_unique_per_method_and_api_routes_use_tokens() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method.clone(), r.path)), "duplicate route {} {}", r.method, r.path);
            assert_eq!(r.kind == Kind::Api, r.path.starts_with("/api/") || r.path == "/metrics", "{}", r.path);
        }
    }

    #[test]
    fn csp_allows_the_map_tiles_only() {
        let csp = content_security_policy(None);
        assert_eq!(
            csp.to_str().unwrap(),
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        );
        let csp = content_security_policy(Some("https://tile.openstreetmap.org"));
        assert!(
            csp.to_str().unwrap().contains("img-src 'self' data: https://tile.openstreetmap.org; style-src 'self'")
        );
        // A value that cannot be a header falls back to the strict policy.
        assert!(!content_security_policy(Some("https://a\nb")).to_str().unwrap().contains("https://"));
    }

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "mast.example:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://mast.example:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }
}

//! `mast-controller stock`: the equipment inventory. The catalogue of
//! models, warehouses and vehicles, receiving from suppliers, movements
//! (assign, install, return, RMA, retire, lost, found), the units and their
//! history, the reconciliation with what the agents see, CSV import and
//! export, and purchase orders. The same store code as the `/stock` pages,
//! audited the same way.
//!
//! The rules' own types (movement kinds, location kinds, target maps, order
//! actions) are `mast-stock-core`'s, built here directly.

use super::actor;
use clap::{Subcommand, ValueEnum};
use mast_controller::db::StoreError;
use mast_controller::stock::moves::{self, Batch, ItemInput, Target, UnitFilter};
use mast_controller::stock::{self, LocationRow, ModelInput, ModelRow, csv, locations, models, orders, reconcile};
use mast_controller::{App, audit, monitoring, staff};
use mast_stock_core::amount::{fmt_metres, fmt_minor, parse_scaled};
use mast_stock_core::order::PoAction;
use mast_stock_core::{Kind, LocationKind, ModelId};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum StockCmd {
    /// The catalogue: models of equipment.
    Model {
        #[command(subcommand)]
        cmd: ModelCmd,
    },
    /// Warehouses and technicians' vehicles.
    Location {
        #[command(subcommand)]
        cmd: LocationCmd,
    },
    /// Receive stock from a supplier into a warehouse: one unit per CODE
    /// (trackable), pieces (consumable) or spools (cut-to-length).
    Receive {
        /// The model: "Vendor Name" (or its name alone, or its id).
        #[arg(long)]
        model: String,
        /// The warehouse receiving it (name or id).
        #[arg(long)]
        into: String,
        /// Cost per unit, piece or metre in major units, e.g. 89.00
        /// (default: the --order's line for the model, else the model's).
        #[arg(long, allow_hyphen_values = true)]
        unit_cost: Option<String>,
        /// The purchase order the goods arrive against (its lines count them).
        #[arg(long)]
        order: Option<i64>,
        /// Pieces of a consumable.
        #[arg(long)]
        quantity: Option<i64>,
        /// Metres per spool of a cut-to-length model (one spool per CODE, or one without a code).
        #[arg(long)]
        length_m: Option<String>,
        /// Free text kept with each movement.
        #[arg(long, default_value = "")]
        note: String,
        /// One unit each: its MAC (model needs a MAC), its serial (model
        /// needs a serial), or `MAC,SERIAL` for a model needing both; for a
        /// model needing neither, a MAC if it reads as one, else a serial.
        /// A spool's optional serial.
        codes: Vec<String>,
    },
    /// Move units (and pieces or cut lengths) from one place to another: one
    /// movement per item, recorded all together or not at all.
    Move {
        /// What happens.
        #[arg(long, value_enum)]
        kind: MoveKind,
        /// Where the things are now: a warehouse or vehicle (name or id),
        /// `customer:ID`, `site:NAME`, `rma`, `retired` or `lost` (default:
        /// where the first CODE is).
        #[arg(long)]
        from: Option<String>,
        /// Where they go: a warehouse or vehicle (name or id), or `rma`,
        /// `retired`, `lost` (the default for send-to-rma, retire and mark-lost).
        #[arg(long, conflicts_with_all = ["customer", "site"])]
        to: Option<String>,
        /// Install at (or move to) this customer's premises, by customer id.
        #[arg(long, conflicts_with = "site")]
        customer: Option<i64>,
        /// Install at (or move to) this tower site, by name.
        #[arg(long)]
        site: Option<String>,
        /// The vendor's RMA number (send-to-rma).
        #[arg(long)]
        rma_number: Option<String>,
        /// Pieces of a consumable to move as well (with --model).
        #[arg(long, requires = "model")]
        quantity: Option<i64>,
        /// The consumable moved by --quantity: "Vendor Name" or id.
        #[arg(long, requires = "quantity")]
        model: Option<String>,
        /// Cut this many metres off each CODE (spools) instead of moving the
        /// whole spool (install, retire, mark-lost).
        #[arg(long)]
        length_m: Option<String>,
        /// Free text kept with each movement.
        #[arg(long, default_value = "")]
        note: String,
        /// The units: MACs, serials or `#UNIT-ID`.
        codes: Vec<String>,
    },
    /// Units and spools, newest first.
    Units {
        /// Only those at this place (warehouse or vehicle name or id,
        /// `customer:ID`, `site:NAME`, `rma`, `retired`, `lost`).
        #[arg(long)]
        location: Option<String>,
        /// A MAC, serial or model name fragment.
        #[arg(long)]
        q: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// A unit's movements, oldest first.
    History {
        /// The unit: a MAC, a serial or `#UNIT-ID`.
        code: String,
        #[arg(long)]
        json: bool,
    },
    /// Compare the inventory with what the agents see now (one pass of the
    /// reconciliation worker, automatic installs included).
    Reconcile {
        #[arg(long)]
        json: bool,
    },
    /// Import existing stock from CSV (columns: model, location, mac, serial,
    /// quantity, length_m, unit_cost in cents, note); a dry run unless --apply,
    /// all or nothing.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// The warehouse every line is received into first (name or id).
        #[arg(long)]
        into: String,
        /// Write it (only when no line has an error).
        #[arg(long)]
        apply: bool,
    },
    /// Export the stock (or the movement log) as CSV; an exported stock file imports again.
    Export {
        /// The whole movement log instead of the stock.
        #[arg(long)]
        movements: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Purchase orders: draft, place, receive (`stock receive --order`), cancel.
    Order {
        #[command(subcommand)]
        cmd: OrderCmd,
    },
}

#[derive(Subcommand)]
pub enum ModelCmd {
    /// Add a model to the catalogue.
    Add {
        /// Maker, e.g. Ubiquiti.
        #[arg(long)]
        vendor: String,
        /// Model name, e.g. "LiteBeam 5AC".
        #[arg(long)]
        name: String,
        /// Free text: radio, router, cable, connector.
        #[arg(long)]
        kind: String,
        /// How it is counted.
        #[arg(long, value_enum)]
        class: Class,
        /// Every unit carries a MAC (trackable only).
        #[arg(long)]
        needs_mac: bool,
        /// Every unit carries a serial number (trackable only).
        #[arg(long)]
        needs_serial: bool,
        /// Flag a warehouse holding less than this (units, pieces, or millimetres of cable).
        #[arg(long)]
        reorder_threshold: Option<i64>,
        /// Stock to hold at each place of a kind, `KIND=N` (warehouse, vehicle
        /// or site; repeatable), in the same unit as the threshold.
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Cost per unit, piece or metre in major units, e.g. 89.00.
        #[arg(long, allow_hyphen_values = true)]
        unit_cost: Option<String>,
        /// Who it is usually bought from.
        #[arg(long)]
        supplier: Option<String>,
        /// Warranty from receipt, in months (0-240).
        #[arg(long)]
        warranty_months: Option<i64>,
    },
    /// List the catalogue.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum LocationCmd {
    /// Add a warehouse or a technician's vehicle.
    Add {
        #[arg(long, value_enum)]
        kind: StoreKind,
        /// Unique among warehouses and vehicles.
        #[arg(long)]
        name: String,
        /// The vehicle's technician: a staff member's email.
        #[arg(long)]
        technician: Option<String>,
    },
    /// List the locations (warehouses, vehicles, and the sites, customers,
    /// RMA, retired and lost places in use).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a warehouse or vehicle that holds nothing (one the log names
    /// is archived instead, so its history still reads).
    Delete {
        /// Its name or id.
        name_or_id: String,
    },
}

#[derive(Subcommand)]
pub enum OrderCmd {
    /// Start a draft purchase order.
    Create {
        #[arg(long)]
        supplier: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Add a line to a draft order.
    AddLine {
        /// The order's id.
        id: i64,
        /// "Vendor Name" (or its name alone, or its id).
        #[arg(long)]
        model: String,
        /// Units, pieces or metres.
        #[arg(long)]
        quantity: i64,
        /// Cost per unit, piece or metre in major units, e.g. 12.00.
        #[arg(long, allow_hyphen_values = true)]
        unit_cost: String,
    },
    /// Place a draft order with the supplier (it can then be received against).
    Place {
        /// The order's id.
        id: i64,
    },
    /// Cancel an order.
    Cancel {
        /// The order's id.
        id: i64,
    },
    /// Orders, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Class {
    /// Each unit on its own (by MAC and/or serial).
    Trackable,
    /// Counted in pieces.
    Consumable,
    /// Cable on spools, in metres.
    CutToLength,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StoreKind {
    Warehouse,
    /// A technician's vehicle.
    Vehicle,
}

/// A movement's kind, named as the log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MoveKind {
    /// Warehouse to vehicle.
    AssignToTechnician,
    /// Between two places of the same kind.
    Move,
    /// From a warehouse or vehicle to a customer (--customer) or site (--site).
    Install,
    /// Back from a customer, site or vehicle into stock.
    Return,
    /// To the vendor for repair or replacement (needs --rma-number).
    SendToRma,
    /// Back from the vendor into a warehouse.
    BackFromRma,
    Retire,
    MarkLost,
    /// Back from lost into stock.
    Found,
}

impl MoveKind {
    /// Where it goes when --to is left out.
    fn default_to(self) -> Option<i64> {
        match self {
            MoveKind::SendToRma => Some(stock::RMA),
            MoveKind::Retire => Some(stock::RETIRED),
            MoveKind::MarkLost => Some(stock::LOST),
            _ => None,
        }
    }

    /// The core's `Kind` (its `as_str()` is clap's name for the variant).
    fn kind(self, rma_number: Option<&str>) -> Kind {
        match self {
            MoveKind::AssignToTechnician => Kind::AssignToTechnician,
            MoveKind::Move => Kind::Move,
            MoveKind::Install => Kind::Install,
            MoveKind::Return => Kind::Return,
            MoveKind::SendToRma => Kind::SendToRma { rma_number: rma_number.unwrap_or("").trim().to_string() },
            MoveKind::BackFromRma => Kind::BackFromRma,
            MoveKind::Retire => Kind::Retire,
            MoveKind::MarkLost => Kind::MarkLost,
            MoveKind::Found => Kind::Found,
        }
    }
}

/// An amount in major units (`89.00`) as minor units (8900): not negative,
/// at most two decimals, at most a billion.
fn parse_money(flag: &str, v: &str) -> anyhow::Result<i64> {
    let minor = parse_scaled(v, 2).map_err(|e| anyhow::anyhow!("{flag}: {v:?} {e} (an amount such as 89.00)"))?;
    anyhow::ensure!(minor <= 100_000_000_000, "{flag}: {v:?} is more than 1,000,000,000");
    Ok(minor)
}

/// Metres (`25.5`) as millimetres (25 500): more than 0, at most 10,000 km.
fn parse_metres(flag: &str, v: &str) -> anyhow::Result<i64> {
    let mm = parse_scaled(v, 3).map_err(|e| anyhow::anyhow!("{flag}: {v:?} {e} (a length in metres such as 25.5)"))?;
    anyhow::ensure!(mm > 0, "{flag}: a length must be more than 0");
    anyhow::ensure!(mm <= 10_000_000_000, "{flag}: {v:?} metres is too long");
    Ok(mm)
}

/// `--target warehouse=20`: the kind and the stock to hold there.
fn parse_target(v: &str) -> anyhow::Result<(LocationKind, i64)> {
    let (kind, n) = v.split_once('=').ok_or_else(|| anyhow::anyhow!("--target {v:?}: KIND=N, e.g. warehouse=20"))?;
    let kind = LocationKind::parse(&kind.trim().to_ascii_lowercase())
        .filter(|k| matches!(k, LocationKind::Warehouse | LocationKind::Vehicle | LocationKind::Site))
        .ok_or_else(|| anyhow::anyhow!("--target {v:?}: the kind is warehouse, vehicle or site"))?;
    let n: i64 =
        n.trim().parse().map_err(|_| anyhow::anyhow!("--target {v:?}: {:?} is not a whole number", n.trim()))?;
    anyhow::ensure!(n >= 0, "--target {v:?}: must not be negative");
    Ok((kind, n))
}

fn parse_targets(vs: &[String]) -> anyhow::Result<BTreeMap<LocationKind, i64>> {
    let mut out = BTreeMap::new();
    for v in vs {
        let (k, n) = parse_target(v)?;
        anyhow::ensure!(out.insert(k, n).is_none(), "--target {} given twice", k.as_str());
    }
    Ok(out)
}

/// A received unit's MAC and serial from its code (see `stock receive --help`).
fn unit_code(code: &str, needs_mac: bool, needs_serial: bool) -> (Option<String>, Option<String>) {
    let code = code.trim();
    if let Some((mac, serial)) = code.split_once(',') {
        return (Some(mac.trim().to_string()), Some(serial.trim().to_string()));
    }
    if needs_mac || (!needs_serial && mast_shared::msg::parse_mac(code).is_some()) {
        (Some(code.to_string()), None)
    } else {
        (None, Some(code.to_string()))
    }
}

/// What a receive of `model` brings in.
fn receive_items(
    model: &ModelRow,
    codes: &[String],
    quantity: Option<i64>,
    length_mm: Option<i64>,
) -> anyhow::Result<Vec<ItemInput>> {
    let label = model.label();
    match model.class.as_str() {
        "consumable" => {
            anyhow::ensure!(codes.is_empty(), "{label} is a consumable: give --quantity, no codes");
            anyhow::ensure!(length_mm.is_none(), "{label} is a consumable: --length-m is for cable");
            let quantity = quantity.ok_or_else(|| anyhow::anyhow!("{label} is a consumable: how many (--quantity)"))?;
            Ok(vec![ItemInput::Quantity { model: model.id, quantity }])
        }
        "cut-to-length" => {
            anyhow::ensure!(quantity.is_none(), "{label} is cable: give --length-m per spool, not --quantity");
            let length_mm =
                length_mm.ok_or_else(|| anyhow::anyhow!("{label} is cable: each spool's metres (--length-m)"))?;
            if codes.is_empty() {
                return Ok(vec![ItemInput::New {
                    model: model.id,
                    mac: None,
                    serial: None,
                    length_mm: Some(length_mm),
                }]);
            }
            Ok(codes
                .iter()
                .map(|c| ItemInput::New {
                    model: model.id,
                    mac: None,
                    serial: Some(c.trim().to_string()),
                    length_mm: Some(length_mm),
                })
                .collect())
        }
        _ => {
            anyhow::ensure!(quantity.is_none(), "{label} is counted unit by unit: one CODE per unit, not --quantity");
            anyhow::ensure!(length_mm.is_none(), "{label} is counted unit by unit: --length-m is for cable");
            anyhow::ensure!(!codes.is_empty(), "{label}: give each unit's MAC or serial (one CODE per unit)");
            Ok(codes
                .iter()
                .map(|c| {
                    let (mac, serial) = unit_code(c, model.needs_mac != 0, model.needs_serial != 0);
                    ItemInput::New { model: model.id, mac, serial, length_mm: None }
                })
                .collect())
        }
    }
}

/// An instant in the operator's time zone, to the minute.
fn when(app: &App, ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned_datetime(app.tz().clone()).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => format!("{ms} ms"),
    }
}

/// A place by what a person types: a warehouse or vehicle by name or any
/// location by id, `customer:ID`, `site:NAME`, or `rma`, `retired`, `lost`.
async fn place(app: &App, name: &str) -> anyhow::Result<LocationRow> {
    let name = name.trim();
    let db = &app.db;
    if let Some(c) = name.strip_prefix("customer:") {
        let c: i64 = c.trim().parse().map_err(|_| anyhow::anyhow!("{name:?}: customer:ID, the customer's id"))?;
        let id = locations::existing(db, Some(c), None)
            .await?
            .ok_or_else(|| anyhow::anyhow!("nothing was ever installed at customer {c}"))?;
        return Ok(locations::get(db, id).await?);
    }
    if let Some(s) = name.strip_prefix("site:") {
        let s = s.trim();
        let site = monitoring::site_by_name(db, s).await?.ok_or_else(|| anyhow::anyhow!("no site named {s:?}"))?;
        let id = locations::existing(db, None, Some(site.id))
            .await?
            .ok_or_else(|| anyhow::anyhow!("nothing was ever installed at site {s}"))?;
        return Ok(locations::get(db, id).await?);
    }
    match locations::find(db, name).await {
        Ok(l) => Ok(l),
        Err(e) => match name.to_ascii_lowercase().as_str() {
            "rma" => Ok(locations::get(db, stock::RMA).await?),
            "retired" => Ok(locations::get(db, stock::RETIRED).await?),
            "lost" => Ok(locations::get(db, stock::LOST).await?),
            _ => Err(e.into()),
        },
    }
}

fn place_label(l: &LocationRow) -> String {
    match l.kind.as_str() {
        "warehouse" | "vehicle" => l.name.clone(),
        "customer" => format!("customer {} ({})", l.customer_id.unwrap_or(0), l.name),
        "site" => format!("site {}", l.name),
        _ => l.name.clone(),
    }
}

pub async fn run(cmd: StockCmd, app: &App) -> anyhow::Result<()> {
    match cmd {
        StockCmd::Model { cmd } => model(cmd, app).await,
        StockCmd::Location { cmd } => location(cmd, app).await,
        StockCmd::Order { cmd } => order(cmd, app).await,
        StockCmd::Receive { model, into, unit_cost, order, quantity, length_m, note, codes } => {
            let by = actor();
            let db = &app.db;
            let model = models::find(db, &model).await?;
            let wh = place(app, &into).await?;
            anyhow::ensure!(wh.kind == "warehouse", "--into: {} is a {}, not a warehouse", wh.name, wh.kind);
            let unit_cost_minor = match (unit_cost, order) {
                (Some(c), _) => parse_money("--unit-cost", &c)?,
                (None, Some(o)) => orders::line_cost(db, o, model.id).await?.unwrap_or(model.unit_cost_minor),
                (None, None) => model.unit_cost_minor,
            };
            let length_mm = length_m.map(|m| parse_metres("--length-m", &m)).transpose()?;
            let items = receive_items(&model, &codes, quantity, length_mm)?;
            let batch = Batch {
                kind: Kind::Receive { purchase_order: order, unit_cost_minor },
                from: None,
                to: Target::Location(wh.id),
                items,
                note,
                actor: by.name.clone(),
                automatic: false,
            };
            let r = moves::record(db, &batch).await?;
            let what = format!("{} line(s) received, batch {}", batch.items.len(), r.batch);
            audit::record(db, &by, "stock.receive", &format!("stock location {}", r.to), &what).await?;
            let (amount, per) = match (batch.items.first(), length_mm) {
                (Some(ItemInput::Quantity { quantity, .. }), _) => (format!("{quantity} piece(s)"), "each"),
                (_, Some(mm)) => (format!("{} spool(s) of {}", r.new_units.len(), fmt_metres(mm)), "per metre"),
                _ => (format!("{} unit(s)", r.new_units.len()), "each"),
            };
            println!(
                "received {amount} of {} into {} at {} {per} (batch {}{})",
                model.label(),
                wh.name,
                fmt_minor(unit_cost_minor),
                r.batch,
                order.map(|o| format!(", order {o}")).unwrap_or_default()
            );
            if !r.new_units.is_empty() {
                let ids: Vec<String> = r.new_units.iter().map(|u| format!("#{u}")).collect();
                println!("  units {}", ids.join(" "));
            }
            Ok(())
        }
        StockCmd::Move { kind, from, to, customer, site, rma_number, quantity, model, length_m, note, codes } => {
            let by = actor();
            let db = &app.db;
            anyhow::ensure!(
                !codes.is_empty() || quantity.is_some(),
                "nothing to move: give the units' codes (MAC, serial or #ID) or --quantity with --model"
            );
            let rma_number = rma_number.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
            anyhow::ensure!(
                kind != MoveKind::SendToRma || rma_number.is_some(),
                "send-to-rma needs the vendor's --rma-number"
            );
            anyhow::ensure!(rma_number.is_none() || kind == MoveKind::SendToRma, "--rma-number is for send-to-rma");
            let length_mm = length_m.map(|m| parse_metres("--length-m", &m)).transpose()?;
            // Every code resolves before anything is recorded.
            let mut units = Vec::with_capacity(codes.len());
            let mut unknown = Vec::new();
            for code in &codes {
                match moves::find_unit(db, code).await? {
                    Some(u) => units.push(u),
                    None => unknown.push(format!("{code:?}")),
                }
            }
            anyhow::ensure!(unknown.is_empty(), "no unit has {}", unknown.join(", "));
            let mut items: Vec<ItemInput> = units
                .iter()
                .map(|u| match length_mm {
                    Some(mm) => ItemInput::Cut { spool: u.id, length_mm: mm },
                    None => ItemInput::Unit { unit: u.id },
                })
                .collect();
            if let (Some(q), Some(m)) = (quantity, model) {
                let m = models::find(db, &m).await?;
                anyhow::ensure!(m.class == "consumable", "--quantity is for consumables; {} is {}", m.label(), m.class);
                items.push(ItemInput::Quantity { model: m.id, quantity: q });
            }
            let from = match from {
                Some(f) => place(app, &f).await?,
                None => {
                    let first = units.first().ok_or_else(|| anyhow::anyhow!("--from: where the pieces are now"))?;
                    locations::get(db, first.location_id).await?
                }
            };
            let target = match (kind, customer, site, to) {
                (_, Some(c), None, None) if matches!(kind, MoveKind::Install | MoveKind::Move) => Target::Customer(c),
                (_, None, Some(s), None) if matches!(kind, MoveKind::Install | MoveKind::Move) => {
                    let site = monitoring::site_by_name(db, &s)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("no site named {s:?}"))?;
                    Target::Site(site.id)
                }
                (_, Some(_), _, _) | (_, _, Some(_), _) => {
                    anyhow::bail!("--customer and --site are for install (or move between customers or sites)")
                }
                (MoveKind::Install, None, None, _) => anyhow::bail!("install where: --customer ID or --site NAME"),
                (_, None, None, Some(t)) => Target::Location(place(app, &t).await?.id),
                (_, None, None, None) => match kind.default_to() {
                    Some(id) => Target::Location(id),
                    None => anyhow::bail!("--to: where they go (a warehouse or vehicle)"),
                },
            };
            anyhow::ensure!(
                !matches!(target, Target::Location(id) if id == from.id),
                "they are at {} already",
                place_label(&from)
            );
            let batch = Batch {
                kind: kind.kind(rma_number.as_deref()),
                from: Some(from.id),
                to: target,
                items,
                note,
                actor: by.name.clone(),
                automatic: false,
            };
            let r = moves::record(db, &batch).await?;
            let what = format!("{} of {} item(s), batch {}", batch.kind.as_str(), batch.items.len(), r.batch);
            audit::record(db, &by, "stock.move", &format!("stock location {}", r.to), &what).await?;
            let to = locations::get(db, r.to).await?;
            println!(
                "{} of {} item(s) from {} to {} recorded (batch {})",
                batch.kind.as_str(),
                batch.items.len(),
                place_label(&from),
                place_label(&to),
                r.batch
            );
            Ok(())
        }
        StockCmd::Units { location, q, limit, json } => {
            let db = &app.db;
            let at = match location {
                Some(l) => Some(place(app, &l).await?),
                None => None,
            };
            let filter = UnitFilter { location: at.as_ref().map(|l| l.id), q, ..Default::default() };
            let (units, total) = moves::units(db, &filter, limit.clamp(1, 10_000), 0).await?;
            let amounts = match &at {
                Some(l) => moves::amounts_at(db, l.id).await?,
                None => Vec::new(),
            };
            if json {
                let v = json!({ "total": total, "units": units, "amounts": amounts });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            for u in &units {
                let id = match (&u.mac, &u.serial) {
                    (Some(m), Some(s)) => format!("{m} {s}"),
                    (Some(m), None) => m.clone(),
                    (None, Some(s)) => s.clone(),
                    (None, None) => "-".into(),
                };
                println!(
                    "  #{:<6} {:<28} {:<32} {:<10} {:<24} since {}{}",
                    u.id,
                    u.model,
                    id,
                    u.location_kind,
                    u.location,
                    when(app, u.since_ms),
                    u.remaining_mm.map(|mm| format!("  {} left", fmt_metres(mm))).unwrap_or_default()
                );
            }
            for a in &amounts {
                if a.quantity > 0 {
                    println!("  {:<7} {:<28} {} piece(s)", "", a.model, a.quantity);
                }
                if a.length_mm > 0 {
                    println!("  {:<7} {:<28} {} cut", "", a.model, fmt_metres(a.length_mm));
                }
            }
            println!("{} of {total} unit(s)", units.len());
            Ok(())
        }
        StockCmd::History { code, json } => {
            let db = &app.db;
            let u = moves::find_unit(db, &code).await?.ok_or_else(|| anyhow::anyhow!("no unit has {code:?}"))?;
            let rows = moves::history(db, u.id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&json!({ "unit": u, "movements": rows }))?);
                return Ok(());
            }
            println!(
                "#{} {}{}{}: at {} ({}) since {}",
                u.id,
                u.model,
                u.mac.as_deref().map(|m| format!(" MAC {m}")).unwrap_or_default(),
                u.serial.as_deref().map(|s| format!(" serial {s}")).unwrap_or_default(),
                u.location,
                u.location_kind,
                when(app, u.since_ms)
            );
            for m in &rows {
                let extra = [
                    m.length_mm
                        .map(|mm| if m.kind == "receive" { fmt_metres(mm) } else { format!("{} cut", fmt_metres(mm)) }),
                    m.unit_cost_minor.map(|c| format!("at {}", fmt_minor(c))),
                    m.purchase_order_id.map(|p| format!("order {p}")),
                    m.rma_number.as_deref().map(|r| format!("RMA {r}")),
                    (!m.note.is_empty()).then(|| m.note.clone()),
                ];
                let extra: Vec<String> = extra.into_iter().flatten().collect();
                println!(
                    "  {}  {:<21} {} -> {}  by {}{}{}",
                    when(app, m.at_ms),
                    m.kind,
                    m.from_name.as_deref().unwrap_or("supplier"),
                    m.to_name,
                    m.actor,
                    if m.automatic != 0 { " (automatic)" } else { "" },
                    if extra.is_empty() { String::new() } else { format!("  ({})", extra.join("; ")) }
                );
            }
            Ok(())
        }
        StockCmd::Reconcile { json } => {
            let by = actor();
            let db = &app.db;
            let s = &app.settings;
            let url = s.http.public_url.clone().unwrap_or_else(|| format!("http://{}", s.http.listen));
            let pass = mast_controller::stock_worker::pass(
                db,
                &s.stock,
                app.tz(),
                app.channels(),
                &url,
                mast_controller::db::now_ms(),
            )
            .await?;
            let done = pass.installed.iter().filter(|i| i.result.is_ok()).count();
            audit::record(db, &by, "stock.reconcile", "stock", &format!("{done} installed")).await?;
            // The pass does not hand its report back: what is left after its installs.
            let report = reconcile::report(db, mast_controller::db::now_ms(), s.stock.stale_after_ms).await?;
            if json {
                let v = json!({ "installed": pass.installed, "summary_sent": pass.summary_sent, "report": report });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!(
                "unknown {}, not assigned {}, moved {}, stale {}, installed {done}",
                report.unknown.len(),
                report.not_assigned.len(),
                report.moved.len(),
                report.stale.len()
            );
            for i in &pass.installed {
                match &i.result {
                    Ok(b) => println!("  unit #{} installed at customer {} (batch {b})", i.unit, i.customer),
                    Err(e) => println!("  unit #{} not installed at customer {}: {e}", i.unit, i.customer),
                }
            }
            if pass.summary_sent {
                println!("the day's summary was queued for the admins");
            }
            Ok(())
        }
        StockCmd::Import { file, into, apply } => {
            let by = actor();
            let db = &app.db;
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let wh = place(app, &into).await?;
            let out = csv::import(db, &text, wh.id, &by.name, apply).await?;
            for e in &out.errors {
                println!("line {}: {}", e.line, e.reason);
            }
            anyhow::ensure!(
                out.errors.is_empty(),
                "{} of {} line(s) with errors: nothing was imported",
                out.errors.len(),
                out.lines
            );
            let what = format!("{} line(s): {} unit(s), {} piece(s)", out.lines, out.units, out.pieces);
            if out.applied {
                audit::record(db, &by, "stock.import", &format!("stock location {}", wh.id), &what).await?;
                println!("imported into {}: {what}", wh.name);
            } else {
                println!("dry run, nothing written: {what} would be imported into {} (--apply to import)", wh.name);
            }
            Ok(())
        }
        StockCmd::Export { movements, output } => {
            let db = &app.db;
            let text = if movements { csv::export_movements(db).await? } else { csv::export_stock(db).await? };
            let what = if movements { "movements" } else { "stock" };
            audit::record(db, &actor(), "stock.export", what, "csv").await?;
            match output {
                Some(p) => std::fs::write(&p, text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(text.as_bytes())?;
                }
            }
            Ok(())
        }
    }
}

async fn model(cmd: ModelCmd, app: &App) -> anyhow::Result<()> {
    let db = &app.db;
    match cmd {
        ModelCmd::Add {
            vendor,
            name,
            kind,
            class,
            needs_mac,
            needs_serial,
            reorder_threshold,
            targets,
            unit_cost,
            supplier,
            warranty_months,
        } => {
            let input = ModelInput {
                vendor,
                name,
                kind,
                class: class.to_possible_value().expect("no variant is skipped").get_name().to_string(),
                needs_mac,
                needs_serial,
                reorder_threshold,
                targets: parse_targets(&targets)?,
                unit_cost_minor: unit_cost.map(|c| parse_money("--unit-cost", &c)).transpose()?.unwrap_or(0),
                supplier,
                warranty_months,
            };
            let m = models::add(db, &input).await?;
            audit::record(db, &actor(), "stock.model.add", &format!("stock model {}", m.id), &m.label()).await?;
            println!("model {} added: {} ({}, {} each)", m.id, m.label(), m.class, fmt_minor(m.unit_cost_minor));
            Ok(())
        }
        ModelCmd::List { json } => {
            let ms = models::list(db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ms)?);
                return Ok(());
            }
            for m in ms {
                let needs = match (m.needs_mac != 0, m.needs_serial != 0) {
                    (true, true) => "MAC+serial",
                    (true, false) => "MAC",
                    (false, true) => "serial",
                    (false, false) => "",
                };
                let targets: Vec<String> = m.targets()?.iter().map(|(k, n)| format!("{}={n}", k.as_str())).collect();
                println!(
                    "{:>4}  {:<32} {:<13} {:<10} {:<10} {:>10}{}{}",
                    m.id,
                    m.label(),
                    m.class,
                    m.kind,
                    needs,
                    fmt_minor(m.unit_cost_minor),
                    m.reorder_threshold.map(|t| format!("  reorder below {t}")).unwrap_or_default(),
                    if targets.is_empty() { String::new() } else { format!("  targets {}", targets.join(",")) }
                );
            }
            Ok(())
        }
    }
}

async fn location(cmd: LocationCmd, app: &App) -> anyhow::Result<()> {
    let db = &app.db;
    match cmd {
        LocationCmd::Add { kind, name, technician } => {
            let user = match technician {
                Some(email) => {
                    anyhow::ensure!(matches!(kind, StoreKind::Vehicle), "--technician is for a vehicle");
                    let u = staff::user_by_email(db, &email)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("no staff member with email {email:?}"))?;
                    Some(u.id)
                }
                None => None,
            };
            let kind = match kind {
                StoreKind::Warehouse => LocationKind::Warehouse,
                StoreKind::Vehicle => LocationKind::Vehicle,
            };
            let l = locations::add(db, kind, &name, user).await?;
            audit::record(db, &actor(), "stock.location.add", &format!("stock location {}", l.id), &l.name).await?;
            println!(
                "{} {} added (id {}){}",
                l.kind,
                l.name,
                l.id,
                l.user_email.as_deref().map(|e| format!(", technician {e}")).unwrap_or_default()
            );
            Ok(())
        }
        LocationCmd::List { json } => {
            let ls = locations::list(db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ls)?);
                return Ok(());
            }
            for l in ls {
                println!(
                    "{:>4}  {:<10} {}{}",
                    l.id,
                    l.kind,
                    place_label(&l),
                    l.user_email.as_deref().map(|e| format!("  (technician {e})")).unwrap_or_default()
                );
            }
            Ok(())
        }
        LocationCmd::Delete { name_or_id } => {
            let l = locations::find(db, &name_or_id).await?;
            locations::delete(db, l.id).await?;
            audit::record(db, &actor(), "stock.location.delete", &format!("stock location {}", l.id), &l.name).await?;
            println!("{} {} deleted", l.kind, l.name);
            Ok(())
        }
    }
}

fn print_order(o: &orders::Order) {
    println!(
        "order {} from {}: {} ({} line(s), total {})",
        o.order.id,
        o.order.supplier,
        o.order.status,
        o.lines.len(),
        o.total_minor().map(fmt_minor).unwrap_or_else(|| "?".into())
    );
}

async fn order(cmd: OrderCmd, app: &App) -> anyhow::Result<()> {
    let by = actor();
    let db = &app.db;
    let (id, action, verb) = match cmd {
        OrderCmd::Create { supplier, note } => {
            let id = orders::create(db, &supplier, &note, &by.name).await?;
            audit::record(db, &by, "stock.order.create", &format!("purchase order {id}"), supplier.trim()).await?;
            println!("order {id} created for {} (draft)", supplier.trim());
            return Ok(());
        }
        OrderCmd::List { json } => {
            let os = orders::list(db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&os)?);
                return Ok(());
            }
            for o in &os {
                print_order(o);
                for l in &o.lines {
                    println!(
                        "    {:<32} {:>6} x {:>10}  received {}",
                        l.model,
                        l.quantity,
                        fmt_minor(l.unit_cost_minor),
                        l.received
                    );
                }
            }
            return Ok(());
        }
        OrderCmd::AddLine { id, model, quantity, unit_cost } => {
            let m = models::find(db, &model).await?;
            let cost = parse_money("--unit-cost", &unit_cost)?;
            let action = PoAction::AddLine { model: ModelId(m.id), quantity, unit_cost_minor: cost };
            (id, action, format!("add-line {} x {} at {}", quantity, m.label(), fmt_minor(cost)))
        }
        OrderCmd::Place { id } => (id, PoAction::Order, "order".to_string()),
        OrderCmd::Cancel { id } => (id, PoAction::Cancel, "cancel".to_string()),
    };
    let o = match orders::act(db, id, &action).await {
        Err(StoreError::NotFound(_)) => anyhow::bail!("no purchase order {id} (see `stock order list`)"),
        r => r?,
    };
    audit::record(db, &by, "stock.order", &format!("purchase order {id}"), &format!("{verb} → {}", o.order.status))
        .await?;
    print_order(&o);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_takes_major_units_with_at_most_two_decimals() {
        assert_eq!(parse_money("--unit-cost", "89.00").unwrap(), 8900);
        assert_eq!(parse_money("--unit-cost", "89").unwrap(), 8900);
        assert_eq!(parse_money("--unit-cost", "89.5").unwrap(), 8950);
        assert_eq!(parse_money("--unit-cost", " 0.07 ").unwrap(), 7);
        assert_eq!(parse_money("--unit-cost", ".5").unwrap(), 50);
        assert_eq!(parse_money("--unit-cost", "0").unwrap(), 0);
        let e = parse_money("--unit-cost", "89.001").unwrap_err().to_string();
        assert!(e.contains("--unit-cost") && e.contains("more than 2 decimals"), "{e}");
        let e = parse_money("--unit-cost", "-1.00").unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        for bad in ["", ".", "1,50", "12a", "1.2.3", "1e3", "€5"] {
            assert!(parse_money("--unit-cost", bad).is_err(), "{bad:?}");
        }
        assert!(parse_money("--unit-cost", "1000000000.01").is_err());
        assert!(parse_money("--unit-cost", "99999999999999999999").is_err());
    }

    #[test]
    fn metres_become_millimetres() {
        assert_eq!(parse_metres("--length-m", "305").unwrap(), 305_000);
        assert_eq!(parse_metres("--length-m", "25.5").unwrap(), 25_500);
        assert_eq!(parse_metres("--length-m", "0.001").unwrap(), 1);
        assert!(parse_metres("--length-m", "0").is_err());
        assert!(parse_metres("--length-m", "1.0001").is_err());
        assert!(parse_metres("--length-m", "-3").is_err());
        assert_eq!(fmt_metres(305_000), "305 m");
        assert_eq!(fmt_metres(25_500), "25.5 m");
    }

    #[test]
    fn money_prints_two_decimals() {
        assert_eq!(fmt_minor(8900), "89.00");
        assert_eq!(fmt_minor(7), "0.07");
        assert_eq!(fmt_minor(-150), "-1.50");
    }

    #[test]
    fn targets_are_kind_equals_count() {
        assert_eq!(parse_target("warehouse=20").unwrap(), (LocationKind::Warehouse, 20));
        assert_eq!(parse_target(" Vehicle = 2 ").unwrap(), (LocationKind::Vehicle, 2));
        assert_eq!(parse_target("site=1").unwrap(), (LocationKind::Site, 1));
        assert!(parse_target("warehouse").is_err());
        assert!(parse_target("garage=2").is_err());
        assert!(parse_target("customer=2").is_err());
        assert!(parse_target("vehicle=-1").is_err());
        assert!(parse_target("vehicle=two").is_err());
        let t = parse_targets(&["warehouse=20".into(), "vehicle=2".into()]).unwrap();
        assert_eq!(t, BTreeMap::from([(LocationKind::Warehouse, 20), (LocationKind::Vehicle, 2)]));
        let e = parse_targets(&["warehouse=20".into(), "Warehouse=3".into()]).unwrap_err().to_string();
        assert!(e.contains("--target warehouse given twice"), "{e}");
        // The map is what ModelInput's targets take.
        let input = ModelInput { targets: t, ..Default::default() };
        assert_eq!(input.targets.len(), 2);
    }

    #[test]
    fn every_move_kind_is_the_logs() {
        for k in MoveKind::value_variants() {
            let name = k.to_possible_value().expect("no variant is skipped").get_name().to_string();
            let b = Batch {
                kind: k.kind(Some(" R-1 ")),
                from: None,
                to: Target::Location(1),
                items: vec![],
                note: String::new(),
                actor: String::new(),
                automatic: false,
            };
            assert_eq!(b.kind.as_str(), name);
        }
        assert_eq!(MoveKind::SendToRma.kind(Some(" R-1 ")), Kind::SendToRma { rma_number: "R-1".into() });
        let receive: Batch = Batch {
            kind: Kind::Receive { purchase_order: None, unit_cost_minor: 5 },
            from: None,
            to: Target::Location(1),
            items: vec![],
            note: String::new(),
            actor: String::new(),
            automatic: false,
        };
        assert_eq!(receive.kind.as_str(), "receive");
    }

    #[test]
    fn receive_codes_follow_the_model() {
        assert_eq!(unit_code("aa:bb:cc:dd:ee:f0", true, false), (Some("aa:bb:cc:dd:ee:f0".into()), None));
        assert_eq!(unit_code("SN123", false, true), (None, Some("SN123".into())));
        assert_eq!(unit_code("aabbccddeef0,SN1", true, true), (Some("aabbccddeef0".into()), Some("SN1".into())));
        assert_eq!(unit_code("AA-BB-CC-DD-EE-F0", false, false), (Some("AA-BB-CC-DD-EE-F0".into()), None));
        assert_eq!(unit_code("X1234", false, false), (None, Some("X1234".into())));

        let mut m = ModelRow {
            id: 7,
            vendor: "Ubiquiti".into(),
            name: "LiteBeam".into(),
            kind: "radio".into(),
            class: "trackable".into(),
            needs_mac: 1,
            needs_serial: 0,
            reorder_threshold: None,
            targets: "{}".into(),
            unit_cost_minor: 8900,
            supplier: None,
            warranty_months: None,
            created_ms: 0,
        };
        let codes = vec!["aa:bb:cc:dd:ee:f0".to_string(), "aa:bb:cc:dd:ee:f2".to_string()];
        assert_eq!(receive_items(&m, &codes, None, None).unwrap().len(), 2);
        assert!(receive_items(&m, &[], None, None).is_err());
        assert!(receive_items(&m, &codes, Some(3), None).is_err());
        m.class = "consumable".into();
        assert_eq!(
            receive_items(&m, &[], Some(50), None).unwrap(),
            vec![ItemInput::Quantity { model: 7, quantity: 50 }]
        );
        assert!(receive_items(&m, &[], None, None).is_err());
        assert!(receive_items(&m, &codes, Some(5), None).is_err());
        m.class = "cut-to-length".into();
        assert_eq!(
            receive_items(&m, &[], None, Some(305_000)).unwrap(),
            vec![ItemInput::New { model: 7, mac: None, serial: None, length_mm: Some(305_000) }]
        );
        assert_eq!(
            receive_items(&m, &["SPOOL1".into()], None, Some(1000)).unwrap(),
            vec![ItemInput::New { model: 7, mac: None, serial: Some("SPOOL1".into()), length_mm: Some(1000) }]
        );
        assert!(receive_items(&m, &[], None, None).is_err());
    }
}

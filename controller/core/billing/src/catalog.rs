//! The catalog an invoice run prices against: service plans and tax classes,
//! validated once and looked up by id (binary search, no hashing).

use super::error::{BillingError, Result};
use super::money::{Money, RoundingMode};
use serde::{Deserialize, Serialize};

/// Id of a [`Plan`].
pub type PlanId = u64;
/// Id of a [`TaxClass`].
pub type TaxClassId = u64;

/// How often a plan is billed. Only monthly exists so far: the invoice run
/// is monthly, and the price of a plan is its price per billing period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BillingCycle {
    /// Once per monthly period starting on the customer's billing day.
    #[default]
    Monthly,
}

/// A service plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Unique in the catalog.
    pub id: PlanId,
    /// Shown on invoices before the speeds (`Home`).
    pub name: String,
    /// Price per full billing period, tax excluded; never negative.
    pub price: Money,
    /// Download speed in kbit/s.
    pub down_kbps: u32,
    /// Upload speed in kbit/s.
    pub up_kbps: u32,
    /// Billing cycle.
    pub cycle: BillingCycle,
    /// The tax class its recurring lines are taxed under.
    pub tax_class: TaxClassId,
}

impl Plan {
    /// `Home 25/5 Mbps` (speeds as decimal Mbit/s: `1.5/0.768 Mbps`).
    pub fn title(&self) -> String {
        format!("{} {}/{} Mbps", self.name, mbps(self.down_kbps), mbps(self.up_kbps))
    }
}

fn mbps(kbps: u32) -> String {
    let (whole, frac) = (kbps / 1000, kbps % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    let f = format!("{frac:03}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// One tax of a class (`State sales tax`, 6.25 % = 625 bp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxComponent {
    /// Shown in the invoice's tax summary.
    pub name: String,
    /// Rate in basis points (1/100 of a percent), at most 10,000.
    pub rate_bp: u32,
}

/// A tax class: the taxes a line of this class bears (several components
/// stack, each computed on the line's net amount, not on each other), and
/// the rounding its authority prescribes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxClass {
    /// Unique in the catalog.
    pub id: TaxClassId,
    /// `Internet service`, `Equipment`, `Exempt`.
    pub name: String,
    /// Empty = untaxed.
    pub components: Vec<TaxComponent>,
    /// Rounding of each line's tax (per line, per component).
    pub rounding: RoundingMode,
}

/// Plans and tax classes, sorted by id, ids unique, every plan's tax class
/// present, every price and rate valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CatalogRepr", into = "CatalogRepr")]
pub struct Catalog {
    plans: Vec<Plan>,
    tax_classes: Vec<TaxClass>,
}

#[derive(Serialize, Deserialize)]
struct CatalogRepr {
    plans: Vec<Plan>,
    tax_classes: Vec<TaxClass>,
}

impl TryFrom<CatalogRepr> for Catalog {
    type Error = BillingError;
    fn try_from(r: CatalogRepr) -> Result<Self> {
        Catalog::new(r.plans, r.tax_classes)
    }
}

impl From<Catalog> for CatalogRepr {
    fn from(c: Catalog) -> Self {
        CatalogRepr { plans: c.plans, tax_classes: c.tax_classes }
    }
}

impl Catalog {
    /// Validates and indexes plans and tax classes.
    pub fn new(mut plans: Vec<Plan>, mut tax_classes: Vec<TaxClass>) -> Result<Catalog> {
        plans.sort_by_key(|p| p.id);
        tax_classes.sort_by_key(|t| t.id);
        if let Some(w) = plans.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(BillingError::DuplicateId(w[0].id));
        }
        if let Some(w) = tax_classes.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(BillingError::DuplicateId(w[0].id));
        }
        for t in &tax_classes {
            if let Some(c) = t.components.iter().find(|c| c.rate_bp > 10_000) {
                return Err(BillingError::InvalidRate(c.rate_bp));
            }
        }
        let catalog = Catalog { plans, tax_classes };
        for p in &catalog.plans {
            if p.price.is_negative() {
                return Err(BillingError::Negative { what: "plan price" });
            }
            catalog.tax_class(p.tax_class)?;
        }
        Ok(catalog)
    }

    /// The plan with this id.
    pub fn plan(&self, id: PlanId) -> Result<&Plan> {
        self.plans
            .binary_search_by_key(&id, |p| p.id)
            .map(|i| &self.plans[i])
            .map_err(|_| BillingError::UnknownPlan(id))
    }

    /// The tax class with this id.
    pub fn tax_class(&self, id: TaxClassId) -> Result<&TaxClass> {
        self.tax_classes
            .binary_search_by_key(&id, |t| t.id)
            .map(|i| &self.tax_classes[i])
            .map_err(|_| BillingError::UnknownTaxClass(id))
    }

    /// All plans, by id.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// All tax classes, by id.
    pub fn tax_classes(&self) -> &[TaxClass] {
        &self.tax_classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    pub fn plan(id: PlanId, cents: i64, tax: TaxClassId) -> Plan {
        Plan {
            id,
            name: format!("P{id}"),
            price: Money::new(cents, Currency::USD),
            down_kbps: 25_000,
            up_kbps: 5_000,
            cycle: BillingCycle::Monthly,
            tax_class: tax,
        }
    }

    fn class(id: TaxClassId, bp: u32) -> TaxClass {
        TaxClass {
            id,
            name: "t".into(),
            components: vec![TaxComponent { name: "s".into(), rate_bp: bp }],
            rounding: RoundingMode::HalfUp,
        }
    }

    #[test]
    fn validation_and_lookup() {
        let c = Catalog::new(vec![plan(2, 100, 1), plan(1, 200, 1)], vec![class(1, 500)]).unwrap();
        assert_eq!(c.plan(1).unwrap().price.minor, 200);
        assert_eq!(c.plan(3), Err(BillingError::UnknownPlan(3)));
        assert_eq!(
            Catalog::new(vec![plan(1, 1, 1), plan(1, 1, 1)], vec![class(1, 0)]),
            Err(BillingError::DuplicateId(1))
        );
        assert_eq!(Catalog::new(vec![plan(1, 1, 2)], vec![class(1, 0)]), Err(BillingError::UnknownTaxClass(2)));
        assert_eq!(Catalog::new(vec![], vec![class(1, 10_001)]), Err(BillingError::InvalidRate(10_001)));
        assert!(Catalog::new(vec![plan(1, -1, 1)], vec![class(1, 0)]).is_err());
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Catalog>(&json).unwrap(), c);
        let dup = json.replace(r#""id":2"#, r#""id":1"#);
        assert!(serde_json::from_str::<Catalog>(&dup).is_err());
    }

    #[test]
    fn titles() {
        let mut p = plan(1, 0, 1);
        p.name = "Home".into();
        assert_eq!(p.title(), "Home 25/5 Mbps");
        p.down_kbps = 1500;
        p.up_kbps = 768;
        assert_eq!(p.title(), "Home 1.5/0.768 Mbps");
    }
}

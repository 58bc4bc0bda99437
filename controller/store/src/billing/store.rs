//! The billing stores under one name, for callers (the CLI, the services,
//! the pages) that use many of them: each concern has its own module
//! ([`common`](super::common), [`plans`](super::plans),
//! [`accounts`](super::accounts), [`subscriptions`](super::subscriptions),
//! [`charges`](super::charges), [`payments`](super::payments),
//! [`balances`](super::balances), [`invoices`](super::invoices),
//! [`autopay`](super::autopay), [`inputs`](super::inputs)).
//!
//! Dates of the operator's calendar are stored as `YYYY-MM-DD` text, money as
//! minor units plus a currency code (the exponent comes from [`currency`]).
//! Closed sets (payment methods, ledger kinds, charge and hold kinds, tax
//! rounding, billing cycles, invoice statuses, attempt outcomes) are
//! [`text_enum!`](crate::text_enum)s: a stored text no variant names is
//! [`StoreError::Corrupt`](crate::StoreError::Corrupt).

pub use super::accounts::*;
pub use super::allocations::{AllocationLine, paid_by_payment, paid_into_invoice, settle_everyone};
pub use super::autopay::*;
pub use super::balances::*;
pub use super::charges::*;
pub use super::common::{AmountLimits, currency, parse_date, parse_payment_reference, payment_reference};
pub use super::credit_notes::*;
pub(crate) use super::inputs::*;
pub use super::invoices::*;
pub use super::payments::*;
pub use super::plans::*;
pub use super::refunds::*;
pub use super::subscriptions::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;
    use crate::billing::invoice::{DiscountTarget, DiscountValue};
    use crate::billing::money::{Currency, Money, RoundingMode};
    use crate::db::Db;

    /// A fresh SQLite database with one customer.
    async fn with_customer() -> (tempfile::TempDir, Db, i64) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let c =
            crate::customers::create(&db, &crate::customers::CustomerInput { name: "A".into(), ..Default::default() })
                .await
                .unwrap()
                .id;
        (dir, db, c)
    }

    #[tokio::test]
    async fn plans_are_edited_archived_not_deleted_once_sold_and_charge_their_setup_fee() {
        use jiff::civil::date;
        let (_dir, db, c) = with_customer().await;
        set_account(&db, &AccountInput { customer_id: c, billing_day: 1, ..Default::default() }).await.unwrap();
        let vat = vec![parse_tax_component("State:6.25").unwrap()];
        let t = add_tax_class(&db, "Service", &vat, RoundingMode::HalfUp).await.unwrap();
        let usd = |m| Money::new(m, Currency::USD);
        let np = NewPlan {
            name: "Rural 25".into(),
            price: usd(5500),
            down_kbps: 25_000,
            up_kbps: 5_000,
            tax_class_id: t,
            data_cap_gb: Some(500),
            setup_fee_minor: 9900,
        };
        let p = add_plan(&db, &np).await.unwrap();
        assert_eq!((p.data_cap_gb, p.setup_fee.as_str()), (Some(500), "99.00 USD"));
        for (bad, field) in [
            (NewPlan { data_cap_gb: Some(0), ..np.clone() }, "data_cap_gb"),
            (NewPlan { setup_fee_minor: -1, ..np.clone() }, "setup_fee"),
            (NewPlan { up_kbps: 0, ..np.clone() }, "up_kbps"),
        ] {
            assert_eq!(edit_plan(&db, p.id, &bad).await.unwrap_err().field(), Some(field));
        }
        let spare = add_plan(&db, &NewPlan { name: "Spare".into(), ..np.clone() }).await.unwrap();
        let e = edit_plan(&db, p.id, &NewPlan { name: "Spare".into(), ..np.clone() }).await.unwrap_err();
        assert_eq!(e.field(), Some("name"), "names stay unique");
        let p = edit_plan(&db, p.id, &NewPlan { price: usd(6000), data_cap_gb: None, ..np.clone() }).await.unwrap();
        assert_eq!((p.price.as_str(), p.data_cap_gb), ("60.00 USD", None));

        // Subscribing charges the setup fee once, with the plan's tax class.
        subscribe(&db, c, p.id, date(2026, 3, 5)).await.unwrap();
        let fees: Vec<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT description, amount_minor, tax_class_id FROM charges WHERE customer_id = $1")
                .bind(c)
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(fees, vec![("Setup fee: Rural 25".to_string(), 9900, Some(t))]);
        // Sold: not deleted, archived (no longer sold; back on sale later).
        assert!(matches!(delete_plan(&db, p.id).await, Err(StoreError::Conflict(_))));
        assert!(edit_plan(&db, p.id, &NewPlan { price: Money::new(1, Currency::EUR), ..np.clone() }).await.is_err());
        set_plan_active(&db, p.id, false).await.unwrap();
        assert!(subscribe(&db, c, p.id, date(2026, 4, 1)).await.unwrap_err().to_string().contains("no longer sold"));
        set_plan_active(&db, p.id, true).await.unwrap();
        delete_plan(&db, spare.id).await.unwrap();
        assert!(plan(&db, spare.id).await.unwrap().is_none());

        // Tax classes: edited, and deleted only when unused.
        let two = vec![parse_tax_component("State:6.25").unwrap(), parse_tax_component("County:1").unwrap()];
        edit_tax_class(&db, t, "Service 2027", &two, RoundingMode::HalfEven).await.unwrap();
        let tc = tax_classes(&db).await.unwrap().into_iter().find(|x| x.id == t).unwrap();
        assert_eq!((tc.name.as_str(), tc.components.len(), tc.rounding), ("Service 2027", 2, Rounding::HalfEven));
        assert!(matches!(delete_tax_class(&db, t).await, Err(StoreError::Conflict(_))), "plans use it");
        let unused = add_tax_class(&db, "Unused", &[], RoundingMode::HalfUp).await.unwrap();
        assert_eq!(
            edit_tax_class(&db, unused, "Service 2027", &[], RoundingMode::HalfUp).await.unwrap_err().field(),
            Some("name")
        );
        delete_tax_class(&db, unused).await.unwrap();
        assert!(matches!(delete_tax_class(&db, unused).await, Err(StoreError::NotFound(_))));
    }

    #[tokio::test]
    async fn a_plan_change_is_previewed_from_the_core_for_the_period_it_falls_in() {
        use jiff::civil::date;
        let (_dir, db, c) = with_customer().await;
        set_account(&db, &AccountInput { customer_id: c, billing_day: 1, ..Default::default() }).await.unwrap();
        let t = untaxed_class(&db).await.unwrap();
        let usd = |m| Money::new(m, Currency::USD);
        let home = add_plan(&db, &NewPlan::new("Home", usd(3100), 1, 1, t)).await.unwrap();
        let pro = add_plan(&db, &NewPlan::new("Pro", usd(6200), 1, 1, t)).await.unwrap();
        let s = subscribe(&db, c, home.id, date(2026, 11, 1)).await.unwrap();
        let p = preview_change(&db, s, pro.id, date(2026, 12, 16)).await.unwrap();
        assert!(!p.invoiced);
        assert_eq!(p.before.len(), 1);
        assert_eq!((p.before[0].days, p.before[0].period_days, p.before_total.as_str()), (31, 31, "31.00 USD"));
        let split: Vec<(&str, u32, &str)> =
            p.after.iter().map(|x| (x.plan.as_str(), x.days, x.amount.as_str())).collect();
        assert_eq!(split, vec![("Home", 15, "15.00 USD"), ("Pro", 16, "32.00 USD")]);
        assert_eq!(p.after_total, "47.00 USD");
        // Nothing was written: the change is still to be made.
        assert_eq!(preview_change(&db, s, pro.id, date(2026, 12, 16)).await.unwrap(), p);
        for (on, field) in [(date(2026, 10, 1), "on")] {
            assert_eq!(preview_change(&db, s, pro.id, on).await.unwrap_err().field(), Some(field));
        }
        set_plan_active(&db, pro.id, false).await.unwrap();
        assert_eq!(preview_change(&db, s, pro.id, date(2026, 12, 16)).await.unwrap_err().field(), Some("plan"));
        set_plan_active(&db, pro.id, true).await.unwrap();
        // Once December is invoiced, the preview says so.
        crate::billing::run::run(&db, date(2026, 12, 1), &Default::default()).await.unwrap();
        assert!(preview_change(&db, s, pro.id, date(2026, 12, 16)).await.unwrap().invoiced);
        assert_eq!(customer_subscriptions(&db, c).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn validation_payments_and_balance() {
        use jiff::civil::date;
        let (_dir, db, c) = with_customer().await;
        let t = untaxed_class(&db).await.unwrap();
        assert_eq!(untaxed_class(&db).await.unwrap(), t, "created once");
        let usd = |m| Money::new(m, Currency::USD);
        let np = NewPlan::new("Home", usd(4500), 25_000, 5_000, t);
        let home = add_plan(&db, &np).await.unwrap();
        assert!(add_plan(&db, &np).await.is_err(), "names are unique");
        assert!(add_plan(&db, &NewPlan { name: " ".into(), ..np.clone() }).await.is_err());
        assert!(add_plan(&db, &NewPlan { name: "X".into(), price: usd(-1), ..np.clone() }).await.is_err());
        assert!(add_plan(&db, &NewPlan { name: "X".into(), down_kbps: 0, ..np.clone() }).await.is_err());
        assert!(add_plan(&db, &NewPlan { name: "X".into(), tax_class_id: 99, ..np.clone() }).await.is_err());
        let euro = add_plan(&db, &NewPlan { name: "Euro".into(), price: Money::new(100, Currency::EUR), ..np.clone() })
            .await
            .unwrap();
        assert_eq!(find_plan(&db, "Home").await.unwrap().id, home.id);
        assert_eq!(find_plan(&db, &home.id.to_string()).await.unwrap().id, home.id);
        assert!(find_plan(&db, "Nope").await.is_err());

        // No account yet: subscriptions, charges and payments are refused.
        let e = subscribe(&db, c, home.id, date(2026, 1, 1)).await.unwrap_err().to_string();
        assert!(e.contains("no billing account"), "{e}");
        assert!(
            set_account(&db, &AccountInput { customer_id: c, billing_day: 29, ..Default::default() }).await.is_err()
        );
        assert!(
            set_account(&db, &AccountInput { customer_id: 999, billing_day: 1, ..Default::default() }).await.is_err()
        );
        let a = set_account(&db, &AccountInput { customer_id: c, billing_day: 3, ..Default::default() }).await.unwrap();
        assert_eq!((a.currency.as_str(), a.payment_reference.clone()), ("USD", payment_reference(c)));
        assert!(subscribe(&db, c, euro.id, date(2026, 1, 1)).await.unwrap_err().to_string().contains("EUR"));
        let s = subscribe(&db, c, home.id, date(2026, 1, 1)).await.unwrap();
        assert!(change_plan(&db, s, home.id, date(2025, 12, 1)).await.is_err(), "before the start");
        assert!(cancel(&db, s, date(2026, 1, 1)).await.is_err());
        let hold = HoldInput {
            customer_id: c,
            subscription_id: Some(s),
            start: date(2026, 2, 1),
            end: Some(date(2026, 2, 1)),
            kind: HoldKind::Vacation,
        };
        assert!(add_hold(&db, &hold).await.is_err(), "empty hold");
        let h = add_hold(&db, &HoldInput { end: None, ..hold.clone() }).await.unwrap();
        end_hold(&db, h, date(2026, 2, 10)).await.unwrap();
        assert!(end_hold(&db, h, date(2026, 1, 10)).await.is_err());
        let charge = ChargeInput {
            customer_id: c,
            date: date(2026, 1, 1),
            kind: ChargeKind::Installation,
            description: "Installation".into(),
            amount: usd(0),
            tax_class_id: None,
        };
        assert!(add_charge(&db, &charge, &Default::default()).await.is_err(), "zero amount");
        assert!(
            add_charge(
                &db,
                &ChargeInput { amount: Money::new(5, Currency::EUR), ..charge.clone() },
                &Default::default()
            )
            .await
            .is_err()
        );
        add_charge(&db, &ChargeInput { amount: usd(9900), ..charge.clone() }, &Default::default()).await.unwrap();
        let discount = DiscountInput {
            customer_id: c,
            description: "Half".into(),
            target: DiscountTarget::AllRecurring,
            value: DiscountValue::PercentBp(10_001),
            start: date(2026, 1, 1),
            end: None,
        };
        assert!(add_discount(&db, &discount, &Default::default()).await.is_err());
        add_discount(
            &db,
            &DiscountInput { value: DiscountValue::PercentBp(5000), ..discount.clone() },
            &Default::default(),
        )
        .await
        .unwrap();

        // Payments: a payments row plus a ledger credit; a provider id is recorded once.
        let pay = PaymentInput {
            customer_id: c,
            date: date(2026, 1, 5),
            amount: usd(3000),
            method: PaymentMethod::Card,
            reference: None,
            provider_payment_id: Some("pi_1".into()),
            created_by: "test".into(),
        };
        let first = record_payment(&db, &pay, &Default::default()).await.unwrap();
        let again = record_payment(&db, &pay, &Default::default()).await.unwrap();
        assert_eq!((again.id, again.duplicate, first.duplicate), (first.id, true, false));
        assert!(
            record_payment(
                &db,
                &PaymentInput { amount: Money::new(5, Currency::EUR), ..pay.clone() },
                &Default::default()
            )
            .await
            .is_err()
        );
        assert!(
            record_payment(&db, &PaymentInput { amount: usd(-1), ..pay.clone() }, &Default::default()).await.is_err()
        );
        record_payment(
            &db,
            &PaymentInput { provider_payment_id: None, amount: usd(500), ..pay.clone() },
            &Default::default(),
        )
        .await
        .unwrap();
        let b = balance(&db, c, date(2026, 1, 31)).await.unwrap();
        assert_eq!((b.balance_minor, b.unapplied_credit_minor, b.balance.as_str()), (-3500, 3500, "-35.00 USD"));
        let n: i64 =
            sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM payments").fetch_one(&db.pool).await.unwrap();
        assert_eq!(n, 2);
        assert_eq!(ledger_entries(&db, c, Currency::USD).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn typed_errors_name_the_fields_and_corrupt_kinds_are_corrupt() {
        use jiff::civil::date;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let usd = |m| Money::new(m, Currency::USD);
        let pay = |customer_id| PaymentInput {
            customer_id,
            date: date(2026, 1, 5),
            amount: usd(100),
            method: PaymentMethod::Cash,
            reference: None,
            provider_payment_id: None,
            created_by: "test".into(),
        };
        // Unknown customers and customers without an account are 404s.
        assert!(matches!(
            record_payment(&db, &pay(999), &Default::default()).await.unwrap_err(),
            StoreError::NotFound(_)
        ));
        let c =
            crate::customers::create(&db, &crate::customers::CustomerInput { name: "B".into(), ..Default::default() })
                .await
                .unwrap()
                .id;
        assert!(matches!(
            record_payment(&db, &pay(c), &Default::default()).await.unwrap_err(),
            StoreError::NotFound(_)
        ));
        set_account(&db, &AccountInput { customer_id: c, billing_day: 1, ..Default::default() }).await.unwrap();
        let e = set_account(&db, &AccountInput { customer_id: c, billing_day: 30, ..Default::default() }).await;
        assert_eq!(e.unwrap_err().field(), Some("billing_day"));
        // The payment form's fields.
        assert_eq!(
            record_payment(&db, &PaymentInput { amount: usd(0), ..pay(c) }, &Default::default())
                .await
                .unwrap_err()
                .field(),
            Some("amount")
        );
        let bad_ref = PaymentInput { reference: Some("x\0y".into()), ..pay(c) };
        assert_eq!(record_payment(&db, &bad_ref, &Default::default()).await.unwrap_err().field(), Some("reference"));
        assert_eq!(PaymentMethod::parse("wire").unwrap_err().field(), Some("method"));
        assert_eq!(parse_date("date", "yesterday").unwrap_err().field(), Some("date"));
        // Duplicate names are conflicts.
        let t = untaxed_class(&db).await.unwrap();
        let np = NewPlan::new("Home", usd(4500), 1, 1, t);
        add_plan(&db, &np).await.unwrap();
        assert!(matches!(add_plan(&db, &np).await.unwrap_err(), StoreError::Conflict(_)));
        assert!(matches!(find_plan(&db, "Nope").await.unwrap_err(), StoreError::NotFound(_)));

        record_payment(&db, &pay(c), &Default::default()).await.unwrap();
        assert_eq!(recent_payments(&db, c, 5).await.unwrap()[0].method, PaymentMethod::Cash);
        assert_eq!(balance(&db, c, date(2026, 1, 31)).await.unwrap().balance_minor, -100);
        // Hand-edited kinds no variant names: corrupt, never a 400.
        sqlx::query("UPDATE payments SET method = 'barter'").execute(&db.pool).await.unwrap();
        assert!(matches!(recent_payments(&db, c, 5).await.unwrap_err(), StoreError::Corrupt(_)));
        sqlx::query("UPDATE ledger SET kind = 'gift'").execute(&db.pool).await.unwrap();
        assert!(matches!(balance(&db, c, date(2026, 1, 31)).await.unwrap_err(), StoreError::Corrupt(_)));
        sqlx::query("UPDATE plans SET cycle = 'weekly'").execute(&db.pool).await.unwrap();
        assert!(matches!(plans(&db).await.unwrap_err(), StoreError::Corrupt(_)));
        // ... while the invoice run's loader leaves the bad plan out instead of failing.
        let (_, skipped) = load_catalog(&db).await.unwrap();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
    }
}

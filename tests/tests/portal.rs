//! The customer portal in a real browser (headless Chromium): a customer
//! signs in, sees their balance and invoice, downloads the PDF, pays with
//! their saved card (the real Stripe client against the local
//! Stripe-compatible server), sees the invoice paid, replaces the card on
//! the provider's hosted page (Checkout in setup mode), and asks for help
//! with a ticket that staff then see. Screenshots land in `test-artifacts/`.

use fantoccini::Locator;
use mast_tests::stripe_server::StripeServer;
use mast_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sign_in_invoice_pay_and_ticket() -> anyhow::Result<()> {
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let stripe = StripeServer::start().await;
    let env = [("MAST_STRIPE_SECRET_KEY", stripe.api_key.as_str()), ("MAST_STRIPE_API_BASE", stripe.base_url.as_str())];
    let c = Controller::start(Backend::Sqlite, &env).await?.expect("sqlite");
    c.cli_ok(&["billing", "plan", "add", "Home 25", "--price", "45.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    c.cli_ok(&["billing", "plan", "add", "Pro 100", "--price", "70.00", "--down-kbps", "100000", "--up-kbps", "20000"]);
    let id: i64 = c
        .cli_ok(&["customer", "add", "--name", "Ada Okafor", "--email", "ada@example.org", "--address", "4 Ridge Rd"])
        .trim()
        .parse()?;
    c.cli_ok(&["billing", "account", "set", &id.to_string(), "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &id.to_string(), "Home 25", "--start", "2026-11-01"]);
    c.cli_ok(&["billing", "run", "--date", "2026-12-01"]);
    c.cli_ok(&["billing", "autopay", &id.to_string(), "--payment-method", "pm_card_visa"]);
    let out = c.cli_stdin(&["customer", "portal-password", &id.to_string()], "correct horse battery staple\n");
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let base = format!("http://{}", c.http);

    // A wrong password is refused; the right one opens the portal.
    b.client.goto(&format!("{base}/portal")).await?;
    b.client.wait().for_element(Locator::Css("form[action='/portal/login']")).await?;
    let sign_in = async |pw: &str| -> anyhow::Result<()> {
        b.client.goto(&format!("{base}/portal/login")).await?;
        let form = b.client.find(Locator::Css("form[action='/portal/login']")).await?;
        form.find(Locator::Css("input[name=email]")).await?.send_keys("ada@example.org").await?;
        form.find(Locator::Css("input[name=password]")).await?.send_keys(pw).await?;
        form.find(Locator::Css("button")).await?.click().await?;
        Ok(())
    };
    sign_in("not my password").await?;
    b.client.wait().for_element(Locator::Css("p.banner")).await?;
    assert!(b.client.source().await?.contains("Wrong email or password"));
    sign_in("correct horse battery staple").await?;
    b.client.wait().for_element(Locator::Css("p.balance")).await?;
    let home = b.client.source().await?;
    assert!(home.contains("Hello, Ada Okafor"), "{home}");
    assert!(home.contains("45.00 USD") && home.contains("INV-2026-000001"), "balance and invoice shown");
    b.screenshot("07-portal").await?;

    // The invoice PDF, with the portal session's cookie.
    let cookie = b.client.get_named_cookie("mast_portal").await?;
    let inv: String = home
        .split("/portal/invoices/")
        .nth(1)
        .expect("invoice link")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let pdf = reqwest::Client::new()
        .get(format!("{base}/portal/invoices/{inv}/pdf"))
        .header("cookie", format!("mast_portal={}", cookie.value()))
        .send()
        .await?;
    assert_eq!(pdf.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/pdf"));
    assert!(pdf.bytes().await?.starts_with(b"%PDF-"));
    b.client.goto(&format!("{base}/portal/invoices/{inv}")).await?;
    b.client.wait().for_element(Locator::Css("article.invoice")).await?;
    let page = b.client.source().await?;
    assert!(page.contains("Amount due") && page.contains("M00000"), "the invoice as HTML with its reference");
    b.screenshot("07b-portal-invoice").await?;
    b.client.goto(&format!("{base}/portal")).await?;
    // Without the cookie: the sign-in page, not the invoice.
    let anon = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    assert_eq!(anon.get(format!("{base}/portal/invoices/{inv}/pdf")).send().await?.status().as_u16(), 303);

    // Pay now with the saved card.
    b.client.find(Locator::Css("form[action='/portal/pay'] button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("p.banner")).await?;
    let paid = b.client.source().await?;
    assert!(paid.contains("Thank you: 45.00 USD paid."), "{paid}");
    b.screenshot("08-portal-paid").await?;
    assert_eq!(stripe.charges().len(), 1);
    b.client.goto(&format!("{base}/portal")).await?;
    b.client.wait().for_element(Locator::Css("p.balance")).await?;
    let home = b.client.source().await?;
    assert!(home.contains("Balance: <strong>0.00 USD</strong>"));
    assert!(
        home.contains("Home 25</strong> · 25 ↓ / 5 ↑ Mbit/s") && home.contains("Next invoice: "),
        "the plan: {home}"
    );
    assert!(home.contains("<span class=\"badge up\">Paid</span>"), "the invoice's paid state: {home}");
    // Replace the card on the payment provider's hosted page (Checkout in
    // setup mode): out to the page, choose a card, back to the portal.
    b.client.find(Locator::Id("save-card")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("continue-to-provider")).await?;
    b.client.find(Locator::Id("continue-to-provider")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("select#card")).await?;
    assert!(b.client.current_url().await?.as_str().starts_with(&stripe.base_url), "on the provider's page");
    b.client.find(Locator::Css("option[value='pm_card_mastercard']")).await?.click().await?;
    b.client.find(Locator::Id("submit")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("card-saved")).await?;
    let saved = b.client.source().await?;
    assert!(saved.contains("mastercard •••• 4444"), "{saved}");
    b.screenshot("08a-portal-card-saved").await?;
    b.client.goto(&format!("{base}/portal")).await?;
    b.client.wait().for_element(Locator::Id("saved-card")).await?;
    assert!(b.client.source().await?.contains("mastercard •••• 4444"));
    // Ask for a different plan: a billing request the staff see.
    b.client.find(Locator::Css("details.plan-request summary")).await?.click().await?;
    b.client.find(Locator::Id("plan-request-note")).await?.send_keys("From next month, please.").await?;
    b.client.find(Locator::Id("ask-plan")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("ol.timeline")).await?;
    let asked = b.client.source().await?;
    assert!(asked.contains("Plan change request: Pro 100") && asked.contains("From next month, please."), "{asked}");
    b.screenshot("08b-portal-plan-request").await?;

    // Ask for help; staff see the ticket with its source.
    b.client.goto(&format!("{base}/portal/tickets/new")).await?;
    let form = b.client.find(Locator::Css("form[action='/portal/tickets']")).await?;
    form.find(Locator::Css("input[name=subject]")).await?.send_keys("Slow in the evening").await?;
    form.find(Locator::Css("textarea[name=body]")).await?.send_keys("Video stalls after 8 pm.").await?;
    form.find(Locator::Css("button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("ol.timeline")).await?;
    assert!(b.client.source().await?.contains("Video stalls after 8 pm."));
    b.screenshot("09-portal-ticket").await?;
    let (_, v) = c.get("/api/v1/tickets", &c.token("support")).await?;
    let t = &v["tickets"][0];
    assert_eq!((t["source"].as_str(), t["customer_id"].as_i64()), (Some("portal"), Some(id)), "{v}");

    // Phone width.
    b.client.set_window_size(390, 844).await?;
    b.client.goto(&format!("{base}/portal")).await?;
    b.screenshot("10-portal-phone").await?;
    Ok(())
}

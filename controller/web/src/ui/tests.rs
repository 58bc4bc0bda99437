//! Escaping and behaviour of every component that shows caller text.

use super::*;
use maud::Render;

const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;
const ESCAPED: &str = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;";

/// The raw string never appears, nor any tag from it; its escaped form does.
#[track_caller]
fn safe(html: &Markup) -> String {
    let s = html.clone().into_string();
    assert!(!s.contains(HOSTILE), "raw hostile string in:\n{s}");
    assert!(!s.contains("<script>alert"), "script tag in:\n{s}");
    assert!(!s.contains("<img src=x"), "img tag in:\n{s}");
    assert!(s.contains(ESCAPED), "escaped form missing in:\n{s}");
    s
}

fn ctx<'a>(nav: &'a [NavItem<'a>]) -> PageCtx<'a> {
    PageCtx {
        name: HOSTILE,
        role: HOSTILE,
        csrf: HOSTILE,
        nav,
        path: "/sites/3",
        banner: Some((HOSTILE, Some(HOSTILE))),
    }
}

const NAV: &[NavItem<'static>] =
    &[NavItem { href: "/", label: "Dashboard" }, NavItem { href: "/sites", label: "Sites" }];

#[test]
fn layouts_escape_title_names_and_csrf() {
    let page = layout(&ctx(NAV), HOSTILE, html! { p { (HOSTILE) } });
    let s = safe(&page);
    assert!(s.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    assert!(s.contains(&format!("<title>{ESCAPED} · Mast</title>")));
    assert!(s.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#));
    assert!(s.contains(r#"<link rel="stylesheet" href="/assets/mast.css">"#));
    assert!(s.contains(r#"<script src="/assets/vendor/htmx.min.js" defer></script>"#));
    assert!(s.contains(r#"<script src="/assets/mast.js" defer></script>"#));
    assert!(s.contains(r#"<form class="search" role="search" method="get" action="/search">"#));
    assert!(s.contains(r#"name="q" type="search" placeholder="Site, device, customer, MAC, IP""#));
    assert!(s.contains(r#"<form class="logout" method="post" action="/logout">"#));
    assert!(s.contains(&format!(r#"<input type="hidden" name="csrf" value="{ESCAPED}">"#)));
    assert!(s.contains(&format!("{ESCAPED} · {ESCAPED}")));
    // The current section is marked; the others are not.
    assert!(s.contains(r#"<a href="/sites" class="current" aria-current="page">Sites</a>"#), "{s}");
    assert!(s.contains(r#"<a href="/">Dashboard</a>"#));
    // The no-JS menu toggle: a real checkbox with a label.
    assert!(s.contains(r#"id="nav-toggle""#) && s.contains(r#"for="nav-toggle""#));
    // CSP: nothing inline.
    assert!(!s.contains("style=") && !s.contains(" onclick") && !s.contains("<script>"));

    let s = safe(&bare_layout(HOSTILE, html! {}));
    assert!(!s.contains("<header"));
    let s = safe(&portal_layout(HOSTILE, HOSTILE, HOSTILE, html! {}));
    assert!(s.contains(r#"action="/portal/logout""#) && s.contains(r#"href="/portal/tickets/new""#));
    safe(&portal_bare_layout(HOSTILE, html! {}));
}

#[test]
fn flash_badge_and_tones() {
    let s = safe(&flash(FlashKind::Error, HOSTILE));
    assert!(s.contains(r#"role="alert""#) && s.contains("flash-error"));
    assert!(safe(&flash(FlashKind::Info, HOSTILE)).contains(r#"role="status""#));
    assert!(safe(&flash(FlashKind::Success, HOSTILE)).contains(r#"role="status""#));

    let s = safe(&badge(HOSTILE));
    assert!(s.starts_with(r#"<span class="badge unknown">"#));
    let class = |st: &str| badge_tone(st).class();
    for (st, want) in [
        ("up", "up"),
        ("connected", "up"),
        ("Active", "up"),
        ("ok", "up"),
        ("down", "down"),
        ("offline", "down"),
        ("revoked", "down"),
        ("failed", "down"),
        ("degraded", "degraded"),
        ("at risk", "degraded"),
        ("no agent", "neutral"),
        ("never", "neutral"),
        ("0", "neutral"),
        ("pending", "unknown"),
    ] {
        assert_eq!(class(st), want, "{st}");
    }
    assert_eq!(badge("up").into_string(), r#"<span class="badge up">up</span>"#);
    safe(&tone_badge(Tone::Down, HOSTILE));
}

#[test]
fn tables_escape_cells_caption_and_empty_message() {
    let mut t = Table::new(HOSTILE).col("Name").num_col("Devices").caption(HOSTILE);
    let empty = t.render();
    let s = safe(&empty);
    assert!(s.contains(&format!(r#"<tr class="empty"><td colspan="2">{ESCAPED}</td></tr>"#)), "{s}");
    assert!(s.contains(r#"<div class="wrap table-wrap">"#));
    t.push(vec![html! { (HOSTILE) }, html! { (3) }]);
    let s = safe(&t.render());
    assert!(!s.contains(r#"class="empty""#));

    let s = Table::new("No customers yet.").col("Name").render().into_string();
    assert!(s.contains("No customers yet."));
}

#[test]
fn pager_keeps_and_encodes_the_query() {
    let p = pager("/customers", &[("q", HOSTILE)], 0, 50, 50, Some(80)).into_string();
    assert!(!p.contains(HOSTILE) && !p.contains("<script"));
    let enc: String = form_urlencoded::Serializer::new(String::new()).append_pair("q", HOSTILE).finish();
    // In the attribute, & of the query becomes &amp;.
    assert!(p.contains(&format!(r#"href="/customers?{enc}&amp;offset=50""#)), "{p}");
    assert!(p.contains("rows 1–50 of 80"));
}

#[test]
fn fields_keep_values_and_show_errors() {
    let mut errors = FormErrors::new();
    errors.field("name", HOSTILE).form(HOSTILE);
    let f = Fields::new("cust", &errors);

    let s = safe(&f.text_field("name", HOSTILE, HOSTILE, FieldOpts::new().required()));
    assert!(s.contains(r#"<label for="cust-name">"#));
    assert!(s.contains(&format!(r#"value="{ESCAPED}""#)));
    assert!(s.contains(r#"aria-invalid="true""#));
    assert!(s.contains(r#"aria-describedby="cust-name-error""#));
    assert!(s.contains(&format!(r#"<p class="field-error" id="cust-name-error">{ESCAPED}</p>"#)));
    assert!(s.contains(" required"));

    // Without an error: no aria-invalid, no error element.
    let s =
        f.email_field("email", "Email", "a@b.c", FieldOpts::new().hint("We send outage notices here.")).into_string();
    assert!(!s.contains("aria-invalid") && !s.contains("field-error"));
    assert!(s.contains(r#"value="a@b.c""#) && s.contains(r#"aria-describedby="cust-email-hint""#), "{s}");

    let s = safe(&f.email_field("name", "Email", HOSTILE, FieldOpts::new()));
    assert!(s.contains(r#"type="email""#) && s.contains(r#"aria-invalid="true""#));
    let s = safe(&f.number_field("name", "Latitude", HOSTILE, true, FieldOpts::new()));
    assert!(s.contains(r#"inputmode="decimal""#));
    let s = f.number_field("port", "Port", "161", false, FieldOpts::new()).into_string();
    assert!(s.contains(r#"type="number""#) && s.contains(r#"value="161""#));
    let s = safe(&f.date_field("name", "Until", HOSTILE, FieldOpts::new()));
    assert!(s.contains(r#"type="date""#) && s.contains(r#"aria-invalid="true""#));
    let s = safe(&f.datetime_field("name", "Starts", HOSTILE, FieldOpts::new().required()));
    assert!(s.contains(r#"type="datetime-local""#) && s.contains(" required"));
    let s = safe(&f.textarea_field("name", "Notes", HOSTILE, FieldOpts::new()));
    assert!(s.contains(&format!(r#"aria-describedby="cust-name-error">{ESCAPED}</textarea>"#)), "{s}");
    let s = safe(&f.select_field("name", "Status", &[("a", "A"), (HOSTILE, HOSTILE)], HOSTILE, FieldOpts::new()));
    assert!(s.contains(&format!(r#"<option value="{ESCAPED}" selected>{ESCAPED}</option>"#)), "{s}");
    assert!(s.contains(r#"<option value="a">A</option>"#));
    let s = safe(&f.checkbox_field("name", HOSTILE, true, FieldOpts::new()));
    assert!(s.contains(" checked") && s.contains(r#"type="checkbox""#));
    assert!(safe(&f.summary()).contains(r##"href="#cust-name""##));
    safe(&hidden("x", HOSTILE));
    safe(&csrf_field(HOSTILE));

    // Ids stay valid whatever the names.
    let s = Fields::new("a b", &errors).text_field("x\"y", "X", "", FieldOpts::new()).into_string();
    assert!(s.contains(r#"id="a-b-x-y""#), "{s}");
}

#[test]
fn passwords_and_secrets_are_never_echoed() {
    let mut errors = FormErrors::new();
    errors.field("smtp_password", "Too short.");
    let f = Fields::new("settings", &errors);
    let s = f.password_field("password", "Password", "current-password", FieldOpts::new()).into_string();
    assert!(!s.contains("value="));
    assert!(s.contains(r#"type="password""#) && s.contains(r#"autocomplete="current-password""#));

    let secret = "hunter2-SECRET-VALUE";
    // The API cannot even take the secret; make sure nothing else leaks it.
    let s = f.secret_field("smtp_password", "SMTP password", true, FieldOpts::new()).into_string();
    assert!(!s.contains(secret) && !s.contains("value="));
    assert!(s.contains("set — leave empty to keep"));
    assert!(s.contains(r#"aria-invalid="true""#));
    let s = f.secret_field("api_key", "API key", false, FieldOpts::new()).into_string();
    assert!(s.contains(r#"placeholder="not set""#) && !s.contains("value="));
}

#[test]
fn forms_add_csrf_to_post_only() {
    let s = safe(&form("/customers", Method::Post, HOSTILE, html! {}));
    assert!(s.contains(r#"<form class="stack" method="post" action="/customers">"#));
    let s = form("/search", Method::Get, "tok", html! {}).into_string();
    assert!(!s.contains("csrf"));
    safe(&form_with_class("inline", HOSTILE, Method::Get, "", html! {}));
}

#[test]
fn display_blocks_escape() {
    let s = safe(&kv_list(&[(HOSTILE, html! { (HOSTILE) })]));
    assert!(s.starts_with(r#"<dl class="facts"><dt>"#));
    let s = safe(&tiles(&[
        Tile { n: 0, label: HOSTILE, href: "/sites?status=down", class: Tone::Down },
        Tile { n: 3, label: "sites down", href: "/sites?status=down", class: Tone::Down },
    ]));
    assert!(s.contains(r#"<a class="tile neutral" href="/sites?status=down"><span class="n">0</span>"#), "{s}");
    assert!(s.contains(r#"<a class="tile down""#));
    let s = safe(&not_found_page(HOSTILE, "/"));
    assert!(s.contains(r#"<a href="/">"#) && s.contains("Not found"));
    assert!(safe(&error_page(403, HOSTILE)).contains("403 Not allowed"));
}

#[test]
fn chart_and_map_placeholders_escape() {
    let s = safe(&chart(HOSTILE, HOSTILE, ChartKind::Line, HOSTILE));
    assert!(s.contains(r#"data-chart="line""#) && s.contains(r#"class="chart-fallback""#));
    let s = chart("/devices/7/series.json?range=day", "RTT", ChartKind::Bars, "/devices/7/chart.svg?range=day")
        .into_string();
    assert!(s.contains(r#"data-src="/devices/7/series.json?range=day""#), "{s}");
    assert!(s.contains(r#"src="/devices/7/chart.svg?range=day""#));
    let s = safe(&map(HOSTILE, HOSTILE, HOSTILE, html! { p { (HOSTILE) } }));
    assert!(s.contains(r#"<div class="map" role="region" aria-label="Map" data-map data-src="#), "{s}");
}

/// `PreEscaped` bypasses escaping: allowed only on constant strings written
/// in the source, each with a `// SAFETY-HTML:` comment on the line before.
#[test]
fn pre_escaped_is_rare_and_justified() {
    let files = [
        ("mod.rs", include_str!("mod.rs")),
        ("display.rs", include_str!("display.rs")),
        ("feedback.rs", include_str!("feedback.rs")),
        ("form.rs", include_str!("form.rs")),
        ("layout.rs", include_str!("layout.rs")),
        ("table.rs", include_str!("table.rs")),
        ("viz.rs", include_str!("viz.rs")),
    ];
    for (name, src) in files {
        let lines: Vec<&str> = src.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("PreEscaped") {
                let justified = i > 0 && lines[i - 1].trim_start().starts_with("// SAFETY-HTML:");
                assert!(justified, "{name}:{}: PreEscaped without a // SAFETY-HTML: comment", i + 1);
                assert!(code.contains("PreEscaped(\""), "{name}:{}: PreEscaped of a non-literal", i + 1);
            }
        }
    }
}

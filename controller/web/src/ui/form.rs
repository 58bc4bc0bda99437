//! Forms: CSRF, field helpers with inline errors that keep what was typed.
//!
//! ```text
//! let mut errors = FormErrors::new();
//! errors.field("email", "Not an email address.");
//! let f = Fields::new("customer", &errors);
//! form("/customers", Method::Post, csrf, html! {
//!     (f.summary())
//!     (f.text_field("name", "Name", &input.name, FieldOpts::new().required()))
//!     (f.email_field("email", "Email", &input.email, FieldOpts::new()))
//!     button type="submit" { "Save" }
//! })
//! ```

use maud::{Markup, html};

/// What was wrong with a submitted form: messages per field (shown next to
/// the field) and optionally one for the form as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    fields: Vec<(String, String)>,
    form: Option<String>,
}

impl FormErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the message for field `name` (a later one replaces it).
    pub fn field(&mut self, name: &str, message: impl Into<String>) -> &mut Self {
        let message = message.into();
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = message,
            None => self.fields.push((name.to_string(), message)),
        }
        self
    }

    /// Sets the form-level message ("Could not save: the site is gone.").
    pub fn form(&mut self, message: impl Into<String>) -> &mut Self {
        self.form = Some(message.into());
        self
    }

    /// The message for field `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, m)| m.as_str())
    }

    pub fn form_message(&self) -> Option<&str> {
        self.form.as_deref()
    }

    /// Field errors in the order they were added.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, m)| (n.as_str(), m.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }
}

/// Optional attributes of a field. `FieldOpts::new().required().hint("…")`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldOpts<'a> {
    pub required: bool,
    pub placeholder: Option<&'a str>,
    pub autocomplete: Option<&'a str>,
    /// Help text under the field, linked with `aria-describedby`.
    pub hint: Option<&'a str>,
    pub max_len: Option<u32>,
    /// Monospace input (MACs, IPs, keys).
    pub mono: bool,
    /// A textarea of scanned codes, one per line (`data-scan`: `mast.js`
    /// counts them and adds the camera where the browser can read codes).
    pub scan: bool,
}

impl<'a> FieldOpts<'a> {
    pub const fn new() -> Self {
        FieldOpts {
            required: false,
            placeholder: None,
            autocomplete: None,
            hint: None,
            max_len: None,
            mono: false,
            scan: false,
        }
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn placeholder(mut self, p: &'a str) -> Self {
        self.placeholder = Some(p);
        self
    }
    pub const fn autocomplete(mut self, a: &'a str) -> Self {
        self.autocomplete = Some(a);
        self
    }
    pub const fn hint(mut self, h: &'a str) -> Self {
        self.hint = Some(h);
        self
    }
    pub const fn max_len(mut self, n: u32) -> Self {
        self.max_len = Some(n);
        self
    }
    pub const fn mono(mut self) -> Self {
        self.mono = true;
        self
    }
    pub const fn scan(mut self) -> Self {
        self.scan = true;
        self
    }
}

/// The fields of one form: `prefix` makes the ids unique on the page (two
/// forms may both have an `email` field), `errors` are shown inline.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    prefix: &'a str,
    errors: &'a FormErrors,
}

/// Keeps `[A-Za-z0-9_-]`, maps anything else to `-`: ids stay valid and
/// usable in `aria-describedby` (a space-separated list).
fn id_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).collect()
}

/// The per-field ids and aria attributes.
struct Ids {
    input: String,
    error_id: String,
    hint_id: String,
    error: Option<String>,
    hint: Option<String>,
}

impl Ids {
    fn described_by(&self) -> Option<String> {
        let ids: Vec<&str> =
            [self.error.as_ref().map(|_| self.error_id.as_str()), self.hint.as_ref().map(|_| self.hint_id.as_str())]
                .into_iter()
                .flatten()
                .collect();
        (!ids.is_empty()).then(|| ids.join(" "))
    }
    fn invalid(&self) -> Option<&'static str> {
        self.error.as_ref().map(|_| "true")
    }
    /// Error and hint, after the input.
    fn notes(&self) -> Markup {
        html! {
            @if let Some(e) = &self.error { p.field-error id=(self.error_id) { (e) } }
            @if let Some(h) = &self.hint { p.field-hint id=(self.hint_id) { (h) } }
        }
    }
}

impl<'a> Fields<'a> {
    pub fn new(prefix: &'a str, errors: &'a FormErrors) -> Self {
        Fields { prefix, errors }
    }

    /// The `id` of field `name`'s input: `{prefix}-{name}`.
    pub fn id(&self, name: &str) -> String {
        format!("{}-{}", id_part(self.prefix), id_part(name))
    }

    fn ids(&self, name: &str, hint: Option<&str>) -> Ids {
        let input = self.id(name);
        Ids {
            error_id: format!("{input}-error"),
            hint_id: format!("{input}-hint"),
            input,
            error: self.errors.get(name).map(str::to_string),
            hint: hint.map(str::to_string),
        }
    }

    /// An alert at the top of the form when anything is wrong: the
    /// form-level message, and a link to each field with an error.
    pub fn summary(&self) -> Markup {
        if self.errors.is_empty() {
            return html! {};
        }
        html! {
            div.flash.flash-error.form-summary role="alert" {
                p { (self.errors.form_message().unwrap_or("Please correct the fields marked below.")) }
                @if self.errors.fields().next().is_some() {
                    ul {
                        @for (name, msg) in self.errors.fields() {
                            li { a href={ "#" (self.id(name)) } { (msg) } }
                        }
                    }
                }
            }
        }
    }

    fn input(
        &self,
        kind: &str,
        name: &str,
        label: &str,
        value: Option<&str>,
        o: FieldOpts<'_>,
        extra: Extra,
    ) -> Markup {
        let ids = self.ids(name, o.hint);
        html! {
            div.field.has-error[ids.error.is_some()] {
                label for=(ids.input) { (label) }
                input type=(kind) id=(ids.input) name=(name) value=[value]
                    class=[o.mono.then_some("mono")]
                    required[o.required]
                    placeholder=[o.placeholder.or(extra.placeholder)]
                    autocomplete=[o.autocomplete.or(extra.autocomplete)]
                    maxlength=[o.max_len]
                    inputmode=[extra.inputmode]
                    step=[extra.step]
                    spellcheck=[extra.spellcheck]
                    aria-invalid=[ids.invalid()]
                    aria-describedby=[ids.described_by()];
                (ids.notes())
            }
        }
    }

    /// `<input type=text>` keeping `value`.
    pub fn text_field(&self, name: &str, label: &str, value: &str, o: FieldOpts<'_>) -> Markup {
        self.input("text", name, label, Some(value), o, Extra::default())
    }

    /// `<input type=email>` keeping `value`.
    pub fn email_field(&self, name: &str, label: &str, value: &str, o: FieldOpts<'_>) -> Markup {
        let extra = Extra { autocomplete: Some("email"), spellcheck: Some("false"), ..Extra::default() };
        self.input("email", name, label, Some(value), o, extra)
    }

    /// `<input type=tel>` keeping `value`.
    pub fn tel_field(&self, name: &str, label: &str, value: &str, o: FieldOpts<'_>) -> Markup {
        self.input("tel", name, label, Some(value), o, Extra { autocomplete: Some("tel"), ..Extra::default() })
    }

    /// A number keeping `value` (as typed, so a bad entry is shown back).
    /// `decimal`: a text input with `inputmode=decimal` (coordinates,
    /// money: any precision, minus sign, the phone's decimal keypad);
    /// otherwise `type=number step=1` for whole numbers.
    pub fn number_field(&self, name: &str, label: &str, value: &str, decimal: bool, o: FieldOpts<'_>) -> Markup {
        if decimal {
            let extra = Extra { inputmode: Some("decimal"), spellcheck: Some("false"), ..Extra::default() };
            self.input("text", name, label, Some(value), o, extra)
        } else {
            self.input("number", name, label, Some(value), o, Extra { step: Some("1"), ..Extra::default() })
        }
    }

    /// `<input type=date>` (`YYYY-MM-DD`) keeping `value`.
    pub fn date_field(&self, name: &str, label: &str, value: &str, o: FieldOpts<'_>) -> Markup {
        self.input("date", name, label, Some(value), o, Extra::default())
    }

    /// `<input type=datetime-local>` (`YYYY-MM-DDTHH:MM`, wall-clock time)
    /// keeping `value`.
    pub fn datetime_field(&self, name: &str, label: &str, value: &str, o: FieldOpts<'_>) -> Markup {
        self.input("datetime-local", name, label, Some(value), o, Extra::default())
    }

    /// A password: never echoes a value. `autocomplete` should be
    /// `current-password` or `new-password`.
    pub fn password_field(&self, name: &str, label: &str, autocomplete: &str, o: FieldOpts<'_>) -> Markup {
        let o = FieldOpts { autocomplete: Some(autocomplete), ..o };
        self.input("password", name, label, None, o, Extra::default())
    }

    /// A write-only secret (API key, SMTP password): never shows the value.
    /// When one is stored (`is_set`) the placeholder says so and that an
    /// empty submission keeps it; the handler must treat "" as "unchanged".
    pub fn secret_field(&self, name: &str, label: &str, is_set: bool, o: FieldOpts<'_>) -> Markup {
        let placeholder = if is_set { "set — leave empty to keep" } else { "not set" };
        let o = FieldOpts { placeholder: Some(placeholder), ..o };
        let extra = Extra { autocomplete: Some("off"), spellcheck: Some("false"), ..Extra::default() };
        self.input("password", name, label, None, o, extra)
    }

    /// `<textarea>` keeping `value`.
    pub fn textarea_field(&self, name: &str, label: &str, value: &str, o: FieldOpts<'_>) -> Markup {
        let ids = self.ids(name, o.hint);
        html! {
            div.field.has-error[ids.error.is_some()] {
                label for=(ids.input) { (label) }
                textarea id=(ids.input) name=(name) rows="4"
                    class=[o.mono.then_some("mono")]
                    data-scan=[o.scan.then_some("lines")]
                    autocapitalize=[o.scan.then_some("off")]
                    spellcheck=[o.scan.then_some("false")]
                    required[o.required]
                    placeholder=[o.placeholder]
                    maxlength=[o.max_len]
                    aria-invalid=[ids.invalid()]
                    aria-describedby=[ids.described_by()] { (value) }
                (ids.notes())
            }
        }
    }

    /// `<select>` of `(value, label)` options with `selected` chosen.
    pub fn select_field(
        &self,
        name: &str,
        label: &str,
        options: &[(&str, &str)],
        selected: &str,
        o: FieldOpts<'_>,
    ) -> Markup {
        let ids = self.ids(name, o.hint);
        html! {
            div.field.has-error[ids.error.is_some()] {
                label for=(ids.input) { (label) }
                select id=(ids.input) name=(name)
                    required[o.required]
                    aria-invalid=[ids.invalid()]
                    aria-describedby=[ids.described_by()] {
                    @for (value, text) in options {
                        option value=(value) selected[*value == selected] { (text) }
                    }
                }
                (ids.notes())
            }
        }
    }

    /// A checkbox (sends `name=on` when ticked) with its label beside it.
    pub fn checkbox_field(&self, name: &str, label: &str, checked: bool, o: FieldOpts<'_>) -> Markup {
        let ids = self.ids(name, o.hint);
        html! {
            div.field.field-check.has-error[ids.error.is_some()] {
                label.check for=(ids.input) {
                    input type="checkbox" id=(ids.input) name=(name) checked[checked]
                        aria-invalid=[ids.invalid()]
                        aria-describedby=[ids.described_by()];
                    " " (label)
                }
                (ids.notes())
            }
        }
    }
}

/// Per-kind defaults that [`FieldOpts`] can override.
#[derive(Default, Clone, Copy)]
struct Extra {
    placeholder: Option<&'static str>,
    autocomplete: Option<&'static str>,
    inputmode: Option<&'static str>,
    step: Option<&'static str>,
    spellcheck: Option<&'static str>,
}

/// `<input type=hidden>`.
pub fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// The CSRF token every POST form carries (`name=csrf`).
pub fn csrf_field(token: &str) -> Markup {
    hidden("csrf", token)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A `class="stack"` form (fields one under another); POST forms get the
/// CSRF field.
pub fn form(action: &str, method: Method, csrf: &str, body: Markup) -> Markup {
    form_with_class("stack", action, method, csrf, body)
}

/// A form with the given class (`stack`, `inline`, …); POST forms get the
/// CSRF field.
pub fn form_with_class(class: &str, action: &str, method: Method, csrf: &str, body: Markup) -> Markup {
    let m = match method {
        Method::Get => "get",
        Method::Post => "post",
    };
    html! {
        form class=(class) method=(m) action=(action) {
            @if method == Method::Post { (csrf_field(csrf)) }
            (body)
        }
    }
}

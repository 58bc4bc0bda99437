//! Invoice PDF rendering, pure: an [`InvoiceDocument`] (plain data whose
//! amounts and dates the caller has already formatted) in, PDF bytes out. No
//! IO, no clock: the same document always gives the same bytes.
//!
//! # What the PDF contains
//!
//! One or more A4 (or US Letter, [`Paper`]) pages:
//! - top left, the operator's logo if there is one ([`InvoiceDocument::logo`]:
//!   PNG or JPEG, fitted into 150 × 48 pt), then the operator: name, address
//!   lines, email, phone, tax id;
//! - top right, "INVOICE" and the invoice number, issue date, due date,
//!   period, payment reference and amount due;
//! - the bill-to block: the customer's name, address lines, email, phone and
//!   tax id;
//! - the table of lines: description on the left (wrapped to its column),
//!   amount right-aligned, the optional detail (quantity, period note) below
//!   the description in smaller grey text; when the table runs over a page its
//!   header row is repeated at the top of the next one;
//! - the totals, right-aligned: subtotal, discounts, each tax, total, credits
//!   applied, previous balance and the amount due;
//! - a box "Pay by `<due date>` — reference `<payment reference>`" with the amount
//!   due and the payment instructions: bank transfers are matched by that
//!   reference, so it is printed in bold here and in the header;
//! - the notes;
//! - on every page a footer with the invoice number and "Page i of N".
//!
//! The words printed around the data come from [`Labels`] (English by
//! default), so an operator can translate them.
//!
//! # Fonts and encoding
//!
//! The text uses two of the PDF standard 14 fonts, Helvetica and
//! Helvetica-Bold, which every viewer has: nothing is embedded, so an invoice
//! is a few kilobytes and renders in well under a millisecond. They are
//! encoded with WinAnsiEncoding (Windows-1252): ASCII, Latin-1 and € ‚ ƒ „ … †
//! ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ. Input is mapped to it character
//! by character: a letter followed by a combining accent is composed (e + ◌́
//! gives é), letters of Latin Extended-A and Romanian ș/ț lose their accent
//! (Ł gives L, ő gives ö), typographic spaces, hyphens and the minus sign
//! become their plain forms, invisible format characters (zero-width
//! spaces and joiners, bidirectional marks, variation selectors, soft
//! hyphens) are dropped, line breaks are kept, and anything else (other
//! scripts, emoji, control characters) prints as `?`. Right-to-left text is
//! laid out left to right. The layout measures text with the fonts' Adobe
//! AFM widths (also written into the font dictionaries, so every viewer uses
//! the same metrics): that is how amounts are right-aligned and long text is
//! wrapped (at spaces, or inside a word too long for its column).
//!
//! Content streams are not compressed. Measured on a typical one-page
//! invoice: rendering takes about 20 µs and gives 7 KB; deflating it with
//! miniz_oxide would add about 45 µs (level 1) to save about 4 KB.
//!
//! [`render`] never panics. Its one error is content needing more than
//! [`MAX_PAGES`] pages, which only absurd input does.

use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use serde::{Deserialize, Serialize};

/// Everything printed on an invoice, already formatted by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDocument {
    /// The operator issuing the invoice (printed top left).
    pub operator: Party,
    /// The operator's logo, decoded once ([`Logo::decode`]) and shared by
    /// every invoice rendered with it.
    #[serde(skip)]
    pub logo: Option<std::sync::Arc<Logo>>,
    /// The customer billed (the bill-to block).
    pub customer: Party,
    /// The invoice number, e.g. `INV-2026-000123`.
    pub number: String,
    /// The issue date, e.g. `2026-12-01`.
    pub issue_date: String,
    /// The due date, e.g. `2026-12-15`.
    pub due_date: String,
    /// The period billed, e.g. `1 Dec 2026 – 31 Dec 2026`.
    pub period: String,
    /// The invoice lines, in order.
    #[serde(default)]
    pub lines: Vec<DocLine>,
    /// The sum of the lines, e.g. `100.00 EUR`.
    pub subtotal: String,
    /// The discounts, as the caller wants them printed (e.g. `-10.00 EUR`).
    pub discounts: Option<String>,
    /// One row per tax: label and amount, e.g. `("VAT 20%", "4.00 EUR")`.
    #[serde(default)]
    pub taxes: Vec<(String, String)>,
    /// Subtotal plus taxes.
    pub total: String,
    /// Customer credit applied to this invoice.
    pub credits_applied: Option<String>,
    /// Balance carried over from earlier invoices.
    pub previous_balance: Option<String>,
    /// What the customer has to pay.
    pub amount_due: String,
    /// The reference bank transfers must carry, e.g. `MAST-123-2612`.
    pub payment_reference: String,
    /// How to pay (bank account, IBAN, payment link...), one paragraph each.
    #[serde(default)]
    pub payment_instructions: Vec<String>,
    /// Free notes printed at the end, one paragraph each.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Paper size; A4 unless told.
    #[serde(default)]
    pub paper: Paper,
    /// The words printed around the data; English unless told.
    #[serde(default)]
    pub labels: Labels,
}

/// An operator or a customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Name (printed bold).
    pub name: String,
    /// Address lines, in order.
    #[serde(default)]
    pub lines: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Tax or VAT identification number.
    pub tax_id: Option<String>,
}

/// One line of the invoice table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocLine {
    /// What is billed, e.g. `Home 25/5 Mbps`.
    pub description: String,
    /// Quantity or period note, printed small and grey below the description.
    pub detail: Option<String>,
    /// The line's amount, e.g. `25.00 EUR`.
    pub amount: String,
}

/// Paper size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    /// ISO A4, 210 × 297 mm.
    #[default]
    A4,
    /// US Letter, 8.5 × 11 in.
    Letter,
}

impl Paper {
    /// Width and height in PDF points (1/72 in).
    pub fn size_pt(self) -> (f32, f32) {
        match self {
            Paper::A4 => (595.28, 841.89),
            Paper::Letter => (612.0, 792.0),
        }
    }
}

/// The fixed words of the invoice, for translation. Missing fields take the
/// English default when deserialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Labels {
    /// The title, top right.
    pub invoice: String,
    pub invoice_number: String,
    pub issue_date: String,
    pub due_date: String,
    pub period: String,
    /// "Reference" in the header.
    pub reference: String,
    pub bill_to: String,
    /// Printed before a party's tax id.
    pub tax_id: String,
    /// Table header, left.
    pub description: String,
    /// Table header, right.
    pub amount: String,
    pub subtotal: String,
    pub discounts: String,
    pub total: String,
    pub credits_applied: String,
    pub previous_balance: String,
    pub amount_due: String,
    /// The box title reads "{pay_by} {due date} — {pay_reference} {reference}".
    pub pay_by: String,
    pub pay_reference: String,
    pub notes: String,
    /// The footer reads "{page} i {page_of} N".
    pub page: String,
    pub page_of: String,
}

impl Default for Labels {
    fn default() -> Self {
        let s = |s: &str| s.to_owned();
        Labels {
            invoice: s("INVOICE"),
            invoice_number: s("Invoice no."),
            issue_date: s("Issue date"),
            due_date: s("Due date"),
            period: s("Period"),
            reference: s("Reference"),
            bill_to: s("BILL TO"),
            tax_id: s("Tax ID"),
            description: s("Description"),
            amount: s("Amount"),
            subtotal: s("Subtotal"),
            discounts: s("Discounts"),
            total: s("Total"),
            credits_applied: s("Credits applied"),
            previous_balance: s("Previous balance"),
            amount_due: s("Amount due"),
            pay_by: s("Pay by"),
            pay_reference: s("reference"),
            notes: s("Notes"),
            page: s("Page"),
            page_of: s("of"),
        }
    }
}

/// At most this many pages: a guard against absurd input turning into an
/// absurd file (a normal invoice has one or two).
pub const MAX_PAGES: usize = 2_000;

/// Why an invoice could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// The content would need more than [`MAX_PAGES`] pages.
    #[error("the invoice would need more than {max} pages")]
    TooManyPages { max: usize },
}

/// Renders the invoice to the bytes of a PDF 1.7 file.
///
/// Fails only when the content needs more than [`MAX_PAGES`] pages.
pub fn render(doc: &InvoiceDocument) -> Result<Vec<u8>, PdfError> {
    let mut layout = Layout::new(doc);
    layout.logo = doc.logo.as_deref().map(|l| &l.0);
    layout.header()?;
    layout.bill_to()?;
    layout.table()?;
    layout.totals()?;
    layout.pay_box()?;
    layout.notes()?;
    layout.finish()
}

// ---------------------------------------------------------------------------
// Fonts: Helvetica and Helvetica-Bold AFM widths, WinAnsi codes 32..=255, in
// 1/1000 em. The six codes WinAnsi leaves undefined (127, 129, 141, 143, 144,
// 157) are 0: the encoder never produces them.

const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, //
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, //
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, //
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0, //
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, //
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667, //
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, //
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, //
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, //
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, //
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, //
];

const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, //
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, //
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, //
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0, //
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, //
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667, //
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, //
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, //
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, //
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, //
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, //
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556, //
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    fn resource(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }

    fn widths(self) -> &'static [u16; 224] {
        match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        }
    }

    /// Advance width of one WinAnsi code, in 1/1000 em (0 below 32).
    fn glyph(self, code: u8) -> u64 {
        let i = usize::from(code).wrapping_sub(32);
        self.widths().get(i).map_or(0, |&w| u64::from(w))
    }

    /// Width of WinAnsi text in 1/1000 em.
    fn units(self, text: &[u8]) -> u64 {
        text.iter().map(|&b| self.glyph(b)).sum()
    }

    /// Width of WinAnsi text in points at `size`.
    fn width(self, text: &[u8], size: f32) -> f32 {
        self.units(text) as f32 * size / 1000.0
    }
}

// ---------------------------------------------------------------------------
// Unicode to WinAnsi.

/// Appends `text` to `out` in WinAnsiEncoding: line breaks (`\n`, `\r\n`,
/// `\r`, U+0085, U+2028, U+2029) become `\n`, everything else becomes codes
/// 32..=255 as the module doc describes.
fn encode_winansi(text: &str, out: &mut Vec<u8>) {
    let start = out.len();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push(b'\n');
                }
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push(b'\n'),
            '\u{300}'..='\u{36F}' => {
                if out.len() > start
                    && let Some(last) = out.last_mut()
                    && let Some(composed) = compose(*last, c)
                {
                    *last = composed;
                }
            }
            c if is_invisible(c) => {}
            '\u{132}' => out.extend_from_slice(b"IJ"),
            '\u{133}' => out.extend_from_slice(b"ij"),
            c => out.push(winansi(c).unwrap_or(b'?')),
        }
    }
}

/// Format characters with no glyph of their own: dropped.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{61C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{1F3FB}'..='\u{1F3FF}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// Base letters of U+0100..=U+017F without their accent (Ő/ő/Ű/ű keep an
/// umlaut, Œ/œ/Š/š/Ÿ/Ž/ž are WinAnsi themselves; U+0132/U+0133 are handled
/// by the caller).
const LATIN_EXTENDED_A: &str = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoÖöŒœRrRrRrSsSsSsŠšTtTtTtUuUuUuUuÜüUuWwYyŸZzZzŽžs";

/// The WinAnsi code of `c`, or of a close stand-in; `None` if there is none.
fn winansi(c: char) -> Option<u8> {
    let code = match c {
        ' '..='~' | '\u{A0}'..='\u{FF}' => c as u8,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' | '‛' => 0x91,
        '’' | 'ʼ' => 0x92,
        '“' | '‟' => 0x93,
        '”' => 0x94,
        '•' | '∙' | '‣' | '●' => 0x95,
        '–' => 0x96,
        '—' | '―' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        '\t' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => b' ',
        '\u{2010}'..='\u{2012}' | '\u{2212}' | '\u{2043}' => b'-',
        '′' => b'\'',
        '″' => b'"',
        '⁄' | '∕' => b'/',
        'Ș' => b'S',
        'ș' => b's',
        'Ț' => b'T',
        'ț' => b't',
        '\u{100}'..='\u{17F}' => {
            let i = c as usize - 0x100;
            return LATIN_EXTENDED_A.chars().nth(i).and_then(winansi);
        }
        _ => return None,
    };
    Some(code)
}

/// Composes a WinAnsi letter with a following combining mark, if WinAnsi has
/// the result.
fn compose(base: u8, mark: char) -> Option<u8> {
    const TABLE: [(char, &str, &str); 8] = [
        ('\u{300}', "AEIOUaeiou", "ÀÈÌÒÙàèìòù"),
        ('\u{301}', "AEIOUYaeiouy", "ÁÉÍÓÚÝáéíóúý"),
        ('\u{302}', "AEIOUaeiou", "ÂÊÎÔÛâêîôû"),
        ('\u{303}', "ANOano", "ÃÑÕãñõ"),
        ('\u{308}', "AEIOUYaeiouy", "ÄËÏÖÜŸäëïöüÿ"),
        ('\u{30A}', "Aa", "Åå"),
        ('\u{30C}', "SZsz", "ŠŽšž"),
        ('\u{327}', "Cc", "Çç"),
    ];
    let (_, bases, composed) = TABLE.iter().find(|(m, _, _)| *m == mark)?;
    let i = bases.bytes().position(|b| b == base)?;
    composed.chars().nth(i).and_then(winansi)
}

// ---------------------------------------------------------------------------
// Layout.

/// Line height as a multiple of the font size.
const LEADING: f32 = 1.3;
const MARGIN_X: f32 = 50.0;
const MARGIN_TOP: f32 = 48.0;
/// Space kept free at the bottom of each page for the footer.
const MARGIN_BOTTOM: f32 = 62.0;
const FOOTER_BASELINE: f32 = 32.0;

const BODY: f32 = 9.0;
const SMALL: f32 = 8.0;
const HEADER_RIGHT_W: f32 = 230.0;
const HEADER_LABEL_W: f32 = 80.0;
const AMOUNT_W: f32 = 120.0;
const TOTALS_W: f32 = 270.0;
const TOTALS_LABEL_W: f32 = 140.0;
const ROW_PAD: f32 = 4.0;
const BOX_PAD: f32 = 10.0;

const BLACK: f32 = 0.0;
const DARK: f32 = 0.2;
const GREY: f32 = 0.42;
const RULE: f32 = 0.8;

/// Text already encoded in the layout's arena.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    font: Font,
    size: f32,
    gray: f32,
}

/// One line of output: optional text starting at an x, optional text ending
/// at an x (right-aligned), an optional rule above it.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    left: Option<(f32, Span)>,
    right: Option<(f32, Span)>,
    rule_above: Option<(f32, f32)>,
    height: f32,
}

impl Row {
    fn gap(height: f32) -> Row {
        Row { height, ..Row::default() }
    }

    fn size(&self) -> f32 {
        let l = self.left.map_or(0.0, |(_, s)| s.size);
        let r = self.right.map_or(0.0, |(_, s)| s.size);
        l.max(r)
    }
}

type Range = (usize, usize);

struct Layout<'a> {
    doc: &'a InvoiceDocument,
    width: f32,
    height: f32,
    left: f32,
    right: f32,
    bottom: f32,
    /// Encoded text: every [`Span`] points into it.
    arena: Vec<u8>,
    pages: Vec<Content>,
    /// Cursor, in points from the top of the page.
    y: f32,
    /// Where the body of the current page starts (after a repeated header):
    /// a page break is only taken below it, so a break always makes progress.
    body_top: f32,
    /// Repeat the table header on new pages.
    in_table: bool,
    /// Top of the current page's part of an open box.
    box_top: Option<f32>,
    /// Current fill gray of the current page (negative: unknown).
    gray: f32,
    wrapped: Vec<Range>,
    logo: Option<&'a Image>,
}

impl<'a> Layout<'a> {
    fn new(doc: &'a InvoiceDocument) -> Self {
        let (width, height) = doc.paper.size_pt();
        Layout {
            doc,
            width,
            height,
            left: MARGIN_X,
            right: width - MARGIN_X,
            bottom: height - MARGIN_BOTTOM,
            arena: Vec::with_capacity(4096),
            pages: vec![Content::with_capacity(8192)],
            y: MARGIN_TOP,
            body_top: MARGIN_TOP,
            in_table: false,
            box_top: None,
            gray: -1.0,
            wrapped: Vec::new(),
            logo: None,
        }
    }

    fn content_width(&self) -> f32 {
        self.right - self.left
    }

    // -- text -------------------------------------------------------------

    fn enc(&mut self, parts: &[&str]) -> Range {
        let start = self.arena.len();
        for part in parts {
            encode_winansi(part, &mut self.arena);
        }
        (start, self.arena.len())
    }

    fn span(range: Range, font: Font, size: f32, gray: f32) -> Span {
        Span { start: range.0, end: range.1, font, size, gray }
    }

    fn text(&self, span: &Span) -> &[u8] {
        self.arena.get(span.start..span.end).unwrap_or_default()
    }

    /// Wraps `range` to `max_width` at `size` into `self.wrapped` (at least
    /// one, possibly empty, line).
    fn wrap(&mut self, range: Range, font: Font, size: f32, max_width: f32) {
        self.wrapped.clear();
        let max = (max_width * 1000.0 / size) as u64;
        let text = self.arena.get(range.0..range.1).unwrap_or_default();
        let mut para_start = 0;
        for para in text.split(|&b| b == b'\n') {
            let base = range.0 + para_start;
            para_start += para.len() + 1;
            if para.is_empty() {
                self.wrapped.push((base, base));
                continue;
            }
            let mut start = 0;
            while start < para.len() {
                let mut width = 0;
                let mut space = None;
                let mut cut = para.len();
                for (j, &c) in para.iter().enumerate().skip(start) {
                    if c == b' ' {
                        space = Some(j);
                    }
                    width += font.glyph(c);
                    if width > max && j > start {
                        cut = match space {
                            Some(s) if s > start => s,
                            _ => j,
                        };
                        break;
                    }
                }
                let mut end = cut;
                while end > start && para[end - 1] == b' ' {
                    end -= 1;
                }
                self.wrapped.push((base + start, base + end));
                start = cut;
                while start < para.len() && para[start] == b' ' {
                    start += 1;
                }
            }
        }
        if self.wrapped.is_empty() {
            self.wrapped.push((range.0, range.0));
        }
    }

    /// Rows of `range` wrapped to `width`, starting at `x` (or ending there
    /// if `align_right`).
    #[allow(clippy::too_many_arguments)]
    fn para(
        &mut self,
        rows: &mut Vec<Row>,
        range: Range,
        font: Font,
        size: f32,
        gray: f32,
        x: f32,
        width: f32,
        align_right: bool,
    ) {
        self.wrap(range, font, size, width);
        for &line in &self.wrapped {
            let span = Self::span(line, font, size, gray);
            let (left, right) = if align_right { (None, Some((x, span))) } else { (Some((x, span)), None) };
            rows.push(Row { left, right, rule_above: None, height: size * LEADING });
        }
    }

    /// Rows of a label (left, at `x`, `label_w` wide) and a value
    /// (right-aligned at the right margin, `value_w` wide), side by side.
    #[allow(clippy::too_many_arguments)]
    fn pair(&mut self, rows: &mut Vec<Row>, label: Span, value: Span, x: f32, label_w: f32, value_w: f32, rule: bool) {
        self.wrap((label.start, label.end), label.font, label.size, label_w);
        let labels = std::mem::take(&mut self.wrapped);
        self.wrap((value.start, value.end), value.font, value.size, value_w);
        let height = label.size.max(value.size) * LEADING;
        let first = rows.len();
        for i in 0..labels.len().max(self.wrapped.len()) {
            let left = labels.get(i).map(|&(s, e)| (x, Span { start: s, end: e, ..label }));
            let right = self.wrapped.get(i).map(|&(s, e)| (self.right, Span { start: s, end: e, ..value }));
            rows.push(Row { left, right, rule_above: None, height });
        }
        if rule && let Some(row) = rows.get_mut(first) {
            row.rule_above = Some((x, self.right));
        }
        self.wrapped = labels;
    }

    /// One line of text, cut with an ellipsis to fit `max_width`.
    fn truncate(&mut self, range: Range, font: Font, size: f32, max_width: f32) -> Range {
        if self.arena.get(range.0..range.1).is_none() {
            return (0, 0);
        }
        for b in self.arena.get_mut(range.0..range.1).unwrap_or_default() {
            if *b == b'\n' {
                *b = b' ';
            }
        }
        let text = self.arena.get(range.0..range.1).unwrap_or_default();
        let max = (max_width * 1000.0 / size) as u64;
        if font.units(text) <= max {
            return range;
        }
        let budget = max.saturating_sub(font.glyph(0x85));
        let mut width = 0;
        let mut cut = 0;
        for &c in text {
            width += font.glyph(c);
            if width > budget {
                break;
            }
            cut += 1;
        }
        let start = self.arena.len();
        self.arena.extend_from_within(range.0..range.0 + cut);
        self.arena.push(0x85);
        (start, self.arena.len())
    }

    // -- drawing ----------------------------------------------------------

    fn show(&mut self, x: f32, baseline: f32, span: &Span) {
        let Some(text) = self.arena.get(span.start..span.end) else { return };
        if text.is_empty() {
            return;
        }
        let Some(page) = self.pages.last_mut() else { return };
        if self.gray != span.gray {
            page.set_fill_gray(span.gray);
            self.gray = span.gray;
        }
        page.begin_text();
        page.set_font(span.font.resource(), span.size);
        page.next_line(round(x), round(self.height - baseline));
        page.show(Str(text));
        page.end_text();
    }

    fn rule(&mut self, x1: f32, x2: f32, y: f32, width: f32, gray: f32) {
        let Some(page) = self.pages.last_mut() else { return };
        let y = round(self.height - y);
        page.set_line_width(width);
        page.set_stroke_gray(gray);
        page.move_to(round(x1), y);
        page.line_to(round(x2), y);
        page.stroke();
    }

    fn draw_row(&mut self, row: &Row, y: f32) {
        let baseline = y + row.size();
        if let Some((x1, x2)) = row.rule_above {
            self.rule(x1, x2, y + 0.5, 0.5, RULE);
        }
        if let Some((x, span)) = row.left {
            self.show(x, baseline, &span);
        }
        if let Some((x, span)) = row.right {
            let w = span.font.width(self.text(&span), span.size);
            self.show(x - w, baseline, &span);
        }
    }

    // -- flow -------------------------------------------------------------

    fn new_page(&mut self) -> Result<(), PdfError> {
        if self.pages.len() >= MAX_PAGES {
            return Err(PdfError::TooManyPages { max: MAX_PAGES });
        }
        if let Some(top) = self.box_top {
            self.stroke_box(top, self.y + BOX_PAD);
        }
        self.pages.push(Content::with_capacity(8192));
        self.gray = -1.0;
        self.y = MARGIN_TOP;
        if self.in_table {
            self.table_header();
        }
        if self.box_top.is_some() {
            self.box_top = Some(self.y);
            self.y += BOX_PAD;
        }
        self.body_top = self.y;
        Ok(())
    }

    /// Breaks the page unless `height` more fits (or the page is still empty).
    fn ensure(&mut self, height: f32) -> Result<(), PdfError> {
        if self.y + height > self.bottom && self.y > self.body_top {
            self.new_page()?;
        }
        Ok(())
    }

    /// Breaks the page if a block of `height` does not fit here but would fit
    /// on a fresh page.
    fn keep(&mut self, height: f32) -> Result<(), PdfError> {
        let fresh = self.bottom - MARGIN_TOP - if self.in_table { 30.0 } else { 0.0 };
        if height <= fresh {
            self.ensure(height)?;
        }
        Ok(())
    }

    fn emit(&mut self, rows: &[Row]) -> Result<(), PdfError> {
        for row in rows {
            self.ensure(row.height)?;
            self.draw_row(row, self.y);
            self.y += row.height;
        }
        Ok(())
    }

    fn emit_together(&mut self, rows: &[Row]) -> Result<(), PdfError> {
        self.keep(rows.iter().map(|r| r.height).sum())?;
        self.emit(rows)
    }

    fn stroke_box(&mut self, top: f32, bottom: f32) {
        let (left, right, height) = (self.left, self.right, self.height);
        let Some(page) = self.pages.last_mut() else { return };
        page.set_line_width(1.0);
        page.set_stroke_gray(BLACK);
        page.rect(round(left), round(height - bottom), round(right - left), round(bottom - top));
        page.stroke();
    }

    // -- sections -----------------------------------------------------------

    fn party_rows(&mut self, rows: &mut Vec<Row>, party: &Party, name_size: f32, width: f32) {
        let x = self.left;
        let name = self.enc(&[&party.name]);
        self.para(rows, name, Font::Bold, name_size, BLACK, x, width, false);
        for line in &party.lines {
            let r = self.enc(&[line]);
            self.para(rows, r, Font::Regular, BODY, DARK, x, width, false);
        }
        for item in [&party.email, &party.phone].into_iter().flatten() {
            let r = self.enc(&[item]);
            self.para(rows, r, Font::Regular, BODY, DARK, x, width, false);
        }
        if let Some(tax_id) = &party.tax_id {
            let doc = self.doc;
            let r = self.enc(&[&doc.labels.tax_id, ": ", tax_id]);
            self.para(rows, r, Font::Regular, BODY, DARK, x, width, false);
        }
    }

    fn header(&mut self) -> Result<(), PdfError> {
        let doc = self.doc;
        if let Some((w, h)) = self.logo.as_ref().map(|i| i.fit(LOGO_W, LOGO_H))
            && let Some(page) = self.pages.last_mut()
        {
            let bottom = round(self.height - (self.y + h));
            page.save_state();
            page.transform([round(w), 0.0, 0.0, round(h), round(self.left), bottom]);
            page.x_object(Name(LOGO));
            page.restore_state();
            self.y += h + 14.0;
        }
        let labels = &doc.labels;
        let left_w = self.content_width() - HEADER_RIGHT_W - 24.0;
        let mut left = Vec::new();
        self.party_rows(&mut left, &doc.operator, 13.0, left_w);

        let mut right = Vec::new();
        let title = self.enc(&[&labels.invoice]);
        self.para(&mut right, title, Font::Bold, 20.0, BLACK, self.right, HEADER_RIGHT_W, true);
        right.push(Row::gap(4.0));
        let x = self.right - HEADER_RIGHT_W;
        let value_w = HEADER_RIGHT_W - HEADER_LABEL_W - 4.0;
        let fields = [
            (&labels.invoice_number, &doc.number, Font::Bold),
            (&labels.issue_date, &doc.issue_date, Font::Regular),
            (&labels.due_date, &doc.due_date, Font::Regular),
            (&labels.period, &doc.period, Font::Regular),
            (&labels.reference, &doc.payment_reference, Font::Bold),
            (&labels.amount_due, &doc.amount_due, Font::Bold),
        ];
        for (label, value, font) in fields {
            let l = Self::span(self.enc(&[label]), Font::Regular, BODY, GREY);
            let v = Self::span(self.enc(&[value]), font, BODY, BLACK);
            self.pair(&mut right, l, v, x, HEADER_LABEL_W, value_w, false);
        }

        let lh: f32 = left.iter().map(|r| r.height).sum();
        let rh: f32 = right.iter().map(|r| r.height).sum();
        if self.y + lh.max(rh) <= self.bottom {
            let top = self.y;
            for rows in [&left, &right] {
                let mut y = top;
                for row in rows {
                    self.draw_row(row, y);
                    y += row.height;
                }
            }
            self.y = top + lh.max(rh);
        } else {
            self.emit(&left)?;
            self.y += 12.0;
            self.emit(&right)?;
        }
        self.y += 22.0;
        Ok(())
    }

    fn bill_to(&mut self) -> Result<(), PdfError> {
        let doc = self.doc;
        let mut rows = Vec::new();
        let label = self.enc(&[&doc.labels.bill_to]);
        let width = self.content_width() * 0.6;
        self.para(&mut rows, label, Font::Bold, SMALL, GREY, self.left, width, false);
        rows.push(Row::gap(2.0));
        self.party_rows(&mut rows, &doc.customer, 10.5, width);
        self.emit_together(&rows)?;
        self.y += 20.0;
        Ok(())
    }

    fn table_header_height() -> f32 {
        SMALL * LEADING + 4.0
    }

    /// Draws the table's header row at the cursor (no page-break check).
    fn table_header(&mut self) {
        let doc = self.doc;
        let d = self.enc(&[&doc.labels.description]);
        let a = self.enc(&[&doc.labels.amount]);
        let d = self.truncate(d, Font::Bold, SMALL, self.content_width() - AMOUNT_W - 12.0);
        let a = self.truncate(a, Font::Bold, SMALL, AMOUNT_W);
        let row = Row {
            left: Some((self.left, Self::span(d, Font::Bold, SMALL, GREY))),
            right: Some((self.right, Self::span(a, Font::Bold, SMALL, GREY))),
            rule_above: None,
            height: SMALL * LEADING,
        };
        self.draw_row(&row, self.y);
        self.y += row.height + 2.0;
        self.rule(self.left, self.right, self.y, 0.8, BLACK);
        self.y += 2.0;
    }

    fn table(&mut self) -> Result<(), PdfError> {
        let doc = self.doc;
        self.keep(Self::table_header_height() + 2.0 * ROW_PAD + 2.0 * BODY * LEADING)?;
        self.table_header();
        self.in_table = true;
        let desc_w = self.content_width() - AMOUNT_W - 12.0;
        let mut rows = Vec::new();
        for line in &doc.lines {
            rows.clear();
            let d = Self::span(self.enc(&[&line.description]), Font::Regular, BODY, BLACK);
            let a = Self::span(self.enc(&[&line.amount]), Font::Regular, BODY, BLACK);
            self.pair(&mut rows, d, a, self.left, desc_w, AMOUNT_W, false);
            if let Some(detail) = &line.detail {
                let r = self.enc(&[detail]);
                self.para(&mut rows, r, Font::Regular, SMALL, GREY, self.left, desc_w, false);
            }
            let height: f32 = rows.iter().map(|r| r.height).sum();
            self.keep(height + 2.0 * ROW_PAD)?;
            self.y += ROW_PAD;
            self.emit(&rows)?;
            self.y += ROW_PAD;
            self.rule(self.left, self.right, self.y, 0.5, RULE);
        }
        self.in_table = false;
        self.y += 8.0;
        Ok(())
    }

    fn totals(&mut self) -> Result<(), PdfError> {
        let doc = self.doc;
        let labels = &doc.labels;
        let x = self.right - TOTALS_W;
        let value_w = TOTALS_W - TOTALS_LABEL_W - 8.0;
        let mut rows = Vec::new();
        let mut add = |layout: &mut Self, label: &str, value: &str, font: Font, size: f32, rule: bool| {
            let l = Self::span(layout.enc(&[label]), font, size, BLACK);
            let v = Self::span(layout.enc(&[value]), font, size, BLACK);
            if rule {
                rows.push(Row::gap(3.0));
            }
            layout.pair(&mut rows, l, v, x, TOTALS_LABEL_W, value_w, rule);
        };
        add(self, &labels.subtotal, &doc.subtotal, Font::Regular, BODY, false);
        if let Some(discounts) = &doc.discounts {
            add(self, &labels.discounts, discounts, Font::Regular, BODY, false);
        }
        for (label, amount) in &doc.taxes {
            add(self, label, amount, Font::Regular, BODY, false);
        }
        add(self, &labels.total, &doc.total, Font::Bold, BODY, true);
        if let Some(credits) = &doc.credits_applied {
            add(self, &labels.credits_applied, credits, Font::Regular, BODY, false);
        }
        if let Some(previous) = &doc.previous_balance {
            add(self, &labels.previous_balance, previous, Font::Regular, BODY, false);
        }
        add(self, &labels.amount_due, &doc.amount_due, Font::Bold, 11.0, true);
        self.emit_together(&rows)?;
        self.y += 18.0;
        Ok(())
    }

    fn pay_box(&mut self) -> Result<(), PdfError> {
        let doc = self.doc;
        let labels = &doc.labels;
        let x = self.left + BOX_PAD + 2.0;
        let width = self.content_width() - 2.0 * (BOX_PAD + 2.0);
        let mut rows = Vec::new();
        let title = self.enc(&[
            &labels.pay_by,
            " ",
            &doc.due_date,
            " \u{2014} ",
            &labels.pay_reference,
            " ",
            &doc.payment_reference,
        ]);
        self.para(&mut rows, title, Font::Bold, 11.0, BLACK, x, width, false);
        let due = self.enc(&[&labels.amount_due, ": ", &doc.amount_due]);
        self.para(&mut rows, due, Font::Bold, BODY, BLACK, x, width, false);
        if !doc.payment_instructions.is_empty() {
            rows.push(Row::gap(4.0));
        }
        for line in &doc.payment_instructions {
            let r = self.enc(&[line]);
            self.para(&mut rows, r, Font::Regular, BODY, DARK, x, width, false);
        }
        let height: f32 = rows.iter().map(|r| r.height).sum();
        self.keep(height + 2.0 * BOX_PAD)?;
        self.ensure(BOX_PAD + rows.first().map_or(0.0, |r| r.height))?;
        self.box_top = Some(self.y);
        self.y += BOX_PAD;
        self.emit(&rows)?;
        self.y += BOX_PAD;
        if let Some(top) = self.box_top.take() {
            self.stroke_box(top, self.y);
        }
        self.y += 18.0;
        Ok(())
    }

    fn notes(&mut self) -> Result<(), PdfError> {
        let doc = self.doc;
        if doc.notes.is_empty() {
            return Ok(());
        }
        let width = self.content_width();
        let mut rows = Vec::new();
        let heading = self.enc(&[&doc.labels.notes]);
        self.para(&mut rows, heading, Font::Bold, BODY, BLACK, self.left, width, false);
        rows.push(Row::gap(2.0));
        for (i, note) in doc.notes.iter().enumerate() {
            if i > 0 {
                rows.push(Row::gap(3.0));
            }
            let r = self.enc(&[note]);
            self.para(&mut rows, r, Font::Regular, 8.5, DARK, self.left, width, false);
        }
        // Keep the heading with the first line of the first note.
        let head: f32 = rows.iter().take(3).map(|r| r.height).sum();
        self.keep(head)?;
        self.emit(&rows)
    }

    fn footers(&mut self) {
        let total = self.pages.len();
        let doc = self.doc;
        let number = self.enc(&[&doc.number]);
        let number = self.truncate(number, Font::Regular, 7.5, self.content_width() * 0.6);
        let number = Self::span(number, Font::Regular, 7.5, GREY);
        let baseline = self.height - FOOTER_BASELINE;
        let last = std::mem::take(&mut self.pages);
        for (i, page) in last.into_iter().enumerate() {
            self.pages.push(page);
            self.gray = -1.0;
            let n = (i + 1).to_string();
            let of = total.to_string();
            let text = self.enc(&[&doc.labels.page, " ", &n, " ", &doc.labels.page_of, " ", &of]);
            let text = self.truncate(text, Font::Regular, 7.5, self.content_width() * 0.35);
            let span = Self::span(text, Font::Regular, 7.5, GREY);
            self.show(self.left, baseline, &number);
            let w = Font::Regular.width(self.text(&span), 7.5);
            self.show(self.right - w, baseline, &span);
        }
    }

    fn finish(mut self) -> Result<Vec<u8>, PdfError> {
        self.footers();
        if self.pages.len() > MAX_PAGES {
            return Err(PdfError::TooManyPages { max: MAX_PAGES });
        }
        // At most MAX_PAGES pages, so every id below fits an i32.
        let count = self.pages.len() as i32;
        // Objects: 1 catalog, 2 page tree, 3-4 fonts, 5 info, then each page
        // and its content stream.
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let regular = Ref::new(3);
        let bold = Ref::new(4);
        let info = Ref::new(5);
        let page_ref = |i: i32| Ref::new(6 + 2 * i);
        let logo_ref = Ref::new(6 + 2 * count);

        let size: usize = self.pages.iter().map(Content::len).sum();
        let mut pdf = Pdf::with_capacity(size + 4096 + 256 * self.pages.len());
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids((0..count).map(page_ref)).count(count);
        let media = Rect::new(0.0, 0.0, self.width, self.height);
        for (i, content) in (0..count).zip(self.pages) {
            let id = page_ref(i);
            let content_id = Ref::new(id.get() + 1);
            let mut page = pdf.page(id);
            page.parent(tree).media_box(media).contents(content_id);
            let mut res = page.resources();
            res.fonts().pair(Font::Regular.resource(), regular).pair(Font::Bold.resource(), bold);
            if self.logo.is_some() {
                res.x_objects().pair(Name(LOGO), logo_ref);
            }
            res.finish();
            page.finish();
            pdf.stream(content_id, content.finish().as_slice());
        }
        for (id, font, base) in [(regular, Font::Regular, "Helvetica"), (bold, Font::Bold, "Helvetica-Bold")] {
            pdf.type1_font(id)
                .base_font(Name(base.as_bytes()))
                .encoding_predefined(Name(b"WinAnsiEncoding"))
                .first_char(32)
                .last_char(255)
                .widths(font.widths().iter().map(|&w| f32::from(w)));
        }
        if let Some(img) = self.logo {
            let mut x = pdf.image_xobject(logo_ref, &img.data);
            x.filter(if img.jpeg { Filter::DctDecode } else { Filter::FlateDecode });
            // Dimensions are checked to be at most MAX_LOGO_SIDE.
            x.width(img.width as i32).height(img.height as i32).bits_per_component(8);
            match img.components {
                1 => x.color_space().device_gray(),
                4 => x.color_space().device_cmyk(),
                _ => x.color_space().device_rgb(),
            };
            if img.jpeg && img.components == 4 {
                // Adobe's CMYK JPEGs are stored inverted.
                x.decode([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
            }
            x.finish();
        }
        let title = format!("{} {}", self.doc.labels.invoice, self.doc.number);
        pdf.document_info(info).title(TextStr(&title)).producer(TextStr("Mast"));
        Ok(pdf.finish())
    }
}

// ---------------------------------------------------------------------------
// The operator's logo.

/// The logo's resource name on each page.
const LOGO: &[u8] = b"Im1";
/// The box the logo is fitted into, in points (aspect ratio kept).
const LOGO_W: f32 = 150.0;
const LOGO_H: f32 = 48.0;
/// Largest logo file accepted.
pub const MAX_LOGO_BYTES: usize = 512 * 1024;
/// Largest logo side, in pixels.
pub const MAX_LOGO_SIDE: u32 = 2000;

/// Why a logo is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    #[error("the logo must be a PNG or JPEG image")]
    NotAnImage,
    #[error("the logo is larger than {} KB", MAX_LOGO_BYTES / 1024)]
    TooBig,
    #[error("the logo is larger than {MAX_LOGO_SIDE} × {MAX_LOGO_SIDE} pixels")]
    TooManyPixels,
    #[error("the image cannot be read: {0}")]
    Broken(String),
}

/// Checks an uploaded logo: PNG or JPEG, at most [`MAX_LOGO_BYTES`] and
/// [`MAX_LOGO_SIDE`] pixels a side, and decodable. Returns its MIME type
/// and size in pixels.
pub fn check_logo(bytes: &[u8]) -> Result<(&'static str, u32, u32), LogoError> {
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(LogoError::TooBig);
    }
    let img = Image::decode(bytes)?;
    Ok((if img.jpeg { "image/jpeg" } else { "image/png" }, img.width, img.height))
}

/// The operator's logo ready for invoices: decode it once (the PNG
/// decoding and deflating cost far more than an invoice), render many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo(Image);

impl Logo {
    /// Checks and prepares an uploaded logo (see [`check_logo`]).
    pub fn decode(bytes: &[u8]) -> Result<Logo, LogoError> {
        Image::decode(bytes).map(Logo)
    }
}

/// A logo ready for the PDF: JPEG data as is (DCTDecode), PNG decoded to
/// 8-bit gray or RGB over white and deflated (FlateDecode).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Image {
    width: u32,
    height: u32,
    /// 1 gray, 3 RGB, 4 CMYK (JPEG only).
    components: u8,
    jpeg: bool,
    data: Vec<u8>,
}

impl Image {
    fn decode(bytes: &[u8]) -> Result<Image, LogoError> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(LogoError::TooBig);
        }
        let img = if bytes.starts_with(&[0xFF, 0xD8]) {
            Image::jpeg(bytes)?
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Image::png(bytes)?
        } else {
            return Err(LogoError::NotAnImage);
        };
        if img.width == 0 || img.height == 0 {
            return Err(LogoError::Broken("no pixels".into()));
        }
        Ok(img)
    }

    /// A JPEG's size and components from its frame header; the data goes
    /// into the PDF unchanged.
    fn jpeg(bytes: &[u8]) -> Result<Image, LogoError> {
        let broken = || LogoError::Broken("no JPEG frame header".into());
        let mut i = 2;
        while i + 4 <= bytes.len() {
            if bytes[i] != 0xFF {
                return Err(broken());
            }
            let marker = bytes[i + 1];
            if marker == 0xFF {
                i += 1;
                continue;
            }
            let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
            let sof = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
            if sof {
                let f = bytes.get(i + 4..i + 10).ok_or_else(broken)?;
                let (height, width) = (u16::from_be_bytes([f[1], f[2]]), u16::from_be_bytes([f[3], f[4]]));
                let components = f[5];
                if f[0] != 8 || !matches!(components, 1 | 3 | 4) {
                    return Err(LogoError::Broken("an 8-bit gray, RGB or CMYK JPEG is needed".into()));
                }
                let (width, height) = (u32::from(width), u32::from(height));
                if width > MAX_LOGO_SIDE || height > MAX_LOGO_SIDE {
                    return Err(LogoError::TooManyPixels);
                }
                return Ok(Image { width, height, components, jpeg: true, data: bytes.to_vec() });
            }
            if marker == 0xD9 || marker == 0xDA || len < 2 {
                break;
            }
            i += 2 + len;
        }
        Err(broken())
    }

    /// A PNG decoded to 8-bit gray or RGB; transparency is laid over white
    /// (the invoice's paper).
    fn png(bytes: &[u8]) -> Result<Image, LogoError> {
        let broken = |e: png::DecodingError| LogoError::Broken(e.to_string());
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
        dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = dec.read_info().map_err(broken)?;
        let (width, height) = (reader.info().width, reader.info().height);
        if width > MAX_LOGO_SIDE || height > MAX_LOGO_SIDE {
            return Err(LogoError::TooManyPixels);
        }
        let mut buf = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut buf).map_err(broken)?;
        let pixels = buf.get(..frame.buffer_size()).unwrap_or_default();
        let over_white = |v: u8, a: u8| -> u8 {
            // v·a + 255·(255 − a), over 255: stays within 0..=255.
            ((u32::from(v) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8
        };
        let (components, raw): (u8, Vec<u8>) = match frame.color_type {
            png::ColorType::Grayscale => (1, pixels.to_vec()),
            png::ColorType::GrayscaleAlpha => (1, pixels.chunks_exact(2).map(|p| over_white(p[0], p[1])).collect()),
            png::ColorType::Rgb => (3, pixels.to_vec()),
            png::ColorType::Rgba => {
                (3, pixels.chunks_exact(4).flat_map(|p| [0, 1, 2].map(|c| over_white(p[c], p[3]))).collect())
            }
            png::ColorType::Indexed => return Err(LogoError::Broken("palette not expanded".into())),
        };
        let expected = (width as usize) * (height as usize) * usize::from(components);
        if raw.len() != expected {
            return Err(LogoError::Broken("truncated image".into()));
        }
        let data = miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6);
        Ok(Image { width, height, components, jpeg: false, data })
    }

    /// Its size in points fitted into `max_w` × `max_h`, aspect kept.
    fn fit(&self, max_w: f32, max_h: f32) -> (f32, f32) {
        let (w, h) = (self.width as f32, self.height as f32);
        let k = (max_w / w).min(max_h / h);
        (w * k, h * k)
    }
}

/// Rounds a coordinate to 1/100 pt, which keeps the content stream short.
fn round(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;

    fn party(name: &str, lines: &[&str]) -> Party {
        Party {
            name: name.to_owned(),
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            email: Some("billing@example.net".to_owned()),
            phone: Some("+44 20 7946 0000".to_owned()),
            tax_id: Some("GB123456789".to_owned()),
        }
    }

    /// A typical invoice with `lines` lines (the first five are realistic).
    fn sample(lines: usize) -> InvoiceDocument {
        let typical = [
            ("Home 25/5 Mbps", Some("1 Dec 2026 – 31 Dec 2026 (31/31 days)"), "25.00 EUR"),
            ("Static IPv4 address", None, "5.00 EUR"),
            ("Router rental (TP-Link Archer C6)", Some("1 × 3.00 EUR"), "3.00 EUR"),
            ("Installation fee — rooftop mount, cabling and alignment", Some("one-time charge"), "40.00 EUR"),
            ("Late payment fee", Some("invoice INV-2026-000099"), "2.50 EUR"),
        ];
        InvoiceDocument {
            logo: None,
            operator: party("Valley Wireless Ltd", &["12 Tower Road", "Hay-on-Wye HR3 5AA", "United Kingdom"]),
            customer: party("Zoë Müller-Łukasiewicz", &["Flat 3, Rue de l’Église 7", "1000 Bruxelles"]),
            number: "INV-2026-000123".to_owned(),
            issue_date: "2026-12-01".to_owned(),
            due_date: "2026-12-15".to_owned(),
            period: "1 Dec 2026 – 31 Dec 2026".to_owned(),
            lines: (0..lines)
                .map(|i| {
                    let (d, detail, a) = typical[i % typical.len()];
                    let description = if i < typical.len() { d.to_owned() } else { format!("{d} #{i}") };
                    DocLine { description, detail: detail.map(str::to_owned), amount: a.to_owned() }
                })
                .collect(),
            subtotal: "75.50 EUR".to_owned(),
            discounts: Some("-5.00 EUR".to_owned()),
            taxes: vec![("VAT 20%".to_owned(), "14.10 EUR".to_owned())],
            total: "84.60 EUR".to_owned(),
            credits_applied: Some("-10.00 EUR".to_owned()),
            previous_balance: Some("0.00 EUR".to_owned()),
            amount_due: "74.60 EUR".to_owned(),
            payment_reference: "MAST-123-2612".to_owned(),
            payment_instructions: vec![
                "Bank transfer to Valley Wireless Ltd, IBAN GB29 NWBK 6016 1331 9268 19, BIC NWBKGB2L.".to_owned(),
                "Always quote the reference so we can match your payment.".to_owned(),
            ],
            notes: vec!["Thank you for your business! Questions? Reply to billing@example.net.".to_owned()],
            paper: Paper::A4,
            labels: Labels::default(),
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    fn parse_num(bytes: &[u8]) -> usize {
        std::str::from_utf8(bytes).unwrap().trim().parse().unwrap()
    }

    /// Byte-level checks: header, trailer, and every xref entry pointing at
    /// its object. Returns the number of pages.
    fn check_structure(pdf: &[u8]) -> usize {
        assert!(pdf.starts_with(b"%PDF-1.7\n"), "header");
        assert!(pdf.ends_with(b"%%EOF"), "trailer");
        let tail = &pdf[pdf.len().saturating_sub(40)..];
        let at = find(tail, b"startxref\n").expect("startxref");
        let rest = &tail[at + 10..];
        let xref_at = parse_num(&rest[..find(rest, b"\n").expect("startxref value")]);
        let xref = &pdf[xref_at..];
        assert!(xref.starts_with(b"xref\n0 "), "xref keyword at startxref");
        let eol = find(xref, b"\n").unwrap();
        let line_end = eol + 1 + find(&xref[eol + 1..], b"\n").unwrap();
        let count = parse_num(&xref[7..line_end]);
        let entries = &xref[line_end + 1..];
        for i in 0..count {
            let entry = &entries[20 * i..20 * i + 20];
            assert_eq!(&entry[18..], b"\r\n", "entry {i} is 20 bytes");
            let offset = parse_num(&entry[..10]);
            match entry[17] {
                b'n' => {
                    let obj = format!("{i} 0 obj");
                    assert!(pdf[offset..].starts_with(obj.as_bytes()), "xref entry {i} points at {offset}");
                }
                b'f' => assert_eq!(i, 0, "only object 0 is free"),
                other => panic!("bad xref entry type {other}"),
            }
        }
        let trailer = &entries[20 * count..];
        assert!(trailer.starts_with(b"trailer\n"), "trailer follows the xref");
        assert!(find(trailer, format!("/Size {count}").as_bytes()).is_some(), "/Size");
        assert!(find(trailer, b"/Root 1 0 R").is_some(), "/Root");
        let count_at = find(pdf, b"/Count ").expect("page count");
        let n = &pdf[count_at + 7..];
        parse_num(&n[..n.iter().position(|b| !b.is_ascii_digit()).unwrap()])
    }

    fn run_pdftotext(pdf: &[u8], args: &[&str]) -> Option<(String, String)> {
        let mut child = std::process::Command::new("pdftotext")
            .args(args)
            .args(["-", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, pdf).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
        Some((String::from_utf8(out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    /// The text poppler extracts, or `None` (with a notice) when pdftotext is
    /// not installed; under CI=true its absence is a failure.
    fn extract(pdf: &[u8], args: &[&str]) -> Option<String> {
        match run_pdftotext(pdf, args) {
            Some((text, stderr)) => {
                assert!(!stderr.contains("Error"), "poppler complained: {stderr}");
                Some(text)
            }
            None if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("pdftotext is missing: apt-get install -y poppler-utils")
            }
            None => {
                eprintln!("notice: pdftotext not installed (apt-get install -y poppler-utils); byte-level checks only");
                None
            }
        }
    }

    /// A `w` × `h` PNG of `color` type, every pixel `px`.
    fn png_bytes(w: u32, h: u32, color: png::ColorType, px: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, w, h);
        e.set_color(color);
        e.set_depth(png::BitDepth::Eight);
        let mut wr = e.write_header().unwrap();
        wr.write_image_data(&px.repeat((w * h) as usize)).unwrap();
        wr.finish().unwrap();
        out
    }

    /// The smallest JPEG header this reads: SOI, APP0, SOF0 (8-bit, `w` × `h`, 3 components), EOI.
    fn jpeg_bytes(w: u16, h: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
        b.extend([0xFF, 0xC0, 0, 17, 8]);
        b.extend(h.to_be_bytes());
        b.extend(w.to_be_bytes());
        b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        b.extend([0xFF, 0xD9]);
        b
    }

    #[test]
    fn a_logo_is_drawn_top_left_and_a_bad_one_never_stops_the_invoice() {
        // Half-transparent red over the white paper: pink, in RGB.
        let logo = png_bytes(40, 10, png::ColorType::Rgba, &[255, 0, 0, 128]);
        assert_eq!(check_logo(&logo), Ok(("image/png", 40, 10)));
        let img = Image::decode(&logo).unwrap();
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&img.data).unwrap();
        assert_eq!((img.components, raw.len(), &raw[..3]), (3, 40 * 10 * 3, &[255u8, 127, 127][..]));
        assert_eq!(img.fit(150.0, 48.0), (150.0, 37.5), "fitted, aspect kept");
        let mut doc = sample(2);
        let plain = render(&doc).unwrap();
        doc.logo = Some(std::sync::Arc::new(Logo::decode(&logo).unwrap()));
        let with = String::from_utf8_lossy(&render(&doc).unwrap()).to_string();
        assert!(with.contains("/XObject") && with.contains("/Im1 Do") && with.contains("/FlateDecode"), "{with}");
        assert!(with.contains("/Width 40") && with.contains("/Height 10") && with.contains("/DeviceRGB"));
        let jpeg = jpeg_bytes(300, 100);
        assert_eq!(check_logo(&jpeg), Ok(("image/jpeg", 300, 100)));
        doc.logo = Some(std::sync::Arc::new(Logo::decode(&jpeg).unwrap()));
        let with = String::from_utf8_lossy(&render(&doc).unwrap()).to_string();
        assert!(with.contains("/DCTDecode") && with.contains("/Width 300"), "{with}");
        // A logo that does not decode is left out; the invoice is the same.
        doc.logo = Logo::decode(b"GIF89a").ok().map(std::sync::Arc::new);
        assert_eq!(render(&doc).unwrap(), plain);
    }

    #[test]
    fn logos_are_checked() {
        assert_eq!(check_logo(b"GIF89a...."), Err(LogoError::NotAnImage));
        assert_eq!(check_logo(&vec![0; MAX_LOGO_BYTES + 1]), Err(LogoError::TooBig));
        assert_eq!(check_logo(&jpeg_bytes(2001, 10)), Err(LogoError::TooManyPixels));
        assert_eq!(check_logo(&png_bytes(2001, 1, png::ColorType::Grayscale, &[0])), Err(LogoError::TooManyPixels));
        let mut cut = png_bytes(20, 20, png::ColorType::Rgb, &[1, 2, 3]);
        cut.truncate(cut.len() - 30);
        assert!(matches!(check_logo(&cut), Err(LogoError::Broken(_))));
        assert!(matches!(check_logo(&[0xFF, 0xD8, 0xFF]), Err(LogoError::Broken(_))));
        assert_eq!(
            check_logo(&png_bytes(3, 2, png::ColorType::GrayscaleAlpha, &[0, 255])).map(|c| c.0),
            Ok("image/png")
        );
    }

    #[test]
    fn a_typical_invoice_is_valid_and_its_text_readable() {
        let doc = sample(5);
        let pdf = render(&doc).unwrap();
        assert_eq!(check_structure(&pdf), 1);
        let Some(text) = extract(&pdf, &["-enc", "UTF-8"]) else { return };
        for needle in [
            "INVOICE",
            "INV-2026-000123",
            "Zoë Müller-Lukasiewicz",
            "Valley Wireless Ltd",
            "Home 25/5 Mbps",
            "Static IPv4 address",
            "Router rental (TP-Link Archer C6)",
            "Late payment fee",
            "84.60 EUR",
            "74.60 EUR",
            "MAST-123-2612",
            "Pay by 2026-12-15 — reference MAST-123-2612",
            "1 Dec 2026 – 31 Dec 2026",
            "Rue de l’Église 7",
            "VAT 20%",
            "Tax ID: GB123456789",
            "Thank you for your business!",
            "Page 1 of 1",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        // The long description wraps but keeps all its words.
        for word in ["Installation", "rooftop", "alignment"] {
            assert!(text.contains(word), "{word}");
        }
    }

    #[test]
    fn amounts_are_right_aligned_at_the_margin() {
        let pdf = render(&sample(5)).unwrap();
        let Some(html) = extract(&pdf, &["-bbox"]) else { return };
        let right = Paper::A4.size_pt().0 - MARGIN_X;
        let mut seen = 0;
        for word in html.split("<word ").skip(1) {
            let x_max = word.split("xMax=\"").nth(1).unwrap().split('"').next().unwrap();
            let x_max: f32 = x_max.parse().unwrap();
            // Every "EUR" in the right half ends an amount (the pay box has one on the left).
            if !word.contains(">EUR</word>") || x_max < right / 2.0 {
                continue;
            }
            assert!((x_max - right).abs() < 0.2, "EUR ends at {x_max}, margin {right}");
            seen += 1;
        }
        // Five lines, seven totals, amount due in the header.
        assert!(seen >= 13, "{seen} amounts");
    }

    #[test]
    fn a_long_invoice_runs_over_pages_and_repeats_the_table_header() {
        let doc = sample(200);
        let pdf = render(&doc).unwrap();
        let pages = check_structure(&pdf);
        assert!(pages >= 4, "{pages} pages");
        let Some(text) = extract(&pdf, &["-enc", "UTF-8"]) else { return };
        assert!(text.contains(&format!("Page 2 of {pages}")), "page numbers");
        assert!(text.contains(&format!("Page {pages} of {pages}")));
        for (i, page) in text.split('\u{c}').filter(|p| !p.trim().is_empty()).enumerate() {
            if i + 1 < pages {
                assert!(page.contains("Description") && page.contains("Amount"), "header on page {}", i + 1);
            }
            assert!(page.contains("INV-2026-000123"), "footer on page {}", i + 1);
        }
        for i in [5, 50, 199] {
            assert!(text.contains(&format!("#{i}")), "line {i}");
        }
        assert!(text.contains("MAST-123-2612") && text.contains("74.60 EUR"));
    }

    #[test]
    fn a_thousand_line_text_and_huge_fields_never_overflow() {
        let mut doc = sample(3);
        let thousand = (0..1000).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        doc.lines[0].description = thousand.clone();
        doc.lines[1].detail = Some("x".repeat(20_000));
        doc.operator.lines = vec!["Very long address ".repeat(300)];
        doc.number = "N".repeat(2_000);
        doc.payment_instructions = vec![thousand.clone()];
        doc.notes = vec![thousand];
        let pdf = render(&doc).unwrap();
        let pages = check_structure(&pdf);
        assert!(pages > 20, "{pages}");
        let Some(text) = extract(&pdf, &["-enc", "UTF-8"]) else { return };
        assert!(text.contains("line 999"));
        assert!(text.contains(&format!("Page 2 of {pages}")));
    }

    #[test]
    fn absurd_input_is_an_error_not_a_huge_file() {
        let mut doc = sample(1);
        doc.notes = vec!["\n".repeat(200_000)];
        assert_eq!(render(&doc), Err(PdfError::TooManyPages { max: MAX_PAGES }));
    }

    #[test]
    fn empty_document_renders() {
        let doc = InvoiceDocument::default();
        let pdf = render(&doc).unwrap();
        assert_eq!(check_structure(&pdf), 1);
        if let Some(text) = extract(&pdf, &[]) {
            assert!(text.contains("Page 1 of 1"));
        }
    }

    #[test]
    fn letter_paper_and_translated_labels() {
        let mut doc = sample(5);
        doc.paper = Paper::Letter;
        doc.labels.invoice = "FACTURE".to_owned();
        doc.labels.page = "Page".to_owned();
        doc.labels.page_of = "sur".to_owned();
        let pdf = render(&doc).unwrap();
        check_structure(&pdf);
        assert!(find(&pdf, b"/MediaBox [0 0 612 792]").is_some());
        if let Some(text) = extract(&pdf, &[]) {
            assert!(text.contains("FACTURE") && text.contains("Page 1 sur 1"));
        }
    }

    /// Writes sample PDFs to $MAST_PDF_DIR to look at (nothing when unset).
    #[test]
    fn write_samples_when_asked() {
        let Ok(dir) = std::env::var("MAST_PDF_DIR") else { return };
        for (name, lines) in [("typical", 5), ("long", 200)] {
            std::fs::write(format!("{dir}/{name}.pdf"), render(&sample(lines)).unwrap()).unwrap();
        }
        let mut doc = sample(4);
        doc.lines[0].description = "Very long description ".repeat(40) + "Unbreakable" + &"x".repeat(200);
        doc.lines[1].description =
            "Emoji 😀👍🏽 RTL שלום עליכם \u{202E}reversed\u{202C} ctrl \u{7}\u{1b} done".to_owned();
        doc.operator.name = "A very long operator name that goes on and on and on and on and on".to_owned();
        doc.period = "1 December 2026 – 31 December 2026 (a very long period description)".to_owned();
        doc.payment_instructions = (0..80).map(|i| format!("Instruction {i}")).collect();
        std::fs::write(format!("{dir}/nasty.pdf"), render(&doc).unwrap()).unwrap();
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(render(&sample(7)).unwrap(), render(&sample(7)).unwrap());
    }

    #[test]
    fn serde_defaults_and_round_trip() {
        let doc = sample(2);
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(serde_json::from_str::<InvoiceDocument>(&json).unwrap(), doc);
        let minimal = r#"{"operator":{"name":"Op"},"customer":{"name":"Cu"},"number":"1","issue_date":"d",
            "due_date":"d","period":"p","subtotal":"1","total":"1","amount_due":"1","payment_reference":"R",
            "paper":"letter","labels":{"invoice":"RECHNUNG"}}"#;
        let doc: InvoiceDocument = serde_json::from_str(minimal).unwrap();
        assert_eq!(doc.paper, Paper::Letter);
        assert_eq!(doc.labels.invoice, "RECHNUNG");
        assert_eq!(doc.labels.total, "Total");
        assert!(doc.lines.is_empty() && doc.discounts.is_none());
        let doc: InvoiceDocument = serde_json::from_str(&minimal.replace(r#""paper":"letter","#, "")).unwrap();
        assert_eq!(doc.paper, Paper::A4);
    }

    fn enc(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode_winansi(s, &mut out);
        out
    }

    #[test]
    fn unicode_maps_to_winansi() {
        assert_eq!(enc("Plain ASCII ~"), b"Plain ASCII ~");
        assert_eq!(enc("é ü ß ñ ç Å ÿ"), b"\xE9 \xFC \xDF \xF1 \xE7 \xC5 \xFF");
        assert_eq!(enc("€ – — “ ” ‘ ’ • … ™ ‰ Œ œ Š š Ž ž Ÿ ƒ † ‡ ‹ ›"), {
            let mut v = Vec::new();
            for b in [
                0x80, 0x96, 0x97, 0x93, 0x94, 0x91, 0x92, 0x95, 0x85, 0x99, 0x89, 0x8C, 0x9C, 0x8A, 0x9A, 0x8E, 0x9E,
                0x9F, 0x83, 0x86, 0x87, 0x8B, 0x9B,
            ] {
                v.extend([b, b' ']);
            }
            v.pop();
            v
        });
        // Combining accents compose; accents WinAnsi lacks are dropped.
        assert_eq!(enc("e\u{301}a\u{300}u\u{308}n\u{303}c\u{327}s\u{30C}"), b"\xE9\xE0\xFC\xF1\xE7\x9A");
        assert_eq!(enc("q\u{301}\u{301}"), b"q");
        assert_eq!(enc("\u{301}x"), b"x");
        // Latin Extended-A loses its accents; a few stand-ins.
        assert_eq!(enc("Łódź Őrs Ĳssel Ștefan Čech"), b"L\xF3dz \xD6rs IJssel Stefan Cech");
        assert_eq!(enc("a\u{2009}b\u{a0}c\u{2011}d\u{2212}1"), b"a b\xA0c-d-1");
        // Line breaks kept, invisible marks dropped, everything else is '?'.
        assert_eq!(enc("a\r\nb\rc\nd\u{2028}e"), b"a\nb\nc\nd\ne");
        assert_eq!(enc("\u{200B}\u{200E}x\u{FEFF}\u{AD}\u{202E}y"), b"xy");
        assert_eq!(enc("\u{0}\u{7}\u{1b}\u{7f}\u{80}\u{9f}"), b"??????");
        assert_eq!(enc("😀 👍🏽 ❤️ 中文 שלום Ωμέγα"), b"? ? ? ?? ???? ?????");
        assert_eq!(LATIN_EXTENDED_A.chars().count(), 128);
        for c in '\u{0}'..='\u{2FFF}' {
            for b in enc(&c.to_string()) {
                assert!(b == b'\n' || b >= 32, "{c:?} gave {b}");
                assert!(Font::Regular.glyph(b) > 0 || b == b'\n', "{c:?} gave undefined code {b}");
            }
        }
    }

    #[test]
    fn widths_are_the_afm_widths() {
        // Helvetica: H 722, e 556, l 222, o 556.
        assert_eq!(Font::Regular.units(b"Hello"), 722 + 556 + 222 + 222 + 556);
        // Helvetica-Bold: H 722, e 556, l 278, o 611.
        assert_eq!(Font::Bold.units(b"Hello"), 722 + 556 + 278 + 278 + 611);
        assert_eq!(Font::Regular.units(b"0123456789"), 5560);
        assert_eq!(Font::Regular.glyph(0x80), 556); // Euro
        assert_eq!(Font::Bold.glyph(0x97), 1000); // emdash
        assert_eq!(Font::Regular.glyph(b'\n'), 0);
        assert_eq!(Font::Regular.width(b"W", 10.0), 9.44);
    }

    #[test]
    fn wrapping_fits_the_width_and_keeps_every_character() {
        let doc = InvoiceDocument::default();
        let mut layout = Layout::new(&doc);
        let input =
            "The quick brown fox jumps over the lazy dog.  Supercalifragilisticexpialidocious-and-then-some\n\nend ";
        let range = layout.enc(&[input]);
        for width in [0.0, 1.0, 30.0, 80.0, 200.0, 1000.0] {
            layout.wrap(range, Font::Regular, 9.0, width);
            let lines: Vec<&[u8]> = layout.wrapped.iter().map(|&(s, e)| &layout.arena[s..e]).collect();
            for line in &lines {
                let w = Font::Regular.width(line, 9.0);
                assert!(w <= width.max(Font::Regular.width(&line[..1.min(line.len())], 9.0)) + 1e-3, "{w} > {width}");
            }
            let joined: Vec<u8> = lines.concat().into_iter().filter(|&b| b != b' ').collect();
            let expected: Vec<u8> = input.bytes().filter(|&b| b != b' ' && b != b'\n').collect();
            assert_eq!(joined, expected, "width {width}");
        }
        layout.wrap(range, Font::Regular, 9.0, 1000.0);
        assert_eq!(layout.wrapped.len(), 3, "paragraphs: text, blank, end");
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any::<String>(),
            2 => vec(any::<char>(), 0..300).prop_map(String::from_iter),
            1 => "[\\x00-\\x1F\\x7F-\\u{9F} \\n\\r\\t]{0,40}",
            1 => "[\\u{590}-\\u{6FF}\\u{200E}\\u{200F}\\u{202A}-\\u{202E} ]{0,80}",
            1 => "[\\u{1F300}-\\u{1FAFF}\\u{1F3FB}\\u{200D}\\u{FE0F}]{0,40}",
            1 => "[a-zA-Zéü€–—“”‘’• ]{0,200}",
            1 => (any::<char>(), 0usize..3000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        ]
    }

    fn party_strategy() -> impl Strategy<Value = Party> {
        (text(), vec(text(), 0..4), option::of(text()), option::of(text()), option::of(text()))
            .prop_map(|(name, lines, email, phone, tax_id)| Party { name, lines, email, phone, tax_id })
    }

    fn doc_strategy() -> impl Strategy<Value = InvoiceDocument> {
        let line = (text(), option::of(text()), text()).prop_map(|(description, detail, amount)| DocLine {
            description,
            detail,
            amount,
        });
        (
            (party_strategy(), party_strategy(), text(), text(), text(), text()),
            vec(line, 0..30),
            (text(), option::of(text()), vec((text(), text()), 0..4), text(), option::of(text()), option::of(text())),
            (text(), text(), vec(text(), 0..4), vec(text(), 0..4), any::<bool>(), option::of(text())),
        )
            .prop_map(|(head, lines, sums, tail)| {
                let (operator, customer, number, issue_date, due_date, period) = head;
                let (subtotal, discounts, taxes, total, credits_applied, previous_balance) = sums;
                let (amount_due, payment_reference, payment_instructions, notes, letter, label) = tail;
                let labels = match label {
                    None => Labels::default(),
                    Some(t) => Labels {
                        invoice: t.clone(),
                        description: t.clone(),
                        amount: t.clone(),
                        bill_to: t.clone(),
                        amount_due: t.clone(),
                        pay_by: t.clone(),
                        page: t.clone(),
                        page_of: t,
                        ..Labels::default()
                    },
                };
                InvoiceDocument {
                    logo: None,
                    operator,
                    customer,
                    number,
                    issue_date,
                    due_date,
                    period,
                    lines,
                    subtotal,
                    discounts,
                    taxes,
                    total,
                    credits_applied,
                    previous_balance,
                    amount_due,
                    payment_reference,
                    payment_instructions,
                    notes,
                    paper: if letter { Paper::Letter } else { Paper::A4 },
                    labels,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes behind a PNG or JPEG signature, or a real PNG with
        /// bytes flipped: a clear answer, never a panic; an invoice with it
        /// still renders.
        #[test]
        fn any_logo_bytes_are_answered_and_never_stop_an_invoice(
            kind in 0u8..3,
            tail in vec(any::<u8>(), 0..300),
            flips in vec((any::<usize>(), any::<u8>()), 0..4),
        ) {
            let mut bytes = match kind {
                0 => b"\x89PNG\r\n\x1a\n".to_vec(),
                1 => vec![0xFF, 0xD8],
                _ => png_bytes(3, 3, png::ColorType::Rgb, &[9, 8, 7]),
            };
            bytes.extend(&tail);
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] ^= b;
            }
            let _ = check_logo(&bytes);
            let doc = InvoiceDocument { logo: Logo::decode(&bytes).ok().map(std::sync::Arc::new), ..sample(1) };
            prop_assert!(check_structure(&render(&doc).unwrap()) >= 1);
        }

        #[test]
        fn any_document_renders_a_consistent_pdf(doc in doc_strategy()) {
            // Only input too big for MAX_PAGES may fail, and only with that error.
            match render(&doc) {
                Ok(pdf) => prop_assert!(check_structure(&pdf) >= 1),
                Err(e) => prop_assert_eq!(e, PdfError::TooManyPages { max: MAX_PAGES }),
            }
        }

        #[test]
        fn any_string_encodes_to_printable_winansi(s in text()) {
            for b in enc(&s) {
                prop_assert!(b == b'\n' || Font::Regular.glyph(b) > 0);
            }
        }
    }

    /// `cargo test --release -- --ignored --nocapture bench_render`
    #[test]
    #[ignore = "timing, run by hand in release mode"]
    fn bench_render() {
        let doc = sample(5);
        let n = 20_000;
        let start = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += std::hint::black_box(render(std::hint::black_box(&doc)).unwrap()).len();
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "typical 5-line invoice: {:.0} invoices/s on one core ({:.1} µs each, {} bytes)",
            n as f64 / secs,
            secs * 1e6 / n as f64,
            bytes / n
        );
    }
}

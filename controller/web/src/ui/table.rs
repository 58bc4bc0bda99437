//! Tables and pagination.

use maud::{Markup, Render, html};

/// A data table in a horizontally scrollable wrapper (wide tables stay
/// usable at 390 px), with an empty-state row when there are no rows.
///
/// ```text
/// let mut t = Table::new("No customers yet.").col("Name").col("Status").num_col("Devices");
/// for c in &customers {
///     t.push(vec![html! { a href=(format!("/customers/{}", c.id)) { (c.name) } }, badge(&c.status), html! { (c.devices) }]);
/// }
/// html! { (t) }
/// ```
#[derive(Debug, Clone)]
pub struct Table<'a> {
    cols: Vec<(&'a str, bool)>,
    rows: Vec<(Option<String>, Vec<Markup>)>,
    empty: &'a str,
    caption: Option<&'a str>,
}

impl<'a> Table<'a> {
    /// A table with no columns yet; `empty` is shown when it has no rows.
    pub fn new(empty: &'a str) -> Self {
        Table { cols: Vec::new(), rows: Vec::new(), empty, caption: None }
    }

    /// A left-aligned column.
    pub fn col(mut self, header: &'a str) -> Self {
        self.cols.push((header, false));
        self
    }

    /// A numeric column: header and cells right-aligned, tabular figures.
    pub fn num_col(mut self, header: &'a str) -> Self {
        self.cols.push((header, true));
        self
    }

    pub fn caption(mut self, caption: &'a str) -> Self {
        self.caption = Some(caption);
        self
    }

    /// Adds a row, one cell per column (missing cells render empty).
    pub fn push(&mut self, cells: Vec<Markup>) -> &mut Self {
        self.rows.push((None, cells));
        self
    }

    /// Adds a row with a class on its `<tr>` (e.g. `st-down`).
    pub fn push_with_class(&mut self, class: &str, cells: Vec<Markup>) -> &mut Self {
        self.rows.push((Some(class.to_string()), cells));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

impl Render for Table<'_> {
    fn render(&self) -> Markup {
        let width = self.cols.len().max(1);
        html! {
            div.wrap.table-wrap {
                table {
                    @if let Some(c) = self.caption { caption { (c) } }
                    thead {
                        tr {
                            @for (h, num) in &self.cols { th scope="col" class=[num.then_some("num")] { (h) } }
                        }
                    }
                    tbody {
                        @if self.rows.is_empty() {
                            tr.empty { td colspan=(width) { (self.empty) } }
                        }
                        @for (class, cells) in &self.rows {
                            tr class=[class] {
                                @for i in 0..width.max(cells.len()) {
                                    @let num = self.cols.get(i).is_some_and(|c| c.1);
                                    td class=[num.then_some("num")] { @if let Some(c) = cells.get(i) { (c) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `base_path?{pairs}&offset=N` with the pairs URL-encoded; a pair named
/// `offset` in `pairs` is dropped, and offset 0 is left out.
fn page_href(base_path: &str, pairs: &[(&str, &str)], offset: i64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| *k != "offset") {
        q.append_pair(k, v);
    }
    if offset > 0 {
        q.append_pair("offset", &offset.to_string());
    }
    let q = q.finish();
    if q.is_empty() { base_path.to_string() } else { format!("{base_path}?{q}") }
}

/// Previous/Next links for a list shown `limit` rows at a time, starting at
/// `offset`, with `shown` rows on this page. `pairs` is the rest of the
/// query (e.g. `[("q", search)]`, and `limit` if not the default), kept in
/// both links. With `total` known it says "rows a–b of N" and knows whether
/// there is a next page; without it, a full page means there may be more.
pub fn pager(
    base_path: &str,
    pairs: &[(&str, &str)],
    offset: i64,
    limit: i64,
    shown: usize,
    total: Option<i64>,
) -> Markup {
    let offset = offset.max(0);
    let limit = limit.max(1);
    let shown = shown as i64;
    let has_prev = offset > 0;
    let has_next = match total {
        Some(t) => offset + shown < t,
        None => shown >= limit,
    };
    if !has_prev && !has_next && shown == 0 {
        return html! {};
    }
    let range = match (shown, total) {
        (0, _) => "no rows on this page".to_string(),
        (n, Some(t)) => format!("rows {}–{} of {t}", offset + 1, offset + n),
        (n, None) => format!("rows {}–{}", offset + 1, offset + n),
    };
    html! {
        nav.pager aria-label="Pages" {
            @if has_prev {
                a rel="prev" href=(page_href(base_path, pairs, (offset - limit).max(0))) { "← Previous" }
            } @else {
                span.disabled aria-hidden="true" { "← Previous" }
            }
            span.range { (range) }
            @if has_next {
                a rel="next" href=(page_href(base_path, pairs, offset + limit)) { "Next →" }
            } @else {
                span.disabled aria-hidden="true" { "Next →" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links() {
        assert_eq!(page_href("/customers", &[], 0), "/customers");
        assert_eq!(page_href("/customers", &[("q", "a b&c"), ("offset", "9")], 50), "/customers?q=a+b%26c&offset=50");
        let p = pager("/customers", &[("q", "x")], 50, 50, 50, Some(120)).into_string();
        assert!(p.contains(r#"href="/customers?q=x""#), "{p}");
        assert!(p.contains(r#"href="/customers?q=x&amp;offset=100""#), "{p}");
        assert!(p.contains("rows 51–100 of 120"));
        // Last page: no next link.
        let p = pager("/c", &[], 100, 50, 20, Some(120)).into_string();
        assert!(!p.contains(r#"rel="next""#) && p.contains("rows 101–120 of 120"));
        // Unknown total: a short page is the last.
        assert!(!pager("/c", &[], 0, 50, 10, None).into_string().contains(r#"rel="next""#));
        assert!(pager("/c", &[], 0, 50, 50, None).into_string().contains(r#"rel="next""#));
        // Nothing at all: nothing to page.
        assert_eq!(pager("/c", &[], 0, 50, 0, Some(0)).into_string(), "");
    }

    #[test]
    fn numeric_columns_and_row_class() {
        let mut t = Table::new("none").col("Name").num_col("Count");
        t.push_with_class("st-down", vec![html! { "a" }, html! { "3" }]);
        let s = t.render().into_string();
        assert!(s.contains(r#"<th scope="col" class="num">Count</th>"#), "{s}");
        assert!(s.contains(r#"<tr class="st-down"><td>a</td><td class="num">3</td></tr>"#), "{s}");
    }
}

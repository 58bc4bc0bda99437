//! Charts and maps: placeholders that mast.js turns into uPlot charts and
//! Leaflet maps, with a server-rendered fallback inside for no-JS clients,
//! failed fetches, and until the script has run.

use maud::{Markup, html};

/// How mast.js draws the series (`data-chart` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Line,
    /// Lines with the area under them filled.
    Area,
    Bars,
}

impl ChartKind {
    fn as_str(self) -> &'static str {
        match self {
            ChartKind::Line => "line",
            ChartKind::Area => "area",
            ChartKind::Bars => "bars",
        }
    }
}

/// A chart of the JSON at `data_src` (see mast.js for the format), e.g.
/// `/devices/7/series.json?range=day`. Until it draws, and whenever it
/// can't, the `<img>` of `fallback_svg` (the server's SVG chart) shows.
pub fn chart(data_src: &str, aria_label: &str, kind: ChartKind, fallback_svg: &str) -> Markup {
    html! {
        div.chart role="figure" aria-label=(aria_label) data-chart=(kind.as_str()) data-src=(data_src) {
            img.chart-fallback src=(fallback_svg) alt=(aria_label) loading="lazy";
        }
    }
}

/// A map of the JSON at `data_src` (towers and customers, see mast.js),
/// over tiles from `tiles_url` (`https://tile.openstreetmap.org/{z}/{x}/{y}.png`)
/// credited with `attribution` (plain text). `fallback` (e.g. the server's
/// SVG map) shows until the map draws, and stays when it can't.
pub fn map(data_src: &str, tiles_url: &str, attribution: &str, fallback: Markup) -> Markup {
    html! {
        div.map role="region" aria-label="Map" data-map data-src=(data_src) data-tiles=(tiles_url)
            data-attribution=(attribution) {
            div.map-fallback { (fallback) }
        }
    }
}

//! Static assets, compiled into the binary (never a CDN): the stylesheet,
//! `mast.js` (charts and map wiring), and the vendored front-end libraries
//! from their npm packages with their licences (`assets/vendor/README.md`
//! names versions and the refresh command).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (path under `/assets/`, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    ("mast.css", "text/css; charset=utf-8", include_bytes!("../assets/mast.css")),
    ("mast.js", "text/javascript; charset=utf-8", include_bytes!("../assets/mast.js")),
    ("tech.js", "text/javascript; charset=utf-8", include_bytes!("../assets/tech.js")),
    ("tech.css", "text/css; charset=utf-8", include_bytes!("../assets/tech.css")),
    ("vendor/htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/vendor/htmx.min.js")),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.iife.min.js"),
    ),
    ("vendor/uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../assets/vendor/uPlot.min.css")),
    ("vendor/leaflet.js", "text/javascript; charset=utf-8", include_bytes!("../assets/vendor/leaflet.js")),
    ("vendor/leaflet.css", "text/css; charset=utf-8", include_bytes!("../assets/vendor/leaflet.css")),
    ("vendor/htmx.LICENSE", "text/plain; charset=utf-8", include_bytes!("../assets/vendor/htmx.LICENSE")),
    ("vendor/uplot.LICENSE", "text/plain; charset=utf-8", include_bytes!("../assets/vendor/uplot.LICENSE")),
    ("vendor/leaflet.LICENSE", "text/plain; charset=utf-8", include_bytes!("../assets/vendor/leaflet.LICENSE")),
];

/// `GET /assets/{*file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, ctype, bytes)) => {
            // Vendored files are pinned; ours change with the binary.
            let cache = if file.starts_with("vendor/") { "public, max-age=604800" } else { "public, max-age=3600" };
            ([(header::CONTENT_TYPE, *ctype), (header::CACHE_CONTROL, cache)], *bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_vendored_library_ships_with_its_licence() {
        for lib in ["htmx", "uplot", "leaflet"] {
            assert!(
                super::FILES.iter().any(|(n, _, b)| *n == format!("vendor/{lib}.LICENSE") && !b.is_empty()),
                "{lib}"
            );
        }
    }
}

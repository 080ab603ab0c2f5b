//! The web console: an app of a few files embedded in the binary (`src/http/console/`),
//! which loads nothing from elsewhere. Its third-party code (ECharts, the graphql-ws client)
//! is vendored at pinned versions by `npm run vendor` in that directory.

use std::sync::OnceLock;

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use crate::Fenhong;

/// Every file of the console, as built into the binary.
const FILES: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("console/index.html")),
    ("app.css", include_bytes!("console/app.css")),
    ("app.js", include_bytes!("console/app.js")),
    ("lib.js", include_bytes!("console/lib.js")),
    ("merchant.js", include_bytes!("console/merchant.js")),
    ("shopper.js", include_bytes!("console/shopper.js")),
    (
        "vendor/echarts.js",
        include_bytes!("console/vendor/echarts.js"),
    ),
    (
        "vendor/graphql-ws.js",
        include_bytes!("console/vendor/graphql-ws.js"),
    ),
];

const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// Each embedded file's entity tag (a hash of its bytes), computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, bytes)| format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..12])))
            .collect()
    })
}

/// The console's page (every path of the app is the same page; it routes itself).
pub async fn page(State(app): State<Fenhong>, headers: HeaderMap) -> Response {
    serve(&app, "index.html", &headers).await
}

/// `/console/assets/{file}`: the app's scripts, styles and vendored libraries.
pub async fn asset(
    State(app): State<Fenhong>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    if file == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&app, &file, &headers).await
}

async fn serve(app: &Fenhong, name: &str, headers: &HeaderMap) -> Response {
    let Some(index) = FILES.iter().position(|(n, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let content_type = content_type(name);
    // Development: the files on disk, read afresh each time (no entity tag).
    if let Some(dir) = &app.state.config.console_dir {
        return match tokio::fs::read(dir.join(name)).await {
            Ok(bytes) => (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, "no-store"),
                    (header::CONTENT_SECURITY_POLICY, POLICY),
                ],
                bytes,
            )
                .into_response(),
            Err(err) => {
                tracing::warn!(file = name, error = %err, "console file unreadable");
                StatusCode::NOT_FOUND.into_response()
            }
        };
    }
    let etag = etags()[index].as_str();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let common = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::ETAG, etag),
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, FILES[index].1).into_response()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

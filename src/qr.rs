//! QR codes as SVG, for printing at the till or sharing from the mini-program.

use qrcode::{render::svg, EcLevel, QrCode};

use crate::error::{AppError, AppResult};

/// The mini-program page a Fenhong code opens; it reads the scene and calls `joinByScene`.
pub const JOIN_PAGE: &str = "pages/join/index";

/// The link a phone's camera opens: the join page of the web console, carrying the scene.
pub fn join_link(public_url: &str, scene: &str) -> String {
    format!(
        "{}/console/join?scene={scene}",
        public_url.trim_end_matches('/')
    )
}

/// A scannable QR code of `content` as a standalone SVG document.
pub fn svg(content: &str) -> AppResult<String> {
    let code = QrCode::with_error_correction_level(content.as_bytes(), EcLevel::M)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding a QR code: {e}")))?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

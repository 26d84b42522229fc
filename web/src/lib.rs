//! The svcgen playground: edit Kubernetes manifests in the browser and see,
//! as you type, every output libsvc renders, its diagnostics, and a packet
//! traced through the proxy rules. No server: everything runs in the page.
//!
//! - [`compute`]: one update (pure; the app and the wasm API share it),
//! - [`api`]: the `#[wasm_bindgen]` functions for JavaScript,
//! - [`app`]: the yew user interface,
//! - [`share`]: the state in a URL fragment, [`text`]: editor positions,
//!   [`settings`]: the settings form, [`examples`]: the examples menu.
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod compute;
pub mod drafts;
pub mod editor;
pub mod examples;
pub mod node;
pub mod settings;
pub mod share;
pub mod text;

use wasm_bindgen::prelude::*;

/// Starts the playground when the page loads it: mounts the app on the
/// element `#app` (or the body).
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(target_arch = "wasm32")]
    {
        let document = web_sys::window().and_then(|w| w.document());
        let Some(document) = document else { return };
        // The wasm-bindgen tests load this module without the page.
        if let Some(root) = document.get_element_by_id("app") {
            yew::Renderer::<app::App>::with_root(root).render();
        }
    }
}

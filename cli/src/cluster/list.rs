//! Listing a cluster's objects into libsvc inputs.
//!
//! Each kind is listed across all namespaces in pages of 500, as kubectl
//! and the informers do (client-go `tools/pager/pager.go`, `ListPager.List`),
//! and each page becomes one input: a `v1 List` of JSON text whose items
//! carry `apiVersion` and `kind` again (a list response leaves them out of
//! its items). The objects are taken byte for byte as the server sent them,
//! so no field libsvc reads is lost; they carry `uid` and
//! `resourceVersion`, so libsvc treats them as stored objects.

use super::{ClusterError, Resource, Verb};
use kube::Client;
use serde_json::{Map, Value};

/// kube-proxy's and kubectl's page size (`pager.defaultPageSize`).
pub const PAGE_SIZE: usize = 500;

/// One page of a list: its items (with apiVersion and kind) and where the
/// next page starts.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub continue_token: Option<String>,
}

/// GETs `path`; the body as JSON.
pub async fn get_json(
    client: &Client,
    path: &str,
    resource: &Resource,
    verb: Verb,
) -> Result<Value, ClusterError> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| ClusterError::Server(format!("bad request {path}: {e}")))?;
    let text = client
        .request_text(req)
        .await
        .map_err(|e| ClusterError::from_kube(e, resource, verb))?;
    serde_json::from_str(&text).map_err(|e| {
        ClusterError::Server(format!(
            "the server's answer to GET {path} is not JSON: {e}"
        ))
    })
}

/// One page of `resource` (all namespaces), from `continue_token`.
pub async fn page(
    client: &Client,
    resource: &Resource,
    limit: Option<usize>,
    continue_token: Option<&str>,
) -> Result<Page, ClusterError> {
    let mut path = resource.path();
    let mut sep = '?';
    if let Some(n) = limit {
        path.push_str(&format!("{sep}limit={n}"));
        sep = '&';
    }
    if let Some(c) = continue_token {
        path.push_str(&format!("{sep}continue={}", percent_encode(c)));
    }
    let list = get_json(client, &path, resource, Verb::List).await?;
    let meta = list.get("metadata");
    let field = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let items = match list.get("items") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(_) => {
            return Err(ClusterError::Server(format!(
                "the server's {} list has no items array",
                resource.plural
            )));
        }
    };
    Ok(Page {
        items: items.into_iter().map(|o| resource.typed(o)).collect(),
        continue_token: field("continue"),
    })
}

/// Every object of `resource`, page by page. A continue token that expired
/// (410 Gone) falls back to one full list, as `ListPager` does with
/// `FullListIfExpired`.
pub async fn list(client: &Client, resource: &Resource) -> Result<Vec<Page>, ClusterError> {
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        match page(client, resource, Some(PAGE_SIZE), token.as_deref()).await {
            Ok(p) => {
                token = p.continue_token.clone();
                pages.push(p);
                if token.is_none() {
                    return Ok(pages);
                }
            }
            Err(ClusterError::Api { code: 410, .. }) if token.is_some() => {
                return Ok(vec![page(client, resource, None, None).await?]);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The text of one input: a `v1 List` of `items`, pretty-printed so that
/// diagnostics point at a useful line:col.
pub fn list_text(items: Vec<Value>) -> String {
    let mut list = Map::new();
    list.insert("apiVersion".into(), Value::String("v1".into()));
    list.insert("kind".into(), Value::String("List".into()));
    list.insert("items".into(), Value::Array(items));
    let mut text = serde_json::to_string_pretty(&Value::Object(list)).unwrap_or_default();
    text.push('\n');
    text
}

/// Query-string escaping of a continue token (base64 with `=`, `+`, `/`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_escaped() {
        assert_eq!(percent_encode("eyJ2Ijo=+/a"), "eyJ2Ijo%3D%2B%2Fa");
    }

    #[test]
    fn a_list_input_is_a_v1_list() {
        let text = list_text(vec![serde_json::json!({"kind": "Service"})]);
        assert_eq!(
            text,
            "{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    {\n      \"kind\": \"Service\"\n    }\n  ],\n  \"kind\": \"List\"\n}\n"
        );
    }
}

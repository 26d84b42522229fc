//! # libsvc
//!
//! Kubernetes Service networking as a pure function: manifests in,
//! everything a node and a pod would see out — the environment variables
//! kubelet injects, the cluster DNS records, and the rules kube-proxy
//! programs — the way Kubernetes itself does it.
//!
//! The crate does no IO (no files, clock, randomness, threads or
//! environment) and builds for `wasm32-unknown-unknown`.
//!
//! ```
//! use libsvc::{load, Input, Overrides};
//!
//! let manifest = r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {name: redis-master}
//! spec:
//!   clusterIP: 10.0.0.11
//!   selector: {app: redis}
//!   ports: [{port: 6379}]
//! "#;
//! let overrides = Overrides { service_cidrs: vec!["10.0.0.0/16".parse().unwrap()], ..Default::default() };
//! let loaded = load(&[Input::new("svc.yaml", manifest)], &overrides);
//! assert!(loaded.errors().next().is_none());
//! let svc = loaded.table.get("default", "redis-master").unwrap();
//! assert_eq!(svc.cluster_ips[0].to_string(), "10.0.0.11");
//!
//! // Any output: here the variables kubelet gives a pod of `default`.
//! use libsvc::render::{render, Mode, RenderOptions};
//! let env = render(&loaded, Mode::Env, &RenderOptions::default()).unwrap();
//! assert!(env.text.starts_with("REDIS_MASTER_SERVICE_HOST=10.0.0.11\n"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod diag;
pub mod dns;
pub mod dump;
pub mod env;
pub mod incremental;
pub mod model;
pub mod parse;
pub mod proxy;
pub mod render;
pub mod resolve;
pub mod table;
pub mod trace;
pub mod validate;
pub mod views;

pub use config::{Overrides, Settings};
pub use diag::{Diagnostic, Location, Severity};
pub use parse::Input;
pub use table::ServiceTable;

/// Everything read from the inputs: objects, settings, the table, and what
/// was found wrong along the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The objects as written.
    pub objects: model::Objects,
    /// The effective settings (objects in the stream, then flags).
    pub settings: Settings,
    /// The normalised snapshot.
    pub table: ServiceTable,
    /// Parse errors, validation errors (kube-apiserver's), warnings, notes;
    /// parse errors first, then in input order.
    pub diagnostics: Vec<Diagnostic>,
    /// Some input could not be read (syntax, types, encoding).
    pub parse_failed: bool,
    /// The objects not read because svcgen does not use their kind (one
    /// summary line of them is among the diagnostics; `note()` gives each).
    pub skipped: Vec<parse::Skipped>,
}

impl Loaded {
    /// The error diagnostics.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Did any input fail to be read (as opposed to read but fail validation)?
    /// Such input is always an error, even for `render`.
    pub fn has_parse_errors(&self) -> bool {
        self.parse_failed
    }
}

/// Reads, validates and resolves the inputs. Never panics.
pub fn load(inputs: &[Input], overrides: &Overrides) -> Loaded {
    load_parsed(parse::parse(inputs), overrides)
}

/// Validates and resolves objects already read (the incremental engine
/// reads each input once and keeps what it read).
pub fn load_parsed(parsed: parse::Parsed, overrides: &Overrides) -> Loaded {
    let mut diagnostics = parsed.diagnostics;
    let parse_failed = diagnostics.iter().any(Diagnostic::is_error);
    let settings = config::settings_from(&parsed.objects, overrides, &mut diagnostics);
    // Input that cannot be decoded never reaches kube-apiserver's
    // validation (kubectl stops at the decode error), and a value dropped
    // for its type would only add follow-on errors.
    // kube-apiserver's create path, run once: its errors are validation's,
    // its values the table's.
    let created = validate::allocation::allocate_services(&parsed.objects.services, &settings);
    if !parse_failed {
        diagnostics.extend(validate::validate_created(&parsed.objects, created.errors));
    }
    let mut objects = parsed.objects;
    // The Pods of Deployments, StatefulSets, … join the input's Pods, so
    // every output (endpoints, env, DNS, proxy rules, views) sees them.
    if !overrides.no_simulate {
        resolve::workloads::simulate(&mut objects, &settings, &mut diagnostics);
    }
    let table = resolve::resolve_created(&objects, &settings, &created.services, &mut diagnostics);
    Loaded {
        objects,
        settings,
        table,
        diagnostics,
        parse_failed,
        skipped: parsed.skipped,
    }
}

//! Shared by the conformance tests: reading a case the way
//! `conformance/README.md` ("Feeding a case to svcgen") says, and reporting.
#![allow(dead_code)]

pub mod generated;
pub mod netns;

use libsvc::config::IpFamily;
use libsvc::{Input, Loaded, Overrides};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One case folder.
pub struct Case {
    /// The folder.
    pub dir: PathBuf,
    /// Its name (`001-slug`).
    pub name: String,
    /// `case.yaml`.
    pub meta: Value,
}

impl Case {
    /// A file of the case, as text (empty if absent).
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Does the case have this file?
    pub fn has(&self, name: &str) -> bool {
        self.dir.join(name).exists()
    }

    /// The manifests plus a Node and a KubeProxyConfiguration built from
    /// `case.yaml`, as one stream; and the host-fact flags as overrides.
    pub fn stream(&self) -> (String, Overrides) {
        let mut docs = vec![self.file("input.yaml")];
        let mut o = Overrides::default();
        let node = &self.meta["node"];
        if node.is_object() {
            let mut n = format!(
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: {}\nstatus:\n  addresses:\n",
                node["name"].as_str().unwrap_or("node")
            );
            for ip in node["ips"].as_array().into_iter().flatten() {
                n.push_str(&format!(
                    "  - type: InternalIP\n    address: \"{}\"\n",
                    ip.as_str().unwrap_or("")
                ));
            }
            docs.push(n);
        }
        let proxy = &self.meta["proxy"];
        if let Some(p) = proxy.as_object() {
            let mut cfg = serde_json::Map::new();
            for (k, v) in p {
                if matches!(
                    k.as_str(),
                    "iptablesHasRandomFully"
                        | "conntrackTCPBeLiberal"
                        | "nfacctCounters"
                        | "serviceCIDRs"
                ) {
                    continue;
                }
                if k == "featureGates" && v.as_object().is_none_or(|m| m.is_empty()) {
                    continue;
                }
                cfg.insert(k.clone(), v.clone());
            }
            cfg.insert(
                "apiVersion".into(),
                "kubeproxy.config.k8s.io/v1alpha1".into(),
            );
            cfg.insert("kind".into(), "KubeProxyConfiguration".into());
            if let Some(name) = node["name"].as_str() {
                cfg.entry("hostnameOverride").or_insert(name.into());
            }
            // JSON is YAML: the stream stays one YAML text.
            docs.push(serde_json::to_string(&Value::Object(cfg)).unwrap());
            o.iptables_random_fully = p.get("iptablesHasRandomFully").and_then(Value::as_bool);
            o.conntrack_tcp_be_liberal = p.get("conntrackTCPBeLiberal").and_then(Value::as_bool);
            if let Some(c) = p.get("nfacctCounters") {
                o.nfacct_counters = Some(
                    c.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect(),
                );
            }
            for c in p
                .get("serviceCIDRs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                o.service_cidrs.push(c.as_str().unwrap().parse().unwrap());
            }
        }
        if let Some(f) = self.meta["ipFamily"].as_str() {
            o.ip_family = IpFamily::parse(f);
        }
        if let Some(d) = self.meta["clusterDomain"].as_str() {
            o.cluster_domain = Some(d.to_string());
        }
        (docs.join("\n---\n") + "\n", o)
    }

    /// The case loaded through libsvc.
    pub fn load(&self) -> Loaded {
        let (stream, overrides) = self.stream();
        libsvc::load(
            &[Input::new(format!("{}/input.yaml", self.name), stream)],
            &overrides,
        )
    }
}

/// The vendored corpus folder of `mode`.
pub fn corpus(mode: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(mode)
}

/// Every case of `mode`, sorted by name.
pub fn cases(mode: &str) -> Vec<Case> {
    let mut out: Vec<Case> = std::fs::read_dir(corpus(mode))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("case.yaml").exists())
        .map(|e| {
            let dir = e.path();
            let text = std::fs::read_to_string(dir.join("case.yaml")).unwrap();
            let meta: Value = serde_saphyr::from_str(&text).unwrap();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                dir,
                meta,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A first difference between two texts, as a short report.
pub fn first_difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            return format!(
                "line {}:\n  expected: {}\n  actual:   {}",
                i + 1,
                x.unwrap_or("<end>"),
                y.unwrap_or("<end>")
            );
        }
    }
    "texts are equal".into()
}

/// Prints `mode: N passed, M failed` (the line CI reads) and the failures.
/// Known, documented differences are listed in `known` and do not fail the
/// test; any other failure does.
pub fn report(mode: &str, results: &[(String, Result<(), String>)], known: &[&str]) {
    let failed: Vec<&(String, Result<(), String>)> =
        results.iter().filter(|(_, r)| r.is_err()).collect();
    for (name, r) in &failed {
        if let Err(why) = r {
            eprintln!(
                "--- {mode} {name} FAILED{}\n{why}",
                if known.contains(&name.as_str()) {
                    " (documented difference)"
                } else {
                    ""
                }
            );
        }
    }
    println!(
        "{mode}: {} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    let unexpected: Vec<&str> = failed
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !known.contains(n))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{mode}: undocumented failures: {unexpected:?}"
    );
}

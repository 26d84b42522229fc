//! Node trees → typed objects, with a field path and position for every value.

use super::node::{Node, Pos, Value};
use super::{Origin, Parsed, Skipped, Spans};
use crate::diag::{Diagnostic, Location, Severity};
use crate::model::*;
use std::collections::BTreeMap;
use std::sync::Arc;

mod workloads;

/// The apiVersions svcgen reads a kind in; `None` for a kind it does not
/// use. Documents of these kinds are read in full, under the budgets
/// (`read.rs`); all others are skipped unread.
pub(super) fn api_versions(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Service" | "Endpoints" | "Pod" | "Node" => &["v1"],
        "EndpointSlice" => &["discovery.k8s.io/v1"],
        "ServiceCIDR" => &["networking.k8s.io/v1", "networking.k8s.io/v1beta1"],
        "KubeProxyConfiguration" => &["kubeproxy.config.k8s.io/v1alpha1"],
        // Workloads, which become Pods.
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => &["apps/v1"],
        "ReplicationController" => &["v1"],
        _ => return None,
    })
}

/// Is this a list of objects (`kind: List`, or `ServiceList` … in v1)?
pub(super) fn is_list(kind: &str, api_version: Option<&str>) -> bool {
    kind == "List" || (kind.ends_with("List") && api_version == Some("v1"))
}

/// Decodes one object (or a List of them) read in full.
pub(super) fn decode_document(file: &Arc<str>, doc: &Node, out: &mut Parsed) {
    let mut d = Decoder::new(file, doc.pos);
    let Some(kind) = d.string(Some(doc), "", "kind") else {
        if !matches!(doc.value, Value::Map(_)) {
            d.error(
                "",
                doc.pos,
                format!("a manifest must be an object, not a {}", doc.kind_name()),
            );
        } else {
            d.error(
                "kind",
                doc.pos,
                "kind: Required value: every object needs apiVersion and kind".into(),
            );
        }
        out.diagnostics.append(&mut d.diags);
        return;
    };
    let api_version = d.string(Some(doc), "", "apiVersion");
    let Some(api_version) = api_version else {
        d.error(
            "apiVersion",
            doc.pos,
            format!("apiVersion: Required value: {kind} needs apiVersion"),
        );
        out.diagnostics.append(&mut d.diags);
        return;
    };
    if is_list(&kind, Some(&api_version)) {
        let items = d.child(Some(doc), "", "items");
        out.diagnostics.append(&mut d.diags);
        if let Some((items, path)) = items {
            match &items.value {
                Value::Seq(items) => {
                    for item in items {
                        decode_document(file, item, out);
                    }
                }
                _ => {
                    let mut d = Decoder::new(file, doc.pos);
                    d.type_error(&path, items, "list");
                    out.diagnostics.append(&mut d.diags);
                }
            }
        }
        return;
    }
    let Some(expected) = api_versions(&kind) else {
        out.skipped.push(Skipped {
            name: name_of(doc),
            kind: Some(kind),
            api_version: Some(api_version),
            location: d.origin().location(),
        });
        return;
    };
    if !expected.contains(&api_version.as_str()) {
        let loc = d.origin().location();
        out.diagnostics.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "skipped {kind} with apiVersion {api_version}: svcgen reads {kind} as {}",
                expected.join(" or ")
            ),
            Some(loc),
        ));
        return;
    }
    super::fields::check(&kind, doc, file, &mut out.diagnostics);
    let objects = &mut out.objects;
    match kind.as_str() {
        "Service" => {
            let o = d.service(doc);
            objects.services.push(o)
        }
        "Endpoints" => {
            let o = d.endpoints(doc);
            objects.endpoints.push(o)
        }
        "EndpointSlice" => {
            let o = d.endpoint_slice(doc);
            objects.endpoint_slices.push(o)
        }
        "Pod" => {
            let o = d.pod(doc);
            objects.pods.push(o)
        }
        "Node" => {
            let o = d.node(doc);
            objects.nodes.push(o)
        }
        "ServiceCIDR" => {
            let o = d.service_cidr(doc);
            objects.service_cidrs.push(o)
        }
        "Deployment" | "ReplicaSet" | "ReplicationController" | "StatefulSet" | "DaemonSet" => {
            if let Some(kind) = WorkloadKind::parse(&kind) {
                let o = d.workload(doc, kind);
                objects.workloads.push(o)
            }
        }
        "KubeProxyConfiguration" => {
            let o = d.proxy_config(doc);
            objects.proxy_configs.push(o)
        }
        // api_versions() lists only the kinds above.
        _ => out.skipped.push(Skipped {
            name: name_of(doc),
            kind: Some(kind),
            api_version: Some(api_version),
            location: d.origin().location(),
        }),
    }
    out.diagnostics.append(&mut d.diags);
}

/// `namespace/name` (or `name`) of an object, for notes.
pub(super) fn name_of(doc: &Node) -> Option<String> {
    let meta = doc.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    Some(match meta.get("namespace").and_then(Node::as_str) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Reads one object, recording positions and type errors.
struct Decoder {
    file: Arc<str>,
    pos: Pos,
    spans: Spans,
    diags: Vec<Diagnostic>,
}

impl Decoder {
    fn new(file: &Arc<str>, pos: Pos) -> Self {
        Decoder {
            file: file.clone(),
            pos,
            spans: Spans::default(),
            diags: Vec::new(),
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            file: self.file.clone(),
            pos: self.pos,
            spans: Arc::new(self.spans.clone().sorted()),
        }
    }

    fn take_origin(&mut self) -> Origin {
        Origin {
            file: self.file.clone(),
            pos: self.pos,
            spans: Arc::new(std::mem::take(&mut self.spans).sorted()),
        }
    }

    fn error(&mut self, field: &str, pos: Pos, message: String) {
        let mut diag = Diagnostic::new(
            Severity::Error,
            message,
            Some(Location {
                file: self.file.clone(),
                line: pos.line,
                column: pos.column,
            }),
        );
        if !field.is_empty() {
            diag.field = Some(field.to_string());
        }
        self.diags.push(diag);
    }

    fn type_error(&mut self, path: &str, node: &Node, expected: &str) {
        let shown = match &node.value {
            Value::Str(s) => format!(" {s:?}"),
            Value::Int(i) => format!(" {i}"),
            Value::Float(f) => format!(" {f}"),
            Value::Bool(b) => format!(" {b}"),
            _ => String::new(),
        };
        let got = node.kind_name();
        self.error(
            path,
            node.pos,
            format!("{path}: Invalid type: expected {expected}, got {got}{shown}"),
        );
    }

    /// The value under `key` of `parent` (absent or null: `None`), with its path.
    fn child<'n>(
        &mut self,
        parent: Option<&'n Node>,
        path: &str,
        key: &str,
    ) -> Option<(&'n Node, String)> {
        let parent = parent?;
        let Value::Map(entries) = &parent.value else {
            return None;
        };
        let (_, node) = entries
            .iter()
            .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))?;
        let p = join(path, key);
        self.spans.insert(&p, node.pos);
        if matches!(node.value, Value::Null) {
            return None;
        }
        Some((node, p))
    }

    /// An object under `key`; a value of another type is an error.
    fn object<'n>(
        &mut self,
        parent: Option<&'n Node>,
        path: &str,
        key: &str,
    ) -> Option<(&'n Node, String)> {
        let (node, p) = self.child(parent, path, key)?;
        if matches!(node.value, Value::Map(_)) {
            Some((node, p))
        } else {
            self.type_error(&p, node, "object");
            None
        }
    }

    fn string(&mut self, parent: Option<&Node>, path: &str, key: &str) -> Option<String> {
        let (node, p) = self.child(parent, path, key)?;
        self.string_value(node, &p)
    }

    fn string_value(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(path, node, "string");
                None
            }
        }
    }

    fn int(&mut self, parent: Option<&Node>, path: &str, key: &str) -> Option<i64> {
        let (node, p) = self.child(parent, path, key)?;
        match &node.value {
            Value::Int(i) => Some(*i),
            _ => {
                self.type_error(&p, node, "integer");
                None
            }
        }
    }

    fn boolean(&mut self, parent: Option<&Node>, path: &str, key: &str) -> Option<bool> {
        let (node, p) = self.child(parent, path, key)?;
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.type_error(&p, node, "boolean");
                None
            }
        }
    }

    fn int_or_string(
        &mut self,
        parent: Option<&Node>,
        path: &str,
        key: &str,
    ) -> Option<IntOrString> {
        let (node, p) = self.child(parent, path, key)?;
        match &node.value {
            Value::Int(i) => Some(IntOrString::Int(*i)),
            Value::Str(s) => Some(IntOrString::Str(s.clone())),
            _ => {
                self.type_error(&p, node, "integer or string");
                None
            }
        }
    }

    /// A resource quantity (`4`, `0.5`, `3500m`), as its text.
    fn quantity(&mut self, parent: Option<&Node>, path: &str, key: &str) -> Option<String> {
        let (node, p) = self.child(parent, path, key)?;
        match &node.value {
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(&p, node, "quantity");
                None
            }
        }
    }

    /// A list under `key`, each item read by `item`.
    fn list<T>(
        &mut self,
        parent: Option<&Node>,
        path: &str,
        key: &str,
        mut item: impl FnMut(&mut Self, &Node, &str) -> Option<T>,
    ) -> Vec<T> {
        let Some((node, p)) = self.child(parent, path, key) else {
            return Vec::new();
        };
        let Value::Seq(items) = &node.value else {
            self.type_error(&p, node, "list");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            let ip = format!("{p}[{i}]");
            self.spans.insert(&ip, it.pos);
            if let Some(v) = item(self, it, &ip) {
                out.push(v);
            }
        }
        out
    }

    fn strings(&mut self, parent: Option<&Node>, path: &str, key: &str) -> Vec<String> {
        self.list(parent, path, key, |d, n, p| d.string_value(n, p))
    }

    /// An object item of a list (a non-object item is an error).
    fn item_object<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n Node> {
        if matches!(node.value, Value::Map(_)) {
            Some(node)
        } else {
            self.type_error(path, node, "object");
            None
        }
    }

    fn string_map(
        &mut self,
        parent: Option<&Node>,
        path: &str,
        key: &str,
    ) -> Option<BTreeMap<String, String>> {
        let (node, p) = self.object(parent, path, key)?;
        let Value::Map(entries) = &node.value else {
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.type_error(&p, k, "string key");
                continue;
            };
            let vp = join(&p, key);
            self.spans.insert(&vp, v.pos);
            if let Some(v) = self.string_value(v, &vp) {
                out.insert(key.to_string(), v);
            }
        }
        Some(out)
    }

    fn meta(&mut self, doc: &Node) -> ObjectMeta {
        let m = self.object(Some(doc), "", "metadata").map(|(n, _)| n);
        ObjectMeta {
            name: self.string(m, "metadata", "name").unwrap_or_default(),
            namespace: self.string(m, "metadata", "namespace"),
            labels: self.string_map(m, "metadata", "labels").unwrap_or_default(),
            annotations: self
                .string_map(m, "metadata", "annotations")
                .unwrap_or_default(),
            deleting: self.child(m, "metadata", "deletionTimestamp").is_some(),
            creation_timestamp: self.string(m, "metadata", "creationTimestamp"),
            owner_references: self.list(m, "metadata", "ownerReferences", |d, n, p| {
                let n = Some(d.item_object(n, p)?);
                Some((
                    d.string(n, p, "kind").unwrap_or_default(),
                    d.string(n, p, "name").unwrap_or_default(),
                ))
            }),
            uid: self.string(m, "metadata", "uid"),
            resource_version: self.string(m, "metadata", "resourceVersion"),
        }
    }

    fn target_ref(&mut self, parent: Option<&Node>, path: &str) -> Option<ObjectReference> {
        let (n, p) = self.object(parent, path, "targetRef")?;
        Some(ObjectReference {
            kind: self.string(Some(n), &p, "kind"),
            namespace: self.string(Some(n), &p, "namespace"),
            name: self.string(Some(n), &p, "name"),
        })
    }

    fn service(&mut self, doc: &Node) -> Service {
        let meta = self.meta(doc);
        let spec = self.object(Some(doc), "", "spec").map(|(n, _)| n);
        let s = "spec";
        let ports = self.list(spec, s, "ports", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            Some(ServicePort {
                name: d.string(n, p, "name").unwrap_or_default(),
                protocol: d.string(n, p, "protocol"),
                app_protocol: d.string(n, p, "appProtocol"),
                port: d.int(n, p, "port").unwrap_or(0),
                target_port: d.int_or_string(n, p, "targetPort"),
                node_port: d.int(n, p, "nodePort"),
            })
        });
        let affinity_cfg = self.object(spec, s, "sessionAffinityConfig");
        let client_ip = affinity_cfg
            .as_ref()
            .and_then(|(n, p)| self.object(Some(n), p, "clientIP"));
        let affinity_timeout = client_ip
            .as_ref()
            .and_then(|(n, p)| self.int(Some(n), p, "timeoutSeconds"));
        let selector_present = self.child(spec, s, "selector").is_some();
        let spec_out = ServiceSpec {
            type_: self.string(spec, s, "type"),
            cluster_ip: self.string(spec, s, "clusterIP"),
            cluster_ips: self.strings(spec, s, "clusterIPs"),
            ip_families: self.strings(spec, s, "ipFamilies"),
            ip_family_policy: self.string(spec, s, "ipFamilyPolicy"),
            ports,
            selector: if selector_present {
                self.string_map(spec, s, "selector")
            } else {
                None
            },
            external_ips: self.strings(spec, s, "externalIPs"),
            external_name: self.string(spec, s, "externalName"),
            session_affinity: self.string(spec, s, "sessionAffinity"),
            session_affinity_config: affinity_cfg.is_some(),
            affinity_timeout,
            load_balancer_ip: self.string(spec, s, "loadBalancerIP"),
            load_balancer_source_ranges: self.strings(spec, s, "loadBalancerSourceRanges"),
            load_balancer_class: self.string(spec, s, "loadBalancerClass"),
            allocate_load_balancer_node_ports: self.boolean(
                spec,
                s,
                "allocateLoadBalancerNodePorts",
            ),
            external_traffic_policy: self.string(spec, s, "externalTrafficPolicy"),
            internal_traffic_policy: self.string(spec, s, "internalTrafficPolicy"),
            health_check_node_port: self.int(spec, s, "healthCheckNodePort"),
            publish_not_ready_addresses: self
                .boolean(spec, s, "publishNotReadyAddresses")
                .unwrap_or(false),
            traffic_distribution: self.string(spec, s, "trafficDistribution"),
        };
        let status = self.object(Some(doc), "", "status").map(|(n, _)| n);
        let lb = self
            .object(status, "status", "loadBalancer")
            .map(|(n, _)| n);
        let lb_ingress = self.list(lb, "status.loadBalancer", "ingress", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            Some(LoadBalancerIngress {
                ip: d.string(n, p, "ip"),
                hostname: d.string(n, p, "hostname"),
                ip_mode: d.string(n, p, "ipMode"),
            })
        });
        Service {
            meta,
            spec: spec_out,
            lb_ingress,
            origin: self.take_origin(),
        }
    }

    fn endpoint_port(&mut self, n: &Node, p: &str) -> Option<EndpointPort> {
        let n = Some(self.item_object(n, p)?);
        Some(EndpointPort {
            name: self.string(n, p, "name").unwrap_or_default(),
            port: self.int(n, p, "port"),
            protocol: self.string(n, p, "protocol"),
            app_protocol: self.string(n, p, "appProtocol"),
        })
    }

    fn endpoint_address(&mut self, n: &Node, p: &str) -> Option<EndpointAddress> {
        let n = Some(self.item_object(n, p)?);
        Some(EndpointAddress {
            ip: self.string(n, p, "ip").unwrap_or_default(),
            hostname: self.string(n, p, "hostname"),
            node_name: self.string(n, p, "nodeName"),
            target_ref: self.target_ref(n, p),
        })
    }

    fn endpoints(&mut self, doc: &Node) -> Endpoints {
        let meta = self.meta(doc);
        let subsets = self.list(Some(doc), "", "subsets", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            Some(EndpointSubset {
                addresses: d.list(n, p, "addresses", Self::endpoint_address),
                not_ready_addresses: d.list(n, p, "notReadyAddresses", Self::endpoint_address),
                ports: d.list(n, p, "ports", Self::endpoint_port),
            })
        });
        Endpoints {
            meta,
            subsets,
            origin: self.take_origin(),
        }
    }

    fn endpoint_slice(&mut self, doc: &Node) -> EndpointSlice {
        let meta = self.meta(doc);
        let address_type = self
            .string(Some(doc), "", "addressType")
            .unwrap_or_default();
        let endpoints = self.list(Some(doc), "", "endpoints", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            let cond = d.object(n, p, "conditions");
            let (c, cp) = match &cond {
                Some((c, cp)) => (Some(*c), cp.clone()),
                None => (None, String::new()),
            };
            let hints = d.object(n, p, "hints");
            let (h, hp) = match &hints {
                Some((h, hp)) => (Some(*h), hp.clone()),
                None => (None, String::new()),
            };
            let name_of = |d: &mut Self, n: &Node, p: &str| {
                let n = Some(d.item_object(n, p)?);
                d.string(n, p, "name")
            };
            Some(SliceEndpoint {
                addresses: d.strings(n, p, "addresses"),
                ready: d.boolean(c, &cp, "ready"),
                serving: d.boolean(c, &cp, "serving"),
                terminating: d.boolean(c, &cp, "terminating"),
                hostname: d.string(n, p, "hostname"),
                node_name: d.string(n, p, "nodeName"),
                zone: d.string(n, p, "zone"),
                hint_zones: d.list(h, &hp, "forZones", name_of),
                hint_nodes: d.list(h, &hp, "forNodes", name_of),
                target_ref: d.target_ref(n, p),
            })
        });
        let ports = self.list(Some(doc), "", "ports", Self::endpoint_port);
        EndpointSlice {
            meta,
            address_type,
            endpoints,
            ports,
            origin: self.take_origin(),
        }
    }

    fn pod(&mut self, doc: &Node) -> Pod {
        let meta = self.meta(doc);
        let spec = self.object(Some(doc), "", "spec").map(|(n, _)| n);
        let (container_ports, containers) = self.containers(spec, "spec");
        let status = self.object(Some(doc), "", "status").map(|(n, _)| n);
        let mut pod_ips = self.list(status, "status", "podIPs", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            d.string(n, p, "ip")
        });
        if pod_ips.is_empty()
            && let Some(ip) = self.string(status, "status", "podIP")
        {
            pod_ips.push(ip);
        }
        let conditions = self.list(status, "status", "conditions", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            Some((
                d.string(n, p, "type")?,
                d.string(n, p, "status").unwrap_or_default(),
            ))
        });
        let ready = conditions
            .iter()
            .find(|(t, _)| t == "Ready")
            .map(|(_, s)| s == "True");
        Pod {
            meta,
            node_name: self.string(spec, "spec", "nodeName"),
            hostname: self.string(spec, "spec", "hostname"),
            subdomain: self.string(spec, "spec", "subdomain"),
            enable_service_links: self.boolean(spec, "spec", "enableServiceLinks"),
            container_ports,
            pod_ips,
            phase: self.string(status, "status", "phase"),
            ready,
            simulated: false,
            origin: self.take_origin(),
            containers,
        }
    }

    fn node(&mut self, doc: &Node) -> crate::model::Node {
        let meta = self.meta(doc);
        let status = self.object(Some(doc), "", "status").map(|(n, _)| n);
        let addresses = self.list(status, "status", "addresses", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            Some((
                d.string(n, p, "type").unwrap_or_default(),
                d.string(n, p, "address")?,
            ))
        });
        let spec = self.object(Some(doc), "", "spec").map(|(n, _)| n);
        let mut pod_cidrs = self.strings(spec, "spec", "podCIDRs");
        if pod_cidrs.is_empty()
            && let Some(cidr) = self.string(spec, "spec", "podCIDR")
        {
            pod_cidrs.push(cidr);
        }
        let allocatable = self.object(status, "status", "allocatable");
        let allocatable_cpu = allocatable.and_then(|(n, p)| self.quantity(Some(n), &p, "cpu"));
        let conditions = self.list(status, "status", "conditions", |d, n, p| {
            let n = Some(d.item_object(n, p)?);
            Some((
                d.string(n, p, "type")?,
                d.string(n, p, "status").unwrap_or_default(),
            ))
        });
        let ready = conditions
            .iter()
            .find(|(t, _)| t == "Ready")
            .map(|(_, s)| s == "True");
        crate::model::Node {
            meta,
            addresses,
            pod_cidrs,
            origin: self.take_origin(),
            allocatable_cpu,
            ready,
        }
    }

    fn service_cidr(&mut self, doc: &Node) -> ServiceCidr {
        let meta = self.meta(doc);
        let spec = self.object(Some(doc), "", "spec").map(|(n, _)| n);
        ServiceCidr {
            meta,
            cidrs: self.strings(spec, "spec", "cidrs"),
            origin: self.take_origin(),
        }
    }

    fn proxy_config(&mut self, doc: &Node) -> KubeProxyConfiguration {
        let d = Some(doc);
        let ipt = self.object(d, "", "iptables").map(|(n, _)| n);
        let nft = self.object(d, "", "nftables").map(|(n, _)| n);
        let ipvs = self.object(d, "", "ipvs").map(|(n, _)| n);
        let detect = self.object(d, "", "detectLocal").map(|(n, _)| n);
        let conntrack = self.object(d, "", "conntrack").map(|(n, _)| n);
        let node_port_addresses = self
            .child(d, "", "nodePortAddresses")
            .is_some()
            .then(|| self.strings(d, "", "nodePortAddresses"));
        let mut feature_gates = BTreeMap::new();
        if let Some((fg, p)) = self.object(d, "", "featureGates")
            && let Value::Map(entries) = &fg.value
        {
            for (k, _) in entries {
                if let Some(key) = k.as_str()
                    && let Some(v) = self.boolean(Some(fg), &p, key)
                {
                    feature_gates.insert(key.to_string(), v);
                }
            }
        }
        KubeProxyConfiguration {
            mode: self.string(d, "", "mode"),
            hostname_override: self.string(d, "", "hostnameOverride"),
            cluster_cidr: self.string(d, "", "clusterCIDR"),
            detect_local_mode: self.string(d, "", "detectLocalMode"),
            iptables_masquerade_bit: self.int(ipt, "iptables", "masqueradeBit"),
            iptables_masquerade_all: self.boolean(ipt, "iptables", "masqueradeAll"),
            iptables_localhost_node_ports: self.boolean(ipt, "iptables", "localhostNodePorts"),
            nftables_masquerade_bit: self.int(nft, "nftables", "masqueradeBit"),
            nftables_masquerade_all: self.boolean(nft, "nftables", "masqueradeAll"),
            ipvs_scheduler: self.string(ipvs, "ipvs", "scheduler"),
            ipvs_strict_arp: self.boolean(ipvs, "ipvs", "strictARP"),
            node_port_addresses,
            feature_gates,
            bridge_interface: self.string(detect, "detectLocal", "bridgeInterface"),
            interface_name_prefix: self.string(detect, "detectLocal", "interfaceNamePrefix"),
            bind_address: self.string(d, "", "bindAddress"),
            conntrack_tcp_be_liberal: self.boolean(conntrack, "conntrack", "tcpBeLiberal"),
            origin: self.take_origin(),
        }
    }
}

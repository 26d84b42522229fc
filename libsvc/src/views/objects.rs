//! `kubectl get … -o json|yaml`: the objects as kube-apiserver returns
//! them — `apiVersion`, `kind`, `metadata`, `spec` with the v1 defaults
//! (pkg/apis/core/v1/defaults.go `SetDefaults_Service`,
//! `SetDefaults_PodSpec`, `SetDefaults_Endpoints`) and what the registry
//! allocates on create (cluster IPs, IP families, node ports), and `status`;
//! v1 Endpoints and EndpointSlices as their controllers
//! (pkg/controller/endpoint, pkg/controller/endpointslice) would write them.
//!
//! Objects are `serde_json::Value`s: their maps are sorted by key, which is
//! the order kubectl prints (it decodes the server's JSON into unstructured
//! maps, and Go's encoders sort map keys). [`to_json`] and [`to_yaml`] write
//! them the way kubectl's JSON and YAML printers do.

use super::Query;
use crate::Loaded;
use crate::model::{self, IntOrString};
use crate::table::{ServiceInfo, ServiceType, SliceInfo, SliceSource};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The annotation svcgen puts on Pods it made from a workload
/// (`svcgen/simulated-from: Kind/name`), written by the simulation itself.
pub use crate::resolve::workloads::SIMULATED_ANNOTATION;
/// The EndpointSlice label naming the controller that manages it.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// The `deletionTimestamp` written for a terminating Pod (the input's own
/// time is not kept; only that it is set matters to Services).
pub const DELETION_TIMESTAMP: &str = "1970-01-01T00:00:00Z";
/// The EndpointSlice label naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label on the Endpoints and EndpointSlices of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// A `v1` `List` of `items`, as kubectl prints several objects.
pub fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

fn put(m: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    m.insert(key.to_string(), value.into());
}

fn put_some<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        put(m, key, v);
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `metadata`: maps only when not empty (Go's `omitempty`).
fn metadata(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    creation_timestamp: Option<&str>,
) -> Value {
    let mut m = Map::new();
    if !annotations.is_empty() {
        put(&mut m, "annotations", string_map(annotations));
    }
    put_some(&mut m, "creationTimestamp", creation_timestamp);
    if !labels.is_empty() {
        put(&mut m, "labels", string_map(labels));
    }
    put(&mut m, "name", name);
    put(&mut m, "namespace", namespace);
    Value::Object(m)
}

fn int_or_string(v: &IntOrString) -> Value {
    match v {
        IntOrString::Int(n) => json!(n),
        IntOrString::Str(s) => json!(s),
    }
}

fn model_service<'a>(loaded: &'a Loaded, svc: &ServiceInfo) -> Option<&'a model::Service> {
    loaded
        .objects
        .services
        .iter()
        .find(|s| s.meta.namespace() == svc.namespace && s.meta.name == svc.name)
}

/// A Service as stored: the table's defaulted and allocated values, and
/// the fields the table does not carry from the manifest.
pub fn service(loaded: &Loaded, svc: &ServiceInfo) -> Value {
    let written = model_service(loaded, svc);
    let spec_in = written.map(|s| &s.spec);
    let mut spec = Map::new();
    if svc.type_ == ServiceType::LoadBalancer {
        put_some(
            &mut spec,
            "allocateLoadBalancerNodePorts",
            svc.allocate_load_balancer_node_ports,
        );
    }
    // `clusterIP: ""` written as such is read as stored without an address
    // (kubelet's own tests use it); it stays so.
    let unallocated =
        spec_in.is_some_and(|s| s.cluster_ip.as_deref() == Some("") && s.cluster_ips.is_empty());
    if svc.type_ != ServiceType::ExternalName {
        match svc.cluster_ips_text.first().filter(|_| !unallocated) {
            Some(primary) => {
                put(&mut spec, "clusterIP", primary.as_str());
                put(&mut spec, "clusterIPs", svc.cluster_ips_text.clone());
            }
            // Stored without an address (`clusterIP: ""`, or one that does
            // not parse): kept empty, so that reading it back allocates nothing.
            None => put(&mut spec, "clusterIP", ""),
        }
    }
    if !svc.external_ips.is_empty() {
        put(&mut spec, "externalIPs", svc.external_ips.clone());
    }
    put_some(&mut spec, "externalName", svc.external_name.clone());
    put_some(
        &mut spec,
        "externalTrafficPolicy",
        svc.external_traffic_policy.clone(),
    );
    put_some(&mut spec, "healthCheckNodePort", svc.health_check_node_port);
    put_some(
        &mut spec,
        "internalTrafficPolicy",
        svc.internal_traffic_policy.clone(),
    );
    if svc.type_ != ServiceType::ExternalName {
        if !svc.ip_families.is_empty() {
            let families: Vec<String> = svc.ip_families.iter().map(|f| f.to_string()).collect();
            put(&mut spec, "ipFamilies", families);
        }
        put(&mut spec, "ipFamilyPolicy", svc.ip_family_policy.as_str());
    }
    if let Some(s) = spec_in {
        put_some(
            &mut spec,
            "loadBalancerClass",
            s.load_balancer_class.clone(),
        );
        put_some(
            &mut spec,
            "loadBalancerIP",
            s.load_balancer_ip.clone().filter(|i| !i.is_empty()),
        );
        if !s.load_balancer_source_ranges.is_empty() {
            put(
                &mut spec,
                "loadBalancerSourceRanges",
                s.load_balancer_source_ranges.clone(),
            );
        }
    }
    if !svc.ports.is_empty() {
        let ports: Vec<Value> = svc
            .ports
            .iter()
            .map(|p| {
                let mut m = Map::new();
                put_some(&mut m, "appProtocol", p.app_protocol.clone());
                if !p.name.is_empty() {
                    put(&mut m, "name", p.name.as_str());
                }
                put_some(&mut m, "nodePort", p.node_port);
                put(&mut m, "port", p.port);
                put(&mut m, "protocol", p.protocol.as_str());
                put(&mut m, "targetPort", int_or_string(&p.target_port));
                Value::Object(m)
            })
            .collect();
        put(&mut spec, "ports", ports);
    }
    if svc.publish_not_ready_addresses {
        put(&mut spec, "publishNotReadyAddresses", true);
    }
    if let Some(sel) = &svc.selector
        && !sel.is_empty()
    {
        put(&mut spec, "selector", string_map(sel));
    }
    put(&mut spec, "sessionAffinity", svc.session_affinity.as_str());
    if let Some(t) = svc.affinity_timeout {
        put(
            &mut spec,
            "sessionAffinityConfig",
            json!({"clientIP": {"timeoutSeconds": t}}),
        );
    }
    put_some(
        &mut spec,
        "trafficDistribution",
        svc.traffic_distribution.clone(),
    );
    put(&mut spec, "type", svc.type_.as_str());

    // status.loadBalancer: `{}` unless the input has ingress points; an
    // IP without ipMode gets VIP on a LoadBalancer (SetDefaults_Service).
    let mut lb = Map::new();
    if let Some(s) = written
        && !s.lb_ingress.is_empty()
    {
        let ingress: Vec<Value> = s
            .lb_ingress
            .iter()
            .map(|i| {
                let mut m = Map::new();
                put_some(&mut m, "hostname", i.hostname.clone());
                put_some(&mut m, "ip", i.ip.clone());
                let mode = i.ip_mode.clone().or_else(|| {
                    (svc.type_ == ServiceType::LoadBalancer
                        && i.ip.as_deref().is_some_and(|ip| !ip.is_empty()))
                    .then(|| "VIP".to_string())
                });
                put_some(&mut m, "ipMode", mode);
                Value::Object(m)
            })
            .collect();
        put(&mut lb, "ingress", ingress);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(
            &svc.name,
            &svc.namespace,
            &svc.labels,
            &svc.annotations,
            svc.creation_timestamp.as_deref(),
        ),
        "spec": spec,
        "status": {"loadBalancer": lb},
    })
}

/// The Services a query selects, as objects.
pub fn services(loaded: &Loaded, q: &Query) -> Vec<Value> {
    loaded
        .table
        .services
        .iter()
        .filter(|s| q.selects(&s.namespace, &s.name, &s.labels))
        .map(|s| service(loaded, s))
        .collect()
}

fn target_ref(r: &model::ObjectReference) -> Value {
    let mut m = Map::new();
    put_some(&mut m, "kind", r.kind.clone());
    put_some(&mut m, "name", r.name.clone());
    put_some(&mut m, "namespace", r.namespace.clone());
    Value::Object(m)
}

/// The labels the Endpoints and EndpointSlice controllers copy from a
/// Service, with the headless label (`setEndpointSliceLabels`, the
/// Endpoints controller's `syncService`).
fn copied_labels(svc: &ServiceInfo) -> BTreeMap<String, String> {
    let mut labels = svc.labels.clone();
    if svc.headless {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

fn endpoint_port(name: &str, port: Option<i64>, protocol: &str, app: Option<&String>) -> Value {
    let mut m = Map::new();
    put_some(&mut m, "appProtocol", app.cloned());
    if !name.is_empty() {
        put(&mut m, "name", name);
    }
    put_some(&mut m, "port", port);
    put(&mut m, "protocol", protocol);
    Value::Object(m)
}

/// The Endpoints objects (`crate::resolve::endpoints_controller`): those of
/// the input, and for each Service with a selector what the Endpoints
/// controller writes from its Pods.
pub fn endpoints(loaded: &Loaded, q: &Query) -> Vec<Value> {
    use crate::resolve::endpoints_controller::{Address, EndpointsSource, endpoints_objects};
    let address = |a: &Address| -> Value {
        let mut m = Map::new();
        if !a.hostname.is_empty() {
            put(&mut m, "hostname", a.hostname.as_str());
        }
        put(&mut m, "ip", a.ip.as_str());
        put_some(&mut m, "nodeName", a.node_name.clone());
        if let Some(r) = &a.target_ref {
            let mut t = Map::new();
            put(&mut t, "kind", r.kind.as_str());
            put(&mut t, "name", r.name.as_str());
            put(&mut t, "namespace", r.namespace.as_str());
            if !r.uid.is_empty() {
                put(&mut t, "uid", r.uid.as_str());
            }
            put(&mut m, "targetRef", t);
        }
        Value::Object(m)
    };
    endpoints_objects(&loaded.objects, &loaded.table)
        .into_iter()
        .filter(|e| q.selects(&e.namespace, &e.name, &e.labels))
        .map(|e| {
            let subsets: Vec<Value> = e
                .subsets
                .iter()
                .map(|s| {
                    let mut m = Map::new();
                    if !s.addresses.is_empty() {
                        let a: Vec<Value> = s.addresses.iter().map(address).collect();
                        put(&mut m, "addresses", a);
                    }
                    if !s.not_ready_addresses.is_empty() {
                        let a: Vec<Value> = s.not_ready_addresses.iter().map(address).collect();
                        put(&mut m, "notReadyAddresses", a);
                    }
                    if !s.ports.is_empty() {
                        let p: Vec<Value> = s
                            .ports
                            .iter()
                            .map(|p| {
                                endpoint_port(
                                    &p.name,
                                    Some(p.port),
                                    &p.protocol,
                                    p.app_protocol.as_ref(),
                                )
                            })
                            .collect();
                        put(&mut m, "ports", p);
                    }
                    Value::Object(m)
                })
                .collect();
            // Only an object of the input has a creation time.
            let created = match e.source {
                EndpointsSource::Given => loaded
                    .objects
                    .endpoints
                    .iter()
                    .find(|o| o.meta.namespace() == e.namespace && o.meta.name == e.name)
                    .and_then(|o| o.meta.creation_timestamp.as_deref()),
                EndpointsSource::Controller => None,
            };
            endpoints_object(
                &e.name,
                &e.namespace,
                &e.labels,
                &e.annotations,
                created,
                subsets,
            )
        })
        .collect()
}

fn endpoints_object(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    created: Option<&str>,
    subsets: Vec<Value>,
) -> Value {
    let mut m = Map::new();
    put(&mut m, "apiVersion", "v1");
    put(&mut m, "kind", "Endpoints");
    put(
        &mut m,
        "metadata",
        metadata(name, namespace, labels, annotations, created),
    );
    if !subsets.is_empty() {
        put(&mut m, "subsets", subsets);
    }
    Value::Object(m)
}

/// The labels of a slice the controllers write: the Service's labels, the
/// Service name, the managing controller (`setEndpointSliceLabels`; the
/// mirroring controller's `getEndpointSliceFromEndpoints`).
fn controller_slice_labels(svc: &ServiceInfo, source: SliceSource) -> BTreeMap<String, String> {
    let mut labels = copied_labels(svc);
    let manager = match source {
        SliceSource::MirroredFromEndpoints => "endpointslicemirroring-controller.k8s.io",
        _ => "endpointslice-controller.k8s.io",
    };
    labels.insert(MANAGED_BY_LABEL.into(), manager.into());
    labels.insert(SERVICE_NAME_LABEL.into(), svc.name.to_string());
    labels
}

/// An endpoint's `hints` (`forNodes`, `forZones`), when it has any.
fn put_hints(m: &mut Map<String, Value>, zones: &[String], nodes: &[String]) {
    if zones.is_empty() && nodes.is_empty() {
        return;
    }
    let names =
        |names: &[String]| -> Vec<Value> { names.iter().map(|n| json!({"name": n})).collect() };
    let mut h = Map::new();
    if !nodes.is_empty() {
        put(&mut h, "forNodes", names(nodes));
    }
    if !zones.is_empty() {
        put(&mut h, "forZones", names(zones));
    }
    put(m, "hints", h);
}

/// One EndpointSlice the controllers would write.
fn controller_slice(svc: &ServiceInfo, sl: &SliceInfo) -> Value {
    let endpoints: Vec<Value> = sl
        .endpoints
        .iter()
        .map(|e| {
            let mut m = Map::new();
            put(&mut m, "addresses", e.addresses.clone());
            put(
                &mut m,
                "conditions",
                json!({"ready": e.ready, "serving": e.serving, "terminating": e.terminating}),
            );
            put_hints(&mut m, &e.hint_zones, &e.hint_nodes);
            put_some(&mut m, "hostname", e.hostname.clone());
            put_some(&mut m, "nodeName", e.node_name.clone());
            put_some(&mut m, "targetRef", e.target_ref.as_ref().map(target_ref));
            put_some(&mut m, "zone", e.zone.clone());
            Value::Object(m)
        })
        .collect();
    // The controllers always set a port's name (`""` for an unnamed port).
    let ports: Vec<Value> = sl
        .ports
        .iter()
        .map(|p| {
            let mut m = Map::new();
            put_some(&mut m, "appProtocol", p.app_protocol.clone());
            put(&mut m, "name", p.name.as_str());
            put_some(&mut m, "port", p.port);
            put(&mut m, "protocol", p.protocol.as_str());
            Value::Object(m)
        })
        .collect();
    json!({
        "addressType": format!("{:?}", sl.address_type),
        "apiVersion": "discovery.k8s.io/v1",
        "endpoints": endpoints,
        "kind": "EndpointSlice",
        "metadata": metadata(
            &sl.name,
            &svc.namespace,
            &controller_slice_labels(svc, sl.source),
            &BTreeMap::new(),
            None,
        ),
        "ports": ports,
    })
}

/// An EndpointSlice of the input, as written (conditions as given).
fn given_slice(s: &model::EndpointSlice) -> Value {
    let endpoints: Vec<Value> = s
        .endpoints
        .iter()
        .map(|e| {
            let mut m = Map::new();
            put(&mut m, "addresses", e.addresses.clone());
            let mut c = Map::new();
            put_some(&mut c, "ready", e.ready);
            put_some(&mut c, "serving", e.serving);
            put_some(&mut c, "terminating", e.terminating);
            put(&mut m, "conditions", c);
            put_hints(&mut m, &e.hint_zones, &e.hint_nodes);
            put_some(&mut m, "hostname", e.hostname.clone());
            put_some(&mut m, "nodeName", e.node_name.clone());
            put_some(&mut m, "targetRef", e.target_ref.as_ref().map(target_ref));
            put_some(&mut m, "zone", e.zone.clone());
            Value::Object(m)
        })
        .collect();
    let ports: Vec<Value> = s
        .ports
        .iter()
        .map(|p| {
            let mut m = Map::new();
            put_some(&mut m, "appProtocol", p.app_protocol.clone());
            put(&mut m, "name", p.name.as_str());
            put_some(&mut m, "port", p.port);
            put(
                &mut m,
                "protocol",
                p.protocol
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("TCP"),
            );
            Value::Object(m)
        })
        .collect();
    json!({
        "addressType": s.address_type,
        "apiVersion": "discovery.k8s.io/v1",
        "endpoints": endpoints,
        "kind": "EndpointSlice",
        "metadata": metadata(
            &s.meta.name,
            s.meta.namespace(),
            &s.meta.labels,
            &s.meta.annotations,
            s.meta.creation_timestamp.as_deref(),
        ),
        "ports": ports,
    })
}

/// The labels of an EndpointSlice row: as given, or as the controllers write them.
pub(super) fn slice_labels(
    loaded: &Loaded,
    svc: &ServiceInfo,
    sl: &SliceInfo,
) -> BTreeMap<String, String> {
    match sl.source {
        SliceSource::Given => given_model_slice(loaded, &svc.namespace, &sl.name)
            .map(|s| s.meta.labels.clone())
            .unwrap_or_default(),
        source => controller_slice_labels(svc, source),
    }
}

fn given_model_slice<'a>(
    loaded: &'a Loaded,
    namespace: &str,
    name: &str,
) -> Option<&'a model::EndpointSlice> {
    loaded
        .objects
        .endpoint_slices
        .iter()
        .find(|s| s.meta.namespace() == namespace && s.meta.name == name)
}

/// The EndpointSlices: every one of the input as written, and those the
/// EndpointSlice (or mirroring) controller would write for Services
/// without given ones; sorted by namespace and name.
pub fn endpoint_slices(loaded: &Loaded, q: &Query) -> Vec<Value> {
    let mut out: BTreeMap<(String, String), Value> = BTreeMap::new();
    for s in &loaded.objects.endpoint_slices {
        let key = (s.meta.namespace().to_string(), s.meta.name.clone());
        if q.selects(&key.0, &key.1, &s.meta.labels) && !out.contains_key(&key) {
            out.insert(key, given_slice(s));
        }
    }
    for svc in &loaded.table.services {
        for sl in svc.slices.iter().filter(|s| s.source != SliceSource::Given) {
            let labels = controller_slice_labels(svc, sl.source);
            let key = (svc.namespace.clone(), sl.name.clone());
            if q.selects(&key.0, &key.1, &labels) {
                out.entry(key).or_insert_with(|| controller_slice(svc, sl));
            }
        }
    }
    out.into_values().collect()
}

/// A Pod with the PodSpec defaults (`SetDefaults_PodSpec`,
/// `SetDefaults_Pod`) and its status. The container ports of all
/// containers are listed under one container (svcgen does not keep which
/// container declared which port). Simulated Pods carry
/// [`SIMULATED_ANNOTATION`].
pub fn pod(p: &model::Pod) -> Value {
    let annotations = p.meta.annotations.clone();
    let ports: Vec<Value> = p
        .container_ports
        .iter()
        .map(|cp| {
            let mut m = Map::new();
            put(&mut m, "containerPort", cp.container_port);
            put_some(&mut m, "name", cp.name.clone());
            put(
                &mut m,
                "protocol",
                cp.protocol
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("TCP"),
            );
            Value::Object(m)
        })
        .collect();
    let mut container = Map::new();
    put(&mut container, "name", "app");
    if !ports.is_empty() {
        put(&mut container, "ports", ports);
    }
    let mut spec = Map::new();
    put(&mut spec, "containers", vec![Value::Object(container)]);
    put(&mut spec, "dnsPolicy", "ClusterFirst");
    put(
        &mut spec,
        "enableServiceLinks",
        p.enable_service_links.unwrap_or(true),
    );
    put_some(&mut spec, "hostname", p.hostname.clone());
    put_some(&mut spec, "nodeName", p.node_name.clone());
    put(&mut spec, "restartPolicy", "Always");
    put(&mut spec, "schedulerName", "default-scheduler");
    put(&mut spec, "securityContext", Map::new());
    put_some(&mut spec, "subdomain", p.subdomain.clone());
    put(&mut spec, "terminationGracePeriodSeconds", 30);
    let mut status = Map::new();
    if let Some(ready) = p.ready {
        put(
            &mut status,
            "conditions",
            vec![json!({"status": if ready { "True" } else { "False" }, "type": "Ready"})],
        );
    }
    put_some(&mut status, "phase", p.phase.clone());
    if let Some(first) = p.pod_ips.first() {
        put(&mut status, "podIP", first.as_str());
        let ips: Vec<Value> = p.pod_ips.iter().map(|ip| json!({"ip": ip})).collect();
        put(&mut status, "podIPs", ips);
    }
    let mut meta = metadata(
        &p.meta.name,
        p.meta.namespace(),
        &p.meta.labels,
        &annotations,
        p.meta.creation_timestamp.as_deref(),
    );
    if p.meta.deleting {
        // svcgen keeps only that the Pod is terminating, not since when.
        meta["deletionTimestamp"] = json!(DELETION_TIMESTAMP);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": status,
    })
}

/// The Pods (given and simulated) a query selects, sorted by namespace and name.
pub fn pods(loaded: &Loaded, q: &Query) -> Vec<Value> {
    let mut selected: Vec<&model::Pod> = loaded
        .objects
        .pods
        .iter()
        .filter(|p| q.selects(p.meta.namespace(), &p.meta.name, &p.meta.labels))
        .collect();
    selected.sort_by(|a, b| {
        (a.meta.namespace(), a.meta.name.as_str()).cmp(&(b.meta.namespace(), b.meta.name.as_str()))
    });
    selected
        .dedup_by(|a, b| a.meta.namespace() == b.meta.namespace() && a.meta.name == b.meta.name);
    selected.into_iter().map(pod).collect()
}

/// kubectl's `-o json`: Go's `json.MarshalIndent(obj, "", "    ")` — four
/// spaces, and `<`, `>`, `&`, U+2028 and U+2029 escaped as Go's encoder
/// does — and a final newline.
pub fn to_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if serde::Serialize::serialize(v, &mut ser).is_err() {
        return String::new();
    }
    let text = String::from_utf8(buf).unwrap_or_default();
    // These characters only ever occur inside strings in JSON text.
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// kubectl's `-o yaml` (sigs.k8s.io/yaml over go-yaml v2): block style,
/// two-space indent, sequences not indented under their key, keys sorted,
/// strings plain where go-yaml may write them plain, double-quoted where
/// they would read back as another type (`"80"`, `"true"`, `""`, a
/// timestamp), single-quoted where a plain scalar cannot hold them, and
/// literal blocks for text with line breaks; long strings folded at a space
/// past column 80, as go-yaml v2's emitter does (`best_width`).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => yaml_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => yaml_seq(&mut out, a, 0),
        other => {
            out.push_str(&yaml_inline(other, 2, 0));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(out: &mut String, m: &Map<String, Value>, indent: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(indent));
        }
        let key = yaml_scalar(k, indent + 2, indent, false);
        let col = indent + key.chars().count() + 2;
        out.push_str(&key);
        out.push(':');
        yaml_value_after_key(out, v, indent, col);
    }
}

/// `col`: the column the value starts at, after `key: `.
fn yaml_value_after_key(out: &mut String, v: &Value, indent: usize, col: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            out.push_str(&" ".repeat(indent + 2));
            yaml_map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            yaml_seq(out, a, indent);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_inline(other, indent + 2, col));
            out.push('\n');
        }
    }
}

fn yaml_seq(out: &mut String, a: &[Value], indent: usize) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => yaml_map(out, m, indent + 2),
            Value::Array(inner) if !inner.is_empty() => yaml_seq(out, inner, indent + 2),
            other => {
                out.push_str(&yaml_inline(other, indent + 2, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection) on the current line, starting at
/// column `col`; `indent` is where its continuation lines start.
fn yaml_inline(v: &Value, indent: usize, col: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_scalar(s, indent, col, true),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as go-yaml v2 writes it. `indent`: where a literal block's or a
/// folded line's text starts; `col`: the column the scalar starts at;
/// `breaks`: whether it may be folded (not in a mapping key).
fn yaml_scalar(s: &str, indent: usize, col: usize, breaks: bool) -> String {
    if s.contains('\n') && literal_allowed(s) {
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.ends_with("\n\n") {
            "+"
        } else {
            ""
        };
        let pad = " ".repeat(indent);
        let mut out = format!("|{chomp}");
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    let style = if !resolves_as_string(s) || s.contains('\n') || !printable(s) {
        Quote::Double
    } else if plain_allowed(s) {
        Quote::Plain
    } else {
        Quote::Single
    };
    folded(s, style, indent, col, breaks)
}

/// go-yaml v2's `best_width`: a space after this column becomes a line break.
const BEST_WIDTH: usize = 80;

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    Plain,
    Single,
    Double,
}

/// go-yaml's `yaml_emitter_write_plain_scalar`, `…_single_quoted` and
/// `…_double_quoted`: the text in its style, a single space (not the first
/// or last character) past column 80 written as a line break and indent.
fn folded(s: &str, style: Quote, indent: usize, col: usize, breaks: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut column = col;
    let emit = |out: &mut String, text: &str, column: &mut usize| {
        out.push_str(text);
        *column += text.chars().count();
    };
    match style {
        Quote::Single => emit(&mut out, "'", &mut column),
        Quote::Double => emit(&mut out, "\"", &mut column),
        Quote::Plain => {}
    }
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let inner = style == Quote::Plain || (i > 0 && i + 1 < chars.len());
            let next_space = chars.get(i + 1) == Some(&' ');
            let fold = breaks
                && !spaces
                && column > BEST_WIDTH
                && inner
                && (style == Quote::Double || !next_space);
            if fold {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                column = indent;
                if style == Quote::Double && next_space {
                    emit(&mut out, "\\", &mut column);
                }
            } else {
                emit(&mut out, " ", &mut column);
            }
            spaces = true;
            continue;
        }
        spaces = false;
        let text = match (style, c) {
            (Quote::Single, '\'') => "''".to_string(),
            (Quote::Double, c) => double_quoted_char(c),
            (_, c) => c.to_string(),
        };
        emit(&mut out, &text, &mut column);
    }
    match style {
        Quote::Single => out.push('\''),
        Quote::Double => out.push('"'),
        Quote::Plain => {}
    }
    out
}

fn printable(s: &str) -> bool {
    s.chars()
        .all(|c| c == '\n' || (' '..='~').contains(&c) || (c >= '\u{a0}' && c != '\u{feff}'))
}

/// A literal block holds text whose lines have no trailing blanks and
/// which does not start with a blank (go-yaml's scalar analysis).
fn literal_allowed(s: &str) -> bool {
    printable(s) && !s.starts_with([' ', '\t']) && s.split('\n').all(|l| !l.ends_with([' ', '\t']))
}

/// Would go-yaml read this plain scalar back as a string? (`resolve`:
/// null, booleans in YAML 1.1 spellings, numbers, timestamps, `<<`.)
fn resolves_as_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return false;
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        let plain = s.replace('_', "");
        let digits = plain.trim_start_matches(['+', '-']);
        let int = if let Some(h) = digits.strip_prefix("0x") {
            !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())
        } else if let Some(b) = digits.strip_prefix("0b") {
            !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1')
        } else if let Some(o) = digits.strip_prefix("0o") {
            !o.is_empty() && o.bytes().all(|c| (b'0'..=b'7').contains(&c))
        } else {
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        };
        if int || is_float(&plain) || is_timestamp(s) {
            return false;
        }
    }
    true
}

/// Go's `strconv.ParseFloat` syntax (decimal), as go-yaml tries it.
fn is_float(s: &str) -> bool {
    let s = s.trim_start_matches(['+', '-']);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let e = e.trim_start_matches(['+', '-']);
            !e.is_empty() && digits(e)
        }
    }
}

/// go-yaml's `parseTimestamp` formats: a date, optionally with a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let date = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    date && (b.len() == 10
        || matches!(b[10], b'T' | b't' | b' ')
        || super::age::parse_rfc3339(s).is_some())
}

/// go-yaml's scalar analysis for the plain style in block context.
fn plain_allowed(s: &str) -> bool {
    let b = s.as_bytes();
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    let followed_by_blank = |i: usize| b.get(i + 1).is_none_or(|c| *c == b' ' || *c == b'\t');
    match b[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => return false,
        b'?' | b':' | b'-' if followed_by_blank(0) => return false,
        _ => {}
    }
    for (i, c) in b.iter().enumerate().skip(1) {
        match c {
            b':' if followed_by_blank(i) => return false,
            b'#' if matches!(b[i - 1], b' ' | b'\t') => return false,
            _ => {}
        }
    }
    true
}

/// One character inside double quotes, escaped as go-yaml's emitter does.
fn double_quoted_char(c: char) -> String {
    match c {
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\n' => "\\n".into(),
        '\t' => "\\t".into(),
        '\r' => "\\r".into(),
        '\0' => "\\0".into(),
        c if (c as u32) < 0x20 || c == '\u{7f}' => format!("\\x{:02X}", c as u32),
        '\u{85}' => "\\N".into(),
        '\u{a0}' => "\\_".into(),
        '\u{2028}' => "\\L".into(),
        '\u{2029}' => "\\P".into(),
        '\u{feff}' => "\\uFEFF".into(),
        c => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scalars as kubectl -o yaml writes them (go-yaml v2 `encode.go`
    /// `stringv` and `emitterc.go` `yaml_emitter_analyze_scalar`).
    #[test]
    fn yaml_scalars_follow_go_yaml() {
        let cases = [
            ("web", "web"),
            ("10.96.0.1", "10.96.0.1"),
            ("fd00::1", "fd00::1"),
            ("80", "\"80\""),
            ("true", "\"true\""),
            ("yes", "\"yes\""),
            ("", "\"\""),
            ("1e3", "\"1e3\""),
            ("0x1F", "\"0x1F\""),
            ("2024-05-01T12:00:00Z", "\"2024-05-01T12:00:00Z\""),
            ("*", "'*'"),
            ("{\"a\":1}", "'{\"a\":1}'"),
            ("a: b", "'a: b'"),
            ("- x", "'- x'"),
            ("-x", "-x"),
            ("it's", "it's"),
            (" lead", "' lead'"),
            ("a #b", "'a #b'"),
            ("a#b", "a#b"),
            ("None", "None"),
            ("tab\there", "\"tab\\there\""),
        ];
        for (s, want) in cases {
            assert_eq!(yaml_scalar(s, 2, 0, true), want, "{s:?}");
        }
        assert_eq!(yaml_scalar("{\"a\":1}\n", 4, 2, true), "|\n    {\"a\":1}");
        assert_eq!(yaml_scalar("a\nb", 2, 0, true), "|-\n  a\n  b");
    }

    /// go-yaml v2 folds at the first single space past column 80 and
    /// indents the rest under the value (go-yaml/yaml issue 348 shows
    /// `- aaa…a bbb` with 79 `a`s coming out as `- aaa…a` / `  bbb`).
    #[test]
    fn yaml_folds_long_strings_past_column_80() {
        let a79 = "a".repeat(79);
        let v = json!({"key": [format!("{a79} bbb")]});
        assert_eq!(to_yaml(&v), format!("key:\n- {a79}\n  bbb\n"));
        let a78 = "a".repeat(78);
        let v = json!({"key": [format!("{a78} bbb")]});
        assert_eq!(to_yaml(&v), format!("key:\n- {a78} bbb\n"));
        // A map value folds under its key + 2 (the space after the 14th
        // word is at column 84); quoted styles fold too (`'` and `''` count).
        let words = "word ".repeat(20);
        let text = words.trim_end();
        let v = json!({"annotations": {"description": text, "q": format!("'{text}")}});
        assert_eq!(
            to_yaml(&v),
            format!(
                "annotations:\n  description: {}\n    {}\n  q: '''{}\n    {}'\n",
                "word ".repeat(14).trim_end(),
                "word ".repeat(6).trim_end(),
                "word ".repeat(15).trim_end(),
                "word ".repeat(5).trim_end(),
            )
        );
    }

    #[test]
    fn yaml_layout_is_kubectls() {
        let v = json!({
            "apiVersion": "v1",
            "items": [{"kind": "Service", "spec": {"ports": [{"port": 80, "name": "http"}], "selector": {}}}],
            "metadata": {"resourceVersion": ""},
        });
        assert_eq!(
            to_yaml(&v),
            "apiVersion: v1\nitems:\n- kind: Service\n  spec:\n    ports:\n    - name: http\n      port: 80\n    selector: {}\nmetadata:\n  resourceVersion: \"\"\n"
        );
    }

    #[test]
    fn json_is_gos_marshal_indent() {
        let v = json!({"b": [], "a": {"x": "<&>"}, "c": {}});
        assert_eq!(
            to_json(&v),
            "{\n    \"a\": {\n        \"x\": \"\\u003c\\u0026\\u003e\"\n    },\n    \"b\": [],\n    \"c\": {}\n}\n"
        );
    }
}

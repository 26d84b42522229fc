//! What kubectl prints for Services and their endpoints: `get svc`,
//! `get endpoints`, `get endpointslices`, `describe service` and
//! `cluster-info`, column for column.
//!
//! AGE: the input has no creation time that means anything offline (and
//! libsvc reads no clock), so AGE shows `<unknown>` — exactly what kubectl
//! prints for an object without `creationTimestamp`.

mod tabwriter;

use crate::Loaded;
use crate::model::IntOrString;
use crate::table::{ServiceInfo, ServiceType, SliceInfo};
use std::collections::BTreeMap;

/// kubectl's AGE for an object with no creation time.
const UNKNOWN_AGE: &str = "<unknown>";
/// kubectl clips the load-balancer column to this many bytes unless `-o wide`.
const LOAD_BALANCER_WIDTH: usize = 16;

/// Which namespaces a `get` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// One namespace (`-n`, default `default`).
    One(String),
    /// Every namespace (`-A`); adds the NAMESPACE column.
    All,
}

impl Namespaces {
    fn includes(&self, ns: &str) -> bool {
        match self {
            Namespaces::One(n) => n == ns,
            Namespaces::All => true,
        }
    }
}

/// Replaces terminal control characters the way kubectl's printers escape
/// them, so that a name cannot repaint the terminal.
fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A kubectl table: header, rows, NAMESPACE first with `-A`.
fn table(headers: &[&str], rows: Vec<(String, Vec<String>)>, ns: &Namespaces) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    let all = *ns == Namespaces::All;
    if all {
        text.push_str("NAMESPACE\t");
    }
    text.push_str(&headers.join("\t"));
    text.push('\n');
    for (namespace, cells) in rows {
        if all {
            text.push_str(&escape(&namespace));
            text.push('\t');
        }
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    tabwriter::align(&text, 6, 3)
}

/// The message kubectl prints on stderr when nothing matches.
pub fn no_resources(ns: &Namespaces) -> String {
    match ns {
        Namespaces::All => "No resources found".into(),
        Namespaces::One(n) => format!("No resources found in {n} namespace."),
    }
}

fn external_ip(svc: &ServiceInfo) -> String {
    let external = svc.external_ips.join(",");
    match svc.type_ {
        ServiceType::ClusterIP | ServiceType::NodePort => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external
            }
        }
        ServiceType::LoadBalancer => {
            // kubectl lists ingress points as a sorted set.
            let mut points: Vec<String> = svc.lb_ingress.iter().map(|i| i.ip.to_string()).collect();
            points.extend(svc.lb_ingress_hostnames.iter().cloned());
            points.sort();
            points.dedup();
            let mut lb = points.join(",");
            if lb.len() > LOAD_BALANCER_WIDTH {
                lb.truncate(LOAD_BALANCER_WIDTH - 3);
                lb.push_str("...");
            }
            match (lb.is_empty(), external.is_empty()) {
                (_, false) if !lb.is_empty() => format!("{lb},{external}"),
                (_, false) => external,
                (false, true) => lb,
                (true, true) => "<pending>".into(),
            }
        }
        ServiceType::ExternalName => svc.external_name.clone().unwrap_or_default(),
    }
}

fn port_string(svc: &ServiceInfo) -> String {
    let s: Vec<String> = svc
        .ports
        .iter()
        .map(|p| match p.node_port {
            Some(np) => format!("{}:{}/{}", p.port, np, p.protocol),
            None => format!("{}/{}", p.port, p.protocol),
        })
        .collect();
    if s.is_empty() {
        "<none>".into()
    } else {
        s.join(",")
    }
}

/// `kubectl get svc`.
pub fn get_services(loaded: &Loaded, ns: &Namespaces) -> String {
    let rows = loaded
        .table
        .services
        .iter()
        .filter(|s| ns.includes(&s.namespace))
        .map(|s| {
            let cluster_ip = s
                .cluster_ips_text
                .first()
                .cloned()
                .unwrap_or_else(|| "<none>".into());
            (
                s.namespace.clone(),
                vec![
                    s.name.clone(),
                    s.type_.as_str().into(),
                    cluster_ip,
                    external_ip(s),
                    port_string(s),
                    UNKNOWN_AGE.into(),
                ],
            )
        })
        .collect();
    table(
        &[
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        rows,
        ns,
    )
}

/// One v1 Endpoints subset as kubectl sees it: (ports (name, port), ready addresses).
type Subset = (Vec<(String, i64)>, Vec<String>);

/// The v1 Endpoints objects of `ns`, as the Endpoints controller (or the
/// input) writes them: (namespace, name, subsets).
fn endpoints_objects(loaded: &Loaded, ns: &Namespaces) -> Vec<(String, String, Vec<Subset>)> {
    crate::resolve::endpoints_controller::endpoints_objects(&loaded.objects, &loaded.table)
        .into_iter()
        .filter(|e| ns.includes(&e.namespace))
        .map(|e| {
            let subsets = e
                .subsets
                .iter()
                .map(|s| {
                    (
                        s.ports.iter().map(|p| (p.name.clone(), p.port)).collect(),
                        s.addresses.iter().map(|a| a.ip.clone()).collect(),
                    )
                })
                .collect();
            (e.namespace, e.name, subsets)
        })
        .collect()
}

fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// kubectl's `formatEndpoints`: at most three, then `+ N more...`.
fn format_endpoints(subsets: &[Subset]) -> String {
    if subsets.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0);
    for (ports, addrs) in subsets {
        if ports.is_empty() {
            // Headless Services may have no ports.
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(a.clone());
            }
            continue;
        }
        for (_, port) in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(a, *port));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

/// `kubectl get endpoints`.
pub fn get_endpoints(loaded: &Loaded, ns: &Namespaces) -> String {
    let rows = endpoints_objects(loaded, ns)
        .into_iter()
        .map(|(n, name, subsets)| {
            (
                n,
                vec![name, format_endpoints(&subsets), UNKNOWN_AGE.into()],
            )
        })
        .collect();
    table(&["NAME", "ENDPOINTS", "AGE"], rows, ns)
}

/// kubectl's `listWithMoreString`.
fn list_with_more(list: Vec<String>, more: bool, count: usize) -> String {
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - 3)
    } else if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

fn slice_ports(slice: &SliceInfo) -> String {
    let (mut list, mut more) = (Vec::new(), false);
    for p in &slice.ports {
        if list.len() < 3 {
            list.push(match p.port {
                Some(n) => n.to_string(),
                None if !p.name.is_empty() => p.name.clone(),
                None => "*".into(),
            });
        } else if list.len() == 3 {
            more = true;
        }
    }
    list_with_more(list, more, slice.ports.len())
}

fn slice_endpoints(slice: &SliceInfo) -> String {
    let (mut list, mut more, mut count) = (Vec::new(), false, 0);
    for a in slice.endpoints.iter().flat_map(|e| e.addresses.iter()) {
        if list.len() < 3 {
            list.push(a.clone());
        } else if list.len() == 3 {
            more = true;
        }
        count += 1;
    }
    list_with_more(list, more, count)
}

/// `kubectl get endpointslices`.
pub fn get_endpoint_slices(loaded: &Loaded, ns: &Namespaces) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for svc in loaded
        .table
        .services
        .iter()
        .filter(|s| ns.includes(&s.namespace))
    {
        for sl in &svc.slices {
            rows.push((
                svc.namespace.clone(),
                vec![
                    sl.name.clone(),
                    format!("{:?}", sl.address_type),
                    slice_ports(sl),
                    slice_endpoints(sl),
                    UNKNOWN_AGE.into(),
                ],
            ));
        }
    }
    rows.sort_by(|a, b| (&a.0, &a.1[0]).cmp(&(&b.0, &b.1[0])));
    table(
        &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        rows,
        ns,
    )
}

/// kubectl's `labels.FormatLabels`: sorted `k=v` joined by commas, `<none>` if empty.
fn format_labels(m: Option<&BTreeMap<String, String>>) -> String {
    match m {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".into(),
    }
}

/// kubectl describe's multi-line labels: the first on the title line, the
/// rest on their own lines under it.
fn multiline(out: &mut String, title: &str, m: &BTreeMap<String, String>, annotations: bool) {
    out.push_str(&format!("{title}:\t"));
    let keys: Vec<&String> = m
        .keys()
        .filter(|k| {
            !annotations || k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
        })
        .collect();
    if keys.is_empty() {
        out.push_str("<none>\n");
        return;
    }
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        let v = &m[*k];
        if annotations {
            let value = v.strip_suffix('\n').unwrap_or(v);
            if value.len() + k.len() + 2 > 140 || value.contains('\n') {
                out.push_str(&format!("{k}:\n"));
                for line in value.split('\n') {
                    let shown = if line.len() > 138 {
                        let mut cut = 138;
                        while !line.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        format!("{}...", &line[..cut])
                    } else {
                        line.to_string()
                    };
                    out.push_str(&format!("\t  {shown}\n"));
                }
            } else {
                out.push_str(&format!("{k}: {value}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
}

/// kubectl describe's `formatEndpointSlices` for one port name.
fn describe_endpoints(slices: &[SliceInfo], port_name: &str) -> String {
    if slices.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0);
    for sl in slices {
        if sl.ports.is_empty() {
            for e in &sl.endpoints {
                if list.len() == MAX {
                    more = true;
                }
                if !e.ready_given.unwrap_or(true) {
                    continue;
                }
                if !more && let Some(a) = e.addresses.first() {
                    list.push(a.clone());
                }
                count += 1;
            }
        } else {
            for p in sl.ports.iter().filter(|p| p.name == port_name) {
                for e in &sl.endpoints {
                    if list.len() == MAX {
                        more = true;
                    }
                    if !e.ready_given.unwrap_or(true) {
                        continue;
                    }
                    if !more && let Some(a) = e.addresses.first() {
                        list.push(join_host_port(a, p.port.map_or(0, i64::from)));
                    }
                    count += 1;
                }
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

/// `kubectl describe service NAME -n NS`, or `None` if there is no such Service.
pub fn describe_service(loaded: &Loaded, namespace: &str, name: &str) -> Option<String> {
    let svc = loaded.table.get(namespace, name)?;
    let mut o = String::new();
    o.push_str(&format!("Name:\t{}\n", svc.name));
    o.push_str(&format!("Namespace:\t{}\n", svc.namespace));
    multiline(&mut o, "Labels", &svc.labels, false);
    multiline(&mut o, "Annotations", &svc.annotations, true);
    o.push_str(&format!(
        "Selector:\t{}\n",
        format_labels(svc.selector.as_ref())
    ));
    o.push_str(&format!("Type:\t{}\n", svc.type_.as_str()));
    if svc.type_ != ServiceType::ExternalName {
        o.push_str(&format!("IP Family Policy:\t{}\n", svc.ip_family_policy));
    }
    let families: Vec<String> = svc.ip_families.iter().map(|f| f.to_string()).collect();
    o.push_str(&format!(
        "IP Families:\t{}\n",
        if families.is_empty() {
            "<none>".into()
        } else {
            families.join(",")
        }
    ));
    o.push_str(&format!(
        "IP:\t{}\n",
        svc.cluster_ips_text.first().map_or("", String::as_str)
    ));
    o.push_str(&format!(
        "IPs:\t{}\n",
        if svc.cluster_ips_text.is_empty() {
            "<none>".into()
        } else {
            svc.cluster_ips_text.join(",")
        }
    ));
    if !svc.external_ips.is_empty() {
        o.push_str(&format!("External IPs:\t{}\n", svc.external_ips.join(",")));
    }
    if let Some(ip) = svc.load_balancer_ip.as_ref().filter(|i| !i.is_empty()) {
        o.push_str(&format!("Desired LoadBalancer IP:\t{ip}\n"));
    }
    if let Some(n) = svc.external_name.as_ref().filter(|n| !n.is_empty()) {
        o.push_str(&format!("External Name:\t{n}\n"));
    }
    if let Some(ing) = loaded
        .objects
        .services
        .iter()
        .find(|s| s.meta.namespace() == namespace && s.meta.name == name)
        .map(|s| &s.lb_ingress)
        .filter(|i| !i.is_empty())
    {
        let list: Vec<String> = ing
            .iter()
            .map(|i| match (&i.ip, &i.ip_mode) {
                (Some(ip), Some(mode)) if !ip.is_empty() => format!("{ip} ({mode})"),
                (Some(ip), None) if !ip.is_empty() => ip.clone(),
                _ => i.hostname.clone().unwrap_or_default(),
            })
            .collect();
        o.push_str(&format!("LoadBalancer Ingress:\t{}\n", list.join(", ")));
    }
    for p in &svc.ports {
        let pname = if p.name.is_empty() {
            "<unset>"
        } else {
            p.name.as_str()
        };
        o.push_str(&format!("Port:\t{pname}\t{}/{}\n", p.port, p.protocol));
        match &p.target_port {
            IntOrString::Int(n) => o.push_str(&format!("TargetPort:\t{n}/{}\n", p.protocol)),
            IntOrString::Str(s) => o.push_str(&format!("TargetPort:\t{s}/{}\n", p.protocol)),
        }
        if let Some(ap) = &p.app_protocol {
            o.push_str(&format!("AppProtocol:\t{ap}\n"));
        }
        if let Some(np) = p.node_port {
            o.push_str(&format!("NodePort:\t{pname}\t{np}/{}\n", p.protocol));
        }
        o.push_str(&format!(
            "Endpoints:\t{}\n",
            describe_endpoints(&svc.slices, &p.name)
        ));
    }
    o.push_str(&format!("Session Affinity:\t{}\n", svc.session_affinity));
    if let Some(p) = &svc.external_traffic_policy {
        o.push_str(&format!("External Traffic Policy:\t{p}\n"));
    }
    if let Some(p) = &svc.internal_traffic_policy {
        o.push_str(&format!("Internal Traffic Policy:\t{p}\n"));
    }
    if let Some(n) = svc.health_check_node_port {
        o.push_str(&format!("HealthCheck NodePort:\t{n}\n"));
    }
    if !svc.lb_source_ranges.is_empty() {
        o.push_str(&format!(
            "LoadBalancer Source Ranges:\t{}\n",
            svc.lb_source_ranges.join(",")
        ));
    }
    if let Some(td) = &svc.traffic_distribution {
        o.push_str(&format!("Traffic Distribution:\t{td}\n"));
    }
    o.push_str("Events:\t<none>\n");
    Some(tabwriter::align(&escape(&o), 0, 2))
}

/// `kubectl cluster-info`: the control plane and the cluster add-on
/// Services (label `kubernetes.io/cluster-service: "true"`) of `namespace`
/// (kubectl's default is `kube-system`), with their API-server proxy URLs.
pub fn cluster_info(loaded: &Loaded, server: &str, namespace: &str) -> String {
    let server = server.trim_end_matches('/');
    let mut out = format!("Kubernetes control plane is running at {server}\n");
    for svc in loaded.table.services.iter().filter(|s| {
        s.namespace == namespace
            && s.labels
                .get("kubernetes.io/cluster-service")
                .map(String::as_str)
                == Some("true")
    }) {
        let link = if let Some(ip) = loaded
            .objects
            .services
            .iter()
            .find(|s| s.meta.namespace() == svc.namespace && s.meta.name == svc.name)
            .and_then(|s| s.lb_ingress.first())
            .map(|i| {
                i.ip.clone()
                    .filter(|ip| !ip.is_empty())
                    .or_else(|| i.hostname.clone())
                    .unwrap_or_default()
            }) {
            svc.ports
                .iter()
                .map(|p| format!("http://{ip}:{} ", p.port))
                .collect::<String>()
        } else {
            let mut name = svc.name.clone();
            if let Some(p) = svc.ports.first() {
                // kubectl guesses https from the port's name or number.
                let scheme = if p.name == "https" || p.port == 443 {
                    "https"
                } else {
                    ""
                };
                name = match (scheme.is_empty(), p.name.is_empty()) {
                    (true, true) => svc.name.clone(),
                    (true, false) => format!("{}:{}", svc.name, p.name),
                    (false, _) => format!("{scheme}:{}:{}", svc.name, p.name),
                };
            }
            format!(
                "{server}/api/v1/namespaces/{}/services/{name}/proxy",
                svc.namespace
            )
        };
        let display = svc
            .labels
            .get("kubernetes.io/name")
            .filter(|n| !n.is_empty())
            .unwrap_or(&svc.name);
        out.push_str(&format!("{} is running at {link}\n", escape(display)));
    }
    out.push_str(
        "\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n",
    );
    out
}

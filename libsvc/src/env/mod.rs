//! The service environment variables kubelet injects into a container.
//!
//! Two steps, as in kubelet:
//!
//! 1. [`visible_services`] — which Services a pod of a namespace sees
//!    (`getServiceEnvVarMap` in `pkg/kubelet/kubelet_pods.go`): Services
//!    without a usable cluster IP are skipped; the master service
//!    `default/kubernetes` is always kept unless an entry of that name was
//!    kept already; with `enableServiceLinks` every Service of the pod's own
//!    namespace is kept, replacing an entry of the same name.
//! 2. [`service_vars`] — the variables of one Service
//!    (`FromServices` in `pkg/kubelet/envvars/envvars.go`), in the order
//!    kubelet generates them.
//!
//! Kubelet collects the result in a map, so the order a container sees is
//! not defined; svcgen prints Services in the table's order (namespace, then
//! name) and each Service's variables in kubelet's order.

use crate::diag::{Diagnostic, Severity};
use crate::table::{ServiceInfo, ServiceTable};
use crate::{Loaded, model};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The namespace of the master service.
pub const MASTER_NAMESPACE: &str = "default";

/// The names kubelet treats as master services (`masterServices`).
pub const MASTER_SERVICES: [&str; 1] = ["kubernetes"];

/// Total size of the environment from which svcgen warns. Linux refuses an
/// `execve` whose arguments and environment exceed about 2 MiB
/// (`ARG_MAX` = a quarter of the 8 MiB default stack): the container then
/// fails to start with "argument list too long".
pub const SIZE_WARNING_BYTES: usize = 1024 * 1024;

/// The size at which containers fail to start (see [`SIZE_WARNING_BYTES`]).
pub const SIZE_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct EnvVar {
    /// The key.
    pub name: String,
    /// The value, exactly as kubelet writes it.
    pub value: String,
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// The variables one Service contributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEnv {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// Its variables, in kubelet's order.
    pub vars: Vec<EnvVar>,
}

/// Whose variables a pod sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContext {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's `enableServiceLinks` (default true).
    pub enable_service_links: bool,
}

impl Default for PodContext {
    fn default() -> Self {
        PodContext {
            namespace: "default".into(),
            enable_service_links: true,
        }
    }
}

/// The service variables of a pod, per Service, plus what is worth a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEnv {
    /// One entry per visible Service, in table order (namespace, name).
    pub services: Vec<ServiceEnv>,
    /// Warnings: shadowed variables, size, Services kubelet cannot render.
    pub diagnostics: Vec<Diagnostic>,
}

impl PodEnv {
    /// Every variable, Service after Service.
    pub fn vars(&self) -> impl Iterator<Item = &EnvVar> {
        self.services.iter().flat_map(|s| s.vars.iter())
    }

    /// The bytes these variables take in a process's environment: each
    /// `KEY=VALUE` string, its terminating NUL and its pointer in `envp`.
    pub fn size_bytes(&self) -> usize {
        self.vars()
            .map(|v| v.name.len() + 1 + v.value.len() + 1 + std::mem::size_of::<u64>())
            .sum()
    }
}

impl fmt::Display for PodEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in self.vars() {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}

/// A `spec.clusterIP: ""` written in the manifest (with no `clusterIPs`):
/// a stored Service whose IP is not allocated (kubelet's own tests use it
/// so). svcgen allocates only for manifests that leave the field out;
/// kubelet and cluster DNS see no IP here.
pub fn explicitly_unallocated(loaded: &Loaded, svc: &ServiceInfo) -> bool {
    svc.allocated_cluster_ip
        && loaded.objects.services.iter().any(|r| {
            r.meta.namespace() == svc.namespace
                && r.meta.name == svc.name
                && r.spec.cluster_ip.as_deref() == Some("")
                && r.spec.cluster_ips.is_empty()
        })
}

/// `spec.clusterIP` as stored: the primary entry of `clusterIPs` (kubelet
/// reads `spec.clusterIP`, which always equals `clusterIPs[0]`); `None`
/// when it is not set (ExternalName, not allocated) or `None` (headless):
/// kubelet's `IsServiceIPSet`.
fn usable_cluster_ip<'a>(loaded: &Loaded, svc: &'a ServiceInfo) -> Option<&'a str> {
    if explicitly_unallocated(loaded, svc) {
        return None;
    }
    let ip = svc.cluster_ips_text.first()?;
    (!ip.is_empty() && ip != "None").then_some(ip.as_str())
}

/// kubelet's `makeEnvVariableName`: upper case, `-` → `_`.
pub fn env_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// Go's `net.JoinHostPort`: brackets around a host that contains a colon.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The variables of one Service with cluster IP `ip`, in kubelet's order:
/// `_SERVICE_HOST`, `_SERVICE_PORT` (first port), `_SERVICE_PORT_<NAME>`
/// for each named port, then the docker-link variables: `_PORT` (first
/// port) and per port `_PORT_<port>_<PROTO>` with `_PROTO`, `_PORT`, `_ADDR`.
/// A Service without ports gives nothing (kube-apiserver refuses it; kubelet
/// would index past the end of the list).
pub fn service_vars(svc: &ServiceInfo, ip: &str) -> Vec<EnvVar> {
    let Some(first) = svc.ports.first() else {
        return Vec::new();
    };
    let prefix = env_name(&svc.name);
    let var = |name: String, value: String| EnvVar { name, value };
    let mut out = vec![
        var(format!("{prefix}_SERVICE_HOST"), ip.to_string()),
        var(format!("{prefix}_SERVICE_PORT"), first.port.to_string()),
    ];
    for p in svc.ports.iter().filter(|p| !p.name.is_empty()) {
        out.push(var(
            format!("{prefix}_SERVICE_PORT_{}", env_name(&p.name)),
            p.port.to_string(),
        ));
    }
    for (i, p) in svc.ports.iter().enumerate() {
        let proto = p.protocol.lower();
        let url = format!("{proto}://{}", join_host_port(ip, p.port));
        if i == 0 {
            out.push(var(format!("{prefix}_PORT"), url.clone()));
        }
        let pp = format!("{prefix}_PORT_{}_{}", p.port, p.protocol.as_str());
        out.push(var(pp.clone(), url));
        out.push(var(format!("{pp}_PROTO"), proto.to_string()));
        out.push(var(format!("{pp}_PORT"), p.port.to_string()));
        out.push(var(format!("{pp}_ADDR"), ip.to_string()));
    }
    out
}

/// A variable name a shell and kubelet accept as is: `[A-Z0-9_]`, not
/// starting with a digit. Names of valid Services always are.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The Services a pod of `ctx.namespace` sees, in table order, each with
/// its cluster IP text. Also reports a `kubernetes` Service of the pod's
/// namespace that replaces the master service.
pub fn visible_services<'a>(
    loaded: &'a Loaded,
    ctx: &PodContext,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(&'a ServiceInfo, &'a str)> {
    let table: &ServiceTable = &loaded.table;
    // name → (service, ip); kubelet's serviceMap.
    let mut chosen: BTreeMap<&str, (&ServiceInfo, &str)> = BTreeMap::new();
    let mut masters: Vec<(&ServiceInfo, &str)> = Vec::new();
    for svc in &table.services {
        let Some(ip) = usable_cluster_ip(loaded, svc) else {
            continue;
        };
        if svc.namespace == MASTER_NAMESPACE && MASTER_SERVICES.contains(&svc.name.as_str()) {
            masters.push((svc, ip));
        } else if svc.namespace == ctx.namespace && ctx.enable_service_links {
            chosen.insert(svc.name.as_str(), (svc, ip));
        }
    }
    // The master service is added only when no entry of its name exists;
    // a same-named Service of the pod's namespace wins whatever the order
    // kubelet lists them in.
    for (svc, ip) in masters {
        match chosen.get(svc.name.as_str()) {
            Some((own, _)) => diags.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "Service {}/{} replaces the master service {}/{} in the environment of pods of namespace {}: their {}_SERVICE_HOST points at {}, not at the API server",
                    own.namespace,
                    own.name,
                    svc.namespace,
                    svc.name,
                    ctx.namespace,
                    env_name(&svc.name),
                    own.cluster_ips_text.first().map_or("", String::as_str),
                ),
                Some(own.origin.location()),
            )),
            None => {
                chosen.insert(svc.name.as_str(), (svc, ip));
            }
        }
    }
    let mut out: Vec<(&ServiceInfo, &str)> = chosen.into_values().collect();
    out.sort_by(|a, b| (&a.0.namespace, &a.0.name).cmp(&(&b.0.namespace, &b.0.name)));
    out
}

/// The service variables kubelet gives a container of a pod described by `ctx`.
pub fn pod_env(loaded: &Loaded, ctx: &PodContext) -> PodEnv {
    let mut diagnostics = Vec::new();
    let mut services = Vec::new();
    for (svc, ip) in visible_services(loaded, ctx, &mut diagnostics) {
        if svc.ports.is_empty() {
            diagnostics.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "Service {}/{} has a cluster IP but no ports: kube-apiserver refuses it and kubelet cannot build its variables; skipped",
                    svc.namespace, svc.name
                ),
                Some(svc.origin.location()),
            ));
            continue;
        }
        let vars = service_vars(svc, ip);
        // Nothing from a name or a value may break a `KEY=VALUE` line.
        if let Some(bad) = vars
            .iter()
            .find(|v| !is_plain_name(&v.name) || v.value.chars().any(char::is_control))
        {
            diagnostics.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "Service {}/{} would give the variable {:?} = {:?}, which is not a plain KEY=VALUE pair (invalid name, port name or cluster IP); skipped",
                    svc.namespace, svc.name, bad.name, bad.value
                ),
                Some(svc.origin.location()),
            ));
            continue;
        }
        services.push((
            svc,
            ServiceEnv {
                namespace: svc.namespace.clone(),
                service: svc.name.clone(),
                vars,
            },
        ));
    }
    shadow_warnings(&services, &mut diagnostics);
    let env = PodEnv {
        services: services.into_iter().map(|(_, e)| e).collect(),
        diagnostics: Vec::new(),
    };
    let size = env.size_bytes();
    if size >= SIZE_WARNING_BYTES {
        // Point at the Service whose variables cross the threshold.
        let mut running = 0;
        let culprit = env.services.iter().find(|s| {
            running += s
                .vars
                .iter()
                .map(|v| v.name.len() + v.value.len() + 2 + 8)
                .sum::<usize>();
            running >= SIZE_WARNING_BYTES
        });
        let location = culprit.and_then(|c| {
            loaded
                .table
                .get(&c.namespace, &c.service)
                .map(|s| s.origin.location())
        });
        diagnostics.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "the service variables of namespace {} take {} bytes ({} variables of {} Services); at about {} bytes of environment containers fail to start with \"argument list too long\" (set enableServiceLinks: false on the pods, or use fewer Services in the namespace)",
                ctx.namespace,
                size,
                env.vars().count(),
                env.services.len(),
                SIZE_LIMIT_BYTES
            ),
            location,
        ));
    }
    PodEnv { diagnostics, ..env }
}

/// A warning for every key two Services produce: kubelet keeps one of the
/// values, which one is not defined (it builds a map).
fn shadow_warnings(services: &[(&ServiceInfo, ServiceEnv)], diags: &mut Vec<Diagnostic>) {
    let mut first: BTreeMap<&str, &ServiceInfo> = BTreeMap::new();
    for (svc, env) in services {
        for v in &env.vars {
            match first.get(v.name.as_str()) {
                Some(other) if other.key() != svc.key() => diags.push(Diagnostic::new(
                    Severity::Warning,
                    format!(
                        "variable {} of Service {} is also set by Service {}; a container sees only one of the values, which one is not defined",
                        v.name,
                        svc.key(),
                        other.key()
                    ),
                    Some(svc.origin.location()),
                )),
                Some(_) => {}
                None => {
                    first.insert(v.name.as_str(), svc);
                }
            }
        }
    }
}

/// The pod context from render options: `pod` names a Pod of the input
/// (its namespace and `enableServiceLinks`); `namespace` and
/// `enable_service_links` given explicitly win over the Pod's.
pub fn pod_context(
    loaded: &Loaded,
    namespace: Option<&str>,
    enable_service_links: Option<bool>,
    pod: Option<&str>,
) -> Result<PodContext, String> {
    let mut ctx = PodContext::default();
    if let Some(name) = pod {
        let found: Vec<&model::Pod> = loaded
            .objects
            .pods
            .iter()
            .filter(|p| p.meta.name == name && namespace.is_none_or(|ns| p.meta.namespace() == ns))
            .collect();
        let p = match found.as_slice() {
            [] => {
                return Err(match namespace {
                    Some(ns) => {
                        crate::views::elsewhere(loaded, "Pod", name, ns).unwrap_or_else(|| {
                            format!("no Pod {name:?} in namespace {ns:?} in the input")
                        })
                    }
                    None => format!("no Pod {name:?} in the input"),
                });
            }
            [p] => *p,
            [a, b, ..] => {
                return Err(format!(
                    "Pod {name:?} is in more than one namespace ({}, {}); give --namespace",
                    a.meta.namespace(),
                    b.meta.namespace()
                ));
            }
        };
        ctx.namespace = p.meta.namespace().to_string();
        ctx.enable_service_links = p.enable_service_links.unwrap_or(true);
    }
    if let Some(ns) = namespace {
        ctx.namespace = ns.to_string();
    }
    if let Some(links) = enable_service_links {
        ctx.enable_service_links = links;
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_host_ports() {
        assert_eq!(env_name("my-web-app-2"), "MY_WEB_APP_2");
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("2001:DB8::", 8084), "[2001:DB8::]:8084");
        assert!(
            is_plain_name("A_1")
                && !is_plain_name("1A")
                && !is_plain_name("A B")
                && !is_plain_name("")
        );
    }
}

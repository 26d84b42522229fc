//! The live-cluster source: `--cluster` for every subcommand that reads
//! manifests, and the agent's `--source api`.
//!
//! The cluster's stored objects become libsvc inputs of JSON text, so the
//! same pipeline runs on them as on files; a kube-rs client built from the
//! kubeconfig (or the in-cluster config) fetches them. See docs/cluster.md.

pub mod config;
pub mod list;

use crate::inputs::InputArgs;
use libsvc::{Diagnostic, Input, Severity};
use serde_json::{Map, Value};
use std::fmt;

/// A kind svcgen reads from the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// The resource's name in URLs and RBAC rules.
    pub plural: &'static str,
    /// The API group ("" for core).
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Listed if the server has it and lets svcgen read it; skipped otherwise.
    pub optional: bool,
}

pub const SERVICES: Resource = Resource {
    plural: "services",
    group: "",
    version: "v1",
    kind: "Service",
    optional: false,
};
pub const ENDPOINT_SLICES: Resource = Resource {
    plural: "endpointslices",
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    optional: false,
};
pub const PODS: Resource = Resource {
    plural: "pods",
    group: "",
    version: "v1",
    kind: "Pod",
    optional: false,
};
pub const NODES: Resource = Resource {
    plural: "nodes",
    group: "",
    version: "v1",
    kind: "Node",
    optional: false,
};
/// networking.k8s.io/v1 since Kubernetes 1.33; an older server lacks it.
pub const SERVICE_CIDRS: Resource = Resource {
    plural: "servicecidrs",
    group: "networking.k8s.io",
    version: "v1",
    kind: "ServiceCIDR",
    optional: true,
};
/// kube-system/kube-proxy (kubeadm's), for its `config.conf`.
pub const CONFIG_MAPS: Resource = Resource {
    plural: "configmaps",
    group: "",
    version: "v1",
    kind: "ConfigMap",
    optional: true,
};

/// What the CLI lists, in input order.
pub const LISTED: [Resource; 5] = [SERVICES, ENDPOINT_SLICES, PODS, NODES, SERVICE_CIDRS];

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The cluster-wide collection's path.
    pub fn path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}/{}", self.version, self.plural)
        } else {
            format!("/apis/{}/{}/{}", self.group, self.version, self.plural)
        }
    }

    /// An object of a list response, with the apiVersion and kind that a
    /// list leaves out of its items put back in front.
    pub fn typed(&self, object: Value) -> Value {
        let Value::Object(fields) = object else {
            return object;
        };
        let mut out = Map::new();
        out.insert("apiVersion".into(), Value::String(self.api_version()));
        out.insert("kind".into(), Value::String(self.kind.into()));
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
        Value::Object(out)
    }
}

/// The API verbs svcgen uses (named as RBAC names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
        })
    }
}

/// Why the cluster could not be read, in the words kubectl uses.
#[derive(Debug, Clone)]
pub enum ClusterError {
    /// The kubeconfig (or in-cluster config) is missing or wrong.
    Config(String),
    /// The server could not be reached.
    Connect(String),
    /// The server answered with an error Status.
    Api {
        code: u16,
        reason: String,
        message: String,
        /// For 403: the RBAC rule that would allow the request.
        missing_rule: Option<String>,
    },
    /// The server's answer made no sense.
    Server(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Config(m) | ClusterError::Connect(m) | ClusterError::Server(m) => {
                f.write_str(m)
            }
            // kubectl's `StandardErrorMessage` (cmd/util/helpers.go): a
            // Status becomes "Error from server (Reason): message"; 401 has
            // its own words.
            ClusterError::Api { code: 401, .. } => {
                f.write_str("error: You must be logged in to the server (Unauthorized)")
            }
            ClusterError::Api {
                reason,
                message,
                missing_rule,
                ..
            } => {
                let reason = if reason.is_empty() {
                    "InternalError"
                } else {
                    reason
                };
                write!(f, "Error from server ({reason}): {message}")?;
                if let Some(rule) = missing_rule {
                    write!(f, "\n  svcgen needs the RBAC rule {rule}")?;
                }
                Ok(())
            }
        }
    }
}

impl ClusterError {
    /// A kube-rs error of a request `verb` on `resource`.
    pub fn from_kube(e: kube::Error, resource: &Resource, verb: Verb) -> ClusterError {
        match e {
            kube::Error::Api(status) => ClusterError::Api {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
                missing_rule: (status.code == 403).then(|| {
                    format!(
                        "apiGroups: [\"{}\"], resources: [\"{}\"], verbs: [\"{verb}\"]",
                        resource.group, resource.plural
                    )
                }),
            },
            other => connect_error(&other),
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// kubectl's words for a server it cannot reach (client-go
/// `rest/request.go` and kubectl `cmd/util/helpers.go`
/// `StandardErrorMessage`): a refused connection names the server.
fn connect_error(e: &(dyn std::error::Error + 'static)) -> ClusterError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return ClusterError::Connect(
                "The connection to the server was refused - did you specify the right host or port?"
                    .into(),
            );
        }
        last = err.to_string();
        cur = err.source();
    }
    ClusterError::Connect(format!("Unable to connect to the server: {last}"))
}

/// A client for `source`, and the server's `host:port` for messages.
pub async fn client(source: &config::Source) -> Result<(kube::Client, String), ClusterError> {
    let mut config = config::load(source).await?;
    if let Some(t) = source.request_timeout {
        // client-go bounds the whole request; kube-rs bounds each step.
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    let server = config
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| config.cluster_url.to_string());
    let client = kube::Client::try_from(config)
        .map_err(|e| ClusterError::Config(format!("cannot build a client: {e}")))?;
    Ok((client, server))
}

/// Names the server in a refused connection, as kubectl does.
fn with_server(e: ClusterError, server: &str) -> ClusterError {
    match e {
        ClusterError::Connect(m) if m.starts_with("The connection to the server was refused") => {
            ClusterError::Connect(format!(
                "The connection to the server {server} was refused - did you specify the right host or port?"
            ))
        }
        other => other,
    }
}

/// `--cluster`: the cluster's objects as inputs, and the info lines that
/// say what was assumed or skipped.
pub async fn fetch(source: &config::Source) -> Result<(Vec<Input>, Vec<String>), ClusterError> {
    let (client, server) = client(source).await?;
    let lists = futures::future::join_all(LISTED.iter().map(|r| list::list(&client, r))).await;
    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    let mut node_names = Vec::new();
    for (resource, pages) in LISTED.iter().zip(lists) {
        let pages = match pages {
            Ok(p) => p,
            // An older server has no ServiceCIDRs; a narrow role may not read them.
            Err(e) if resource.optional && matches!(e.code(), Some(404)) => continue,
            Err(e) if resource.optional && matches!(e.code(), Some(403)) => {
                notes.push(format!(
                    "cannot list {} (forbidden): using --service-cidr or the default",
                    resource.plural
                ));
                continue;
            }
            Err(e) => return Err(with_server(e, &server)),
        };
        let count = pages.len();
        for (i, p) in pages.into_iter().enumerate() {
            if *resource == NODES {
                node_names.extend(p.items.iter().filter_map(|n| {
                    n.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(String::from)
                }));
            }
            let name = if count == 1 {
                format!("cluster:{}", resource.plural)
            } else {
                format!("cluster:{}#{}", resource.plural, i + 1)
            };
            inputs.push(Input::new(name, list::list_text(p.items)));
        }
    }
    match kube_proxy_config(&client).await {
        Ok(Some(input)) => inputs.push(input),
        Ok(None) => {}
        Err(e) if matches!(e.code(), Some(403)) => notes.push(
            "cannot read ConfigMap kube-system/kube-proxy (forbidden): kube-proxy's defaults apply"
                .into(),
        ),
        Err(e) => return Err(with_server(e, &server)),
    }
    if let Some(first) = node_names.first() {
        notes.push(if node_names.len() == 1 {
            format!("no --node-name: assuming the cluster's only Node {first:?}")
        } else {
            format!(
                "no --node-name: assuming Node {first:?}, the first of {}; pick the node with --node-name NAME",
                node_names.len()
            )
        });
    }
    Ok((inputs, notes))
}

/// The KubeProxyConfiguration of kubeadm's ConfigMap kube-system/kube-proxy
/// (key `config.conf`), when present.
async fn kube_proxy_config(client: &kube::Client) -> Result<Option<Input>, ClusterError> {
    let path = "/api/v1/namespaces/kube-system/configmaps/kube-proxy";
    let cm = match list::get_json(client, path, &CONFIG_MAPS, Verb::Get).await {
        Ok(cm) => cm,
        Err(e) if matches!(e.code(), Some(404)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(cm
        .pointer("/data/config.conf")
        .and_then(Value::as_str)
        .map(|text| {
            Input::new(
                "cluster:configmap/kube-system/kube-proxy/config.conf",
                text.to_string(),
            )
        }))
}

/// `InputArgs::read` for `--cluster`.
pub fn read(args: &InputArgs) -> Result<Vec<Input>, Vec<Diagnostic>> {
    let request_timeout = match args.request_timeout.as_deref() {
        Some(t) => config::parse_timeout(t).map_err(|e| vec![error(format!("error: {e}"))])?,
        None => None,
    };
    let source = config::Source {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        in_cluster: false,
        request_timeout,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| vec![error(format!("cannot start the runtime: {e}"))])?;
    match runtime.block_on(fetch(&source)) {
        Ok((inputs, notes)) => {
            for n in notes {
                // Only the node note is moot with --node-name.
                if args.node_name.is_some() && n.starts_with("no --node-name") {
                    continue;
                }
                eprintln!("info: {n}");
            }
            Ok(inputs)
        }
        Err(e) => Err(vec![error(e.to_string())]),
    }
}

fn error(msg: String) -> Diagnostic {
    Diagnostic::new(Severity::Error, msg, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> ClusterError {
        let status = kube::core::Status::failure(message, reason).with_code(code);
        ClusterError::from_kube(
            kube::Error::Api(status.boxed()),
            &ENDPOINT_SLICES,
            Verb::Watch,
        )
    }

    /// kubectl `cmd/util/helpers.go` `StandardErrorMessage`: a Status is
    /// "Error from server (Reason): message"; 401 has its own words; 403
    /// adds the RBAC rule that would allow the request.
    #[test]
    fn status_errors_in_kubectls_words() {
        assert_eq!(
            api(401, "Unauthorized", "Unauthorized").to_string(),
            "error: You must be logged in to the server (Unauthorized)"
        );
        assert_eq!(
            api(
                404,
                "NotFound",
                "the server could not find the requested resource"
            )
            .to_string(),
            "Error from server (NotFound): the server could not find the requested resource"
        );
        assert_eq!(
            api(
                403,
                "Forbidden",
                "endpointslices.discovery.k8s.io is forbidden"
            )
            .to_string(),
            "Error from server (Forbidden): endpointslices.discovery.k8s.io is forbidden\n  svcgen needs the RBAC rule apiGroups: [\"discovery.k8s.io\"], resources: [\"endpointslices\"], verbs: [\"watch\"]"
        );
        assert_eq!(
            api(500, "", "etcd is down").to_string(),
            "Error from server (InternalError): etcd is down"
        );
    }

    #[test]
    fn paths_and_types_of_the_listed_kinds() {
        assert_eq!(SERVICES.path(), "/api/v1/services");
        assert_eq!(
            SERVICE_CIDRS.path(),
            "/apis/networking.k8s.io/v1/servicecidrs"
        );
        let typed = ENDPOINT_SLICES.typed(serde_json::json!({"metadata": {"name": "a"}}));
        assert_eq!(typed["apiVersion"], "discovery.k8s.io/v1");
        assert_eq!(typed["kind"], "EndpointSlice");
    }
}

//! `-f FILE|DIR|-` and the settings flags: the CLI's IO edge.

use clap::Args;
use libsvc::config::{IpFamily, KubeVersion};
use libsvc::{Diagnostic, Input, Overrides, Severity};
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Where manifests come from, and node / cluster settings.
#[derive(Args, Debug, Clone, Default)]
pub struct InputArgs {
    /// Manifests: a file, a directory (its .yaml/.yml/.json files, sorted by
    /// name) or `-` for stdin. Repeatable. Without -f, a pipe on stdin is read.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub files: Vec<String>,
    /// Recurse into directories given with -f.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Also print one note per object skipped (kinds svcgen does not use,
    /// and documents without kind found in a directory); by default one
    /// line sums them up.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// The node's name (overrides a Node / KubeProxyConfiguration in the input).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// A node IP (repeatable; the first of each family is the primary IP).
    #[arg(long, value_name = "IP")]
    pub node_ip: Vec<IpAddr>,
    /// A service CIDR (repeatable; default 10.96.0.0/12, or the ServiceCIDRs in the input).
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Vec<String>,
    /// The node-port range, e.g. 30000-32767.
    #[arg(long, value_name = "FROM-TO")]
    pub service_node_port_range: Option<String>,
    /// The cluster domain (default cluster.local).
    #[arg(long, value_name = "DOMAIN")]
    pub cluster_domain: Option<String>,
    /// The cluster DNS server address (repeatable; default: the cluster IP of
    /// kube-system/kube-dns in the input, else the 10th address of the first service CIDR).
    #[arg(long, value_name = "IP")]
    pub cluster_dns: Vec<IpAddr>,
    /// The pod CIDR kube-proxy uses to detect local traffic (KubeProxyConfiguration clusterCIDR).
    #[arg(long, value_name = "CIDR")]
    pub cluster_cidr: Vec<String>,
    /// Render for one IP family only (kube-proxy's single-stack proxier).
    #[arg(long, value_name = "IPv4|IPv6")]
    pub ip_family: Option<String>,
    /// Host fact: iptables supports --random-fully.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub iptables_random_fully: Option<bool>,
    /// Host fact: sysctl nf_conntrack_tcp_be_liberal is set.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub conntrack_tcp_be_liberal: Option<bool>,
    /// Host fact: the nfacct counters that exist (comma-separated; empty: none).
    #[arg(long, value_name = "A,B", num_args = 0..=1, default_missing_value = "")]
    pub nfacct_counters: Option<String>,
    /// kube-proxy's --detect-local-mode (overrides KubeProxyConfiguration detectLocalMode).
    #[arg(
        long,
        value_name = "ClusterCIDR|NodeCIDR|BridgeInterface|InterfaceNamePrefix"
    )]
    pub detect_local_mode: Option<String>,
    /// kube-proxy's --pod-bridge-interface (detectLocal.bridgeInterface).
    #[arg(long, value_name = "NAME")]
    pub pod_bridge_interface: Option<String>,
    /// kube-proxy's --pod-interface-name-prefix (detectLocal.interfaceNamePrefix).
    #[arg(long, value_name = "PREFIX")]
    pub pod_interface_name_prefix: Option<String>,
    /// Do not simulate the Pods of Deployments, ReplicaSets,
    /// ReplicationControllers, StatefulSets and DaemonSets (by default they
    /// get the Pods their controllers, the scheduler and kubelet would make;
    /// see docs/differences.md).
    #[arg(long)]
    pub no_simulate: bool,
    /// The Kubernetes release whose kube-proxy is rendered, traced and
    /// checked against: 1.33 to 1.37 (default 1.37, the reference; a patch
    /// release such as v1.33.4 is read as its minor). See docs/kube-versions.md.
    #[arg(long, value_name = "1.33|1.34|1.35|1.36|1.37")]
    pub kube_version: Option<String>,
    /// Read the objects from the cluster of the current kubeconfig context
    /// instead of files: Services, EndpointSlices, Pods, Nodes, ServiceCIDRs
    /// and the kube-proxy ConfigMap's KubeProxyConfiguration (docs/cluster.md).
    #[arg(long, conflicts_with = "files")]
    pub cluster: bool,
    /// The kubeconfig file for --cluster (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context for --cluster (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// How long one request to the cluster may take, as kubectl's flag:
    /// seconds, or a duration such as 1s, 2m, 3h; 0 waits for ever.
    #[arg(long, value_name = "DURATION", requires = "cluster")]
    pub request_timeout: Option<String>,
}

const NO_INPUT: &str = "no input: give manifests with -f FILE|DIR|- or on stdin (see --help)";

fn usage(msg: String) -> Diagnostic {
    Diagnostic::new(Severity::Error, msg, None)
}

impl InputArgs {
    /// The settings flags as overrides.
    pub fn overrides(&self) -> Result<Overrides, Diagnostic> {
        let cidr = |s: &String| {
            libsvc::config::parse_cidr(s).ok_or_else(|| usage(format!("invalid CIDR {s:?}")))
        };
        let node_port_range = match &self.service_node_port_range {
            None => None,
            Some(r) => {
                let (a, b) = r.split_once('-').ok_or_else(|| {
                    usage(format!("invalid node-port range {r:?}: expected FROM-TO"))
                })?;
                let a: u16 = a
                    .trim()
                    .parse()
                    .map_err(|_| usage(format!("invalid node-port range {r:?}")))?;
                let b: u16 = b
                    .trim()
                    .parse()
                    .map_err(|_| usage(format!("invalid node-port range {r:?}")))?;
                if a == 0 || a > b {
                    return Err(usage(format!("invalid node-port range {r:?}")));
                }
                Some((a, b))
            }
        };
        let ip_family = match self.ip_family.as_deref() {
            None => None,
            Some(f) => Some(IpFamily::parse(f).ok_or_else(|| {
                usage(format!("invalid --ip-family {f:?}: expected IPv4 or IPv6"))
            })?),
        };
        let kube_version = match self.kube_version.as_deref() {
            None => None,
            Some(v) => Some(KubeVersion::parse(v).ok_or_else(|| {
                usage(format!(
                    "invalid --kube-version {v:?}: expected one of 1.33, 1.34, 1.35, 1.36, 1.37"
                ))
            })?),
        };
        Ok(Overrides {
            node_name: self.node_name.clone(),
            node_ips: self.node_ip.clone(),
            service_cidrs: self
                .service_cidr
                .iter()
                .map(cidr)
                .collect::<Result<_, _>>()?,
            node_port_range,
            cluster_domain: self.cluster_domain.clone(),
            cluster_dns: self.cluster_dns.clone(),
            cluster_cidrs: self
                .cluster_cidr
                .iter()
                .map(cidr)
                .collect::<Result<_, _>>()?,
            ip_family,
            iptables_random_fully: self.iptables_random_fully,
            conntrack_tcp_be_liberal: self.conntrack_tcp_be_liberal,
            nfacct_counters: self.nfacct_counters.as_ref().map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            }),
            ipvs_scheduler: None,
            detect_local_mode: self.detect_local_mode.clone(),
            bridge_interface: self.pod_bridge_interface.clone(),
            interface_name_prefix: self.pod_interface_name_prefix.clone(),
            no_simulate: self.no_simulate,
            kube_version,
        })
    }

    /// Reads every `-f` source. Unreadable files are errors.
    pub fn read(&self) -> Result<Vec<Input>, Vec<Diagnostic>> {
        if self.cluster {
            return crate::cluster::read(self);
        }
        let mut inputs = Vec::new();
        let mut errors = Vec::new();
        // Without -f, a pipe on stdin is the input (`kubectl get -o yaml | svcgen …`);
        // a terminal is not read from, so a bare command does not hang.
        let stdin_only = ["-".to_string()];
        let files: &[String] = if self.files.is_empty() {
            use std::io::IsTerminal;
            if std::io::stdin().is_terminal() {
                &[]
            } else {
                &stdin_only
            }
        } else {
            &self.files
        };
        if files.is_empty() {
            errors.push(usage(NO_INPUT.into()));
        }
        for f in files {
            if f == "-" {
                let mut buf = Vec::new();
                match std::io::stdin()
                    .take(libsvc::parse::MAX_INPUT_BYTES as u64 + 1)
                    .read_to_end(&mut buf)
                {
                    // An empty pipe and no -f: nothing was given at all.
                    Ok(_) if buf.is_empty() && self.files.is_empty() => {
                        errors.push(usage(NO_INPUT.into()))
                    }
                    Ok(_) => push(&mut inputs, &mut errors, "-", buf),
                    Err(e) => errors.push(usage(format!("-: cannot read stdin: {e}"))),
                }
                continue;
            }
            let path = Path::new(f);
            if path.is_dir() {
                let mut files = Vec::new();
                collect_dir(path, self.recursive, &mut files, &mut errors);
                files.sort();
                for p in files {
                    // Found, not named: a document without kind there
                    // (kustomization.yaml, a chart's values.yaml) is skipped.
                    if let Some(input) = read_file(&p, &mut errors) {
                        inputs.push(input.in_directory());
                    }
                }
            } else {
                inputs.extend(read_file(path, &mut errors));
            }
        }
        if errors.is_empty() {
            Ok(inputs)
        } else {
            Err(errors)
        }
    }
}

fn push(inputs: &mut Vec<Input>, errors: &mut Vec<Diagnostic>, name: &str, bytes: Vec<u8>) {
    match Input::from_bytes(name, bytes) {
        Ok(i) => inputs.push(i),
        Err(d) => errors.push(*d),
    }
}

fn read_file(path: &Path, errors: &mut Vec<Diagnostic>) -> Option<Input> {
    let name = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            errors.push(usage(format!("{name}: cannot open: {e}")));
            return None;
        }
    };
    let mut buf = Vec::new();
    // Read one byte past the limit so that an oversized file is reported,
    // not silently cut.
    match file
        .take(libsvc::parse::MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut buf)
    {
        Ok(_) => Input::from_bytes(name, buf)
            .map_err(|d| errors.push(*d))
            .ok(),
        Err(e) => {
            errors.push(usage(format!("{name}: cannot read: {e}")));
            None
        }
    }
}

fn collect_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>, errors: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(usage(format!("{}: cannot list: {e}", dir.display())));
            return;
        }
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            if recursive {
                collect_dir(&p, recursive, out, errors);
            }
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
}

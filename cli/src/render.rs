//! The subcommands that read manifests and print an output of libsvc.

use crate::inputs::InputArgs;
use crate::output::{emit, print_value};
use crate::{EXIT_INVALID, EXIT_USAGE, OutputFormat};
use clap::{Args, ValueEnum};
use libsvc::{Input, Loaded};
use std::process::ExitCode;

/// Reads and loads the inputs; prints read errors and returns the exit code on failure.
pub fn load(args: &InputArgs) -> Result<(Vec<Input>, Loaded), ExitCode> {
    let overrides = match args.overrides() {
        Ok(o) => o,
        Err(d) => {
            eprintln!("svcgen: {}", d.message);
            return Err(ExitCode::from(EXIT_USAGE));
        }
    };
    let inputs = match args.read() {
        Ok(i) => i,
        Err(errors) => {
            for d in errors {
                if d.location.is_some() {
                    eprintln!("{d}");
                } else {
                    eprintln!("svcgen: {}", d.message);
                }
            }
            return Err(ExitCode::from(if args.files.is_empty() && !args.cluster {
                EXIT_USAGE
            } else {
                EXIT_INVALID
            }));
        }
    };
    let loaded = libsvc::load(&inputs, &overrides);
    Ok((inputs, loaded))
}

/// Loads for an output: input that cannot be read is an error; validation
/// problems are warnings on stderr, or errors with `strict`.
/// `info` shows the load's info lines (render, trace); kubectl-shaped
/// commands keep stderr for kubectl's own messages and show them with -v.
pub(crate) fn load_for_output(
    args: &InputArgs,
    strict: bool,
    info: bool,
) -> Result<(Vec<Input>, Loaded), ExitCode> {
    let (inputs, loaded) = load(args)?;
    let fatal = loaded.has_parse_errors() || (strict && loaded.errors().next().is_some());
    let snippets = libsvc::diag::Snippets::new(&inputs);
    // Info lines say what was assumed (simulated Pods, an inferred service
    // CIDR, the one-line summary of skipped kinds); the per-object notes on
    // skipped kinds only with -v (`with_notes`).
    for d in crate::output::with_notes(&loaded, args.verbose) {
        if d.severity == libsvc::Severity::Info && !info && !args.verbose {
            continue;
        }
        let mut shown = d.into_owned();
        if !fatal && shown.is_error() {
            shown.severity = libsvc::Severity::Warning;
        }
        eprintln!("{}", snippets.render(&shown));
    }
    if fatal {
        return Err(ExitCode::from(EXIT_INVALID));
    }
    Ok((inputs, loaded))
}

/// What `render --mode` can render.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// kube-proxy iptables mode (iptables-restore input).
    Iptables,
    /// kube-proxy nftables mode (nft -f transaction).
    #[value(alias = "nft")]
    Nftables,
    /// kube-proxy IPVS mode (ipvsadm, ipset, iptables).
    Ipvs,
    /// The service environment variables kubelet injects into a pod.
    Env,
    /// The cluster DNS records (zone-file listing).
    Dns,
    /// A pod's /etc/resolv.conf (ClusterFirst).
    Resolv,
}

/// `svcgen render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// What to render.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Treat validation problems as errors: exit 1, print no output.
    #[arg(long)]
    pub strict: bool,
    /// env / resolv: the pod's namespace.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// env: the pod's enableServiceLinks.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub enable_service_links: Option<bool>,
    /// env / resolv: take namespace and enableServiceLinks from this Pod of the input.
    #[arg(long, value_name = "NAME")]
    pub pod: Option<String>,
    /// iptables: also print the jumps from the built-in chains, so the
    /// output applies with `iptables-restore --noflush` on a bare node.
    #[arg(long)]
    pub with_jumps: bool,
    /// ipvs: print one section only.
    #[arg(long, value_name = "ipvs|ipset|iptables|addresses|sysctls")]
    pub section: Option<String>,
    /// ipvs: the scheduler (overrides ipvs.scheduler).
    #[arg(long, value_name = "SCHED")]
    pub scheduler: Option<String>,
}

impl Mode {
    fn lib(self) -> libsvc::render::Mode {
        use libsvc::render::Mode as M;
        match self {
            Mode::Iptables => M::Iptables,
            Mode::Nftables => M::Nftables,
            Mode::Ipvs => M::Ipvs,
            Mode::Env => M::Env,
            Mode::Dns => M::Dns,
            Mode::Resolv => M::Resolv,
        }
    }
}

/// `svcgen render`.
pub fn render(args: &RenderArgs) -> ExitCode {
    let Ok((inputs, mut loaded)) = load_for_output(&args.input, args.strict, true) else {
        return ExitCode::from(EXIT_INVALID);
    };
    if let Some(s) = &args.scheduler {
        loaded.settings.proxy.ipvs_scheduler = s.clone();
    }
    let options = libsvc::render::RenderOptions {
        namespace: args.namespace.clone(),
        enable_service_links: args.enable_service_links,
        pod: args.pod.clone(),
        with_jumps: args.with_jumps,
        section: args.section.clone(),
        json: args.output != OutputFormat::Text,
    };
    match libsvc::render::render(&loaded, args.mode.lib(), &options) {
        Ok(rendered) => {
            let snippets = libsvc::diag::Snippets::new(&inputs);
            for d in &rendered.diagnostics {
                eprintln!("{}", snippets.render(d));
            }
            match args.output {
                OutputFormat::Text => emit(&rendered.text),
                format => print_value(&rendered.json, format),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("svcgen: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// The modes that have rules a packet can be traced through.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceMode {
    /// kube-proxy iptables mode.
    Iptables,
    /// kube-proxy nftables mode.
    #[value(alias = "nft")]
    Nftables,
    /// kube-proxy IPVS mode.
    Ipvs,
}

impl TraceMode {
    fn lib(self) -> libsvc::render::Mode {
        use libsvc::render::Mode as M;
        match self {
            TraceMode::Iptables => M::Iptables,
            TraceMode::Nftables => M::Nftables,
            TraceMode::Ipvs => M::Ipvs,
        }
    }
}

/// `svcgen trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Which proxy mode's rules to follow (not with --rules).
    #[arg(long, value_enum, required_unless_present = "rules")]
    pub mode: Option<TraceMode>,
    /// Source address of the packet.
    #[arg(long, value_name = "IP")]
    pub src: std::net::IpAddr,
    /// Destination address.
    #[arg(long, value_name = "IP")]
    pub dst: std::net::IpAddr,
    /// Destination port.
    #[arg(long, value_name = "PORT")]
    pub port: u16,
    /// Protocol.
    #[arg(long, value_name = "tcp|udp|sctp", default_value = "tcp")]
    pub proto: String,
    /// The interface the packet comes in on (for the BridgeInterface and
    /// InterfaceNamePrefix local-traffic detectors; with --rules, for -i /
    /// iifname matches, which branch when it is not given).
    #[arg(long = "in-iface", visible_alias = "in-interface", value_name = "IF")]
    pub in_interface: Option<String>,
    /// ipvs: the scheduler (overrides ipvs.scheduler).
    #[arg(long, value_name = "SCHED")]
    pub scheduler: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Treat validation problems as errors.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub dump: crate::dump::DumpArgs,
}

/// `svcgen trace`.
pub fn trace(args: &TraceArgs) -> ExitCode {
    if !args.dump.rules.is_empty() {
        return crate::dump::trace(args);
    }
    let Some(mode) = args.mode else {
        eprintln!("svcgen: trace needs --mode (or --rules)");
        return ExitCode::from(EXIT_USAGE);
    };
    let Ok((_inputs, mut loaded)) = load_for_output(&args.input, args.strict, true) else {
        return ExitCode::from(EXIT_INVALID);
    };
    if let Some(s) = &args.scheduler {
        loaded.settings.proxy.ipvs_scheduler = s.clone();
    }
    let Some(protocol) = libsvc::table::Protocol::parse(Some(&args.proto.to_uppercase())) else {
        eprintln!(
            "svcgen: invalid --proto {:?}: expected tcp, udp or sctp",
            args.proto
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let packet = libsvc::trace::Packet {
        in_interface: args.in_interface.clone(),
        src: args.src,
        dst: args.dst,
        port: args.port,
        protocol,
    };
    match libsvc::trace::trace(&loaded, mode.lib(), &packet) {
        Ok(result) => {
            match args.output {
                OutputFormat::Text => emit(&libsvc::trace::report(&packet, &result)),
                format => print_value(&result, format),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("svcgen: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// `svcgen resolve`.
#[derive(Args, Debug)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The name to look up (relative names use the pod's search list).
    pub name: String,
    /// Record type.
    #[arg(
        long = "type",
        value_name = "A|AAAA|SRV|PTR|CNAME|TXT|ANY",
        default_value = "A"
    )]
    pub qtype: String,
    /// The querying pod's namespace.
    #[arg(short = 'n', long, value_name = "NS", default_value = "default")]
    pub namespace: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `svcgen resolve`.
pub fn resolve(args: &ResolveArgs) -> ExitCode {
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false, false) else {
        return ExitCode::from(EXIT_INVALID);
    };
    let Some(qtype) = libsvc::dns::QueryType::parse(&args.qtype) else {
        eprintln!(
            "svcgen: invalid --type {:?}: expected A, AAAA, SRV, PTR, CNAME, TXT or ANY",
            args.qtype
        );
        return ExitCode::from(EXIT_USAGE);
    };
    match libsvc::dns::resolve(&loaded, &args.name, qtype, &args.namespace) {
        Ok(answer) => {
            match args.output {
                OutputFormat::Text => emit(&answer.to_string()),
                format => print_value(&answer, format),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("svcgen: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// The resources `get` knows.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Services.
    #[value(alias = "svc", alias = "service")]
    Services,
    /// v1 Endpoints.
    #[value(alias = "ep", alias = "endpoint")]
    Endpoints,
    /// EndpointSlices.
    #[value(alias = "endpointslice", alias = "eps")]
    Endpointslices,
    /// Pods: those of the input and those simulated from workloads.
    #[value(alias = "pod", alias = "po")]
    Pods,
}

/// `get -o`: the formats of the other commands, and kubectl's `wide`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GetFormat {
    /// Text, as kubectl prints it.
    #[default]
    Text,
    /// Text with kubectl's extra `-o wide` columns (pods).
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl GetFormat {
    fn format(self) -> OutputFormat {
        match self {
            GetFormat::Text | GetFormat::Wide => OutputFormat::Text,
            GetFormat::Json => OutputFormat::Json,
            GetFormat::Yaml => OutputFormat::Yaml,
        }
    }
}

impl Resource {
    /// kubectl's plural resource name, as in its NotFound message.
    fn plural(self) -> &'static str {
        match self {
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::Endpointslices => "endpointslices.discovery.k8s.io",
            Resource::Pods => "pods",
        }
    }
}

/// `svcgen get`.
#[derive(Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// What to list.
    #[arg(value_enum)]
    pub resource: Resource,
    /// One object by name.
    pub name: Option<String>,
    /// Namespace to list.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// List every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Label selector, as kubectl's (`app=web`, `tier!=db`, `env in (a,b)`, `!key`).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Output format: the kubectl table, or the objects as the API server returns them.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: GetFormat,
}

/// Seconds since the Unix epoch, for AGE (libsvc reads no clock).
fn now() -> Option<i64> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    i64::try_from(since.as_secs()).ok()
}

/// `svcgen get`.
pub fn get(args: &GetArgs) -> ExitCode {
    use libsvc::views::{self, Namespaces, Query, Selector, objects};
    let selector = match Selector::parse(args.selector.as_deref().unwrap_or("")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("svcgen: -l: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false, false) else {
        return ExitCode::from(EXIT_INVALID);
    };
    let namespace = args.namespace.clone().unwrap_or_else(|| "default".into());
    let query = Query {
        namespaces: if args.all_namespaces {
            Namespaces::All
        } else {
            Namespaces::One(namespace.clone())
        },
        name: args.name.clone(),
        selector,
        now: now(),
    };
    let output = args.output.format();
    if args.resource == Resource::Pods && output == OutputFormat::Text {
        let ns = &query.namespaces;
        let name = args.name.as_deref();
        let text = views::pods::get_pods(&loaded, ns, name, args.output == GetFormat::Wide);
        if text.is_empty() {
            match name {
                Some(n) => eprintln!("Error from server (NotFound): pods \"{n}\" not found"),
                None => eprintln!("{}", views::no_resources(ns)),
            }
            return if name.is_some() {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::SUCCESS
            };
        }
        emit(&text);
        if let Some(note) = views::pods::simulated_note(&loaded, ns, name) {
            eprintln!("{note}");
        }
        return ExitCode::SUCCESS;
    }
    if output != OutputFormat::Text {
        let items = match args.resource {
            Resource::Services => objects::services(&loaded, &query),
            Resource::Endpoints => objects::endpoints(&loaded, &query),
            Resource::Endpointslices => objects::endpoint_slices(&loaded, &query),
            Resource::Pods => objects::pods(&loaded, &query),
        };
        // One object by name prints the object; otherwise a v1 List.
        let value = match (&args.name, items.len()) {
            (Some(_), 0) => return not_found(args, &loaded, &namespace),
            (Some(_), _) => items.into_iter().next().unwrap_or_default(),
            (None, _) => objects::list(items),
        };
        emit(&match output {
            OutputFormat::Yaml => objects::to_yaml(&value),
            _ => objects::to_json(&value),
        });
        return ExitCode::SUCCESS;
    }
    let text = match args.resource {
        Resource::Services => views::get_services(&loaded, &query),
        Resource::Endpoints => views::get_endpoints(&loaded, &query),
        Resource::Endpointslices => views::get_endpoint_slices(&loaded, &query),
        Resource::Pods => String::new(),
    };
    if text.is_empty() {
        if args.name.is_some() {
            return not_found(args, &loaded, &namespace);
        }
        eprintln!("{}", views::no_resources(&query.namespaces));
    }
    emit(&text);
    ExitCode::SUCCESS
}

/// kubectl's answer for a name that is not there, and where it is instead.
fn not_found(args: &GetArgs, loaded: &Loaded, namespace: &str) -> ExitCode {
    let name = args.name.as_deref().unwrap_or("");
    eprintln!(
        "Error from server (NotFound): {} \"{name}\" not found",
        args.resource.plural(),
    );
    let kind = match args.resource {
        Resource::Pods => "Pod",
        _ => "Service",
    };
    if !args.all_namespaces
        && let Some(hint) = libsvc::views::elsewhere(loaded, kind, name, namespace)
    {
        eprintln!("svcgen: {hint}");
    }
    ExitCode::from(EXIT_INVALID)
}

/// `svcgen describe`.
#[derive(Args, Debug)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Resource type (service / svc).
    pub resource: String,
    /// The Service's name.
    pub name: String,
    /// Its namespace.
    #[arg(short = 'n', long, value_name = "NS", default_value = "default")]
    pub namespace: String,
}

/// `svcgen describe`.
pub fn describe(args: &DescribeArgs) -> ExitCode {
    if !matches!(args.resource.as_str(), "service" | "services" | "svc") {
        eprintln!(
            "svcgen: describe knows services (service, svc), not {:?}",
            args.resource
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false, false) else {
        return ExitCode::from(EXIT_INVALID);
    };
    match libsvc::views::describe_service(&loaded, &args.namespace, &args.name) {
        Some(text) => {
            emit(&text);
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "Error from server (NotFound): services \"{}\" not found",
                args.name
            );
            if let Some(hint) =
                libsvc::views::elsewhere(&loaded, "Service", &args.name, &args.namespace)
            {
                eprintln!("svcgen: {hint}");
            }
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// `svcgen cluster-info`.
#[derive(Args, Debug)]
pub struct ClusterInfoArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The API server URL.
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    pub server: String,
    /// The namespace of the add-on Services.
    #[arg(short = 'n', long, value_name = "NS", default_value = "kube-system")]
    pub namespace: String,
}

/// `svcgen cluster-info`.
pub fn cluster_info(args: &ClusterInfoArgs) -> ExitCode {
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false, false) else {
        return ExitCode::from(EXIT_INVALID);
    };
    emit(&libsvc::views::cluster_info(
        &loaded,
        &args.server,
        &args.namespace,
    ));
    ExitCode::SUCCESS
}

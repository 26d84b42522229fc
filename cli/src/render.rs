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
            return Err(ExitCode::from(if args.files.is_empty() {
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
fn load_for_output(args: &InputArgs, strict: bool) -> Result<(Vec<Input>, Loaded), ExitCode> {
    let (inputs, loaded) = load(args)?;
    let fatal = loaded.has_parse_errors() || (strict && loaded.errors().next().is_some());
    for d in &loaded.diagnostics {
        if d.severity == libsvc::Severity::Info {
            continue;
        }
        let mut shown = d.clone();
        if !fatal && shown.is_error() {
            shown.severity = libsvc::Severity::Warning;
        }
        eprintln!("{}", shown.render(&inputs));
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
    let Ok((inputs, mut loaded)) = load_for_output(&args.input, args.strict) else {
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
            for d in &rendered.diagnostics {
                eprintln!("{}", d.render(&inputs));
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

/// `svcgen trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Which proxy mode's rules to follow (not with --rules).
    #[arg(long, value_enum, required_unless_present = "rules")]
    pub mode: Option<Mode>,
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
    let Ok((_inputs, mut loaded)) = load_for_output(&args.input, args.strict) else {
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
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false) else {
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
}

/// `svcgen get`.
#[derive(Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// What to list.
    #[arg(value_enum)]
    pub resource: Resource,
    /// Namespace to list.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// List every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `svcgen get`.
pub fn get(args: &GetArgs) -> ExitCode {
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false) else {
        return ExitCode::from(EXIT_INVALID);
    };
    use libsvc::views::{self, Namespaces};
    let ns = if args.all_namespaces {
        Namespaces::All
    } else {
        Namespaces::One(args.namespace.clone().unwrap_or_else(|| "default".into()))
    };
    if args.output != OutputFormat::Text {
        let selected: Vec<&libsvc::table::ServiceInfo> = loaded
            .table
            .services
            .iter()
            .filter(|s| {
                matches!(&ns, Namespaces::All)
                    || matches!(&ns, Namespaces::One(n) if *n == s.namespace)
            })
            .collect();
        match args.resource {
            Resource::Endpointslices => {
                let slices: Vec<&libsvc::table::SliceInfo> =
                    selected.iter().flat_map(|s| s.slices.iter()).collect();
                print_value(&slices, args.output)
            }
            _ => print_value(&selected, args.output),
        }
        return ExitCode::SUCCESS;
    }
    let text = match args.resource {
        Resource::Services => views::get_services(&loaded, &ns),
        Resource::Endpoints => views::get_endpoints(&loaded, &ns),
        Resource::Endpointslices => views::get_endpoint_slices(&loaded, &ns),
    };
    if text.is_empty() {
        eprintln!("{}", views::no_resources(&ns));
    }
    emit(&text);
    ExitCode::SUCCESS
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
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false) else {
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
    let Ok((_inputs, loaded)) = load_for_output(&args.input, false) else {
        return ExitCode::from(EXIT_INVALID);
    };
    emit(&libsvc::views::cluster_info(
        &loaded,
        &args.server,
        &args.namespace,
    ));
    ExitCode::SUCCESS
}

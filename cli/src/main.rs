//! svcgen: Kubernetes Service networking, visible and reproducible.
//!
//! The binary is the command-line definition plus glue; everything it
//! prints is computed by `libsvc`.

#[cfg(target_os = "linux")]
mod agent;
mod check;
mod cluster;
mod diff;
mod dump;
mod inputs;
mod output;
mod render;

use clap::{Parser, Subcommand, ValueEnum};
use inputs::InputArgs;
use std::process::ExitCode;

/// Exit codes: 0 success, 1 the input has errors, 2 usage errors.
const EXIT_INVALID: u8 = 1;
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(name = "svcgen", version, about = "Kubernetes Service networking, exactly as Kubernetes does it: env vars, DNS records, kube-proxy rules", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Machine-readable or human output.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Text, as the real tool prints it.
    #[default]
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check manifests as kube-apiserver would on create.
    #[command(
        after_help = "Examples:\n  svcgen validate -f examples/\n  svcgen validate -f svc.yaml -o json\n  cat svc.yaml | svcgen validate -f -\n\nExit status: 0 valid, 1 invalid (diagnostics on stdout), 2 usage error."
    )]
    Validate {
        #[command(flatten)]
        input: InputArgs,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Render what a node or a pod would see: kube-proxy rules, env vars, DNS.
    #[command(
        after_help = "Examples:\n  svcgen render -f examples/redis-master.yaml --mode env\n  svcgen render -f examples/ --mode iptables --node-ip 192.168.0.2\n  svcgen render -f examples/kubia-affinity.yaml --mode ipvs --section ipvs\n  svcgen render -f examples/ --mode dns -o json\n\nValidation problems are printed on stderr as warnings and the output is still\nrendered, as kube-proxy renders whatever the API holds; --strict makes them errors."
    )]
    Render(render::RenderArgs),
    /// Follow a new connection through the rules of a proxy mode.
    #[command(
        after_help = "Examples:\n  svcgen trace -f examples/hello-world.yaml --mode iptables --src 10.244.1.5 --dst 10.96.0.50 --port 80\n  svcgen trace -f examples/ --mode nftables --src 203.0.113.9 --dst 192.168.0.2 --port 30080 -o json\n  svcgen trace --rules node-3.iptables-save --rules node-3.ipset --local 192.168.0.3 --src 10.244.1.5 --dst 10.96.0.20 --port 80\n\nWith --rules, the packet walks a node's dumped rules (iptables-save, ip6tables-save,\nnft list ruleset, nft -j list ruleset, ipset save, ipvsadm-save -n) as the kernel would;\nsee docs/dumps.md."
    )]
    Trace(render::TraceArgs),
    /// Answer a DNS query the way the cluster DNS would.
    #[command(
        after_help = "Examples:\n  svcgen resolve kubia -f examples/ --namespace default\n  svcgen resolve _http._tcp.multi-port.default --type SRV -f examples/"
    )]
    Resolve(render::ResolveArgs),
    /// Print what `kubectl get` prints for Services, Endpoints, EndpointSlices or Pods.
    #[command(
        after_help = "Examples:\n  svcgen get svc -A -f examples/\n  svcgen get endpoints -n default -f examples/\n  svcgen get endpointslices -f examples/ -o json\n  svcgen get pods -n shop -o wide -f examples/"
    )]
    Get(render::GetArgs),
    /// Print what `kubectl describe service` prints.
    #[command(
        after_help = "Examples:\n  svcgen describe service redis-master -f examples/\n  svcgen describe svc kubia -n default -f examples/"
    )]
    Describe(render::DescribeArgs),
    /// List the cluster add-on Services, as `kubectl cluster-info` does.
    #[command(
        after_help = "Examples:\n  svcgen cluster-info -f examples/\n  svcgen cluster-info -f examples/ --server https://10.0.0.1:6443"
    )]
    ClusterInfo(render::ClusterInfoArgs),
    /// Print what changes in one output between two sets of manifests.
    #[command(
        after_help = "Examples:\n  svcgen diff --mode nftables -f old/ --to new/ | nft -f -\n  svcgen diff --mode iptables -f old/ --to new/ --ip-family IPv4 | iptables-restore --noflush\n  svcgen diff --mode dns -f old.yaml --to new.yaml --stat\n  svcgen diff --mode ipvs -f old/ --to new/ -o json\n\nExit status: 0 equal, 1 different, 2 errors (as diff does)."
    )]
    Diff(diff::DiffArgs),
    /// Check a node's dumped kube-proxy rules against what the manifests give.
    #[command(
        after_help = "Examples:\n  svcgen check --mode iptables --rules node-3.iptables-save -f manifests/ --node-ip 192.168.0.3\n  svcgen check --mode nftables --rules node-3.nft -f manifests/ -o json\n  svcgen check --mode ipvs --rules node.ipvs --rules node.ipset --rules node.iptables -f manifests/\n\nExit status: 0 in sync, 1 drift (one line per difference), 2 errors. See docs/dumps.md."
    )]
    Check(check::CheckArgs),
    /// Run the node agent: apply the rendered rules to this kernel and keep them in sync.
    #[cfg(target_os = "linux")]
    #[command(
        after_help = "Examples:\n  svcgen agent --mode nftables --watch /etc/svcgen/manifests --node-ip 192.168.0.2\n  svcgen agent --mode iptables --watch examples/ --once --dry-run\n  svcgen agent --mode nftables --watch DIR --metrics-addr 127.0.0.1:10249\n  svcgen agent cleanup --mode nftables\n\nOwns only kube-proxy's tables (nftables: ip/ip6 kube-proxy) or chains (iptables: KUBE-*)\nand the jumps into them. Logs are key=value lines on stderr. See docs/agent.md."
    )]
    Agent(agent::AgentArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { input, output } => validate(&input, output),
        Command::Render(args) => render::render(&args),
        Command::Trace(args) => render::trace(&args),
        Command::Resolve(args) => render::resolve(&args),
        Command::Get(args) => render::get(&args),
        Command::Describe(args) => render::describe(&args),
        Command::ClusterInfo(args) => render::cluster_info(&args),
        Command::Diff(args) => diff::diff(&args),
        Command::Check(args) => check::check(&args),
        #[cfg(target_os = "linux")]
        Command::Agent(args) => agent::run(args),
    }
}

fn validate(input: &InputArgs, format: OutputFormat) -> ExitCode {
    let (inputs, loaded) = match render::load(input) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let errors: Vec<&libsvc::Diagnostic> = loaded.errors().collect();
    match format {
        OutputFormat::Text => {
            let snippets = libsvc::diag::Snippets::new(&inputs);
            for d in output::with_notes(&loaded, input.verbose) {
                if d.is_error() {
                    output::emit(&format!("{}\n", snippets.render(&d)));
                } else {
                    eprintln!("{}", snippets.render(&d));
                }
            }
            if errors.is_empty() {
                eprintln!("{} Service(s) valid", loaded.objects.services.len());
            }
        }
        OutputFormat::Json | OutputFormat::Yaml => output::print_diagnostics(&errors, format),
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    }
}

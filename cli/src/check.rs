//! `svcgen check`: a node's dumped kube-proxy rules against the manifests.

use crate::inputs::InputArgs;
use crate::output::{emit, print_value};
use crate::{EXIT_INVALID, EXIT_USAGE, OutputFormat};
use clap::{Args, ValueEnum};
use libsvc::render::Mode;
use std::process::ExitCode;

/// The kube-proxy mode the node runs.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckMode {
    /// iptables: the KUBE-* chains and the jumps to them.
    Iptables,
    /// nftables: the tables ip / ip6 kube-proxy.
    Nftables,
    /// IPVS: virtual and real servers, KUBE-* ipsets and the iptables part.
    Ipvs,
}

/// `svcgen check` flags.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The node's kube-proxy mode.
    #[arg(long, value_enum)]
    pub mode: CheckMode,
    /// A dump of the node's rules: iptables-save, ip6tables-save, nft list ruleset
    /// (text or -j), ipset save, ipvsadm-save -n (`-` for stdin). Repeatable.
    #[arg(long, value_name = "FILE", required = true)]
    pub rules: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Treat validation problems of the manifests as errors.
    #[arg(long)]
    pub strict: bool,
}

/// Exit status: 0 in sync, 1 drift, 2 errors (unreadable dump or manifests).
pub fn check(args: &CheckArgs) -> ExitCode {
    let mode = match args.mode {
        CheckMode::Iptables => Mode::Iptables,
        CheckMode::Nftables => Mode::Nftables,
        CheckMode::Ipvs => Mode::Ipvs,
    };
    let Ok((_, loaded)) = crate::render::load_for_output(&args.input, args.strict, true) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let mut inputs = Vec::new();
    for path in &args.rules {
        match crate::dump::read(path) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!("svcgen: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let (dump, diags) = libsvc::dump::load(&inputs);
    for d in &diags {
        eprintln!("{}", d.render(&inputs));
    }
    if diags.iter().any(|d| d.is_error()) {
        return ExitCode::from(EXIT_USAGE);
    }
    let report = match libsvc::dump::check::check(&loaded, mode, &dump) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("svcgen: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match args.output {
        OutputFormat::Text => emit(&report.text()),
        format => print_value(&report, format),
    }
    if report.in_sync {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    }
}

//! `svcgen trace --rules`: a packet through a node's dumped rules.

use crate::output::{emit, print_value};
use crate::render::TraceArgs;
use crate::{EXIT_INVALID, EXIT_USAGE, OutputFormat};
use clap::Args;
use libsvc::Input;
use libsvc::dump::trace::{self, Options};
use std::net::IpAddr;
use std::process::ExitCode;

/// The dump flags of `svcgen trace`.
#[derive(Args, Debug, Clone, Default)]
pub struct DumpArgs {
    /// A dump of the node's rules: iptables-save, ip6tables-save, nft list ruleset
    /// (text or -j), ipset save, ipvsadm-save -n (`-` for stdin). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub rules: Vec<String>,
    /// An address of the node (repeatable; with --node-ip and the dump's kube-ipvs0
    /// addresses, what counts as local for routing and --dst-type LOCAL).
    #[arg(long, value_name = "IP")]
    pub local: Vec<IpAddr>,
    /// The interface the packet leaves by (unknown: -o / oifname matches branch).
    #[arg(long, value_name = "IF")]
    pub out_iface: Option<String>,
}

pub(crate) fn read(path: &str) -> Result<Input, String> {
    let bytes = if path == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map_err(|e| e.to_string())?;
        b
    } else {
        std::fs::read(path).map_err(|e| format!("{path}: {e}"))?
    };
    Input::from_bytes(path, bytes).map_err(|d| d.to_string())
}

/// Traces the packet of `args` through the dumps of `--rules`.
pub fn trace(args: &TraceArgs) -> ExitCode {
    let mut inputs = Vec::new();
    for path in &args.dump.rules {
        match read(path) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!("svcgen: {e}");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    let Some(protocol) = libsvc::table::Protocol::parse(Some(&args.proto.to_uppercase())) else {
        eprintln!(
            "svcgen: invalid --proto {:?}: expected tcp, udp or sctp",
            args.proto
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let (dump, diags) = libsvc::dump::load(&inputs);
    for d in &diags {
        eprintln!("{}", d.render(&inputs));
    }
    if diags.iter().any(|d| d.is_error()) {
        return ExitCode::from(EXIT_INVALID);
    }
    let mut local = args.dump.local.clone();
    local.extend(args.input.node_ip.iter().copied());
    let opts = Options {
        local,
        in_iface: args.in_interface.clone(),
        out_iface: args.dump.out_iface.clone(),
    };
    let packet = libsvc::trace::Packet {
        src: args.src,
        dst: args.dst,
        port: args.port,
        protocol,
        in_interface: args.in_interface.clone(),
    };
    let result = trace::trace(&dump, &opts, &packet);
    match args.output {
        OutputFormat::Text => emit(&trace::report(&packet, &result)),
        format => print_value(&result, format),
    }
    ExitCode::SUCCESS
}

//! `svcgen diff`: what changes in one output between two sets of
//! manifests, in the tool's own input format (ready for `nft -f` or
//! `iptables-restore --noflush`), as a summary, or as JSON. The delta is
//! libsvc's incremental engine's (`libsvc::incremental`).

use crate::inputs::InputArgs;
use crate::output::{emit, print_value};
use crate::render::Mode;
use crate::{EXIT_INVALID, EXIT_USAGE, OutputFormat};
use clap::Args;
use libsvc::incremental::{Deltas, Outputs, changed_services};
use libsvc::render::{Mode as LibMode, RenderOptions};
use libsvc::{Input, Loaded};
use std::process::ExitCode;

/// `svcgen diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The old manifests (`-f`) and the settings flags, shared by both sides.
    #[command(flatten)]
    pub input: InputArgs,
    /// The new manifests: a file, a directory or `-` (repeatable).
    #[arg(long = "to", value_name = "FILE|DIR|-", required = true)]
    pub to: Vec<String>,
    /// Which output to compare.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Print a summary instead: Services changed, rules and elements added and removed.
    #[arg(long)]
    pub stat: bool,
    /// Output format (`json`: the structured delta).
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// env: the pod's namespace.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
}

fn lib_mode(m: Mode) -> Option<LibMode> {
    Some(match m {
        Mode::Iptables => LibMode::Iptables,
        Mode::Nftables => LibMode::Nftables,
        Mode::Ipvs => LibMode::Ipvs,
        Mode::Env => LibMode::Env,
        Mode::Dns => LibMode::Dns,
        Mode::Resolv => return None,
    })
}

/// Loads one side; input that cannot be read stops the diff (exit 2).
fn side(args: &InputArgs) -> Result<(Vec<Input>, Loaded), ExitCode> {
    let (inputs, loaded) = crate::render::load(args).map_err(|_| ExitCode::from(EXIT_USAGE))?;
    for d in &loaded.diagnostics {
        if d.severity == libsvc::Severity::Info {
            continue;
        }
        let mut shown = d.clone();
        if !loaded.has_parse_errors() && shown.is_error() {
            shown.severity = libsvc::Severity::Warning;
        }
        eprintln!("{}", shown.render(&inputs));
    }
    if loaded.has_parse_errors() {
        return Err(ExitCode::from(EXIT_USAGE));
    }
    Ok((inputs, loaded))
}

/// `svcgen diff`: exit 0 when the outputs are equal, 1 when they differ,
/// 2 on errors (as `diff` does).
pub fn diff(args: &DiffArgs) -> ExitCode {
    let Some(mode) = lib_mode(args.mode) else {
        eprintln!("svcgen: diff does not take --mode resolv (one file; use `render` twice)");
        return ExitCode::from(EXIT_USAGE);
    };
    if args.input.files.iter().any(|f| f == "-") && args.to.iter().any(|f| f == "-") {
        eprintln!("svcgen: only one side can be read from stdin (-)");
        return ExitCode::from(EXIT_USAGE);
    }
    let new_args = InputArgs {
        files: args.to.clone(),
        ..args.input.clone()
    };
    let (old, new) = match (side(&args.input), side(&new_args)) {
        (Ok((_, o)), Ok((_, n))) => (o, n),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let options = RenderOptions {
        namespace: args.namespace.clone(),
        ..Default::default()
    };
    let built = Outputs::build(&old, &[mode], &options)
        .and_then(|o| Outputs::build(&new, &[mode], &options).map(|n| (o, n)));
    let (o, n) = match built {
        Ok(x) => x,
        Err(e) => {
            eprintln!("svcgen: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut deltas = Deltas::between(&o, &n);
    deltas.services = changed_services(&old.table, &new.table);
    match args.output {
        OutputFormat::Text if args.stat => emit(&stat(&deltas, &o, mode)),
        OutputFormat::Text => emit(&deltas.text(mode)),
        format => print_value(&deltas, format),
    }
    if deltas.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    }
}

/// The `--stat` summary.
fn stat(d: &Deltas, old: &Outputs, mode: LibMode) -> String {
    let mut out = format!("{} Service(s) changed", d.services.len());
    for s in &d.services {
        out.push_str("\n  ");
        out.push_str(s);
    }
    out.push('\n');
    let line = match mode {
        LibMode::Nftables => d.nftables.as_ref().map(|x| {
            let (ra, rr, ea, er) = x.counts(old.nftables.as_ref().expect("built"));
            format!("nftables: {ra} rules added, {rr} removed; {ea} elements added, {er} removed")
        }),
        LibMode::Iptables => d.iptables.as_ref().map(|x| {
            let (ra, rr) = x.counts(old.iptables.as_deref().unwrap_or_default());
            let chains: usize = x
                .families
                .iter()
                .flat_map(|f| &f.tables)
                .map(|t| t.chains.len())
                .sum();
            let deleted: usize = x
                .families
                .iter()
                .flat_map(|f| &f.tables)
                .map(|t| t.deleted.len())
                .sum();
            format!(
                "iptables: {chains} chains written, {deleted} deleted; {ra} rules added, {rr} removed"
            )
        }),
        LibMode::Ipvs => d.ipvs.as_ref().map(|x| {
            let (a, r) = x.counts();
            format!("ipvs: {a} servers and set entries added, {r} removed")
        }),
        LibMode::Env => d.env.as_ref().map(|x| {
            format!(
                "env: {} variables added, {} removed",
                x.added.len(),
                x.removed.len()
            )
        }),
        LibMode::Dns => d.dns.as_ref().map(|x| {
            format!(
                "dns: {} records added, {} removed",
                x.added.len(),
                x.removed.len()
            )
        }),
        LibMode::Resolv => None,
    };
    if let Some(l) = line {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

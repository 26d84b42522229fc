//! Where the time goes: each stage of `load` and each output timed apart
//! on generated clusters (1k and 10k Services × 10 endpoints, from YAML and
//! from JSON), and the playground's keystroke (200 Services: `load` and
//! every output). Thread CPU time, best of `RUNS`; prints one table.
//!
//! `cargo bench -p libsvc --bench phases` (add `-- 10000` for one size).

mod common;

use libsvc::render::{Mode, RenderOptions, render};
use libsvc::{Input, Overrides, config, parse, resolve, validate};
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// CPU time of this thread (`/proc/thread-self/schedstat`: time on a CPU,
/// in ns): on a machine shared with other builds the wall clock counts
/// their time too. Falls back to the wall clock elsewhere.
fn cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..RUNS {
        let (t, c) = (Instant::now(), cpu_time());
        let v = f();
        let took = match (c, cpu_time()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => t.elapsed(),
        };
        best = best.min(took);
        out = Some(v);
    }
    (best, out.expect("RUNS > 0"))
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn stages(label: &str, inputs: &[Input], overrides: &Overrides) {
    let bytes: usize = inputs.iter().map(|i| i.text.len()).sum();
    let (t_slow, _) = best(|| parse::parse_slow(inputs));
    let (t_parse, parsed) = best(|| parse::parse(inputs));
    let mut diags = Vec::new();
    let (t_settings, settings) =
        best(|| config::settings_from(&parsed.objects, overrides, &mut Vec::new()));
    let (t_validate, v) = best(|| validate::validate(&parsed.objects, &settings));
    diags.extend(v);
    let (t_simulate, objects) = best(|| {
        let mut o = parsed.objects.clone();
        resolve::workloads::simulate(&mut o, &settings, &mut Vec::new());
        o
    });
    let (t_resolve, _) = best(|| resolve::resolve(&objects, &settings, &mut Vec::new()));
    let (t_load, loaded) = best(|| libsvc::load(inputs, overrides));
    assert!(
        loaded.errors().next().is_none(),
        "{label}: {:?}",
        loaded.errors().next()
    );
    println!(
        "{label}: {:.1} MB; parse {} ms (every document by serde-saphyr: {}), settings {}, validate {}, simulate (incl. clone) {}, resolve {}; load {} ms",
        bytes as f64 / 1e6,
        ms(t_parse),
        ms(t_slow),
        ms(t_settings),
        ms(t_validate),
        ms(t_simulate),
        ms(t_resolve),
        ms(t_load)
    );
    for mode in [
        Mode::Iptables,
        Mode::Nftables,
        Mode::Ipvs,
        Mode::Env,
        Mode::Dns,
    ] {
        let (t, out) = best(|| render(&loaded, mode, &RenderOptions::default()).expect("renders"));
        let (t_all, _) = best(|| {
            let l = libsvc::load(inputs, overrides);
            render(&l, mode, &RenderOptions::default()).map(|r| r.text.len())
        });
        println!(
            "  {:<9} render {:>7} ms ({:.1} MB out); end to end {:>7} ms",
            mode.name(),
            ms(t),
            out.text.len() as f64 / 1e6,
            ms(t_all)
        );
    }
}

/// The playground's work per keystroke: load, then every output.
fn keystroke(services: usize) {
    let inputs = [Input::new(
        "playground.yaml",
        common::cluster_yaml(services, 10, Default::default()),
    )];
    let overrides = common::overrides();
    let (t, _) = best(|| {
        let l = libsvc::load(&inputs, &overrides);
        Mode::ALL
            .iter()
            .map(|m| render(&l, *m, &RenderOptions::default()).map_or(0, |r| r.text.len()))
            .sum::<usize>()
    });
    println!(
        "keystroke, {services} Services: load + every output {} ms",
        ms(t)
    );
}

/// Peak memory of one `svcgen render` equivalent: read the file, load,
/// one mode's text; the process's peak RSS (`VmHWM`) against the budget
/// of 3 × (input + output bytes). Run in a fresh process (`phases write`
/// makes the file) so that nothing else is counted.
fn peak(file: &str, mode: Mode) {
    let overrides = common::overrides();
    let text = std::fs::read_to_string(file).expect("phases write made the file");
    let inputs = [
        Input::new("settings.yaml", common::SETTINGS_YAML),
        Input::new(file, text),
    ];
    let loaded = libsvc::load(&inputs, &overrides);
    let out = render(&loaded, mode, &RenderOptions::default()).map_or(0, |r| r.text.len());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let input = inputs[1].text.len();
    println!(
        "peak {file} {}: {:.1} MB in, {:.1} MB out, peak RSS {:.1} MB = {:.2} × (in + out)",
        mode.name(),
        input as f64 / 1e6,
        out as f64 / 1e6,
        hwm as f64 / 1e6,
        hwm as f64 / (input + out) as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "write") {
        // phases write SERVICES yaml|json FILE
        let services = args
            .get(i + 1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(10_000);
        let shape = Default::default();
        let text = match args.get(i + 2).map(String::as_str) {
            Some("json") => common::cluster_json(services, 10, shape),
            _ => common::cluster_yaml(services, 10, shape),
        };
        let file = args
            .get(i + 3)
            .expect("phases write SERVICES yaml|json FILE");
        std::fs::write(file, text).expect("writable");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "peak") {
        // phases peak FILE MODE
        let file = args.get(i + 1).expect("phases peak FILE MODE");
        let mode = match args.get(i + 2).map(String::as_str) {
            Some("nftables") => Mode::Nftables,
            Some("ipvs") => Mode::Ipvs,
            _ => Mode::Iptables,
        };
        return peak(file, mode);
    }
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    let overrides = common::overrides();
    keystroke(200);
    for services in sizes {
        let yaml = common::cluster_yaml(services, 10, Default::default());
        stages(
            &format!("{services} YAML"),
            &[Input::new("cluster.yaml", yaml)],
            &overrides,
        );
        let json = common::cluster_json(services, 10, Default::default());
        stages(
            &format!("{services} JSON"),
            &[
                Input::new("cluster.json", json),
                Input::new("settings.yaml", common::SETTINGS_YAML),
            ],
            &overrides,
        );
    }
}

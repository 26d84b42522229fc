//! The property of issue 14: for generated clusters, svcgen's render
//! applied in the kernel and dumped back reads as the model it came from,
//! in both backends. Each case gets its own network namespace (removed on
//! drop, so also when a case fails and proptest unwinds):
//!
//! * iptables: the typed ruleset (`proxy::iptables::rulesets`, what
//!   pkg/proxy/iptables/proxier.go syncProxyRules writes) through
//!   `iptables-restore` / `ip6tables-restore` of both backends (nf_tables
//!   and legacy), then `iptables-save` / `ip6tables-save`, equals
//!   `dump::iptables::from_kube` of the same ruleset: every table, every
//!   chain with its rules in order (`Rule::canonical`), nothing more;
//! * nftables: the render (pkg/proxy/nftables/proxier.go syncProxyRules)
//!   through `nft -f`, then `nft list ruleset` and `nft -j list ruleset`,
//!   equals the render read back: chains with their hooks and rules in
//!   order, sets and maps with their elements (in any order) and timeouts.
//!
//! and `dump::check` finds the dump in sync with the manifests.
//!
//! Needs root, `iptables-restore` and `nft`; skipped otherwise or when
//! `SVCGEN_SKIP_KERNEL_TESTS` is set.

mod common;

use common::generated::{gen_service, manifest};
use common::netns::{Netns, have, kernel_tests_enabled};
use libsvc::dump::model::{Dump, Set, Table};
use libsvc::dump::{self, check};
use libsvc::render::{Mode, RenderOptions, render};
use proptest::prelude::*;

fn read(name: &str, text: &str) -> Result<Dump, String> {
    let (d, diags) = dump::load(&[libsvc::Input::new(name, text)]);
    if diags.is_empty() {
        Ok(d)
    } else {
        Err(format!("{name}: {diags:#?}"))
    }
}

fn elements(s: &Set) -> Vec<String> {
    let mut v: Vec<String> = s.elements.iter().map(|e| format!("{e:?}")).collect();
    v.sort();
    v
}

/// `got` holds exactly the tables, chains (rules in order) and sets of
/// `want`.
fn same_model(want: &[Table], got: &[Table]) -> Result<(), String> {
    let key = |t: &Table| (t.family.as_str().to_string(), t.name.clone());
    let mut w: Vec<_> = want.iter().map(key).collect();
    let mut g: Vec<_> = got.iter().map(key).collect();
    w.sort();
    g.sort();
    if w != g {
        return Err(format!("tables: want {w:?}, got {g:?}"));
    }
    for wt in want {
        let gt = got.iter().find(|t| key(t) == key(wt)).unwrap();
        let names = |t: &Table| {
            let mut v: Vec<String> = t.chains.iter().map(|c| c.name.clone()).collect();
            v.sort();
            v
        };
        if names(wt) != names(gt) {
            return Err(format!(
                "{} chains: want {:?}, got {:?}",
                wt.name,
                names(wt),
                names(gt)
            ));
        }
        for wc in &wt.chains {
            let gc = gt.chain(&wc.name).unwrap();
            let a: Vec<String> = wc.rules.iter().map(|r| r.canonical()).collect();
            let b: Vec<String> = gc.rules.iter().map(|r| r.canonical()).collect();
            if a != b || wc.base != gc.base {
                return Err(format!(
                    "{}/{}: want {:?} {a:#?}\ngot {:?} {b:#?}",
                    wt.name, wc.name, wc.base, gc.base
                ));
            }
        }
        let sets = |t: &Table| {
            let mut v: Vec<String> = t.sets.iter().map(|s| s.name.clone()).collect();
            v.sort();
            v
        };
        if sets(wt) != sets(gt) {
            return Err(format!(
                "{} sets: want {:?}, got {:?}",
                wt.name,
                sets(wt),
                sets(gt)
            ));
        }
        for ws in &wt.sets {
            let gs = gt.set(&ws.name).unwrap();
            if elements(ws) != elements(gs) || ws.timeout != gs.timeout || ws.kind != gs.kind {
                return Err(format!(
                    "{} set {}: want {ws:?}\ngot {gs:?}",
                    wt.name, ws.name
                ));
            }
        }
    }
    Ok(())
}

fn in_sync(l: &libsvc::Loaded, mode: Mode, d: &Dump) -> Result<(), String> {
    let r = check::check(l, mode, d)?;
    if r.in_sync { Ok(()) } else { Err(r.text()) }
}

/// The iptables tools of a backend: `iptables-restore` etc. are nf_tables
/// here; `-legacy` the old x_tables.
const BACKENDS: [&str; 2] = ["", "-legacy"];

fn iptables_round_trip(l: &libsvc::Loaded, backend: &str) -> Result<(), String> {
    let ns = Netns::new("rt-ipt")?;
    let mut checked = Dump::default();
    for rs in libsvc::proxy::iptables::rulesets(l) {
        let tool = match rs.family {
            libsvc::config::IpFamily::IPv4 => "iptables",
            libsvc::config::IpFamily::IPv6 => "ip6tables",
        };
        let text = libsvc::proxy::iptables::render::restore_text(&rs, true);
        // `-m nfacct` needs its accounting objects (kube-proxy's metrics)
        for name in text.split("--nfacct-name ").skip(1) {
            let name = name.split_whitespace().next().unwrap_or_default();
            let _ = ns.exec("nfacct", &["add", name], "");
        }
        ns.exec(&format!("{tool}{backend}-restore"), &["--noflush"], &text)?;
        let saved = ns.exec(&format!("{tool}{backend}-save"), &[], "")?;
        let got = read(&format!("{tool}{backend}-save"), &saved)?;
        same_model(&dump::iptables::from_kube(&rs).tables, &got.tables)
            .map_err(|e| format!("{tool}{backend}: {e}"))?;
        checked.tables.extend(got.tables);
    }
    in_sync(l, Mode::Iptables, &checked).map_err(|e| format!("iptables{backend}: {e}"))
}

fn nftables_round_trip(l: &libsvc::Loaded) -> Result<(), String> {
    let ns = Netns::new("rt-nft")?;
    let text = render(l, Mode::Nftables, &RenderOptions::default())
        .map_err(|e| e.to_string())?
        .text;
    ns.exec("nft", &["-f", "-"], &text)?;
    let want = read("render", &text)?;
    for (name, args) in [
        ("nft list ruleset", &["list", "ruleset"][..]),
        ("nft -j list ruleset", &["-j", "list", "ruleset"][..]),
    ] {
        let got = read(name, &ns.exec("nft", args, "")?)?;
        same_model(&want.tables, &got.tables).map_err(|e| format!("{name}: {e}"))?;
        in_sync(l, Mode::Nftables, &got).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

fn enabled() -> bool {
    kernel_tests_enabled()
        && ["iptables", "ip6tables"]
            .iter()
            .all(|t| BACKENDS.iter().all(|b| have(&format!("{t}{b}-restore"))))
        && have("nft")
}

proptest! {
    // a namespace and four tool runs per case: small enough for CI
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_clusters_survive_the_kernel(services in proptest::collection::vec(gen_service(), 1..5)) {
        if enabled() {
            let o = libsvc::Overrides {
                ip_family: Some(libsvc::config::IpFamily::IPv4),
                service_cidrs: vec!["172.30.0.0/16".parse().unwrap()],
                ..Default::default()
            };
            let l = libsvc::load(&[libsvc::Input::new("gen.yaml", manifest(&services))], &o);
            for b in BACKENDS {
                iptables_round_trip(&l, b).map_err(TestCaseError::fail)?;
            }
            nftables_round_trip(&l).map_err(TestCaseError::fail)?;
        }
    }
}

/// Every iptables and nftables corpus case (IPv6 and dual-stack ones
/// included) round-trips the same way.
#[test]
fn corpus_cases_survive_the_kernel() {
    if !enabled() {
        return;
    }
    let mut results = Vec::new();
    for (mode, corpus) in [(Mode::Iptables, "iptables"), (Mode::Nftables, "nftables")] {
        for case in common::cases(corpus) {
            let l = case.load();
            let Ok(out) = render(&l, mode, &RenderOptions::default()) else {
                continue; // a case whose expected output is an error
            };
            if out.text.contains("-m nfacct") && !have("nfacct") {
                println!(
                    "note: {corpus}/{}: no nfacct tool for its -m nfacct; skipped",
                    case.name
                );
                continue;
            }
            let r = match mode {
                Mode::Iptables => BACKENDS.iter().try_for_each(|b| iptables_round_trip(&l, b)),
                _ => nftables_round_trip(&l),
            };
            results.push((format!("{corpus}/{}", case.name), r));
        }
    }
    common::report("roundtrip-kernel-corpus", &results, &[]);
}

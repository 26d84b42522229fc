//! The incremental engine on a loaded cluster of 1k and 10k Services × 10
//! endpoints, one file per Service and one per EndpointSlice, as the agent
//! reads a directory. Each case is one change set on the loaded `State` →
//! the new outputs and the delta of the mode:
//!
//! - `slice`: one EndpointSlice's file changes (an endpoint goes, then
//!   comes back);
//! - `service`: one Service's file changes (its port, back and forth);
//! - `add`, `remove`: one Service with its slice comes, goes (the other
//!   half of each round trip is not timed);
//! - `stored-slice`: the cluster as `svcgen agent --source api` feeds it
//!   (every object stored — `uid`, `resourceVersion` — one input per
//!   object named `cluster:PLURAL/NS/NAME`): one EndpointSlice changes,
//!   on the scoped path (asserted).
//!
//! The goal (issue 12) is ≤ 5 ms at 10k.
//!
//! A filter (`cargo bench -p libsvc --bench incremental -- iptables/10000`)
//! also skips loading the clusters none of its benchmarks need (it is read
//! as a plain substring for that; criterion still applies it as a regex).

mod common;

use common::Shape;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use libsvc::Input;
use libsvc::incremental::{Change, State};
use libsvc::render::{Mode, RenderOptions};
use std::time::{Duration, Instant};

const SHAPE: Shape = Shape {
    node_port_every: 4,
    nodes: 10,
};

/// Service `i`'s two documents, split: the Service, its EndpointSlice.
fn split(i: usize, endpoints: usize) -> (String, String) {
    let y = common::service_yaml(i, endpoints, SHAPE);
    let at = y
        .find("---\napiVersion: discovery.k8s.io/v1")
        .expect("a slice");
    (y[..at].to_string(), y[at..].to_string())
}

fn files(n: usize) -> Vec<Input> {
    let mut v = Vec::with_capacity(2 * n + 1);
    for i in 0..n {
        let (svc, slice) = split(i, 10);
        v.push(Input::new(format!("svc{i}.yaml"), svc));
        v.push(Input::new(format!("eps{i}.yaml"), slice));
    }
    v.push(Input::new("settings.yaml", common::SETTINGS_YAML));
    v
}

/// Service `i`'s two documents as read from the API server: stored, each
/// its own input named as `cli/src/agent/source_api.rs` names them.
fn stored(i: usize, endpoints: usize) -> (Input, Input) {
    let (svc, slice) = split(i, endpoints);
    let ns = format!("ns{}", i % 10);
    let svc = svc.replacen(
        &format!("namespace: {ns}}}"),
        &format!(
            "namespace: {ns}, uid: svc-{i}, resourceVersion: \"{}\"}}",
            2 * i + 1
        ),
        1,
    );
    let slice = slice.replacen(
        "\n  labels:",
        &format!(
            "\n  uid: eps-{i}\n  resourceVersion: \"{}\"\n  labels:",
            2 * i + 2
        ),
        1,
    );
    (
        Input::new(format!("cluster:services/{ns}/svc{i}"), svc),
        Input::new(format!("cluster:endpointslices/{ns}/svc{i}-1"), slice),
    )
}

fn stored_files(n: usize) -> Vec<Input> {
    let mut v = Vec::with_capacity(2 * n + 1);
    for i in 0..n {
        let (svc, slice) = stored(i, 10);
        v.push(svc);
        v.push(slice);
    }
    v.push(Input::new("settings.yaml", common::SETTINGS_YAML));
    v
}

/// The benchmark filter given on the command line, if any.
fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// Some benchmark of a cluster of `n` Services in `mode` may run: the
/// filter is in one of their names (`incremental/CASE-MODE/N`).
fn wanted(cases: &[&str], mode: Mode, n: usize) -> bool {
    filter().is_none_or(|f| {
        cases
            .iter()
            .any(|c| format!("incremental/{c}-{}/{n}", mode.name()).contains(&f))
    })
}

fn apply(state: &mut State, changes: Vec<Change>, mode: Mode) -> usize {
    let u = state.apply(changes).expect("applies");
    u.deltas.text(mode).len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("incremental");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        for mode in [Mode::Nftables, Mode::Iptables] {
            if !wanted(&["slice", "service", "add", "remove"], mode, n) {
                continue;
            }
            let mut state = State::new(
                files(n),
                common::overrides(),
                &[mode],
                RenderOptions::default(),
            )
            .expect("builds");
            let k = n / 2;
            let m = mode.name();

            // (Not `split(k, 9)`: the generator numbers addresses by the
            // endpoint count, so that would take another Service's.)
            let ten = split(k, 10).1;
            let nine = ten[..ten.rfind("- addresses:").expect("endpoints")].to_string();
            let slices = [nine, ten];
            let mut flip = 0;
            g.bench_function(BenchmarkId::new(format!("slice-{m}"), n), |b| {
                b.iter(|| {
                    flip ^= 1;
                    let input = Input::new(format!("eps{k}.yaml"), slices[flip].clone());
                    apply(&mut state, vec![Change::Put(input)], mode)
                })
            });

            let (svc, _) = split(k, 10);
            let services = [svc.replace("port: 80", "port: 81"), svc];
            g.bench_function(BenchmarkId::new(format!("service-{m}"), n), |b| {
                b.iter(|| {
                    flip ^= 1;
                    let input = Input::new(format!("svc{k}.yaml"), services[flip].clone());
                    apply(&mut state, vec![Change::Put(input)], mode)
                })
            });

            // A Service that is not in the cluster (its own IP and node port).
            let extra = Input::new("extra.yaml", common::service_yaml(n, 10, SHAPE));
            let add = || vec![Change::Put(extra.clone())];
            let remove = || vec![Change::Remove("extra.yaml".into())];
            for (name, timed_add) in [("add", true), ("remove", false)] {
                g.bench_function(BenchmarkId::new(format!("{name}-{m}"), n), |b| {
                    b.iter_custom(|iters| {
                        let mut took = Duration::ZERO;
                        for _ in 0..iters {
                            let t = Instant::now();
                            apply(&mut state, add(), mode);
                            if timed_add {
                                took += t.elapsed();
                            }
                            let t = Instant::now();
                            apply(&mut state, remove(), mode);
                            if !timed_add {
                                took += t.elapsed();
                            }
                        }
                        took
                    })
                });
            }
        }
    }
    for n in [1_000usize, 10_000] {
        for mode in [Mode::Nftables, Mode::Iptables] {
            if !wanted(&["stored-slice"], mode, n) {
                continue;
            }
            let mut state = State::new(
                stored_files(n),
                common::overrides(),
                &[mode],
                RenderOptions::default(),
            )
            .expect("builds");
            let k = n / 2;
            let ten = stored(k, 10).1;
            let text = ten.text.to_string();
            let nine = text[..text.rfind("- addresses:").expect("endpoints")].to_string();
            let slices = [Input::new(ten.name.clone(), nine), ten];
            let mut flip = 0;
            g.bench_function(
                BenchmarkId::new(format!("stored-slice-{}", mode.name()), n),
                |b| {
                    b.iter(|| {
                        flip ^= 1;
                        let u = state
                            .apply(vec![Change::Put(slices[flip].clone())])
                            .expect("applies");
                        assert!(u.scoped, "a stored slice takes the scoped path");
                        u.deltas.text(mode).len()
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
